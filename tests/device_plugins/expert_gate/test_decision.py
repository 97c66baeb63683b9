"""The admission decision over a roster: right gate, right window, and every refusal."""

from __future__ import annotations

from datetime import timedelta

import hypothesis.strategies as st
from hypothesis import given, settings

from contract.payloads.access import GateRoster, card_hash
from contract.payloads.entrance import person_hash
from device_plugins.expert_gate.decision import RosterIndex, decide
from tests.device_plugins.expert_gate.roster import (
    END,
    EXPERT_ID,
    EXPERT_UID,
    KEY,
    OTHER_KEY,
    START,
    STRANGER_ID,
    SUPERVISOR_ID,
    roster,
)

MIN = timedelta(minutes=1)


def index(gate: str = "gate-east", local_rooms: tuple[str, ...] = (), **kw: object) -> RosterIndex:
    return RosterIndex(GateRoster.model_validate(roster(**kw)), gate, local_rooms)  # type: ignore[arg-type]


def test_drawn_expert_admitted_at_the_right_gate_in_the_window() -> None:
    ix = index()
    for at in (START - 60 * MIN, START, END, END + 30 * MIN):
        d = decide(ix, "id_card", ix.hash_id_number(EXPERT_ID), at)
        assert d.admitted, at
        assert d.session and d.session.session_id == "S1" and d.room == "301"
        assert d.person and d.person.label == "张*"
    by_card = decide(ix, "ic_card", ix.hash_card(EXPERT_UID.lower()), START)
    assert by_card.admitted and by_card.room == "301"


def test_refused_too_early_and_too_late() -> None:
    ix = index()
    h = ix.hash_id_number(EXPERT_ID)
    early = decide(ix, "id_card", h, START - 61 * MIN)
    assert (early.decision, early.reason) == ("refused", "too_early")
    assert early.session and early.session.session_id == "S1"
    late = decide(ix, "id_card", h, END + 31 * MIN)
    assert (late.decision, late.reason) == ("refused", "too_late")


def test_refused_at_the_gate_to_another_room() -> None:
    ix = index("gate-west")
    d = decide(ix, "id_card", ix.hash_id_number(EXPERT_ID), START)
    assert (d.decision, d.reason, d.room) == ("refused", "wrong_gate", None)


def test_refused_at_another_centres_gate() -> None:
    # Centre 2 pushes its own roster (own key, own people) to its gates.
    other = RosterIndex(
        GateRoster.model_validate(
            {**roster(OTHER_KEY), "people": [], "rooms_behind_gate": {"gate-c2": ["301"]}}
        ),
        "gate-c2",
    )
    d = decide(other, "id_card", other.hash_id_number(EXPERT_ID), START)
    assert (d.decision, d.reason) == ("refused", "not_on_roster")


def test_refused_when_not_on_the_roster() -> None:
    ix = index()
    for credential, h in (
        ("id_card", ix.hash_id_number(STRANGER_ID)),
        ("ic_card", ix.hash_card("DEADBEEF")),
        ("ic_card", ix.hash_id_number(EXPERT_ID)),  # an ID hash is no card hash
    ):
        d = decide(ix, credential, h, START)  # type: ignore[arg-type]
        assert (d.decision, d.reason, d.person) == ("refused", "not_on_roster", None)


def test_the_most_telling_reason_and_the_nearest_session() -> None:
    ix = index("gate-west")
    h = ix.hash_id_number(SUPERVISOR_ID)  # S1 behind gate-east, S2 behind gate-west
    d = decide(ix, "id_card", h, START)
    assert (d.reason, d.session.session_id) == ("too_early", "S2")  # type: ignore[union-attr]
    assert decide(ix, "id_card", h, START + 4 * 60 * MIN).admitted
    both = index("gate-both", rooms_behind_gate={"gate-both": ["301", "401"]}, grace_minutes=90)
    d = decide(both, "id_card", h, START + 4 * 60 * MIN + 15 * MIN)  # S1 grace, S2 lead
    assert decide(both, "id_card", h, START).session.session_id == "S1"  # type: ignore[union-attr]
    assert d.admitted and d.session.session_id == "S2"  # type: ignore[union-attr]


def test_local_rooms_apply_when_the_roster_does_not_name_the_gate() -> None:
    ix = index("gate-lobby", local_rooms=("301",))
    assert decide(ix, "id_card", ix.hash_id_number(EXPERT_ID), START).admitted
    named = index("gate-west", local_rooms=("301",))  # the roster's entry wins
    assert not decide(named, "id_card", named.hash_id_number(EXPERT_ID), START).admitted


def test_without_a_key_nobody_is_admitted() -> None:
    ix = RosterIndex(GateRoster(), "gate-east")
    assert not ix.usable and ix.hash_id_number(EXPERT_ID) == ""
    d = decide(ix, "id_card", ix.hash_id_number(EXPERT_ID), START)
    assert d.reason == "not_on_roster"


minutes = st.integers(min_value=-24 * 60, max_value=24 * 60)


@settings(max_examples=300, deadline=None)
@given(
    start=minutes,
    length=st.integers(min_value=1, max_value=12 * 60),
    lead=st.integers(min_value=0, max_value=180),
    grace=st.integers(min_value=0, max_value=180),
    now=minutes,
    behind=st.booleans(),
)
def test_admitted_exactly_inside_the_window_behind_the_gate(
    start: int, length: int, lead: int, grace: int, now: int, behind: bool
) -> None:
    s, e, t = START + start * MIN, START + (start + length) * MIN, START + now * MIN
    r = GateRoster.model_validate(
        {
            "hash_key": KEY.hex(),
            "rooms_behind_gate": {"g": ["301"] if behind else ["999"]},
            "lead_minutes": lead,
            "grace_minutes": grace,
            "sessions": [{"session_id": "S", "rooms": ["301"], "start": s, "end": e}],
            "people": [{"person_hash": person_hash(KEY, EXPERT_ID), "sessions": ["S"]}],
        }
    )
    ix = RosterIndex(r, "g")
    d = decide(ix, "id_card", ix.hash_id_number(EXPERT_ID), t)
    inside = s - lead * MIN <= t <= e + grace * MIN
    assert d.admitted == (inside and behind)
    if not behind:
        assert d.reason == "wrong_gate"
    elif not inside:
        assert d.reason == ("too_early" if t < s - lead * MIN else "too_late")


@settings(max_examples=200, deadline=None)
@given(uid=st.binary(min_size=4, max_size=10), now=minutes)
def test_unknown_cards_are_never_admitted(uid: bytes, now: int) -> None:
    ix = index()
    h = card_hash(KEY, uid.hex())
    d = decide(ix, "ic_card", h, START + now * MIN)
    assert d.admitted == (uid.hex().upper() == EXPERT_UID and -60 <= now <= 210)
    if uid.hex().upper() != EXPERT_UID:
        assert d.reason == "not_on_roster"
