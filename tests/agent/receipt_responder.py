"""A collector stand-in: receipts for every event and ack a device publishes.

Used in-process by the tests, and as a separate process by the drain test
(``python -m tests.agent.receipt_responder PORT CENTRE DEVICE``) so that it does not share
the agent's interpreter lock; it prints ``ready``, then the number of distinct event ids it
received when it gets SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from contract.envelopes import Receipt, seq_ranges


class ReceiptResponder:
    """Answers like a collector: receipts for every event and ack seen, every ``period_s``."""

    def __init__(self, port: int, centre: str, device: str, period_s: float = 0.02) -> None:
        self.prefix = f"prtc/v1/{centre}/{device}"
        self.seen: set[int] = set()
        self.ids: set[str] = set()
        self._pending: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"responder-{device}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(f"{self.prefix}/event/#", 1), (f"{self.prefix}/ack", 1)])
        self.client.loop_start()
        if not subscribed.wait(5):
            raise RuntimeError("receipt responder not subscribed")
        self._thread = threading.Thread(target=self._answer, args=(period_s,), daemon=True)
        self._thread.start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        with self._lock:
            self._pending.append(body["seq"])
            self.seen.add(body["seq"])
            self.ids.add(body["id"])

    def _answer(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            with self._lock:
                pending, self._pending = self._pending, []
            if pending:
                receipt = Receipt(ranges=seq_ranges(pending), collector_time=datetime.now(UTC))
                self.client.publish(f"{self.prefix}/receipt", receipt.model_dump_json(), qos=1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.client.disconnect()
        self.client.loop_stop()


def main(argv: list[str]) -> int:
    port, centre, device = int(argv[0]), argv[1], argv[2]
    responder = ReceiptResponder(port, centre, device)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    responder.close()
    print(len(responder.ids), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
