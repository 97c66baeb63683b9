"""The closing job and the retention purge."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from collector.auth.models import AuditEntry
from collector.modules.visitors.jobs import (
    close_open_visits,
    first_closing_after,
    parse_hhmm,
    purge_personal_data,
)
from collector.modules.visitors.models import Visit
from collector.modules.visitors.service import dashboard
from tests.api.support import ApiTestRuntime
from tests.modules.visitors.conftest import T0, feed, hours, passage

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_first_closing_after_entry() -> None:
    closing = parse_hhmm("18:30")
    assert first_closing_after(T0, closing, SHANGHAI) == T0 + hours(9.5)  # 09:00 → 18:30
    late = T0 + hours(10)  # 19:00 local: tomorrow's closing
    assert first_closing_after(late, closing, SHANGHAI) == T0 + hours(9.5 + 24)


def test_visits_open_at_closing_time_are_closed_and_marked(runtime: ApiTestRuntime) -> None:
    feed(runtime.engine, "c1", passage("zhang", "in", T0), passage("li", "in", T0))
    feed(runtime.engine, "c1", passage("li", "out", T0 + hours(2)))
    feed(runtime.engine, "c1", passage("wang", "in", T0 + hours(10)))  # after closing
    with Session(runtime.engine) as session:
        assert close_open_visits(session, "18:30", SHANGHAI, now=T0 + hours(9)) == 0
        assert close_open_visits(session, "18:30", SHANGHAI, now=T0 + hours(9.5)) == 1
        rows = {v.name: v for v in session.exec(select(Visit))}
        assert rows["张三"].exited_at == T0 + hours(9.5) and rows["张三"].closed_automatically
        assert not rows["李四"].closed_automatically
        assert rows["王五"].exited_at is None  # entered after closing: stays until tomorrow
        board = dashboard(session, {"c1"}, SHANGHAI, now=T0 + hours(9.6))
        assert board.inside == 1
        # A collector that was down for days closes each visit at its own closing time.
        assert close_open_visits(session, "18:30", SHANGHAI, now=T0 + timedelta(days=5)) == 1
        wang = session.exec(select(Visit).where(Visit.entered_at == T0 + hours(10)))
        assert [v.exited_at for v in wang] == [T0 + hours(33.5)]
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "visitors.auto_close"))
        assert [e.actor_name for e in audit] == ["system", "system"]


def test_purge_keeps_counts_and_logs(runtime: ApiTestRuntime) -> None:
    old = T0 - timedelta(days=100)
    feed(runtime.engine, "c1", passage("zhang", "in", old), passage("zhang", "out", old + hours(1)))
    feed(runtime.engine, "c1", passage("li", "in", T0))
    with Session(runtime.engine) as session:
        assert purge_personal_data(session, 90, now=T0 + hours(1)) == 1
        rows = {v.entered_at: v for v in session.exec(select(Visit))}
        purged, kept = rows[old], rows[T0]
        assert purged.name is None and purged.id_number is None and purged.id_number_hash is None
        assert purged.purged_at is not None and purged.origin_province == "北京市"
        assert kept.name == "李四" and kept.id_number_hash
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "visitors.purge"))
        assert entry.actor_name == "system" and entry.detail["visits"] == 1
        assert purge_personal_data(session, 90, now=T0 + hours(1)) == 0  # nothing left to do


def test_the_closing_job_is_scheduled_at_the_configured_time() -> None:
    from types import SimpleNamespace

    from collector.modules.registry import module
    from collector.modules.visitors.jobs import CLOSE_JOB_ID, schedule_closing
    from collector.settings import load_settings

    calls = []
    scheduler = SimpleNamespace(ensure_job=lambda *a, **k: calls.append((a, k)) or True)
    settings = load_settings(development=True, visitors={"closing_time": "17:45"})
    schedule_closing(SimpleNamespace(settings=settings, scheduler=scheduler))  # type: ignore[arg-type]
    [(args, kwargs)] = calls
    assert args == (CLOSE_JOB_ID, "collector.modules.visitors.jobs:run_close_scheduled")
    assert kwargs["trigger"] == "cron" and kwargs["trigger_args"] == {"hour": 17, "minute": 45}
    visitors = module("visitors")
    assert visitors.on_scheduler_start is schedule_closing
    assert [j.id for j in visitors.jobs] == ["purge_personal_data"]
