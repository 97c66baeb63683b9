"""Counters of one collector runtime, in its own Prometheus registry.

No global registry: tests run several runtimes in one process, and each exposes its own
figures on its ``/metrics``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class CollectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "prtc_ingest_received", "MQTT messages taken from the queue", ["kind"], registry=r
        )
        self.stored = Counter(
            "prtc_ingest_stored", "events and acks newly stored", ["kind"], registry=r
        )
        self.duplicates = Counter(
            "prtc_ingest_duplicates", "events and acks already stored before", ["kind"], registry=r
        )
        self.dead_lettered = Counter(
            "prtc_ingest_dead_lettered",
            "messages written to the dead letters",
            ["reason"],
            registry=r,
        )
        self.receipts = Counter("prtc_ingest_receipts", "receipts published", registry=r)
        self.batch_commit_seconds = Histogram(
            "prtc_ingest_batch_commit_seconds",
            "time to store and commit one batch",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.batch_size = Histogram(
            "prtc_ingest_batch_size",
            "messages per committed batch",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
            registry=r,
        )
        self.db_retries = Counter(
            "prtc_ingest_db_retries", "batches retried after a database error", registry=r
        )
        self.queue_depth = Gauge(
            "prtc_ingest_queue_depth", "messages waiting in the queue", registry=r
        )
        self.mqtt_connected = Gauge(
            "prtc_mqtt_connected", "1 when connected to the broker", registry=r
        )
        self.housekeeping_leader = Gauge(
            "prtc_housekeeping_leader", "1 when this instance runs the scheduled jobs", registry=r
        )
