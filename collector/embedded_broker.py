"""The embedded development broker: amqtt, in-process, in its own thread and event loop.

Started by the runtime when ``mqtt.url`` is empty so one command runs a whole site on a
laptop. Anonymous clients are allowed: development only; production uses Mosquitto.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"listen address must be host:port, not {listen!r}")
    return host or "127.0.0.1", int(port)


class EmbeddedBroker:
    def __init__(self, listen: str = "127.0.0.1:1883") -> None:
        self.host, self.port = split_listen(listen)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"mqtt://{host}:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError(f"embedded broker did not start within {timeout}s")
        if self._error is not None:
            self._thread.join(timeout)
            self._thread = None
            raise RuntimeError(f"embedded broker failed to start: {self._error}") from self._error
        log.warning(
            "embedded MQTT broker on %s:%d, anonymous access: development only",
            self.host,
            self.port,
        )

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() or logged
            if not self._started.is_set():
                self._error = exc
            else:
                log.exception("embedded broker crashed")
        finally:
            self._started.set()
            loop.close()

    async def _serve(self) -> None:
        from amqtt.broker import Broker  # heavy import, only when used

        self._stop = asyncio.Event()
        broker = Broker(self.config())
        await broker.start()
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await broker.shutdown()
