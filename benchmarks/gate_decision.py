"""Gate decision time on the agent: from the last byte of the card read to the relay command.

    python -m benchmarks.gate_decision [--presentations 100] [--roster-size 500]

Real parts: an agent (``edge_agent.agent.Agent``, broker URL at a closed port: the decision
never waits for the network) with the real ``idcard_sam`` plugin on the SAM reader simulator,
the real ``modbus_gate`` plugin on the Modbus RTU relay-board simulator (both on
pseudo-terminals), and ``expert_gate`` deciding from a roster of ``--roster-size`` people
cached as desired config. A drawn expert's card is presented and lifted N times; the figure is
each admission's ``decision_ms``: ``perf_counter()`` when the SAM answer's last byte arrived →
the relay board's acknowledgement of the "on" write (roster lookup, keyed hashes, decision,
Modbus request and answer included). Goal: p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from benchmarks._common import summary
from benchmarks._devices import (
    RelayBoard,
    SamReader,
    offline_agent,
    outbox_events,
    p99_line,
    same_clock,
    to_board_ms,
    wait_for,
)
from contract.envelopes import ConfigEnvelope
from contract.payloads.access import card_hash
from contract.payloads.entrance import person_hash
from device_plugins.idcard_sam.simulator import id_number, resident_card
from device_plugins.messages import CARD_UID, CardRead, CardUid
from device_plugins.pcsc_reader.simulator import VirtualCard
from edge_agent.agent import Agent
from edge_agent.desired_config import DesiredConfigCache

KEY = bytes(range(32))
EXPERT = id_number("420102", "19700101", "013")
EXPERT_UID = "04A1B2C3D4E5F6"
GATE = "gate-east"


def roster(size: int) -> dict[str, Any]:
    """One session in a room behind the gate, under way; ``size`` people on it."""
    start = datetime.now(UTC) - timedelta(minutes=10)
    people = [
        {
            "person_hash": person_hash(KEY, id_number("110101", "19800101", f"{i % 1000:03d}"))
            if i
            else person_hash(KEY, EXPERT),
            "card_hashes": [card_hash(KEY, f"{i:08X}" if i else EXPERT_UID)],
            "label": "张*",
            "sessions": [f"S{i % 20}"],
        }
        for i in range(size)
    ]
    sessions = [
        {
            "session_id": f"S{i}",
            "rooms": [f"R{i}"],
            "start": start.isoformat(),
            "end": (start + timedelta(hours=3)).isoformat(),
        }
        for i in range(20)
    ]
    return {
        "version": 1,
        "hash_key": KEY.hex(),
        "rooms_behind_gate": {GATE: ["R0"]},
        "sessions": sessions,
        "people": people,
    }


def admissions(agent: Agent) -> list[dict[str, Any]]:
    return outbox_events(agent, "access.admission")


class PcscReader:
    """An IC card on a real pcscd (vsmartcard's vpcd reader), ``pcsc_reader``."""

    topic = CARD_UID

    def __init__(self, workdir: Path) -> None:
        from tests.device_plugins.pcsc_reader.pcscd import shared

        self.pcscd = shared()
        port, _ = self.pcscd.start("Bench Reader")
        self.card = VirtualCard(EXPERT_UID, port=port)
        self.agent: Agent | None = None

    def section(self) -> dict[str, Any]:
        return {"kind": "pcsc_reader", "wait_ms": 200, "debounce_s": 0}

    def attach(self, agent: Agent) -> None:
        self.agent = agent

    def present(self) -> None:
        self.card.insert()

    def lift(self, n: int) -> None:
        self.card.remove()
        agent = self.agent
        assert agent is not None

        def gone() -> bool:
            status = cast(dict[str, Any], agent.executor.call("reader.status"))
            return not status["cards_present"]

        wait_for(gone, 10, "the reader noticed the card gone")

    def close(self) -> None:
        self.pcscd.stop()


def run(
    presentations: int,
    roster_size: int,
    workdir: Path,
    baudrate: int = 9600,
    reader_kind: str = "sam",
) -> tuple[float, list[float], list[float]]:
    """(the first, warm-up presentation's figure, the figures of the others, and for those
    the time from the card's last byte to the "on" frame's arrival at the relay board)."""
    reader: SamReader | PcscReader = (
        SamReader(workdir, resident_card(name="张三", number=EXPERT))
        if reader_kind == "sam"
        else PcscReader(workdir)
    )
    board = RelayBoard(workdir)
    state = workdir / "state"
    state.mkdir()
    DesiredConfigCache(state, logging.getLogger("bench")).save(
        ConfigEnvelope(
            version=1,
            issued_at=datetime.now(UTC),
            config={"expert_gate": {"roster": roster(roster_size)}},
        )
    )
    try:
        agent = offline_agent(
            state,
            GATE,
            {
                "reader": reader.section(),
                "gate1": board.section(baudrate, pulse_ms=50),
                "expert_gate": {"kind": "expert_gate", "gate_action": "gate1.open"},
            },
        )
    except BaseException:
        reader.close()
        board.close()
        raise
    try:
        reads: list[CardRead | CardUid] = []
        reader.attach(agent)
        agent.plugins.bus.subscribe("bench", reader.topic, reads.append)  # type: ignore[arg-type]
        for i in range(presentations + 1):
            reader.present()
            # Relay on, then off after the pulse (people come seconds apart). Watching the
            # board is cheap; reading the outbox here would steal the agent's interpreter.
            board.wait_pulses(i + 1)
            reader.lift(i + 1)
        found = wait_for(
            lambda: len(a := admissions(agent)) == presentations + 1 and a, 10, "admissions"
        )
        if any(a["decision"] != "admitted" or not a["gate_opened"] for a in found):
            raise RuntimeError("an attempt was not admitted through the gate")
        values = [float(a["decision_ms"]) for a in found]
        to_board = to_board_ms(reads, board.on_times())
        return values[0], values[1:], to_board[1:]
    finally:
        agent.stop()
        reader.close()
        board.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presentations", type=int, default=100)
    parser.add_argument("--roster-size", type=int, default=500)
    parser.add_argument(
        "--reader",
        choices=["sam", "pcsc"],
        default="sam",
        help="sam: ID card on the SAM simulator; pcsc: IC card on a real pcscd with "
        "vsmartcard's vpcd (needs pcscd, vsmartcard-vpcd and pyscard)",
    )
    parser.add_argument(
        "--baudrate",
        type=int,
        default=9600,
        help="RS-485 speed the Modbus client times its frames for (the pty has none)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        first, values, to_board = run(
            args.presentations, args.roster_size, Path(tmp), args.baudrate, args.reader
        )
    print(
        f"{args.reader} reader, roster {args.roster_size} people, "
        f"Modbus client at {args.baudrate} Bd; "
        f"first presentation (warm-up, not counted) {first:.1f} ms"
    )
    print(f"gate decision, last card byte → relay command acknowledged (ms): {summary(values)}")
    if same_clock():
        print(f"last card byte → 'on' frame at the relay board (ms): {summary(to_board)}")
    print(p99_line(values))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
