"""The collector's paho session, shared by both MQTT links.

One :class:`PahoSession` connects, subscribes, receives, acknowledges and publishes; it reports
connection state and received messages to a :class:`SessionSink`. The in-process link
(:class:`collector.mqtt_link.MqttLink`) runs it with a sink that feeds the ingest inbox; the
receiver child process (:mod:`collector.mqtt_receiver`) runs it with a sink that frames
messages to the parent over a pipe.

Persistent session (``clean_session=False``) with manual acknowledgement: a QoS 1 message is
acknowledged only when the collector says so (after the commit that stored it), so a collector
that dies mid-batch gets the unacknowledged messages again when it reconnects. Every successful
connection bumps :attr:`PahoSession.generation`; an ack for an older connection is not sent,
because the packet id of a message from an earlier connection may already name another one.

This module imports only the standard library and paho, so the child process starts quickly.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Sequence
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger(__name__)

Item = tuple[str, bytes, int, int, bool, int]
"""A received message: (topic, payload, mid, qos, retain, generation)."""

PUT_TIMEOUT_S = 0.5  # how often a blocked network thread looks whether the session stops

_PUBACK = struct.Struct("!BBH")  # MQTT 3.1.1 PUBACK: type, remaining length 2, packet id
_PUBACK_TYPE = int(mqtt.PUBACK)


class SessionSink(Protocol):
    """Where a :class:`PahoSession` reports to; called in paho's network thread."""

    def state(self, connected: bool, subscribed: bool, generation: int) -> None:
        """The connection changed (also reported on the disconnect of :meth:`PahoSession.stop`)."""
        ...

    def message(self, item: Item, timeout: float) -> bool:
        """Take one message; False if there was no room within ``timeout`` (asked again)."""
        ...


class BufferedClient(mqtt.Client):
    """A paho client that reads the socket in large chunks.

    paho reads each packet with two or three ``recv`` calls (type byte, length bytes, body)
    and goes through ``select`` once per packet; at tens of thousands of messages a second
    those system calls cost as much as the rest of receiving. Here ``recv`` is served from a
    buffer filled ``READ_SIZE`` bytes at a time, and :meth:`loop_read` goes on while the buffer
    holds data (``select`` cannot see it). Refills per :meth:`loop_read` are bounded, so a
    busy socket still lets the network thread write (acks, publishes); when the budget is
    spent the buffer is empty and what is left waits in the socket, where ``select`` sees it.
    """

    READ_SIZE = 65536
    REFILLS_PER_LOOP = 4

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._rsock: object = None
        self._refills = 1

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf) or self._rsock is not self._sock:
            if self._refills <= 0:
                raise BlockingIOError  # paho keeps the partial packet and returns to select
            self._refills -= 1
            self._rbuf, self._rpos = b"", 0
            buf = super()._sock_recv(self.READ_SIZE)  # raises BlockingIOError when empty
            self._rsock = self._sock
            if not buf:
                return buf  # closed by the peer
            self._rbuf, pos = buf, 0
        end = pos + bufsize
        self._rpos = end
        return buf[pos:end]

    def buffered(self) -> int:
        """Bytes read from the socket and not yet handed to paho."""
        return max(0, len(self._rbuf) - self._rpos) if self._rsock is self._sock else 0

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        self._refills = self.REFILLS_PER_LOOP
        try:
            rc = super().loop_read(max_packets)
            while rc == mqtt.MQTT_ERR_SUCCESS and self._sock is not None and self.buffered():
                rc = super().loop_read(max_packets)
            return rc
        finally:
            self._refills = 1


