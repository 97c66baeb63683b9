"""Moves the outbox to the broker and frees it when receipts come back.

While the link is up the sender reads the outbox in sending order (priority, seq), a batch at
a time, skipping what is in flight, and publishes each body with QoS 1. It keeps at most
``max_inflight`` messages published but not yet covered by a receipt. A receipt deletes
exactly its ranges from the outbox; a reconnect forgets everything in flight, so all that is
unreceipted is sent again; a message in flight longer than ``resend_after_s`` is sent again.
Duplicates are harmless: the collector stores each event id once.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from contract import topics
from contract.envelopes import Receipt
from edge_agent.logs import Logger
from edge_agent.outbox import Outbox, OutboxRow

Publish = Callable[[str, bytes], bool]
IDLE_WAIT_S = 0.2


@dataclass(frozen=True, slots=True)
class ReceiptInfo:
    at: float  # wall-clock time of arrival
    clock_offset_s: float  # collector clock minus ours at arrival


class Sender:
    def __init__(
        self,
        *,
        outbox: Outbox,
        publish: Publish,
        centre: str,
        device: str,
        max_inflight: int,
        resend_after_s: float,
        logger: Logger,
        batch_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._publish = publish
        self._centre = centre
        self._device = device
        self._max_inflight = max_inflight
        self._resend_after_s = resend_after_s
        self._batch_size = batch_size
        self._logger = logger
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._connected = False
        self._generation = 0  # bumped at every link change; a batch in progress then stops
        self._inflight: OrderedDict[int, float] = OrderedDict()  # seq → publish time, oldest first
        self._receipts: deque[Receipt] = deque()
        self._topics: dict[str, str] = {}
        self._ack_topic = topics.ack_topic(centre, device)
        self.last_receipt: ReceiptInfo | None = None
        self.published = 0
        self.resent = 0

    # -- signals from other threads ----------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def on_link_up(self) -> None:
        with self._lock:
            self._connected = True
            self._generation += 1
            self._inflight.clear()  # unreceipted messages are sent again on this connection
        self.wake()

    def on_link_down(self) -> None:
        with self._lock:
            self._connected = False
            self._generation += 1
            self._inflight.clear()

    def on_receipt(self, receipt: Receipt) -> None:
        self.last_receipt = ReceiptInfo(
            at=time.time(), clock_offset_s=receipt.collector_time.timestamp() - time.time()
        )
        self._receipts.append(receipt)
        self.wake()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._inflight)

    # -- the sender thread --------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                busy = self.step()
            except Exception:  # the outbox keeps everything; try again shortly
                self._logger.exception("sender step failed")
                stop.wait(0.5)
                continue
            if not busy:
                self._wake.wait(IDLE_WAIT_S)

    def step(self) -> bool:
        """One round: apply receipts, resend overdue, publish a batch. True if work was done."""
        did = self._apply_receipts()
        with self._lock:
            if not self._connected:
                return did
            generation = self._generation
            self._expire_overdue()
            room = self._max_inflight - len(self._inflight)
            # Refill in chunks, not one slot at a time: each read skips everything in flight.
            if room < min(self._batch_size, self._max_inflight) // 4 or room <= 0:
                return did
            exclude = set(self._inflight)
        rows = self._outbox.next_batch(min(room, self._batch_size), exclude)
        self._send(rows, generation)
        return did or bool(rows)

    def _send(self, rows: list[OutboxRow], generation: int) -> None:
        now = self._clock()
        with self._lock:  # a link change meanwhile bumps the generation: stop there
            for row in rows:
                if generation != self._generation:
                    return
                topic = self._ack_topic if row.kind == "ack" else self._event_topic(row.type)
                if not self._publish(topic, row.body):
                    return
                self._inflight[row.seq] = now
                self.published += 1

    def _event_topic(self, event_type: str) -> str:
        topic = self._topics.get(event_type)
        if topic is None:
            topic = self._topics[event_type] = topics.event_topic(
                self._centre, self._device, event_type
            )
        return topic

    def _expire_overdue(self) -> None:
        """Forget messages in flight for too long so that the next batch sends them again."""
        cutoff = self._clock() - self._resend_after_s
        while self._inflight:
            sent_at = next(iter(self._inflight.values()))
            if sent_at > cutoff:
                break
            self._inflight.popitem(last=False)
            self.resent += 1

    def _apply_receipts(self) -> bool:
        ranges: list[tuple[int, int]] = []
        while self._receipts:
            ranges.extend(self._receipts.popleft().ranges)
        if not ranges:
            return False
        ranges = merge_ranges(ranges)
        self._outbox.delete_ranges(ranges)
        firsts = [first for first, _ in ranges]
        with self._lock:
            for seq in [s for s in self._inflight if _covered(s, ranges, firsts)]:
                del self._inflight[seq]
        return True


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint inclusive ranges covering the same sequence numbers."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _covered(seq: int, ranges: list[tuple[int, int]], firsts: list[int]) -> bool:
    i = bisect.bisect_right(firsts, seq) - 1
    return i >= 0 and seq <= ranges[i][1]
