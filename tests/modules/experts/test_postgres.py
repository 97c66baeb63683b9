"""The module's queries on PostgreSQL: upsert, roster, admissions and sign-in, alerts, access
log search, sync outbox, purge (the API tests run on SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from collector.centres.models import Centre
from collector.db import make_engine
from collector.migrate import upgrade
from collector.modules.experts import access, jobs, service, sync
from collector.modules.experts.models import AccessRecord, SignIn, SyncRecord
from collector.modules.experts.settings import ExpertsSettings
from collector.settings import load_settings
from contract.payloads.entrance import person_hash
from tests.modules.experts.support import admission, feed_admissions
from tests.support import postgres

SECRET = "experts-pg-secret-0123456789abcdefgh"
ZHANG = "11010519491231002X"


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not postgres.available():
        pytest.skip("PostgreSQL not reachable")
    db = postgres.TempDatabase(migrated=True)
    try:
        yield db.url
    finally:
        db.drop()


def test_the_whole_flow_on_postgres(pg_url: str) -> None:
    engine = make_engine(pg_url)
    upgrade(engine)
    settings = load_settings(development=True, database={"url": pg_url})
    cfg = ExpertsSettings(sync_url="http://127.0.0.1:9/x", sync_timeout_s=1)
    start = datetime(2030, 1, 2, 1, 0, tzinfo=UTC)
    try:
        with Session(engine, expire_on_commit=False) as session:
            session.add(Centre(id="c1", name="市中心"))
            session.commit()
            service.save_room(
                session,
                service.RoomIn(centre_id="c1", code="P1", name="评标室1", gates=["g1"]),
                actor=None,
            )
            body = service.ProjectIn.model_validate({
                "centre_id": "c1", "number": "N-1", "name": "项目",
                "sessions": [{"rooms": ["P1"], "start": start.isoformat(),
                              "end": (start + timedelta(hours=2)).isoformat(),
                              "roster": [{"name": "张三", "id_number": ZHANG},
                                         {"name": "王五", "card_uid": "04AA"}]}],
            })  # fmt: skip
            row = service.apply_project(session, body, actor=None, source="api").sessions[0]
            session.commit()
            service.apply_project(session, body, actor=None, source="api")
            session.commit()
            roster = service.gate_roster(session, cfg, SECRET, "c1", now=start)
            assert len(roster.people) == 2 and roster.rooms_behind_gate == {
                "g1": [str(row.rooms[0])]
            }
        key = service.gate_key(SECRET, "c1")
        passes = [
            admission(
                at=start - timedelta(minutes=30 - i),
                gate="g1",
                session_id=str(row.id),
                person_hash=person_hash(key, ZHANG),
            )
            for i in range(3)
        ]
        feed_admissions(engine, "c1", cfg, SECRET, *passes, device="g1")
        with Session(engine, expire_on_commit=False) as session:
            assert len(session.exec(select(AccessRecord)).all()) == 3
            assert len(session.exec(select(SignIn)).all()) == 1
            assert len(session.exec(select(SyncRecord)).all()) == 4
            _, total = access.search(
                session, {"c1"}, access.AccessFilter(q="张三"), secret_key=SECRET, tz=UTC
            )
            assert total == 3
            raised = jobs.raise_alerts(session, settings, now=start - timedelta(minutes=10))
            assert [a.kind for a in raised] == ["absence"]
            assert sync.outbox_counts(session, ["c1"])["pending"] == 4
            assert service.purge_personal_data(session, 1, now=start + timedelta(days=3)) == 2
    finally:
        engine.dispose()
