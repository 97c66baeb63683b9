"""``entrance.passage`` events → visits, inside the ingest transaction.

Idempotent on the passage id (``entry_passage_id`` / ``exit_passage_id`` are unique), so a
passage re-sent under another event id changes nothing. Rules:

- an admitted entry opens a visit; an open visit of the same person at the same centre is
  closed at the new entry's time first (nobody is inside twice) and marked automatic;
- a refused entry is stored as a visit with ``decision = "refused"`` and no presence;
- an exit closes the person's open visit at the centre opened within ``MAX_VISIT_SPAN``
  before it (matched by ``id_number_hash``), or corrects a visit the closing job closed;
  otherwise it is kept as an exit-only visit (``exit_unmatched``);
- an entry that arrives after its exit (two doors, one offline) fills that exit-only visit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from collector.ingest.models import StoredEvent
from collector.modules.visitors.models import MAX_VISIT_SPAN, Visit
from collector.security.personal_data import PiiKind, lookup_hash
from contract.idnumber import origin_of, parse_id_number
from contract.payloads.entrance import Origin, Passage

EVENT_TYPE = "entrance.passage"


def handle_passage(session: Session, event: StoredEvent) -> None:
    """Event-bus handler: store one passage as (part of) a visit."""
    passage = Passage.model_validate(event.payload)
    if passage.direction == "in":
        record_entry(session, event.centre_id, event.device_id, passage)
    else:
        record_exit(session, event.centre_id, event.device_id, passage)


def person_key(passage: Passage) -> str:
    return lookup_hash(passage.person.id_number, PiiKind.ID_NUMBER)


def _seen(session: Session, column: Any, passage_id: str) -> bool:
    return session.exec(select(Visit.id).where(column == passage_id)).first() is not None


def record_entry(session: Session, centre_id: str, device_id: str, p: Passage) -> Visit | None:
    if _seen(session, Visit.entry_passage_id, p.passage_id):
        return None
    key = person_key(p)
    if p.decision == "refused":
        visit = Visit(centre_id=centre_id, entered_at=p.at, exited_at=p.at, door_in=p.door)
    else:
        _close_previous(session, centre_id, key, p.at)
        visit = _pending_exit(session, centre_id, key, p.at) or Visit(centre_id=centre_id)
        visit.entered_at, visit.door_in, visit.exit_unmatched = p.at, p.door, False
    visit.entry_passage_id = p.passage_id
    _describe(visit, p, device_id)
    session.add(visit)
    session.flush()
    return visit


def record_exit(session: Session, centre_id: str, device_id: str, p: Passage) -> Visit | None:
    if _seen(session, Visit.exit_passage_id, p.passage_id):
        return None
    key = person_key(p)
    visit = _open_visit(session, centre_id, key, p.at) or _auto_closed(session, centre_id, key, p)
    if visit is None:
        visit = Visit(centre_id=centre_id, exit_unmatched=True)
        _describe(visit, p, device_id)
    visit.exited_at, visit.door_out, visit.exit_passage_id = p.at, p.door, p.passage_id
    visit.closed_automatically = False
    session.add(visit)
    session.flush()
    return visit


def _admitted_of(centre_id: str, key: str) -> Any:
    return select(Visit).where(
        Visit.centre_id == centre_id,
        Visit.id_number_hash == key,
        Visit.decision == "admitted",
        col(Visit.entered_at).is_not(None),
    )


def _open_visit(session: Session, centre_id: str, key: str, at: datetime) -> Visit | None:
    query = _admitted_of(centre_id, key).where(
        col(Visit.exited_at).is_(None),
        col(Visit.entered_at) <= at,
        col(Visit.entered_at) >= at - MAX_VISIT_SPAN,
    )
    return session.exec(query.order_by(col(Visit.entered_at).desc())).first()


def _auto_closed(session: Session, centre_id: str, key: str, p: Passage) -> Visit | None:
    """A visit the closing job closed before the person swiped out (late leavers)."""
    query = _admitted_of(centre_id, key).where(
        col(Visit.closed_automatically).is_(True),
        col(Visit.exit_passage_id).is_(None),
        col(Visit.entered_at) <= p.at,
        col(Visit.entered_at) >= p.at - MAX_VISIT_SPAN,
    )
    return session.exec(query.order_by(col(Visit.entered_at).desc())).first()


def _close_previous(session: Session, centre_id: str, key: str, at: datetime) -> None:
    for visit in session.exec(
        _admitted_of(centre_id, key).where(
            col(Visit.exited_at).is_(None), col(Visit.entered_at) <= at
        )
    ):
        visit.exited_at = min(at, visit.entered_at + MAX_VISIT_SPAN)  # type: ignore[operator]
        visit.closed_automatically = True
        session.add(visit)


def _pending_exit(session: Session, centre_id: str, key: str, at: datetime) -> Visit | None:
    """An exit-only visit of this person after ``at``: the entry arrived late."""
    return session.exec(
        select(Visit)
        .where(
            Visit.centre_id == centre_id,
            Visit.id_number_hash == key,
            col(Visit.exit_unmatched).is_(True),
            col(Visit.entered_at).is_(None),
            col(Visit.exited_at) >= at,
            col(Visit.exited_at) <= at + MAX_VISIT_SPAN,
        )
        .order_by(col(Visit.exited_at))
    ).first()


def _describe(visit: Visit, p: Passage, device_id: str) -> None:
    """Copy who, where from, flags and the decision of a passage onto a visit."""
    person = p.person
    visit.name, visit.id_number = person.name, person.id_number
    visit.document_type, visit.sex = person.document_type, person.sex
    visit.birth_year = person.birth_date.year if person.birth_date else None
    origin = p.origin or _origin_of(person.id_number)
    if origin is not None:
        visit.origin_code, visit.origin_province = origin.code, origin.province
        visit.origin_city, visit.origin_county = origin.city, origin.county
    visit.flags = [f.model_dump() for f in p.flags]
    codes = sorted({f.code for f in p.flags})
    visit.flag_codes = f",{','.join(codes)}," if codes else ""
    visit.flagged = bool(codes) or p.decision == "refused"
    visit.temperature_c, visit.temperature_source = p.temperature_c, p.temperature_source
    visit.decision, visit.decided_by, visit.operator = p.decision, p.decided_by, p.operator
    visit.device_id, visit.rules_version = device_id, p.rules_version


def _origin_of(id_number: str) -> Origin | None:
    """Origin resolved from the ID number when the agent sent none."""
    try:
        return origin_of(parse_id_number(id_number))
    except (ValueError, LookupError):
        return None