def make_client(options: dict[str, Any]) -> mqtt.Client:
    """The collector's paho client: MQTT 3.1.1, persistent session, manual acks, TLS optional.

    ``options``: client_id, username, password, tls, tls_ca_file, tls_cert_file,
    tls_key_file, max_inflight.
    """
    client = BufferedClient(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=options["client_id"],
        clean_session=False,
        protocol=mqtt.MQTTv311,
        manual_ack=True,
    )
    if options.get("username"):
        client.username_pw_set(options["username"], options.get("password") or None)
    if options.get("tls"):
        client.tls_set(
            ca_certs=options.get("tls_ca_file") or None,
            certfile=options.get("tls_cert_file") or None,
            keyfile=options.get("tls_key_file") or None,
        )
    client.on_socket_open = _disable_nagle
    client.max_inflight_messages_set(int(options.get("max_inflight", 1000)))
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def _disable_nagle(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """paho leaves Nagle's algorithm on; small acks and receipts then wait for the broker's
    delayed ACK (up to 40 ms)."""
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def message_topic(message: mqtt.MQTTMessage) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:
        return message._topic.decode("utf-8", "replace")


class PahoSession:
    """One paho client with the collector's callbacks.

    ``options``: those of :func:`make_client` plus host, port, keepalive and subscriptions
    (a list of (topic filter, QoS)).
    """

    def __init__(self, options: dict[str, Any], sink: SessionSink) -> None:
        self._options = options
        self._sink = sink
        self.generation = 0
        """connection number, bumped at every successful connection"""
        self.stopping = False
        self._sub_mid: int | None = None
        self.client = make_client(options)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def start(self) -> None:
        self.stopping = False
        o = self._options
        self.client.connect_async(o["host"], o["port"], keepalive=o["keepalive"])
        self.client.loop_start()

    def stop(self) -> None:
        self.stopping = True
        try:
            self.client.disconnect()
        except Exception:  # pragma: no cover - disconnect on a dead socket
            log.debug("disconnect failed", exc_info=True)
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Queue a message; paho keeps QoS 1 messages across reconnects."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("publish to %s failed: %s", topic, mqtt.error_string(info.rc))

    def ack(self, generation: int, mids: Sequence[int]) -> None:
        """Acknowledge QoS 1 messages received on connection ``generation``, if still current.

        The PUBACKs of a batch go out as one write: paho's :meth:`~paho.mqtt.client.Client.ack`
        queues each on its own, which costs a wake-up of the network thread and a ``send`` per
        message here and a read per message in the broker.
        """
        if generation != self.generation or not mids:
            return
        queue = getattr(self.client, "_packet_queue", None)
        if queue is not None and len(mids) > 1:
            pack = _PUBACK.pack
            packet = b"".join([pack(_PUBACK_TYPE, 2, mid) for mid in mids])
            rc = queue(_PUBACK_TYPE, packet, mids[0], 1)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                log.debug("acks of %d messages not sent: %s", len(mids), mqtt.error_string(rc))
            return
        ack = self.client.ack  # one message, or a paho without _packet_queue
        for mid in mids:
            rc = ack(mid, 1)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                log.debug("ack of mid %d not sent: %s", mid, mqtt.error_string(rc))

    # -- paho callbacks (network thread): report to the sink, never raise -----------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        try:
            if reason_code.is_failure:
                log.warning("broker refused connection: %s", reason_code)
                return
            self.generation += 1
            self._sink.state(True, False, self.generation)
            log.info(
                "connected to %s:%d (session present: %s)",
                self._options["host"],
                self._options["port"],
                flags.session_present,
            )
            result, self._sub_mid = client.subscribe(self._options["subscriptions"])
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
            self._sink.state(True, True, self.generation)
        except Exception:
            log.exception("on_subscribe failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        try:
            if not self.stopping:
                log.warning("disconnected from broker (%s); reconnecting", reason_code)
            self._sink.state(False, False, self.generation)
        except Exception:
            log.exception("on_disconnect failed")

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:  # type: ignore[no-untyped-def]
        try:
            payload = message.payload
            item = (
                message_topic(message),
                payload if type(payload) is bytes else bytes(payload),
                message.mid,
                message.qos,
                bool(message.retain),
                self.generation,
            )
            # Back-pressure: hold the network thread while the consumer catches up; the broker
            # holds the rest (its in-flight window for this client is full anyway).
            while not self.stopping and not self._sink.message(item, PUT_TIMEOUT_S):
                pass
        except Exception:
            log.exception("on_message failed")
