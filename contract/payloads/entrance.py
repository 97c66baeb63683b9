"""Entrance registration: what an entrance agent reports and the rules it is given.

An entrance agent reads ID cards (``idcard_sam``), takes temperatures (``thermometer``),
decides on the spot from :class:`EntranceRules` (pushed as desired config, section
``entrance``) and reports every swipe as one ``entrance.passage`` event. The decision is made
on the agent so that the door keeps working without the collector; the collector stores the
passages as visits (``collector/modules/visitors``).

Personal data travels in clear inside the (TLS) MQTT session and is encrypted at rest by the
collector. Rules never carry ID numbers in clear: watched persons are keyed hashes
(:func:`person_hash`) with the key pushed alongside.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from contract.payloads._base import Payload
from contract.registry import Priority, registry

DocumentType = Literal["resident", "foreign_permanent", "hk_mo_tw", "manual"]
"""二代身份证, 外国人永久居留身份证, 港澳台居民居住证, or typed in by the operator."""

FlagCode = Literal[
    "id_invalid",  # GB 11643 checksum or birth date wrong
    "card_expired",
    "region_class1",  # 一类地区
    "region_class2",  # 二类地区
    "watchlist",
    "fever",  # temperature at or above the threshold
    "no_temperature",
]


def normalise_id_number(value: str) -> str:
    """Upper-case, no spaces: the form every hash and comparison uses."""
    return "".join(value.split()).upper()


def person_hash(key: bytes, id_number: str) -> str:
    """Keyed hash (HMAC-SHA256, hex) of a normalised ID number, as rules carry it."""
    return hmac.new(key, normalise_id_number(id_number).encode(), hashlib.sha256).hexdigest()


class Person(BaseModel):
    """What the card (or the operator) says about the visitor.

    The fields after ``valid_to`` were added later; each defaults to empty, so a payload from
    an agent that does not send them validates, and a receiver that does not know them
    ignores them (this model ignores unknown fields).
    """

    document_type: DocumentType
    name: str = Field(
        max_length=120,
        description="foreign card: ENGLISH NAME (中文名) when the card has both names",
    )
    id_number: str = Field(max_length=40)
    sex: str = Field(default="", max_length=8)
    nation: str = Field(
        default="",
        max_length=40,
        description="民族; on a foreign card also the nationality code (as ``nationality``), "
        "kept for receivers older than that field",
    )
    birth_date: date | None = None
    address: str = Field(default="", max_length=200)
    authority: str = Field(default="", max_length=120)
    valid_from: date | None = None
    valid_to: date | None = Field(default=None, description="None: long-term (长期)")
    english_name: str = Field(
        default="", max_length=120, description="foreign card: the English name alone"
    )
    nationality: str = Field(
        default="",
        max_length=8,
        description="foreign card: nationality code (GB/T 2659 alpha-3, e.g. CAN)",
    )
    pass_number: str = Field(
        default="",
        max_length=20,
        description="HK/Macau/Taiwan residence permit: the travel pass number (通行证号码)",
    )
    issue_count: str = Field(
        default="",
        max_length=4,
        description="HK/Macau/Taiwan permit: issue count (签发次数); 2023 foreign card: "
        "renewal count (换证次数)",
    )


class Origin(BaseModel):
    """Administrative division the ID number was issued in (first six digits)."""

    code: str = Field(pattern=r"^\d{6}$")
    province: str = ""
    city: str = ""
    county: str = ""


class Flag(BaseModel):
    code: FlagCode
    level: Literal["info", "warn", "block"]
    reason: str = Field(max_length=200, description="shown to the operator, Chinese")


class Passage(Payload):
    """One swipe at an entrance door, with the decision taken for it."""

    passage_id: str = Field(
        min_length=8, max_length=64, description="unique per swipe; the visit's idempotency key"
    )
    direction: Literal["in", "out"]
    door: str = Field(max_length=64, description="door or lane name at the centre")
    at: AwareDatetime
    person: Person
    origin: Origin | None = None
    flags: list[Flag] = Field(default_factory=list)
    temperature_c: float | None = Field(default=None, ge=25, le=45)
    temperature_source: Literal["sensor", "manual"] | None = None
    decision: Literal["admitted", "refused"]
    decided_by: Literal["rules", "operator"]
    operator: str = Field(default="", max_length=64)
    rules_version: int | None = None
    gate_opened: bool = False
    decision_ms: float | None = Field(
        default=None, ge=0, description="last reader byte to decision (and gate command)"
    )


class WatchedRegion(BaseModel):
    """一类 / 二类 area: an ID-number prefix of 2 (province), 4 (city) or 6 (county) digits."""

    prefix: str = Field(pattern=r"^(\d{2}|\d{4}|\d{6})$")
    level: Literal[1, 2]
    reason: str = Field(default="", max_length=200)


class WatchedPerson(BaseModel):
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="person_hash of the ID number")
    reason: str = Field(default="", max_length=200)
    action: Literal["warn", "block"] = "warn"


class EntranceRules(BaseModel):
    """Desired config section ``entrance`` of an entrance agent, set centrally."""

    version: int = Field(default=0, ge=0, description="rules revision, echoed in passages")
    temperature_threshold_c: float = Field(default=37.3, ge=35, le=42)
    require_temperature: bool = True
    watched_regions: list[WatchedRegion] = Field(default_factory=list)
    region_class1_action: Literal["warn", "block"] = "warn"
    region_class2_action: Literal["warn", "block"] = "warn"
    watchlist_key: str = Field(
        default="", description="hex key for person_hash; empty when there is no watch list"
    )
    watchlist: list[WatchedPerson] = Field(default_factory=list)
    auto_admit: bool = Field(
        default=True,
        description="admit unflagged visitors without a key press; flagged ones wait",
    )
    updated_at: datetime | None = None


registry.register("entrance.passage", Passage, Priority.CRITICAL)
