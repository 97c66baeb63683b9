# ruff: noqa: E501
"""前置库 sync from a real second SQLite database: venues and scans arrive, incrementally,
and manual import is locked meanwhile."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from collector.modules.venues.models import Venue, VenueScan
from collector.modules.venues.sync import sync_once, sync_state
from tests.api.support import ApiTestRuntime


def front_db(path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as c:
        c.exec_driver_sql(
            "CREATE TABLE places (place_id TEXT, place_name TEXT, category TEXT, city TEXT,"
            " street TEXT, place_admin TEXT, address TEXT)"
        )
        c.exec_driver_sql(
            "CREATE TABLE scans (place_id TEXT, place_name TEXT, category TEXT, city TEXT,"
            " street TEXT, place_admin TEXT, id_card TEXT, person_name TEXT, phone TEXT,"
            " collect_result TEXT, nat_result TEXT, nat_time TEXT, health_code TEXT,"
            " collect_location TEXT, collect_time TEXT)"
        )
        c.exec_driver_sql(
            "INSERT INTO places VALUES ('F1', '前置场所', '餐饮', '开平市', '三埠街道', '赵六', '一号')"
        )
        for i in range(3):
            c.exec_driver_sql(
                "INSERT INTO scans VALUES ('F1', '前置场所', '', '', '', '', '4407831990010112'"
                f" || '{i:02d}', '张三', '138', '', '', '', '绿码', '', '2022-06-0{i + 1} 10:00:00')"
            )
    return engine


def test_sync_imports_incrementally_and_locks_manual_import(
    tmp_path: Path, runtime: ApiTestRuntime, client: TestClient
) -> None:
    front = front_db(tmp_path / "front.db")
    cfg = runtime.settings.venues.front_db
    cfg.enabled, cfg.url, cfg.centre_id = True, f"sqlite:///{tmp_path / 'front.db'}", "c1"
    cfg.venue_table, cfg.scan_table = "places", "scans"
    try:
        with Session(runtime.engine, expire_on_commit=False) as session:
            assert sync_once(session, runtime.settings.venues) == (1, 3)
            assert sync_once(session, runtime.settings.venues) == (1, 0)  # nothing new
            with front.begin() as c:
                c.exec_driver_sql(
                    "INSERT INTO scans (place_id, collect_time) VALUES ('F1', '2022-06-05 09:00:00')"
                )
            assert sync_once(session, runtime.settings.venues)[1] == 1
            venue = session.exec(select(Venue).where(Venue.code == "F1")).one()
            assert (venue.name, venue.street, venue.source) == ("前置场所", "三埠街道", "sync")
            assert session.exec(select(func.count()).select_from(VenueScan)).one() == 4
        assert client.post("/api/v1/venue-scans/import/c1", content=b"x").status_code == 409
        assert "前置库同步已启用" in client.get("/venue-import").text
        stats = client.get(
            "/api/v1/venue-stats", params={"start": "2022-06-01", "end": "2022-06-30"}
        ).json()
        assert stats["items"][0]["count"] == 4
    finally:
        cfg.enabled = False
        front.dispose()


def test_a_failed_run_stores_and_counts_nothing(tmp_path: Path, runtime: ApiTestRuntime) -> None:
    front = front_db(tmp_path / "front.db")
    cfg = runtime.settings.venues.front_db
    cfg.enabled, cfg.url, cfg.centre_id = True, f"sqlite:///{tmp_path / 'front.db'}", "c1"
    cfg.venue_table, cfg.scan_table = "places", "scans"
    cfg.scan_columns = {**cfg.scan_columns, "health_code": "no_such_column"}
    try:
        with Session(runtime.engine, expire_on_commit=False) as session:
            # The venues are read, then the scans fail: the whole run is rolled back.
            assert sync_once(session, runtime.settings.venues) == (0, 0)
            state = sync_state(session)
            assert state is not None and "no_such_column" in state.last_error
            assert (state.venues, state.scans, state.watermark) == (0, 0, None)
            assert session.exec(select(func.count()).select_from(Venue)).one() == 0
    finally:
        cfg.enabled = False
        front.dispose()
