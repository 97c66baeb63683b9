"""Entrance rules set centrally, per centre, and pushed to the entrance agents.

Each save makes a new revision (``visitor_rules.version``, per centre) and pushes it as the
desired-config section ``entrance.rules`` at centre scope, merged into the centre's
newest layer so that other sections of that layer are kept. The watch list goes out as
keyed hashes (:func:`contract.payloads.entrance.person_hash`) under a key derived per
centre from the collector's secret key, never as ID numbers.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, col, select

from collector.auth.audit import audit
from collector.auth.models import ApiToken, User
from collector.db_types import utcnow
from collector.desired_config.models import ConfigScope
from collector.desired_config.service import layer_section, set_config
from collector.devices.models import Device
from collector.modules.visitors.models import EntranceRuleSet, Visit, WatchedPerson
from collector.publisher import Publisher
from collector.security.keys import derive_key
from collector.security.personal_data import PiiKind, mask
from contract.payloads.entrance import EntranceRules, WatchedRegion, person_hash
from contract.payloads.entrance import WatchedPerson as WireWatchedPerson

Actor = User | ApiToken
Action = Literal["warn", "block"]


class RulesIn(BaseModel):
    centre_id: str = Field(max_length=64)
    temperature_threshold_c: float = Field(default=37.3, ge=35, le=42)
    require_temperature: bool = True
    auto_admit: bool = True
    region_class1_action: Action = "warn"
    region_class2_action: Action = "warn"
    watched_regions: list[WatchedRegion] = Field(default_factory=list, max_length=500)


class WatchedPersonIn(BaseModel):
    centre_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=120)
    id_number: str = Field(min_length=6, max_length=40)
    reason: str = Field(default="", max_length=200)
    action: Action = "warn"


def watchlist_key(secret_key: str, centre_id: str) -> bytes:
    """The centre's key for watch-list hashes (HKDF from the secret key)."""
    return derive_key(secret_key, f"visitors/watchlist/{centre_id}")


def current_rules(session: Session, centre_id: str) -> EntranceRuleSet | None:
    return session.exec(
        select(EntranceRuleSet)
        .where(EntranceRuleSet.centre_id == centre_id)
        .order_by(col(EntranceRuleSet.version).desc())
        .limit(1)
    ).first()


def watchlist(session: Session, centre_ids: Collection[str]) -> list[WatchedPerson]:
    if not centre_ids:
        return []
    return list(
        session.exec(
            select(WatchedPerson)
            .where(col(WatchedPerson.centre_id).in_(sorted(centre_ids)))
            .order_by(col(WatchedPerson.id))
        )
    )


def _next_version(session: Session, centre_id: str) -> int:
    query = select(func.coalesce(func.max(EntranceRuleSet.version), 0)).where(
        EntranceRuleSet.centre_id == centre_id
    )
    return int(session.exec(query).one()) + 1


def _revise(session: Session, centre_id: str, values: dict[str, Any], by: str) -> EntranceRuleSet:
    base = current_rules(session, centre_id)
    fields = {} if base is None else base.model_dump(exclude={"id", "version", "created_at"})
    fields.update(values, centre_id=centre_id, created_by=by, config_version=None, pushed_at=None)
    rules = EntranceRuleSet(**fields, version=_next_version(session, centre_id))
    session.add(rules)
    session.flush()
    return rules


def entrance_rules(session: Session, secret_key: str, rules: EntranceRuleSet) -> EntranceRules:
    """The wire form of a revision, with the centre's current watch list as hashes."""
    key = watchlist_key(secret_key, rules.centre_id)
    people = watchlist(session, [rules.centre_id])
    return EntranceRules(
        version=rules.version,
        temperature_threshold_c=rules.temperature_threshold_c,
        require_temperature=rules.require_temperature,
        watched_regions=[WatchedRegion.model_validate(r) for r in rules.watched_regions],
        region_class1_action=rules.region_class1_action,  # type: ignore[arg-type]
        region_class2_action=rules.region_class2_action,  # type: ignore[arg-type]
        watchlist_key=key.hex() if people else "",
        watchlist=[
            WireWatchedPerson(
                hash=person_hash(key, p.id_number or ""),
                reason=p.reason,
                action=p.action,  # type: ignore[arg-type]
            )
            for p in people
            if p.id_number
        ],
        auto_admit=rules.auto_admit,
        updated_at=rules.created_at,
    )


