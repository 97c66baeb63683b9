"""What newly stored events and acks change: device sequence gaps, heartbeat figures and
applied configuration, command states. Runs inside the batch transaction."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from collector.commands.models import CommandState
from collector.commands.service import ack_update
from collector.ingest.parse import AckItem, EventItem
from collector.ingest.statements import (
    COMMANDS,
    CONFIG_APPLIED,
    DEVICES,
    GAPS,
    HEARTBEAT,
    Statements,
)


def track_gaps(
    session: Session,
    stmts: Statements,
    new_seqs: dict[str, list[int]],
    old_last_seq: dict[str, int],
    now: datetime,
) -> int:
    """Open a gap for every jump above the stored maximum; shrink gaps that late seqs fill."""
    opened: list[dict[str, Any]] = []
    late: dict[str, list[int]] = {}
    for device_id, seqs in new_seqs.items():
        expected = old_last_seq.get(device_id, 0) + 1
        below = []
        for seq in sorted(set(seqs)):
            if seq < expected:
                below.append(seq)
                continue
            if seq > expected:
                opened.append(
                    {
                        "device_id": device_id,
                        "first_seq": expected,
                        "last_seq": seq - 1,
                        "missing": seq - expected,
                        "detected_at": now,
                        "closed_at": None,
                    }
                )
            expected = seq + 1
        if below:
            late[device_id] = below
    if late:
        _fill_gaps(session, stmts, late, now)
    if opened:
        session.execute(GAPS.insert(), opened)
    return len(opened)


def _fill_gaps(
    session: Session, stmts: Statements, late: dict[str, list[int]], now: datetime
) -> None:
    rows = session.execute(
        stmts.lock(
            select(GAPS.c.id, GAPS.c.device_id, GAPS.c.first_seq, GAPS.c.last_seq, GAPS.c.missing)
            .where(GAPS.c.device_id.in_(sorted(late)), GAPS.c.closed_at.is_(None))
            .order_by(GAPS.c.id)
        )
    ).all()
    by_device: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_device[row.device_id].append(row)
    changes = []
    for device_id, seqs in late.items():
        for gap in by_device.get(device_id, ()):
            filled = sum(1 for s in seqs if gap.first_seq <= s <= gap.last_seq)
            if filled:
                missing = max(0, gap.missing - filled)
                changes.append(
                    {
                        "b_id": gap.id,
                        "b_missing": missing,
                        "b_closed": now if missing == 0 else None,
                    }
                )
    if changes:
        session.execute(
            update(GAPS)
            .where(GAPS.c.id == bindparam("b_id"))
            .values(missing=bindparam("b_missing"), closed_at=bindparam("b_closed")),
            changes,
        )


def _heartbeat_key(payload: dict[str, Any]) -> tuple[int, float]:
    # (boot, uptime) orders heartbeats without trusting the device clock.
    return int(payload.get("boot", 0)), float(payload.get("uptime_s", 0.0))


def agent_events(
    session: Session,
    stmts: Statements,
    new_events: list[EventItem],
    now: datetime,
    stale_window: timedelta,
) -> list[str]:
    """Heartbeats and config_applied update the device row; returns devices revived online."""
    latest: dict[str, EventItem] = {}
    applied: dict[str, int] = {}
    for item in new_events:
        env = item.env
        if env.type == HEARTBEAT:
            current = latest.get(env.device)
            if current is None or _heartbeat_key(env.payload) > _heartbeat_key(current.env.payload):
                latest[env.device] = item
        elif env.type == CONFIG_APPLIED and env.payload.get("ok"):
            version = int(env.payload["version"])
            applied[env.device] = max(version, applied.get(env.device, version))
    came_online: list[str] = []
    if latest:
        rows = session.execute(
            select(
                DEVICES.c.id, DEVICES.c.heartbeat, DEVICES.c.online, DEVICES.c.status_online
            ).where(DEVICES.c.id.in_(sorted(latest)))
        ).all()
        for row in rows:
            env = latest[row.id].env
            stored = row.heartbeat if isinstance(row.heartbeat, dict) else None
            if stored is not None and _heartbeat_key(stored) >= _heartbeat_key(env.payload):
                continue  # an older heartbeat resent late
            values: dict[str, Any] = {
                "heartbeat": env.payload,
                "last_heartbeat_at": env.ts,
                "agent_version": str(env.payload.get("agent_version", ""))[:64],
            }
            revive = row.status_online and not row.online and now - env.ts <= stale_window
            if revive:
                values.update(online=True, status_changed_at=now)
                came_online.append(row.id)
            session.execute(update(DEVICES).where(DEVICES.c.id == row.id).values(**values))
            reported = env.payload.get("config_version")
            if isinstance(reported, int):
                applied[row.id] = max(reported, applied.get(row.id, reported))
    if applied:
        session.execute(
            stmts.update_applied,
            [{"b_id": device, "b_version": version} for device, version in applied.items()],
        )
    return came_online


def apply_acks(session: Session, stmts: Statements, new_acks: list[AckItem], now: datetime):
    by_command: dict[str, list[AckItem]] = defaultdict(list)
    for item in new_acks:
        by_command[str(item.env.command_id)].append(item)
    rows = session.execute(
        stmts.lock(
            select(
                COMMANDS.c.id,
                COMMANDS.c.device_id,
                COMMANDS.c.state,
                COMMANDS.c.last_ack_at,
                COMMANDS.c.progress,
            )
            .where(COMMANDS.c.id.in_(sorted(by_command)))
            .order_by(COMMANDS.c.id)
        )
    ).all()
    for row in rows:
        state = CommandState(row.state)
        last_ack_at = row.last_ack_at
        values: dict[str, Any] = {}
        for item in sorted(by_command[row.id], key=lambda a: a.env.ts):
            if item.env.device != row.device_id:
                continue  # an ack from another device cannot answer this command
            change = ack_update(state, last_ack_at, item.env)
            if change is None:
                continue
            state, last_ack_at = change.state, change.last_ack_at
            values.update(state=change.state, message=change.message, last_ack_at=last_ack_at)
            if change.progress is not None:
                values["progress"] = change.progress
            if change.result or change.state.final:
                values["result"] = change.result
        if values:
            values["updated_at"] = now
            session.execute(
                update(COMMANDS)
                .where(COMMANDS.c.id == row.id, COMMANDS.c.state == row.state)
                .values(**values)
            )
