"""The MQTT client of the collector as a child process (``python -m collector.mqtt_receiver``).

paho-mqtt spends about as much interpreter time receiving a message as the collector spends
validating and storing it; in one process both fight over one GIL. Running the client here
lets receiving and storing use two CPUs. The parent
(:class:`collector.mqtt_process.ProcessMqttLink`) talks to this process over its
stdin/stdout with length-prefixed pickle frames:

parent → child: ``("config", dict)`` first, then ``("pub", topic, payload, qos, retain)``,
``("ack", generation, [mid, ...])`` and ``("stop",)``.
child → parent: ``("msgs", [(topic, payload, mid, qos, retain, generation), ...])`` and
``("state", connected, subscribed, generation)``.

This module imports only the standard library and paho, so the child starts quickly. It exits
when its stdin closes (the parent stopped or died); SIGINT/SIGTERM are left to the parent.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import struct
import sys
import threading
import time
from typing import IO, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger("collector.mqtt_receiver")

_LENGTH = struct.Struct(">I")
FRAME_MESSAGES = 1000  # messages per frame at most


def write_frame(out: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LENGTH.pack(len(data)) + data)
    out.flush()


def read_frame(inp: IO[bytes]) -> Any:
    """The next frame, or None at end of stream."""
    head = inp.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = inp.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def make_client(options: dict[str, Any]) -> mqtt.Client:
    """The collector's paho client: MQTT 3.1.1, persistent session, manual acks, TLS optional.

    ``options``: client_id, username, password, tls, tls_ca_file, tls_cert_file,
    tls_key_file, max_inflight.
    """
    client = mqtt.Client(
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
    client.max_inflight_messages_set(int(options.get("max_inflight", 1000)))
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def message_topic(message: mqtt.MQTTMessage) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:
        return message._topic.decode("utf-8", "replace")


class Receiver:
    """The child's side: one paho client, a buffer drained to the parent in frames."""

    def __init__(self, config: dict[str, Any], out: IO[bytes]) -> None:
        self._config = config
        self._out = out
        self._out_lock = threading.Lock()
        self._cond = threading.Condition()
        self._buffer: list[tuple[str, bytes, int, int, bool, int]] = []
        self._limit = int(config.get("buffer_max", 20000))
        self._generation = 0
        self._sub_mid: int | None = None
        self._stopping = False
        self.client = make_client(config)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def send(self, obj: Any) -> None:
        with self._out_lock:
            write_frame(self._out, obj)

    def run(self, inp: IO[bytes]) -> None:
        threading.Thread(target=self._drain, name="receiver-drain", daemon=True).start()
        self.client.connect_async(
            self._config["host"], self._config["port"], keepalive=self._config["keepalive"]
        )
        self.client.loop_start()
        try:
            while True:
                frame = read_frame(inp)
                if frame is None or frame[0] == "stop":
                    break
                kind = frame[0]
                if kind == "ack":
                    _, generation, mids = frame
                    if generation == self._generation:
                        ack = self.client.ack
                        for mid in mids:
                            ack(mid, 1)
                elif kind == "pub":
                    _, topic, payload, qos, retain = frame
                    self.client.publish(topic, payload, qos=qos, retain=retain)
        finally:
            self._stopping = True
            with self._cond:
                self._cond.notify_all()
            self.client.disconnect()
            self.client.loop_stop()

    # paho callbacks: never raise, never block for long

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        try:
            if reason_code.is_failure:
                log.warning("broker refused connection: %s", reason_code)
                return
            self._generation += 1
            self.send(("state", True, False, self._generation))
            result, self._sub_mid = client.subscribe(self._config["subscriptions"])
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
            self.send(("state", True, True, self._generation))
        except Exception:
            log.exception("on_subscribe failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        try:
            if not self._stopping:
                log.warning("disconnected from broker (%s); reconnecting", reason_code)
                self.send(("state", False, False, self._generation))
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
                self._generation,
            )
            with self._cond:
                # Back-pressure: hold the network thread while the parent catches up.
                while len(self._buffer) >= self._limit and not self._stopping:
                    self._cond.wait(0.5)
                self._buffer.append(item)
                if len(self._buffer) == 1:
                    self._cond.notify_all()
        except Exception:
            log.exception("on_message failed")

    def _drain(self) -> None:
        while True:
            with self._cond:
                while not self._buffer and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
            if len(self._buffer) < 64:
                time.sleep(0.001)  # let a few more arrive: one frame for many messages
            with self._cond:
                batch = self._buffer[:FRAME_MESSAGES]
                del self._buffer[:FRAME_MESSAGES]
                self._cond.notify_all()
            try:
                self.send(("msgs", batch))
            except (BrokenPipeError, OSError):
                return  # the parent is gone; stdin EOF ends the process


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Frames go to the original stdout; anything printed by accident goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = os.fdopen(os.dup(0), "rb")
    logging.basicConfig(
        level=os.environ.get("PRTC_RECEIVER_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    frame = read_frame(inp)
    if frame is None or frame[0] != "config":
        log.error("no configuration from the parent")
        return 2
    Receiver(frame[1], out).run(inp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
