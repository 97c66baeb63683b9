"""The device registry: centres, enrolment, listing, online state and sequence gaps.

Plain functions over a session; each one that changes something commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from collector.broker_auth import hash_for_mosquitto, issue_device_password
from collector.centres.models import Centre, CentreLevel
from collector.db_types import utcnow
from collector.devices.models import Device, SequenceGap
from contract.envelopes import StatusMessage
from contract.topics import IDENTIFIER_PATTERN

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


class RegistryError(ValueError):
    """A registry change that cannot be made as asked."""


class UnknownCentreError(RegistryError, LookupError):
    pass


class DeviceConflictError(RegistryError):
    """The device id is already enrolled in another centre (ids are global)."""


def _check_identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise RegistryError(
            f"invalid {what} id {value!r}: 1-64 of A-Z a-z 0-9 _ . -, starting alphanumeric"
        )
    return value


# -- centres ----------------------------------------------------------------------------


def ensure_centre(
    session: Session,
    centre_id: str,
    name: str,
    level: CentreLevel | str = CentreLevel.CITY,
    parent_id: str | None = None,
    *,
    update: bool = False,
) -> Centre:
    """Create the centre if it does not exist; with ``update`` also rename/re-parent it."""
    _check_identifier(centre_id, "centre")
    level = CentreLevel(level)
    if parent_id is not None:
        if parent_id == centre_id:
            raise RegistryError("a centre cannot be its own parent")
        if session.get(Centre, parent_id) is None:
            raise UnknownCentreError(f"unknown parent centre {parent_id!r}")
    centre = session.get(Centre, centre_id)
    if centre is None:
        centre = Centre(id=centre_id, name=name or centre_id, level=level, parent_id=parent_id)
        session.add(centre)
    elif update:
        centre.name = name or centre.name
        centre.level = level
        centre.parent_id = parent_id
    else:
        return centre
    session.commit()
    session.refresh(centre)
    return centre


def get_centre(session: Session, centre_id: str) -> Centre | None:
    return session.get(Centre, centre_id)


def list_centres(session: Session) -> list[Centre]:
    return list(session.exec(select(Centre).order_by(col(Centre.id))))


# -- devices ----------------------------------------------------------------------------


def enrol_device(
    session: Session, *, centre_id: str, device_id: str, kind: str, name: str = ""
) -> Device:
    """Enrol a device in a centre; enrolling it again in the same centre updates kind/name.

    Raises :class:`UnknownCentreError` if the centre does not exist and
    :class:`DeviceConflictError` if the id is enrolled in another centre.
    """
    _check_identifier(device_id, "device")
    if not kind or len(kind) > 64:
        raise RegistryError("kind must be 1-64 characters")
    if session.get(Centre, centre_id) is None:
        raise UnknownCentreError(f"unknown centre {centre_id!r}")
    device = session.get(Device, device_id)
    if device is None:
        device = Device(id=device_id, centre_id=centre_id, kind=kind, name=name)
        session.add(device)
    elif device.centre_id != centre_id:
        raise DeviceConflictError(
            f"device {device_id!r} is enrolled in centre {device.centre_id!r}, not {centre_id!r}"
        )
    else:
        device.kind = kind
        device.name = name or device.name
    session.commit()
    session.refresh(device)
    return device


def set_enabled(session: Session, device_id: str, enabled: bool) -> Device | None:
    device = session.get(Device, device_id)
    if device is not None and device.enabled != enabled:
        device.enabled = enabled
        session.commit()
        session.refresh(device)
    return device


def issue_broker_password(session: Session, device: Device, *, replace: bool = False) -> str | None:
    """Give the device a broker password if it has none (or a new one with ``replace``) and
    commit; returns the password, to be shown once, or ``None`` if it kept its old one.

    The broker learns it only when ``prtc-collector broker-config`` is rerun and the broker
    reloaded."""
    if device.broker_password_hash is not None and not replace:
        return None
    password = issue_device_password()
    device.broker_password_hash = hash_for_mosquitto(password)
    session.add(device)
    session.commit()
    session.refresh(device)
    return password


def get_device(session: Session, device_id: str) -> Device | None:
    return session.get(Device, device_id)


def list_devices(
    session: Session,
    *,
    centre_ids: list[str] | None = None,
    online: bool | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Device], int]:
    """One page of devices (ordered by centre, id) and the total count of the filter."""
    query = select(Device)
    if centre_ids is not None:
        query = query.where(col(Device.centre_id).in_(centre_ids))
    if online is not None:
        query = query.where(Device.online == online)
    if kind is not None:
        query = query.where(Device.kind == kind)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Device.centre_id), col(Device.id)).limit(limit).offset(offset)
    )
    return list(rows), int(total)


# -- online state -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    applied: bool
    came_online: bool = False
    went_offline: bool = False
    reason: str = ""


def apply_status(
    session: Session,
    topic_centre: str,
    topic_device: str,
    status: StatusMessage,
    *,
    now: datetime | None = None,
) -> StatusOutcome:
    """Apply an online/offline status under the epoch rule and commit.

    A status whose (boot, session) is older than the stored epoch is ignored, so a stale
    last will that arrives after the agent reconnected cannot mark it offline. At the same
    epoch only online → offline is accepted (the will of the current connection).
    """
    now = now or utcnow()
    device = session.get(Device, topic_device)
    if device is None or device.centre_id != topic_centre:
        return StatusOutcome(False, reason="unenrolled")
    stored = (device.status_boot, device.status_session)
    if status.epoch < stored:
        return StatusOutcome(False, reason="stale epoch")
    online = status.state == "online"
    if status.epoch == stored and (online or not device.status_online):
        # Same connection: a repeated online (retained, resubscribe) or repeated offline.
        if online and device.status_online and not device.online:
            # Marked stale meanwhile, but its connection says online: trust it again.
            device.online = True
            device.status_changed_at = now
            device.last_seen_at = now
            session.commit()
            return StatusOutcome(True, came_online=True)
        return StatusOutcome(False, reason="same epoch")
    was_online = device.online
    device.status_boot, device.status_session = status.epoch
    device.status_online = online
    device.online = online
    device.status_changed_at = now
    if online:
        device.last_seen_at = now
    if status.agent_version:
        device.agent_version = status.agent_version
    session.commit()
    return StatusOutcome(
        True, came_online=online and not was_online, went_offline=was_online and not online
    )


def mark_stale(
    session: Session,
    now: datetime | None = None,
    *,
    stale_factor: float = 3.0,
    default_interval_s: float = 30.0,
) -> list[str]:
    """Mark online devices offline that sent nothing for ``stale_factor`` × their heartbeat
    interval (``interval_s`` of their last heartbeat if it says, else the default).

    Returns the ids marked offline; commits.
    """
    now = now or utcnow()
    last_activity = func.coalesce(Device.last_seen_at, Device.status_changed_at, Device.enrolled_at)
    cutoff = now - timedelta(seconds=stale_factor * default_interval_s)
    candidates = session.exec(
        select(Device).where(Device.online == True, last_activity < cutoff)  # noqa: E712
    ).all()
    marked: list[str] = []
    for device in candidates:
        interval = default_interval_s
        if isinstance(device.heartbeat, dict):
            declared = device.heartbeat.get("interval_s")
            if isinstance(declared, int | float) and declared > 0:
                interval = float(declared)
        last = device.last_seen_at or device.status_changed_at or device.enrolled_at
        if last is not None and now - last <= timedelta(seconds=stale_factor * interval):
            continue
        device.online = False
        device.status_changed_at = now
        marked.append(device.id)
    if marked:
        session.commit()
    return marked


# -- sequence gaps ----------------------------------------------------------------------


def gaps(session: Session, device_id: str, *, open_only: bool = False) -> list[SequenceGap]:
    """Sequence gaps of a device, oldest first (only the open ones with ``open_only``)."""
    query = select(SequenceGap).where(SequenceGap.device_id == device_id)
    if open_only:
        query = query.where(col(SequenceGap.closed_at).is_(None))
    return list(session.exec(query.order_by(col(SequenceGap.first_seq))))


def missing_count(session: Session, device_id: str) -> int:
    """How many sequence numbers are still missing for a device."""
    total = session.exec(
        select(func.coalesce(func.sum(SequenceGap.missing), 0)).where(
            SequenceGap.device_id == device_id, col(SequenceGap.closed_at).is_(None)
        )
    ).one()
    return int(total)


__all__ = [
    "DeviceConflictError",
    "RegistryError",
    "StatusOutcome",
    "UnknownCentreError",
    "apply_status",
    "enrol_device",
    "ensure_centre",
    "gaps",
    "get_centre",
    "get_device",
    "issue_broker_password",
    "list_centres",
    "list_devices",
    "mark_stale",
    "missing_count",
    "set_enabled",
]
