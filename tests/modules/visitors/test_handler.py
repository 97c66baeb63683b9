"""Passages → visits: idempotent, exits matched to the person's open visit."""

from __future__ import annotations

from sqlmodel import Session, col, select

from collector.modules.visitors.models import Visit
from collector.security.personal_data import PiiKind, lookup_hash
from tests.api.support import ApiTestRuntime
from tests.modules.visitors.conftest import IDS, T0, feed, hours, passage


def visits(runtime: ApiTestRuntime) -> list[Visit]:
    with Session(runtime.engine) as session:
        return list(session.exec(select(Visit).order_by(col(Visit.id))))


def test_entry_then_exit_makes_one_closed_visit(runtime: ApiTestRuntime) -> None:
    feed(runtime.engine, "c1", passage("zhang", "in", T0), passage("zhang", "out", T0 + hours(2)))
    [visit] = visits(runtime)
    assert visit.entered_at == T0 and visit.exited_at == T0 + hours(2)
    assert visit.name == "张三" and visit.id_number == IDS["zhang"]
    assert visit.id_number_hash == lookup_hash(IDS["zhang"], PiiKind.ID_NUMBER)
    assert visit.origin_province == "北京市" and visit.origin_code == "110105"
    assert not visit.exit_unmatched and not visit.closed_automatically


def test_personal_data_is_encrypted_at_rest(runtime: ApiTestRuntime) -> None:
    feed(runtime.engine, "c1", passage("zhang"))
    with runtime.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT name, id_number FROM visits").one()
    assert raw[0].startswith("pd1:") and IDS["zhang"] not in raw[1]


def test_the_same_passage_twice_is_stored_once(runtime: ApiTestRuntime) -> None:
    entry = passage("li", "in", T0, pid="same-entry-1")
    leave = passage("li", "out", T0 + hours(1), pid="same-exit-1")
    feed(runtime.engine, "c1", entry, leave)
    feed(runtime.engine, "c1", entry, leave)  # re-sent under new event ids
    [visit] = visits(runtime)
    assert visit.exited_at == T0 + hours(1)


def test_exit_matches_the_persons_open_visit_at_the_same_centre(runtime: ApiTestRuntime) -> None:
    feed(runtime.engine, "c1", passage("zhang", "in", T0), passage("li", "in", T0))
    feed(runtime.engine, "c2", passage("zhang", "in", T0 + hours(1)), device="d3")
    feed(runtime.engine, "c1", passage("zhang", "out", T0 + hours(3)))
    rows = {(v.centre_id, v.name): v for v in visits(runtime)}
    assert rows[("c1", "张三")].exited_at == T0 + hours(3)
    assert rows[("c1", "李四")].exited_at is None
    assert rows[("c2", "张三")].exited_at is None


def test_exit_without_entry_is_kept_and_marked(runtime: ApiTestRuntime) -> None:
    feed(runtime.engine, "c1", passage("wang", "out", T0))
    [visit] = visits(runtime)
    assert visit.exit_unmatched and visit.entered_at is None and visit.exited_at == T0


def test_an_entry_arriving_after_its_exit_completes_the_visit(runtime: ApiTestRuntime) -> None:
    feed(runtime.engine, "c1", passage("wang", "out", T0 + hours(2), door="西门"))
    feed(runtime.engine, "c1", passage("wang", "in", T0), device="d2")
    [visit] = visits(runtime)
    assert (visit.entered_at, visit.exited_at) == (T0, T0 + hours(2))
    assert not visit.exit_unmatched and visit.door_out == "西门"


def test_refused_entry_is_stored_without_presence(runtime: ApiTestRuntime) -> None:
    fever = [{"code": "fever", "level": "block", "reason": "体温 38.2℃"}]
    feed(runtime.engine, "c1", passage("li", decision="refused", flags=fever, temperature=38.2))
    [visit] = visits(runtime)
    assert visit.decision == "refused" and visit.flagged and visit.flag_codes == ",fever,"
    assert visit.exited_at == visit.entered_at


def test_a_second_entry_closes_the_forgotten_visit(runtime: ApiTestRuntime) -> None:
    feed(runtime.engine, "c1", passage("zhao", "in", T0), passage("zhao", "in", T0 + hours(5)))
    first, second = visits(runtime)
    assert first.exited_at == T0 + hours(5) and first.closed_automatically
    assert second.exited_at is None


def test_late_exit_corrects_a_visit_closed_at_closing_time(runtime: ApiTestRuntime) -> None:
    from zoneinfo import ZoneInfo

    from collector.modules.visitors.jobs import close_open_visits

    feed(runtime.engine, "c1", passage("li", "in", T0))
    with Session(runtime.engine) as session:
        close_open_visits(session, "10:00", ZoneInfo("Asia/Shanghai"), now=T0 + hours(2))
    feed(runtime.engine, "c1", passage("li", "out", T0 + hours(3)))
    [visit] = visits(runtime)
    assert visit.exited_at == T0 + hours(3) and not visit.closed_automatically