def push(
    session: Session,
    publisher: Publisher,
    secret_key: str,
    rules: EntranceRuleSet,
    *,
    actor: Actor | None,
    by: str,
    ip: str = "",
) -> EntranceRuleSet:
    """Push a revision as desired config (commits), and record the layer version."""
    wire = entrance_rules(session, secret_key, rules).model_dump(mode="json")
    config, section = layer_section(session, ConfigScope.CENTRE, rules.centre_id, "entrance")
    config["entrance"] = {**section, "rules": wire}
    audit(
        session,
        actor=actor,
        action="visitors.rules_push",
        target_type="visitor_rules",
        target_id=rules.version,
        centre_id=rules.centre_id,
        ip=ip,
        detail={"version": rules.version, "watchlist": len(wire["watchlist"])},
    )
    pushed = set_config(
        session, publisher, scope="centre", target=rules.centre_id, config=config, created_by=by
    )
    rules.config_version, rules.pushed_at = pushed.version, utcnow()
    session.add(rules)
    session.commit()
    return rules


def save_rules(
    session: Session, publisher: Publisher, secret_key: str, body: RulesIn, **who: Any
) -> EntranceRuleSet:
    values = body.model_dump(exclude={"centre_id"}, mode="json")
    rules = _revise(session, body.centre_id, values, who["by"])
    audit(
        session,
        actor=who["actor"],
        action="visitors.rules_save",
        target_type="visitor_rules",
        target_id=rules.version,
        centre_id=body.centre_id,
        ip=who.get("ip", ""),
        detail={k: v for k, v in values.items() if k != "watched_regions"}
        | {"regions": len(values["watched_regions"])},
    )
    return push(session, publisher, secret_key, rules, **who)


def add_watched(
    session: Session, publisher: Publisher, secret_key: str, body: WatchedPersonIn, **who: Any
) -> WatchedPerson:
    person = WatchedPerson(
        centre_id=body.centre_id,
        name=body.name or None,
        id_number=body.id_number,
        reason=body.reason,
        action=body.action,
        created_by=who["by"],
    )
    session.add(person)
    session.flush()
    _audit_watch(session, "visitors.watch_add", person, who)
    push(session, publisher, secret_key, _revise(session, body.centre_id, {}, who["by"]), **who)
    return person


def remove_watched(
    session: Session, publisher: Publisher, secret_key: str, person: WatchedPerson, **who: Any
) -> None:
    _audit_watch(session, "visitors.watch_remove", person, who)
    session.delete(person)
    session.flush()
    push(session, publisher, secret_key, _revise(session, person.centre_id, {}, who["by"]), **who)


def _audit_watch(session: Session, action: str, person: WatchedPerson, who: dict[str, Any]) -> None:
    audit(
        session,
        actor=who["actor"],
        action=action,
        target_type="visitor_watchlist",
        target_id=person.id or "",
        centre_id=person.centre_id,
        ip=who.get("ip", ""),
        detail={
            "id_number": mask(person.id_number, PiiKind.ID_NUMBER),
            "reason": person.reason,
            "action": person.action,
        },
    )


def agents(session: Session, centre_ids: Collection[str]) -> list[dict[str, Any]]:
    """Entrance agents of the centres: the config version they applied and the rules
    revision their latest passage carried."""
    if not centre_ids:
        return []
    devices = session.exec(
        select(Device)
        .where(col(Device.centre_id).in_(sorted(centre_ids)), Device.kind == "entrance")
        .order_by(col(Device.centre_id), col(Device.id))
    ).all()
    found = []
    for device in devices:
        rules = current_rules(session, device.centre_id)
        last_seen = session.exec(
            select(Visit.rules_version)
            .where(Visit.device_id == device.id, col(Visit.rules_version).is_not(None))
            .order_by(col(Visit.id).desc())
            .limit(1)
        ).first()
        pushed = rules.config_version if rules else None
        applied = device.applied_config_version
        found.append(
            {
                "device_id": device.id,
                "centre_id": device.centre_id,
                "name": device.name,
                "online": device.online,
                "applied_config_version": applied,
                "pushed_config_version": pushed,
                "rules_version": rules.version if rules else None,
                "in_sync": pushed is None or (applied is not None and applied >= pushed),
                "last_passage_rules_version": last_seen,
            }
        )
    return found
