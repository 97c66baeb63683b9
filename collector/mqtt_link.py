"""The collector's MQTT connection (paho-mqtt 2.x).

Persistent session (``clean_session=False``) with manual acknowledgement: a QoS 1 message
is acknowledged only after the database commit that stored it (:meth:`MqttLink.ack`), so a
collector that dies mid-batch gets the unacknowledged messages again when it reconnects.
Callbacks run in paho's network thread and do nothing but put messages on a bounded queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from collector.inbox import Inbox
from collector.metrics import CollectorMetrics
from collector.mqtt_receiver import make_client, message_topic
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


class MqttLink:
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
        self._settings = settings
        self._address = parse_broker_url(url or settings.url)
        self._inbox = inbox
        self._metrics = metrics
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._stopping = False
        self._sub_mid: int | None = None
        self._full_warned = False
        self._client = self._make_client()

    # -- setup ---------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        s = self._settings
        client = make_client(
            {
                "client_id": s.client_id,
                "username": s.username or self._address.username,
                "password": s.password or self._address.password,
                "tls": self._address.tls,
                "tls_ca_file": s.tls_ca_file,
                "tls_cert_file": s.tls_cert_file,
                "tls_key_file": s.tls_key_file,
                "max_inflight": s.max_inflight,
            }
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def subscriptions(self) -> list[tuple[str, int]]:
        return subscriptions(self._settings.shared_subscription)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._client.connect_async(
            self._address.host, self._address.port, keepalive=self._settings.keepalive_s
        )
        self._client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        try:
            self._client.disconnect()
        except Exception:  # pragma: no cover - disconnect on a dead socket
            log.debug("disconnect failed", exc_info=True)
        self._client.loop_stop()
        self._connected.clear()
        self._subscribed.clear()

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
        return self._generation

    # -- publisher -----------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Queue a message; paho keeps QoS 1 messages across reconnects."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("publish to %s failed: %s", topic, mqtt.error_string(info.rc))

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a received QoS 1 message (after its commit)."""
        if qos == 0:
            return
        rc = self._client.ack(mid, qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            log.debug("ack of mid %d not sent: %s", mid, mqtt.error_string(rc))

    def ack_all(self, messages: Sequence[Inbound]) -> None:
        for message in messages:
            self.ack_inbound(message)

    def ack_inbound(self, message: Inbound) -> None:
        """Acknowledge ``message`` if it arrived on the current connection.

        A message from an earlier connection is redelivered by the broker on this one (same
        session) and acknowledged then; its old packet id may already name another message.
        """
        if message.generation == self._generation:
            self.ack(message.mid, message.qos)

    # -- paho callbacks (network thread): enqueue only, never raise ----------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        try:
            if reason_code.is_failure:
                log.warning("broker refused connection: %s", reason_code)
                return
            self._generation += 1
            self._connected.set()
            if self._metrics:
                self._metrics.mqtt_connected.set(1)
            log.info(
                "connected to %s:%d (session present: %s)",
                self._address.host,
                self._address.port,
                flags.session_present,
            )
            result, mid = client.subscribe(self.subscriptions())
            self._sub_mid = mid
            if result != mqtt.MQTT_ERR_SUCCESS:
                log.warning("subscribe failed: %s", mqtt.error_string(result))
        except Exception:
            log.exception("on_connect failed")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        try:
            if mid != self._sub_mid:
                return
            failed = [rc for rc in reason_codes if rc.is_failure]
            if failed:
                log.error("broker refused subscriptions: %s", failed)
                return
            self._subscribed.set()
        except Exception:
            log.exception("on_subscribe failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        try:
            self._connected.clear()
            self._subscribed.clear()
            if self._metrics:
                self._metrics.mqtt_connected.set(0)
            if not self._stopping:
                log.warning("disconnected from broker (%s); reconnecting", reason_code)
        except Exception:
            log.exception("on_disconnect failed")

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:  # type: ignore[no-untyped-def]
        try:
            topic = message_topic(message)
            payload = message.payload
            item = Inbound(
                topic,
                payload if type(payload) is bytes else bytes(payload),
                message.mid,
                message.qos,
                bool(message.retain),
                self._generation,
            )
            # Back-pressure: block the network thread while the worker catches up; the broker
            # holds the rest (its in-flight window for this client is full anyway).
            while not self._stopping:
                if self._inbox.put(item, timeout=0.5):
                    self._full_warned = False
                    return
                if not self._full_warned:
                    log.warning("ingest queue full (%d); waiting", self._inbox.maxsize)
                    self._full_warned = True
        except Exception:
            log.exception("on_message failed")
