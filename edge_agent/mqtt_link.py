"""The agent's one MQTT connection (paho-mqtt 2.x, MQTT 3.1.1, persistent session).

A dedicated network thread calls ``client.loop()`` and, while disconnected, reconnects with
exponential backoff and full jitter. Paho callbacks only put items on a queue; the network
thread acts on them (status, subscriptions) and hands the rest to the agent as
:data:`LinkEvent` items on the agent's queue.

Status epochs: before every connection attempt ``session`` is incremented and the last will
is set to a retained ``offline`` :class:`StatusMessage` with ``(boot, session)``; after the
CONNACK the link publishes a retained ``online`` with the same epoch. If, while connected, a
retained ``offline`` with an older epoch appears on its own status topic (a stale will from an
earlier connection overwrote it), the link publishes ``online`` again.
"""

from __future__ import annotations

import queue
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from pydantic import ValidationError

from contract import topics
from contract.envelopes import StatusMessage
from contract.topics import TopicKind
from edge_agent.logs import Logger
from edge_agent.settings import MqttSection

LOOP_TIMEOUT_S = 0.2


@dataclass(frozen=True, slots=True)
class LinkUp:
    session: int
    session_present: bool


@dataclass(frozen=True, slots=True)
class LinkDown:
    reason: str


@dataclass(frozen=True, slots=True)
class Inbound:
    kind: TopicKind
    payload: bytes


LinkEvent = LinkUp | LinkDown | Inbound


