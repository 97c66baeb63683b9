"""One collector instance: database, (embedded) broker, MQTT link, ingest, modules, scheduler.

Everything is owned by the :class:`Runtime` object and nothing lives in module globals, so
several runtimes can run in one process (tests do). ``start()`` brings the parts up in
dependency order and ``stop()`` takes them down in reverse.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import Engine

from collector import migrate
from collector.auth.throttle import LoginThrottle
from collector.db import make_engine
from collector.embedded_broker import EmbeddedBroker
from collector.event_bus import EventBus
from collector.files.store import LocalFileStore
from collector.housekeeping import Housekeeping
from collector.inbox import Inbox
from collector.ingest.pipeline import IngestWorker
from collector.metrics import CollectorMetrics
from collector.modules.registry import modules
from collector.mqtt_link import Inbound, MqttLink
from collector.mqtt_process import ProcessMqttLink
from collector.publisher import Publisher
from collector.scheduler import Scheduler
from collector.security.rotation import open_keyring
from collector.settings import CollectorSettings

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: CollectorSettings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.metrics = CollectorMetrics()
        self.event_bus = EventBus()
        self.engine = engine or make_engine(
            settings.database.url, pool_size=settings.database.pool_size
        )
        self.embedded_broker = (
            None if settings.mqtt.url else EmbeddedBroker(settings.mqtt.embedded_listen)
        )
        self.inbox: Inbox[Inbound] = Inbox(settings.ingest.queue_max)
        link_class = ProcessMqttLink if settings.mqtt.receiver_process else MqttLink
        self.link: MqttLink | ProcessMqttLink = link_class(
            settings.mqtt, self.inbox, url=self.broker_url, metrics=self.metrics
        )
        self.worker = IngestWorker(
            settings,
            self.engine,
            self.inbox,
            self.link,
            metrics=self.metrics,
            bus=self.event_bus,
        )
        self.modules = modules()
        self.scheduler = Scheduler(self)
        self.housekeeping = Housekeeping(
            self.engine, settings.devices, self.metrics, on_leadership=self.scheduler.set_leader
        )
        self.file_store = LocalFileStore(Path(settings.files.root))
        self.login_throttle = LoginThrottle(settings.auth)
        self._started = False
        self._lock = threading.Lock()

    @property
    def broker_url(self) -> str:
        """The broker the collector talks to (the embedded one when ``mqtt.url`` is empty)."""
        if self.embedded_broker is not None:
            return self.embedded_broker.url
        return self.settings.mqtt.url

    @property
    def publisher(self) -> Publisher:
        return self.link

    @property
    def ready(self) -> bool:
        return self._started and self.link.ready and self.worker.running

    def start(self) -> Runtime:
        with self._lock:
            if self._started:
                return self
            if self.settings.database.migrate_on_start:
                migrate.upgrade(self.engine)
            pd = self.settings.personal_data
            open_keyring(self.engine, self.settings.secret_key, key_id=pd.key_id, keys=pd.keys)
            try:
                if self.embedded_broker is not None:
                    self.embedded_broker.start()
                for module in self.modules:
                    if module.setup is not None:
                        module.setup(self)
                self.worker.start()
                self.housekeeping.start()
                self.scheduler.open()
                self.scheduler.set_leader(self.housekeeping.lock.acquire())
                self.link.start()
            except BaseException:
                self._stop_parts()
                raise
            self._started = True
            log.info("collector %s started (broker %s)", self.settings.instance, self.broker_url)
            return self

    def wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        if not self.link.wait_ready(timeout):
            return False
        while not self.ready:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self) -> None:
        with self._lock:
            self._stop_parts()
            self._started = False

    def _stop_parts(self) -> None:
        for name, stop in (
            ("mqtt link", self.link.stop),
            ("housekeeping", self.housekeeping.stop),
            ("scheduler", self.scheduler.stop),
            ("ingest", self.worker.stop),
            ("embedded broker", self.embedded_broker.stop if self.embedded_broker else None),
            ("database", self.engine.dispose),
        ):
            if stop is None:
                continue
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", name)

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
