"""Contact tracing agrees with a brute-force computation over random visits, on SQLite and
PostgreSQL; the API audits every query with its reason and exports the result."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from collector.auth.models import AuditEntry
from collector.db import make_engine
from collector.migrate import upgrade
from collector.modules.visitors.models import MAX_VISIT_SPAN, Visit
from collector.modules.visitors.tracing import Subject, trace_contacts
from tests.api.support import ApiTestRuntime
from tests.modules.visitors.conftest import IDS, T0, feed, hours, passage
from tests.support import postgres

VISITS = Visit.__table__  # type: ignore[attr-defined]
NOW = T0 + timedelta(days=3)
CENTRES = ("c1", "c2")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    db = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('trace') / 'trace.db'}"
    else:
        if not postgres.available():
            pytest.skip("PostgreSQL not reachable")
        db = postgres.TempDatabase(migrated=True)
        url = db.url
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO centres (id, name, level) VALUES ('c1', 'a', 'city'), ('c2', 'b', 'city')"
        )
    yield engine
    engine.dispose()
    if db is not None:
        db.drop()


minutes = st.integers(min_value=0, max_value=3 * 24 * 60)
visit_st = st.fixed_dictionaries(
    {
        "person": st.sampled_from(["h0", "h1", "h2", "h3", "h4", None]),
        "centre": st.sampled_from(CENTRES),
        "start": minutes,
        "length": st.one_of(
            st.none(), st.integers(min_value=0, max_value=int(MAX_VISIT_SPAN.total_seconds() // 60))
        ),
        "refused": st.sampled_from([False, False, False, True]),
    }
)


def _rows(visits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, v in enumerate(visits, start=1):
        start = T0 + timedelta(minutes=v["start"])
        end = None if v["length"] is None else start + timedelta(minutes=v["length"])
        if end is not None and end > NOW:
            end = NOW
        if start > NOW:
            start = NOW - timedelta(minutes=1)
        rows.append(
            {
                "id": i,
                "centre_id": v["centre"],
                "entered_at": start,
                "exited_at": end,
                "id_number_hash": None if v["person"] is None else v["person"].ljust(64, "0"),
                "decision": "refused" if v["refused"] else "admitted",
                "flags": [],
            }
        )
    return rows


def brute_force(
    rows: list[dict[str, Any]], subject: Subject, lo: datetime, hi: datetime, visible: set[str]
) -> dict[tuple[str, str], tuple[float, datetime, datetime]]:
    def present(r: dict[str, Any]) -> bool:
        return r["decision"] == "admitted" and r["centre_id"] in visible

    if subject.visit_id is not None:
        own = [r for r in rows if r["id"] == subject.visit_id and present(r)]
    else:
        own = [r for r in rows if r["id_number_hash"] == subject.id_number_hash and present(r)]
    found: dict[tuple[str, str], list[Any]] = {}
    for s in own:
        s_end = s["exited_at"] or NOW
        for o in rows:
            if o["id"] == s["id"] or not present(o) or o["centre_id"] != s["centre_id"]:
                continue
            if s["id_number_hash"] and o["id_number_hash"] == s["id_number_hash"]:
                continue
            start = max(s["entered_at"], o["entered_at"], lo)
            end = min(s_end, o["exited_at"] or NOW, hi)
            if end <= start:
                continue
            key = (o["id_number_hash"] or f"v{o['id']}", o["centre_id"])  # per person and centre
            acc = found.setdefault(key, [0.0, start, end])
            acc[0] += (end - start).total_seconds() / 60
            acc[1], acc[2] = min(acc[1], start), max(acc[2], end)
    return {k: (round(m, 1), a, b) for k, (m, a, b) in found.items()}


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    visits=st.lists(visit_st, min_size=1, max_size=40),
    by_visit=st.booleans(),
    pick=st.integers(min_value=0, max_value=39),
    lo=minutes,
    span=st.integers(min_value=1, max_value=3 * 24 * 60),
    only_c1=st.booleans(),
)
def test_tracing_matches_brute_force(
    engine: Engine,
    visits: list[dict[str, Any]],
    by_visit: bool,
    pick: int,
    lo: int,
    span: int,
    only_c1: bool,
) -> None:
    rows = _rows(visits)
    with engine.begin() as conn:
        conn.execute(delete(VISITS))
        conn.execute(insert(VISITS), rows)
    chosen = rows[pick % len(rows)]
    subject = (
        Subject(visit_id=chosen["id"]) if by_visit else Subject(id_number_hash="h0".ljust(64, "0"))
    )
    start = T0 + timedelta(minutes=lo)
    end = start + timedelta(minutes=span)
    visible = {"c1"} if only_c1 else set(CENTRES)
    with Session(engine) as session:
        got = trace_contacts(session, visible, subject, start, end, now=NOW)
    expected = brute_force(rows, subject, start, end, visible)
    assert {(c.person_key, c.centre_id) for c in got} == set(expected)
    for c in got:
        minutes_, first, last = expected[(c.person_key, c.centre_id)]
        assert abs(c.overlap_minutes - minutes_) <= 0.11, c
        assert abs((c.first_contact - first).total_seconds()) < 0.01, c
        assert abs((c.last_contact - last).total_seconds()) < 0.01, c


def test_tracing_api_needs_a_reason_audits_and_exports(
    client: Any, runtime: ApiTestRuntime
) -> None:
    feed(runtime.engine, "c1", passage("zhang", "in", T0), passage("li", "in", T0 + hours(1)))
    feed(
        runtime.engine,
        "c1",
        passage("li", "out", T0 + hours(3)),
        passage("wang", "in", T0 + hours(5)),
    )
    body = {
        "id_number": IDS["zhang"],
        "start": (T0 - hours(1)).isoformat(),
        "end": (T0 + hours(4)).isoformat(),
    }
    assert client.post("/api/v1/visitors/trace", json=body).status_code == 422  # no reason
    r = client.post("/api/v1/visitors/trace", json=body | {"reason": "确诊病例流调"})
    assert r.status_code == 200, r.text
    [contact] = r.json()["contacts"]
    assert contact["name"] == "李*" and contact["overlap_minutes"] == 120.0
    assert contact["first_contact"] == "2026-03-02 10:00:00"
    assert contact["last_contact"] == "2026-03-02 12:00:00"
    xlsx = client.post("/api/v1/visitors/trace.xlsx", json=body | {"reason": "导出名单"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    with Session(runtime.engine) as session:
        entries = session.exec(
            select(AuditEntry).where(
                AuditEntry.action.in_(["visitors.trace", "visitors.trace_export"])
            )  # type: ignore[attr-defined]
        ).all()
    assert [e.detail["reason"] for e in entries] == ["确诊病例流调", "导出名单"]
    assert all(e.actor_name == "admin" for e in entries)
    assert all(
        IDS["zhang"] not in str(e.detail) and e.detail["subject"].startswith("110***")
        for e in entries
    )


def test_trace_by_visit(client: Any, runtime: ApiTestRuntime) -> None:
    feed(runtime.engine, "c1", passage("zhang", "in", T0), passage("li", "in", T0 + hours(1)))
    with Session(runtime.engine) as session:
        visit = session.exec(select(Visit).where(Visit.entered_at == T0)).one()
    r = client.post("/api/v1/visitors/trace", json={"visit_id": visit.id, "reason": "核查"})
    assert [c["name"] for c in r.json()["contacts"]] == ["李*"]
    assert (
        client.post("/api/v1/visitors/trace", json={"visit_id": 99999, "reason": "x1"}).status_code
        == 404
    )
