"""The collector's MQTT connection (paho-mqtt 2.x): what both links share, and the
in-process link.

Persistent session (``clean_session=False``) with manual acknowledgement: a QoS 1 message
is acknowledged only after the database commit that stored it (:meth:`LinkState.ack_all`), so
a collector that dies mid-batch gets the unacknowledged messages again when it reconnects.
The paho side is :class:`collector.mqtt_session.PahoSession`; here its callbacks do nothing
but put messages on the bounded ingest inbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from collector.inbox import Inbox
from collector.metrics import CollectorMetrics
from collector.mqtt_session import Item, PahoSession
from collector.settings import MqttSettings
from contract import topics

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Inbound:
    """One received message, waiting in the ingest queue."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    generation: int = 0
    """connection number it arrived on; an ack for an older connection is not sent"""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str
    password: str


def parse_broker_url(url: str) -> BrokerAddress:
    """``mqtt://[user:pass@]host[:port]`` or ``mqtts://...`` (TLS, default port 8883)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("mqtt", "tcp"):
        tls, default_port = False, 1883
    elif scheme in ("mqtts", "ssl", "tls"):
        tls, default_port = True, 8883
    else:
        raise ValueError(f"unsupported broker URL scheme {parts.scheme!r} in {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in broker URL {url!r}")
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or default_port,
        tls=tls,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def subscriptions(shared: bool) -> list[tuple[str, int]]:
    """The collector's subscriptions (QoS 1); events and acks shared between collectors."""
    events = topics.shared(topics.SUB_EVENTS) if shared else topics.SUB_EVENTS
    acks = topics.shared(topics.SUB_ACKS) if shared else topics.SUB_ACKS
    # Status is never shared: retained messages are not delivered to shared subscriptions.
    return [(events, 1), (acks, 1), (topics.SUB_STATUS, 1)]


def session_options(settings: MqttSettings, url: str | None = None) -> dict[str, Any]:
    """The options of :class:`collector.mqtt_session.PahoSession` for these settings."""
    address = parse_broker_url(url or settings.url)
    return {
        "host": address.host,
        "port": address.port,
        "keepalive": settings.keepalive_s,
        "client_id": settings.client_id,
        "username": settings.username or address.username,
        "password": settings.password or address.password,
        "tls": address.tls,
        "tls_ca_file": settings.tls_ca_file,
        "tls_cert_file": settings.tls_cert_file,
        "tls_key_file": settings.tls_key_file,
        "max_inflight": settings.max_inflight,
        "subscriptions": subscriptions(settings.shared_subscription),
    }


class LinkState:
    """What both links share: connection state, generation and acks of current messages.

    A subclass sends acks in :meth:`_ack` and reports state through :meth:`_set_state`.
    """

    def __init__(self, metrics: CollectorMetrics | None) -> None:
        self._metrics = metrics
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()

    def wait_ready(self, timeout: float) -> bool:
        """True once connected and subscribed."""
        return self._subscribed.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def ready(self) -> bool:
        return self._subscribed.is_set()

    @property
    def generation(self) -> int:
        """The current connection; :attr:`Inbound.generation` is compared with it."""
        return self._generation

    def _set_state(self, connected: bool, subscribed: bool, generation: int | None = None) -> None:
        if generation is not None:
            self._generation = generation
        (self._connected.set if connected else self._connected.clear)()
        (self._subscribed.set if subscribed else self._subscribed.clear)()
        if self._metrics:
            self._metrics.mqtt_connected.set(1 if connected else 0)

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a received QoS 1 message (after its commit) on the current connection."""
        if qos:
            self._ack(self._generation, [mid])

    def ack_inbound(self, message: Inbound) -> None:
        self.ack_all((message,))

    def ack_all(self, messages: Sequence[Inbound]) -> None:
        """Acknowledge the messages that arrived on the current connection.

        A message from an earlier connection is redelivered by the broker on this one (same
        session) and acknowledged then; its old packet id may already name another message.
        """
        current = self._generation
        mids = [m.mid for m in messages if m.qos and m.generation == current]
        if mids:
            self._ack(current, mids)

    def _ack(self, generation: int, mids: list[int]) -> None:
        raise NotImplementedError


class _InboxSink:
    """The in-process session's sink: state into the link, messages onto the inbox."""

    def __init__(self, inbox: Inbox[Inbound], set_state: Callable[[bool, bool, int], None]) -> None:
        self._inbox = inbox
        self._set_state = set_state
        self._full_warned = False

    def state(self, connected: bool, subscribed: bool, generation: int) -> None:
        self._set_state(connected, subscribed, generation)

    def message(self, item: Item, timeout: float) -> bool:
        if self._inbox.put(Inbound(*item), timeout=timeout):
            self._full_warned = False
            return True
        if not self._full_warned:
            log.warning("ingest queue full (%d); waiting", self._inbox.maxsize)
            self._full_warned = True
        return False


class MqttLink(LinkState):
    """Subscribes to events, acks and status; publishes commands, configs and receipts.

    The paho client runs in this process (``mqtt.receiver_process = false``); see
    :class:`collector.mqtt_process.ProcessMqttLink` for the default. Implements
    :class:`collector.publisher.Publisher`.
    """

    def __init__(
        self,
        settings: MqttSettings,
        inbox: Inbox[Inbound],
        *,
        url: str | None = None,
        metrics: CollectorMetrics | None = None,
    ) -> None:
        super().__init__(metrics)
        self._settings = settings
        sink = _InboxSink(inbox, self._set_state)
        self._session = PahoSession(session_options(settings, url), sink)

    def subscriptions(self) -> list[tuple[str, int]]:
        return subscriptions(self._settings.shared_subscription)

    def start(self) -> None:
        self._session.start()

    def stop(self) -> None:
        self._session.stop()
        self._set_state(False, False)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Queue a message; paho keeps QoS 1 messages across reconnects."""
        self._session.publish(topic, payload, qos, retain)

    def _ack(self, generation: int, mids: list[int]) -> None:
        self._session.ack(generation, mids)
