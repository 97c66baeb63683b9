"""Commands to devices: persist, send, re-send on reconnect, expire, follow acks.

Plain functions over a session; the ones that change something commit before they publish, so
an ack that comes back at once always finds its command row.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from collector.commands.models import Command, CommandState
from collector.db_types import utcnow
from collector.devices.models import Device
from collector.publisher import Publisher
from contract.envelopes import AckEnvelope, AckStatus, CommandEnvelope
from contract.ids import uuid7
from contract.topics import cmd_topic

# States in which a durable command is (re-)sent when its device comes online.
RESEND_STATES = (CommandState.QUEUED, CommandState.SENT)
# States the collector expires at the deadline. Once the agent has accepted a job it owns
# the outcome (a burn may run past the deadline it was started within).
EXPIRABLE_STATES = (CommandState.QUEUED, CommandState.SENT, CommandState.RECEIVED)


class CommandError(ValueError):
    pass


class UnknownDeviceError(CommandError, LookupError):
    pass


def envelope(command: Command) -> CommandEnvelope:
    return CommandEnvelope(
        id=command.id,
        centre=command.centre_id,
        device=command.device_id,
        action=command.action,
        args=command.args,
        issued_at=command.issued_at,
        expires_at=command.expires_at,
        durable=command.durable,
    )


def _publish(publisher: Publisher, command: Command) -> None:
    publisher.publish(
        cmd_topic(command.centre_id, command.device_id),
        envelope(command).model_dump_json().encode(),
        qos=1,
    )


def send_command(
    session: Session,
    publisher: Publisher,
    *,
    device_id: str,
    action: str,
    args: dict[str, Any] | None = None,
    ttl_s: float = 60.0,
    durable: bool = False,
    created_by: str = "",
    now: datetime | None = None,
) -> Command:
    """Persist a command and send it if the device is online.

    Offline device: a durable command is ``queued`` (sent when it comes online), a
    time-critical one is answered ``offline`` at once and never sent.
    """
    now = now or utcnow()
    device = session.get(Device, device_id)
    if device is None:
        raise UnknownDeviceError(f"unknown device {device_id!r}")
    if ttl_s <= 0:
        raise CommandError("ttl_s must be positive")
    command = Command(
        id=str(uuid7()),
        centre_id=device.centre_id,
        device_id=device.id,
        action=action,
        args=dict(args or {}),
        durable=durable,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        updated_at=now,
        created_by=created_by,
    )
    try:
        envelope(command)  # refuse what the agent would refuse, before storing it
    except ValidationError as exc:
        raise CommandError(f"invalid command: {exc.errors()[0]['msg']}") from exc
    if device.online:
        command.state = CommandState.SENT
        command.send_count = 1
        command.last_sent_at = now
    elif durable:
        command.state = CommandState.QUEUED
    else:
        command.state = CommandState.OFFLINE
        command.message = "device offline"
    session.add(command)
    session.commit()
    session.refresh(command)
    if command.state is CommandState.SENT:
        _publish(publisher, command)
    return command


def resend_pending(
    session: Session, publisher: Publisher, device_id: str, *, now: datetime | None = None
) -> list[Command]:
    """Send a device's unanswered durable commands again (on reconnect); returns them."""
    now = now or utcnow()
    pending = list(
        session.exec(
            select(Command)
            .where(
                Command.device_id == device_id,
                Command.durable == True,  # noqa: E712
                col(Command.state).in_(RESEND_STATES),
                Command.expires_at > now,
            )
            .order_by(col(Command.issued_at))
        )
    )
    for command in pending:
        command.state = CommandState.SENT
        command.send_count += 1
        command.last_sent_at = now
        command.updated_at = now
    if pending:
        session.commit()
        for command in pending:
            _publish(publisher, command)
    return pending


def expire_commands(session: Session, now: datetime | None = None) -> int:
    """Mark commands past their deadline that the agent has not taken up as ``expired``."""
    now = now or utcnow()
    result = session.execute(
        update(Command)
        .where(col(Command.state).in_(EXPIRABLE_STATES), col(Command.expires_at) < now)
        .values(state=CommandState.EXPIRED, updated_at=now, message="expired before an answer")
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def get_command(session: Session, command_id: str) -> Command | None:
    return session.get(Command, command_id)


def list_commands(
    session: Session,
    *,
    device_id: str | None = None,
    state: CommandState | str | None = None,
    centre_ids: Collection[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Command], int]:
    """One page of commands, newest first, and the total count of the filter
    (``centre_ids``: only these centres; empty means none)."""
    query = select(Command)
    if centre_ids is not None:
        query = query.where(col(Command.centre_id).in_(sorted(centre_ids)))
    if device_id is not None:
        query = query.where(Command.device_id == device_id)
    if state is not None:
        query = query.where(Command.state == CommandState(state))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Command.issued_at).desc(), col(Command.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


# -- acks (called by the ingest pipeline inside its transaction) -------------------------


@dataclass(frozen=True, slots=True)
class AckUpdate:
    state: CommandState
    progress: float | None
    message: str
    result: dict[str, Any]
    last_ack_at: datetime


def ack_update(
    state: CommandState, last_ack_at: datetime | None, ack: AckEnvelope
) -> AckUpdate | None:
    """What an ack changes on its command, or None when it must be ignored.

    A final state never changes again, and an ack older than the one that set the current
    state is ignored (acks can arrive out of order after a resend).
    """
    if state.final:
        return None
    if last_ack_at is not None and ack.ts < last_ack_at:
        return None
    new_state = CommandState(ack.status.value)
    progress = ack.progress
    if ack.status is AckStatus.SUCCEEDED and progress is None:
        progress = 1.0
    return AckUpdate(
        state=new_state,
        progress=progress,
        message=ack.message,
        result=dict(ack.result),
        last_ack_at=ack.ts,
    )