class MqttLink:
    def __init__(
        self,
        settings: MqttSection,
        *,
        centre: str,
        device: str,
        boot: int,
        agent_version: str,
        events: queue.Queue[LinkEvent],
        logger: Logger,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._device = device
        self._boot = boot
        self._agent_version = agent_version
        self._events = events
        self._logger = logger
        self._rng = rng or random.Random()
        self._status_topic = topics.status_topic(centre, device)
        self._inbound_kinds = {
            topics.cmd_topic(centre, device): TopicKind.CMD,
            topics.config_topic(centre, device): TopicKind.CONFIG,
            topics.receipt_topic(centre, device): TopicKind.RECEIPT,
        }
        self._callbacks: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._closing = False
        self._connected = threading.Event()
        self._session = 0
        self._attempt = 0
        self._thread: threading.Thread | None = None
        self._client = self._make_client()

    # -- public ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def session(self) -> int:
        return self._session

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self._device}/mqtt", daemon=True)
        self._thread.start()

    def ensure_running(self) -> bool:
        """Restart the network thread if it died; return True when it had to."""
        if self._stop.is_set() or self._thread is None or self._thread.is_alive():
            return False
        self._logger.error("MQTT network thread died; restarting it")
        self.start()
        return True

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> bool:
        """Queue one message with paho; False when it could not be sent now."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def close(self, timeout: float = 3.0) -> None:
        """Publish the retained offline status, disconnect cleanly, stop the thread.

        A clean DISCONNECT suppresses the last will, so the offline status is published here.
        """
        self._closing = True
        if self.connected:
            try:
                info = self._client.publish(
                    self._status_topic, self._status("offline"), qos=1, retain=True
                )
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                self._logger.warning("offline status not confirmed: %s", exc)
            self._client.disconnect()
            # The network thread keeps looping until paho has written DISCONNECT and closed.
            for _ in range(int(timeout / 0.05)):
                if self._client.socket() is None:
                    break
                self._stop.wait(0.05)
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._connected.clear()

    # -- client and callbacks (callbacks only enqueue) -------------------------------------

    def _make_client(self) -> mqtt.Client:
        s = self._settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._device,
            clean_session=False,  # the broker keeps commands queued while we are away
            protocol=mqtt.MQTTv311,
        )
        # 0 = no paho window: the sender already bounds what is in flight (max_inflight), and
        # paho's window rescans every queued message on each PUBACK (quadratic at 1000).
        client.max_inflight_messages_set(0)
        if s.username is not None:
            password = s.password.get_secret_value() if s.password is not None else None
            client.username_pw_set(s.username, password)
        if s.tls:
            client.tls_set(
                ca_certs=str(s.tls_ca_file) if s.tls_ca_file else None,
                certfile=str(s.tls_cert_file) if s.tls_cert_file else None,
                keyfile=str(s.tls_key_file) if s.tls_key_file else None,
            )
        client.on_socket_open = self._guard(_disable_nagle)
        client.on_connect = self._guard(self._on_connect)
        client.on_disconnect = self._guard(self._on_disconnect)
        client.on_message = self._guard(self._on_message)
        return client

    def _guard(self, callback: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            try:
                callback(*args)
            except Exception:  # an exception inside paho's loop would drop the connection
                self._logger.exception("MQTT callback %s failed", callback.__name__)

        return guarded

    def _on_connect(self, _c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        self._callbacks.put(
            ("connack", bool(reason.is_failure), str(reason), flags.session_present)
        )

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        self._callbacks.put(("disconnect", str(reason)))

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._callbacks.put(("message", message.topic, bytes(message.payload)))

    # -- network thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # keep the link alive whatever paho or the broker does
                self._logger.exception("MQTT network loop error")
                self._stop.wait(0.5)

    def _step(self) -> None:
        if self._client.socket() is None:
            if self._closing:
                self._stop.wait(LOOP_TIMEOUT_S)
                return
            if self._attempt and self._stop.wait(self._backoff()):
                return
            self._attempt += 1
            self._connect()
        else:
            self._client.loop(timeout=LOOP_TIMEOUT_S)
        self._drain_callbacks()

    def _backoff(self) -> float:
        s = self._settings
        cap = min(s.reconnect_max_s, s.reconnect_min_s * 2 ** (self._attempt - 1))
        return self._rng.uniform(s.reconnect_min_s, max(s.reconnect_min_s, cap))

    def _connect(self) -> None:
        self._session += 1
        self._client.will_set(self._status_topic, self._status("offline"), qos=1, retain=True)
        try:
            self._client.connect(
                self._settings.host, self._settings.port, keepalive=self._settings.keepalive_s
            )
        except OSError as exc:
            log = self._logger.info if self._attempt <= 1 else self._logger.debug
            log("cannot reach broker %s:%s: %s", self._settings.host, self._settings.port, exc)

    def _status(self, state: Literal["online", "offline"]) -> bytes:
        return (
            StatusMessage(
                state=state,
                boot=self._boot,
                session=self._session,
                ts=datetime.now(UTC),
                agent_version=self._agent_version,
            )
            .model_dump_json()
            .encode()
        )

    def _drain_callbacks(self) -> None:
        while True:
            try:
                item = self._callbacks.get_nowait()
            except queue.Empty:
                return
            if item[0] == "connack":
                self._handle_connack(*item[1:])
            elif item[0] == "disconnect":
                self._handle_disconnect(item[1])
            else:
                self._handle_message(item[1], item[2])

    def _handle_connack(self, failed: bool, reason: str, session_present: bool) -> None:
        if failed:
            self._logger.warning("broker refused the connection: %s", reason)
            return
        self._attempt = 0
        # Online first, then subscribe: the retained status we then receive is our own.
        self._client.publish(self._status_topic, self._status("online"), qos=1, retain=True)
        subscriptions = [(t, 1) for t in self._inbound_kinds] + [(self._status_topic, 1)]
        self._client.subscribe(subscriptions)
        self._connected.set()
        self._logger.info("connected (boot %d, session %d)", self._boot, self._session)
        self._events.put(LinkUp(self._session, session_present))

    def _handle_disconnect(self, reason: str) -> None:
        self._attempt = max(self._attempt, 1)  # wait before reconnecting: no storm on restarts
        if self._connected.is_set():
            self._connected.clear()
            log = self._logger.info if self._closing else self._logger.warning
            log("disconnected: %s", reason)
            self._events.put(LinkDown(reason))

    def _handle_message(self, topic: str, payload: bytes) -> None:
        if topic == self._status_topic:
            self._check_own_status(payload)
            return
        kind = self._inbound_kinds.get(topic)
        if kind is None:
            self._logger.warning("message on unexpected topic %s", topic)
            return
        self._events.put(Inbound(kind, payload))

    def _check_own_status(self, payload: bytes) -> None:
        if not payload or not self._connected.is_set() or self._closing:
            return
        try:
            status = StatusMessage.model_validate_json(payload)
        except ValidationError:
            self._logger.warning("invalid retained status on own topic; restoring online")
            status = None
        if status is None or (
            status.state == "offline" and status.epoch < (self._boot, self._session)
        ):
            self._logger.info("stale offline status on own topic; republishing online")
            self._client.publish(self._status_topic, self._status("online"), qos=1, retain=True)


def _disable_nagle(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """paho leaves Nagle's algorithm on; with the broker's delayed ACKs it held small
    publishes back for up to 40 ms whenever receipts flowed the other way."""
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
