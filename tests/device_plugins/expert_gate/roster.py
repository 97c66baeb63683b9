"""Rosters for the tests: two centres' gates, experts drawn for sessions in their rooms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contract.payloads.access import card_hash
from contract.payloads.entrance import person_hash
from device_plugins.idcard_sam.simulator import id_number

KEY = bytes.fromhex("00112233445566778899aabbccddeeff" * 2)
OTHER_KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100" * 2)
START = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
END = START + timedelta(hours=3)

EXPERT_ID = id_number("420102", "19700101", "013")
EXPERT_UID = "04A1B2C3D4E5F6"
SUPERVISOR_ID = id_number("420103", "19750505", "027")
STRANGER_ID = id_number("110101", "19800808", "031")


def roster(
    key: bytes = KEY,
    *,
    version: int = 5,
    rooms_behind_gate: dict[str, list[str]] | None = None,
    start: datetime = START,
    grace_minutes: int = 30,
) -> dict[str, Any]:
    """Centre 1: gate ``gate-east`` leads to rooms 301 and 302, ``gate-west`` to room 401.
    Session S1 is in room 301 (09:00–12:00 Beijing), S2 in room 401 in the afternoon."""
    return {
        "version": version,
        "hash_key": key.hex(),
        "rooms_behind_gate": (
            {"gate-east": ["301", "302"], "gate-west": ["401"]}
            if rooms_behind_gate is None
            else rooms_behind_gate
        ),
        "lead_minutes": 60,
        "grace_minutes": grace_minutes,
        "sessions": [
            {
                "session_id": "S1",
                "project_number": "GC2026-118",
                "rooms": ["301"],
                "start": start.isoformat(),
                "end": (start + (END - START)).isoformat(),
            },
            {
                "session_id": "S2",
                "rooms": ["401"],
                "start": (start + timedelta(hours=5)).isoformat(),
                "end": (start + timedelta(hours=8)).isoformat(),
            },
        ],
        "people": [
            {
                "person_hash": person_hash(key, EXPERT_ID),
                "card_hashes": [card_hash(key, EXPERT_UID)],
                "role": "leader",
                "label": "张*",
                "sessions": ["S1"],
            },
            {
                "person_hash": person_hash(key, SUPERVISOR_ID),
                "role": "supervisor",
                "label": "李*",
                "sessions": ["S1", "S2"],
            },
        ],
    }
