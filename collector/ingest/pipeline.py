"""The ingest worker: batches from the MQTT queue → validate → one transaction → ack → receipt.

Order per batch, and why:

1. classify every message (topic, size, JSON + envelope in one pydantic call, topic/envelope
   agreement), look the batch's devices up (cached briefly), validate event payloads;
2. in one transaction: insert events and acks idempotently, write dead letters, move device
   counters and gaps, apply acks to commands, run business handlers for new events; commit;
3. only then acknowledge the MQTT messages (so a crash before the commit means redelivery);
4. publish one receipt per device listing the committed seqs, duplicates included;
5. apply status messages (their own small transactions) and wake devices that came online.

A handler or data error rolls the batch back and stores it again message by message, so only
the offending message becomes a dead letter. A database outage retries the batch with backoff
and acknowledges nothing meanwhile. Nothing a sender does can stop the worker.

What is receipted: every event or ack whose sender is verified (topic matches the envelope,
device enrolled in that centre and enabled), whether newly stored, a duplicate, or dead-lettered
for its payload or a handler error (its raw bytes are kept; a resend would meet the same fate).
Unverified senders get no receipt, so their outbox keeps the data until they are enrolled.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session

from collector.commands import service as commands_service
from collector.db_types import utcnow
from collector.desired_config import service as config_service
from collector.devices import service as devices_service
from collector.event_bus import EventBus
from collector.inbox import Inbox
from collector.ingest.checks import EnrolmentCache, enrolment_problem, payload_problem
from collector.ingest.models import DeadReason
from collector.ingest.parse import (
    AckItem,
    EventItem,
    Ignored,
    Rejected,
    StatusItem,
    TopicCache,
    clean_text,
    parse_message,
)
from collector.ingest.store import HandlerError, Statements, dead_row, insert_dead, store_batch
from collector.metrics import CollectorMetrics
from collector.mqtt_link import Inbound
from collector.publisher import Publisher
from collector.settings import CollectorSettings
from contract.envelopes import Receipt, seq_ranges
from contract.registry import EventRegistry
from contract.registry import registry as default_registry
from contract.topics import receipt_topic

log = logging.getLogger(__name__)

T = TypeVar("T")


class Link(Publisher, Protocol):
    """What the worker needs of the MQTT link: publish, and ack after the commit."""

    def ack_all(self, messages: Sequence[Inbound]) -> None:
        """Acknowledge received messages (those of an earlier connection are skipped)."""
        ...


def is_transient(exc: BaseException) -> bool:
    """A database error worth retrying unchanged (connection lost, locked, deadlock)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@dataclass(slots=True)
class Classified:
    events: list[EventItem] = field(default_factory=list)
    acks: list[AckItem] = field(default_factory=list)
    statuses: list[StatusItem] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # (centre, device) → seqs to receipt
    receipts: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))


