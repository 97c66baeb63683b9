"""Durability: a writer SIGKILLed mid-stream loses nothing it had committed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from contract.registry import Priority
from edge_agent.db import Database
from edge_agent.outbox import Outbox

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from contract.payloads.sim import SimReading
    from edge_agent.events import EventWriter
    from edge_agent.outbox import Outbox

    outbox = Outbox.open(Path(sys.argv[1]))
    writer = EventWriter(outbox, centre="c1", device="d1")
    n = 0
    while True:
        if n % 3 == 2:  # receipts arrive too: deletes must not let seq go backwards
            low, high = max(1, outbox.last_seq - 1), outbox.last_seq
            print(f"del {low} {high}", flush=True)  # announced first: killed before or after
            outbox.delete_ranges([(low, high)])
        seq = writer.emit("sim.reading", SimReading(sensor="s", value=n, n=n))
        print(seq, flush=True)  # printed only once append() has returned: committed
        n += 1
    """
)


def test_sigkilled_writer_loses_nothing_committed_and_never_reuses_seq(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    lines = [child.stdout.readline().split() for _ in range(400)]
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    # Lines the child printed after we stopped reading were committed (or announced) too.
    lines += [line.split() for line in child.stdout.read().splitlines()]
    committed = [int(line[0]) for line in lines if len(line) == 1]
    # An announced delete may or may not have happened when the child was killed.
    deleted = {int(seq) for line in lines if line[0] == "del" for seq in line[1:]}

    outbox = Outbox(Database(path))
    stored = {r.seq: json.loads(r.body) for r in outbox.next_batch(100_000)}
    survivors = [s for s in committed if s not in deleted]
    assert survivors and all(s in stored for s in survivors)
    assert all(stored[s]["seq"] == s for s in survivors)
    # A row may exist that was committed but not yet printed; never one beyond the mark.
    assert max(stored) <= outbox.last_seq
    next_seq = outbox.append("event", "sim.reading", Priority.TELEMETRY, lambda s: b"{}")
    assert next_seq > max(committed)
    assert Database(path).query("PRAGMA integrity_check") == [("ok",)]
