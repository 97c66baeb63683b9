"""The entry decision: pure, fast, and the same with or without the collector.

:func:`evaluate` turns a visitor (:class:`~contract.payloads.entrance.Person`), the temperature
taken for them (or None) and the current :class:`~contract.payloads.entrance.EntranceRules`
into flags with Chinese reasons and one of three outcomes:

* ``admitted``: no flag, and the rules admit unflagged visitors by themselves (``auto_admit``);
* ``refused``: at least one flag of level ``block`` (fever; a watched region or person whose
  action is ``block``);
* ``operator``: a ``warn`` flag (or ``auto_admit`` off): the visitor waits for the operator's
  confirm or refuse.

Flags:

=================  =======================================================  ==============
code               when                                                     level
=================  =======================================================  ==============
``id_invalid``     GB 11643 check character, birth date or shape wrong      warn
``card_expired``   the card's ``valid_to`` is before today                  warn
``region_class1``  the longest watched prefix (2/4/6 digits) is level 1     rules' action
``region_class2``  … level 2                                                rules' action
``watchlist``      ``person_hash(watchlist_key, id)`` is on the watch list  the entry's
``fever``          temperature ≥ ``temperature_threshold_c``                block
``no_temperature`` none taken and ``require_temperature``                   warn
=================  =======================================================  ==============
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from contract.idnumber import IdNumber, parse_id_number, region_name, resolve_division
from contract.payloads.entrance import (
    EntranceRules,
    Flag,
    Origin,
    Person,
    WatchedRegion,
    person_hash,
)

Outcome = Literal["admitted", "refused", "operator"]

CLASS_NAMES = {1: "一类", 2: "二类"}


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    flags: list[Flag] = field(default_factory=list)
    origin: Origin | None = None
    id_info: IdNumber | None = None

    @property
    def needs_operator(self) -> bool:
        return self.outcome == "operator"


def _reason(text: str, extra: str) -> str:
    return (f"{text}（{extra}）" if extra else text)[:200]


def match_region(division_code: str, regions: list[WatchedRegion]) -> WatchedRegion | None:
    """The watched region with the longest prefix of ``division_code``; at equal length the
    stricter class (1 before 2)."""
    best: WatchedRegion | None = None
    for region in regions:
        if not division_code.startswith(region.prefix):
            continue
        if (
            best is None
            or len(region.prefix) > len(best.prefix)
            or (len(region.prefix) == len(best.prefix) and region.level < best.level)
        ):
            best = region
    return best


def on_watchlist(
    id_info: IdNumber, rules: EntranceRules
) -> tuple[str, Literal["warn", "block"]] | None:
    """(reason, action) when the person is on the watch list."""
    if not rules.watchlist or not rules.watchlist_key:
        return None
    try:
        key = bytes.fromhex(rules.watchlist_key)
    except ValueError:
        return None
    # The hash is over the normalised number as typed or read; a 15-digit number is checked in
    # both its forms so that a list made from either finds it.
    hashes = {person_hash(key, id_info.number), person_hash(key, id_info.raw)}
    for entry in rules.watchlist:
        if entry.hash in hashes:
            return entry.reason, entry.action
    return None


def evaluate(
    person: Person,
    temperature_c: float | None,
    rules: EntranceRules,
    now: datetime,
) -> Verdict:
    """Decide on one visitor coming in. ``now`` is local wall-clock time (its date is today)."""
    today = now.date()
    info = parse_id_number(person.id_number, today=today)
    flags: list[Flag] = []

    if not info.valid:
        flags.append(
            Flag(
                code="id_invalid", level="warn", reason="证件号码有误：" + "，".join(info.problems)
            )
        )
    if person.valid_to is not None and person.valid_to < today:
        flags.append(
            Flag(
                code="card_expired",
                level="warn",
                reason=f"证件已过期：有效期至 {person.valid_to.isoformat()}",
            )
        )

    origin: Origin | None = None
    if info.division_code is not None:
        year = max(info.birth_date.year, 1984) if info.birth_date else None
        origin = resolve_division(info.division_code, year).origin()
        region = match_region(info.division_code, rules.watched_regions)
        if region is not None:
            action = rules.region_class1_action if region.level == 1 else rules.region_class2_action
            flags.append(
                Flag(
                    code="region_class1" if region.level == 1 else "region_class2",
                    level=action,
                    reason=_reason(
                        f"来自{CLASS_NAMES[region.level]}地区：{region_name(region.prefix)}",
                        region.reason,
                    ),
                )
            )

    watched = on_watchlist(info, rules)
    if watched is not None:
        reason, action = watched
        flags.append(Flag(code="watchlist", level=action, reason=_reason("关注名单人员", reason)))

    if temperature_c is None:
        if rules.require_temperature:
            flags.append(Flag(code="no_temperature", level="warn", reason="未测体温"))
    elif temperature_c >= rules.temperature_threshold_c:
        limit = rules.temperature_threshold_c
        flags.append(
            Flag(
                code="fever",
                level="block",
                reason=f"体温异常：{temperature_c:.1f} ℃（≥ {limit:.1f} ℃）",
            )
        )

    if any(f.level == "block" for f in flags):
        outcome: Outcome = "refused"
    elif flags or not rules.auto_admit:
        outcome = "operator"
    else:
        outcome = "admitted"
    return Verdict(outcome, flags, origin, info)