class IngestWorker:
    def __init__(
        self,
        settings: CollectorSettings,
        engine: Engine,
        inbox: Inbox[Inbound],
        link: Link,
        *,
        metrics: CollectorMetrics,
        bus: EventBus,
        registry: EventRegistry = default_registry,
    ) -> None:
        self._settings = settings
        self._ingest = settings.ingest
        self._engine = engine
        self._inbox = inbox
        self._link = link
        self._metrics = metrics
        self._bus = bus
        self._registry = registry
        self._stmts = Statements(engine.dialect.name)
        self._cache = EnrolmentCache(settings.ingest.enrolment_cache_s)
        self._topics = TopicCache()
        dev = settings.devices
        self._stale_window = timedelta(
            seconds=dev.heartbeat_stale_factor * dev.default_heartbeat_interval_s
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()
        self._gc_paused = False
        self.batches = 0

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def enrolment_cache(self) -> EnrolmentCache:
        return self._cache

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._collect()
                self._metrics.queue_depth.set(self._inbox.qsize())
                if batch:
                    self.process(batch)
            except Exception:  # the worker never dies on input or on a bug in one batch
                log.exception("ingest batch failed; continuing")
                self._stop.wait(0.5)

    def _collect(self) -> list[Inbound]:
        """Up to batch_size messages, waiting at most batch_wait_ms after the first."""
        return self._inbox.get_batch(
            self._ingest.batch_size, 0.2, self._ingest.batch_wait_ms / 1000
        )

    # -- one batch -----------------------------------------------------------------------

    def process(self, batch: list[Inbound]) -> None:
        """Store, acknowledge and receipt one batch (retrying while the database is down).

        Python's cyclic garbage collector is paused meanwhile. A batch keeps thousands of
        objects (envelopes, payloads, rows) alive until it is done, so the collections its
        allocations trigger found them all alive, promoted them, and soon rescanned the whole
        heap of the collector: several microseconds per event, for nothing. Reference counting
        frees the batch when :meth:`_process` returns; only then does collection resume, and
        the allocation count carried over lets the next one take whatever cycles there are.
        It also resumes while a database outage is waited out.
        """
        with self._busy:
            self._gc_paused = gc.isenabled()  # left alone if someone else turned it off
            if self._gc_paused:
                gc.disable()
            try:
                self._process(batch)
            finally:
                if self._gc_paused:
                    self._gc_paused = False
                    gc.enable()

    def _process(self, batch: list[Inbound]) -> None:
        work = self._retry(lambda: self.classify(batch))
        if work is None:
            return
        came_online = self._retry(lambda: self._store(work) + self._apply_statuses(work))
        if came_online is None:
            return
        # Receipts go out before the acks, down the same connection: once the broker has an
        # ack it has the receipt too. The other order lost the receipt when the receiver child
        # died between the two (the broker had the ack, so it redelivered nothing).
        self._publish_receipts(work.receipts)
        self._link.ack_all(batch)
        for device_id in dict.fromkeys(came_online):
            self._device_online(device_id)
        self.batches += 1

    def _retry(self, step: Callable[[], T]) -> T | None:
        """Run ``step`` until it gets past transient database errors; None when stopping."""
        delay = 0.2
        while True:
            try:
                return step()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if self._stop.is_set():
                    log.warning("stopping with an unstored batch; the broker redelivers it")
                    return None
                self._metrics.db_retries.inc()
                log.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                if self._gc_paused:  # an outage may last: let the other threads collect
                    gc.enable()
                try:
                    self._stop.wait(delay)
                finally:
                    if self._gc_paused:
                        gc.disable()
                delay = min(delay * 2, 10.0)

    def classify(self, batch: list[Inbound]) -> Classified:
        work = Classified()
        max_bytes = self._ingest.max_message_bytes
        topic_cache = self._topics
        parsed = [parse_message(message, max_bytes, topic_cache) for message in batch]
        devices = set()
        kinds = {"event": 0, "ack": 0, "status": 0, "invalid": 0}
        for item in parsed:
            if isinstance(item, EventItem):
                kinds["event"] += 1
                devices.add(item.env.device)
            elif isinstance(item, AckItem):
                kinds["ack"] += 1
                devices.add(item.env.device)
            elif isinstance(item, StatusItem):
                kinds["status"] += 1
                devices.add(item.topic.device)
            elif isinstance(item, Ignored):
                kinds["status"] += 1
            else:
                kinds["invalid"] += 1
        for kind, count in kinds.items():
            if count:
                self._metrics.received.labels(kind).inc(count)
        enrolments = self._cache.lookup(self._engine, devices) if devices else {}
        receipts = work.receipts
        for item in parsed:
            if isinstance(item, EventItem | AckItem):
                env = item.env
                problem = enrolment_problem(env.centre, env.device, enrolments.get(env.device))
                if problem is None and isinstance(item, EventItem):
                    problem = payload_problem(self._registry, item)
                    if problem is not None:  # verified sender: receipted, kept as dead letter
                        receipts[(env.centre, env.device)].append(env.seq)
                if problem is not None:
                    work.rejected.append(
                        Rejected(item.msg, problem[0], problem[1], env.centre, env.device)
                    )
                    continue
                receipts[(env.centre, env.device)].append(env.seq)
                if isinstance(item, EventItem):
                    work.events.append(item)
                else:
                    work.acks.append(item)
            elif isinstance(item, StatusItem):
                t = item.topic
                problem = enrolment_problem(t.centre, t.device, enrolments.get(t.device))
                if problem is None:
                    work.statuses.append(item)
                elif not item.msg.retain:  # a retained status replays on every resubscribe
                    work.rejected.append(
                        Rejected(item.msg, problem[0], problem[1], t.centre, t.device)
                    )
            elif isinstance(item, Rejected):
                work.rejected.append(item)
        return work

    def _store(self, work: Classified) -> list[str]:
        now = utcnow()
        dead = [dead_row(r, now) for r in work.rejected]
        started = time.perf_counter()
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                result = store_batch(
                    session,
                    self._stmts,
                    work.events,
                    work.acks,
                    dead,
                    bus=self._bus,
                    now=now,
                    stale_window=self._stale_window,
                )
                session.commit()
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("batch failed (%s); storing it message by message", exc)
            return self._store_one_by_one(work, dead)
        self._metrics.batch_commit_seconds.observe(time.perf_counter() - started)
        self._metrics.batch_size.observe(
            len(work.events) + len(work.acks) + len(work.rejected) + len(work.statuses)
        )
        self._count(work.events, work.acks, result.new_events, result.new_acks)
        for row in dead:
            self._metrics.dead_lettered.labels(row["reason"]).inc()
        return result.came_online

    def _store_one_by_one(self, work: Classified, dead: list[dict[str, Any]]) -> list[str]:
        """After a non-transient failure: isolate the message that causes it."""
        now = utcnow()
        came_online: list[str] = []
        with Session(self._engine) as session:
            insert_dead(session, self._stmts, dead)
            session.commit()
        work.rejected = []  # stored: a retry after a later outage must not store them twice
        for row in dead:
            self._metrics.dead_lettered.labels(row["reason"]).inc()
        singles: list[tuple[list[EventItem], list[AckItem]]] = [([e], []) for e in work.events]
        singles += [([], [a]) for a in work.acks]
        for events, acks in singles:
            item: EventItem | AckItem = events[0] if events else acks[0]
            try:
                with Session(self._engine, expire_on_commit=False) as session:
                    result = store_batch(
                        session,
                        self._stmts,
                        events,
                        acks,
                        [],
                        bus=self._bus,
                        now=now,
                        stale_window=self._stale_window,
                    )
                    session.commit()
                self._count(events, acks, result.new_events, result.new_acks)
                came_online += result.came_online
            except Exception as exc:
                if is_transient(exc):
                    raise
                reason = (
                    DeadReason.HANDLER_ERROR
                    if isinstance(exc, HandlerError)
                    else DeadReason.STORE_ERROR
                )
                cause = exc.cause if isinstance(exc, HandlerError) else exc
                log.error("message %s dead-lettered: %s: %r", item.id, reason, cause)
                rejected = Rejected(item.msg, reason, "", item.env.centre, item.env.device)
                with Session(self._engine) as session:
                    insert_dead(
                        session,
                        self._stmts,
                        [
                            dead_row(
                                rejected, now, detail=clean_text(f"{type(cause).__name__}: {cause}")
                            )
                        ],
                    )
                    session.commit()
                self._metrics.dead_lettered.labels(reason.value).inc()
        return came_online

    def _count(self, events, acks, new_events: set[str], new_acks: set[str]) -> None:  # type: ignore[no-untyped-def]
        m = self._metrics
        if events:
            m.stored.labels("event").inc(len(new_events))
            m.duplicates.labels("event").inc(len(events) - len(new_events))
        if acks:
            m.stored.labels("ack").inc(len(new_acks))
            m.duplicates.labels("ack").inc(len(acks) - len(new_acks))

    def _apply_statuses(self, work: Classified) -> list[str]:
        came_online: list[str] = []
        for item in work.statuses:
            topic = item.topic
            try:
                with Session(self._engine, expire_on_commit=False) as session:
                    outcome = devices_service.apply_status(
                        session, topic.centre, topic.device, item.status
                    )
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.exception("status of %s/%s not applied", topic.centre, topic.device)
                continue
            if outcome.came_online:
                came_online.append(topic.device)
            elif outcome.went_offline:
                log.info("device %s/%s offline", topic.centre, topic.device)
        return came_online

    def _publish_receipts(self, receipts: dict[tuple[str, str], list[int]]) -> None:
        if not receipts:
            return
        now = utcnow()
        for (centre, device), seqs in receipts.items():
            try:
                receipt = Receipt(ranges=seq_ranges(seqs), collector_time=now)
                self._link.publish(
                    receipt_topic(centre, device), receipt.model_dump_json().encode(), qos=1
                )
                self._metrics.receipts.inc()
            except Exception:
                log.exception("receipt for %s/%s not published", centre, device)

    def _device_online(self, device_id: str) -> None:
        """A device came online: re-send its pending durable commands and its config."""
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                resent = commands_service.resend_pending(session, self._link, device_id)
                config_service.publish_effective(session, self._link, device_id)
            log.info("device %s online; %d pending command(s) re-sent", device_id, len(resent))
        except Exception:
            log.exception("re-sending to %s failed; it is retried on its next reconnect", device_id)
