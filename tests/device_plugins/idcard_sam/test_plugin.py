"""The SAM reader plugin against the byte-level reader simulator, through the real plugin code
(entry point, serial port on a pty, local bus)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from device_plugins.idcard_sam.simulator import (
    SamSimulator,
    foreign_card,
    hk_mo_tw_card,
    resident_card,
)
from device_plugins.messages import CARD_READ, CARD_REMOVED

from ..conftest import Site, wait_until
from .conftest import FAST, polls, read_one

pytestmark = pytest.mark.timeout(60)


def test_resident_card(reader: Site, sim: SamSimulator) -> None:
    read = read_one(reader, sim, resident_card(valid_to="长期"))
    person = read.person
    assert person.document_type == "resident"
    assert (person.name, person.sex, person.nation) == ("张三", "男", "汉族")
    assert person.id_number == "110101199003071233"
    assert person.birth_date == date(1990, 3, 7)
    assert person.address == "北京市东城区景山前街4号"
    assert person.authority == "北京市公安局东城分局"
    assert (person.valid_from, person.valid_to) == (date(2020, 1, 1), None)
    assert read.reader == "reader1" and len(read.photo) == 1024
    assert 0 < read.last_byte_at <= time.perf_counter()


def test_foreign_permanent_residence_card(reader: Site, sim: SamSimulator) -> None:
    person = read_one(reader, sim, foreign_card()).person
    assert person.document_type == "foreign_permanent"
    assert person.name == "SMITH JOHN (史密斯)"
    assert (person.id_number, person.nation, person.sex) == ("CAN110090010101", "CAN", "男")
    assert person.birth_date == date(1980, 1, 1)
    assert person.valid_to == date(2029, 6, 1)


def test_hong_kong_macau_taiwan_residence_permit(reader: Site, sim: SamSimulator) -> None:
    person = read_one(reader, sim, hk_mo_tw_card(sex="2")).person
    assert person.document_type == "hk_mo_tw"
    assert (person.name, person.sex, person.nation) == ("陈大文", "女", "")
    assert person.id_number.startswith("810000")
    assert person.authority == "深圳市公安局"


def test_a_card_held_on_the_reader_reads_once_until_lifted(reader: Site, sim: SamSimulator) -> None:
    read_one(reader, sim, resident_card())
    polls(sim, 15)  # many polls with the card still there
    assert len(reader.got(CARD_READ)) == 1 and sim.reads_answered == 1
    sim.remove()
    wait_until(lambda: reader.got(CARD_REMOVED), 10, "card removed")
    read_one(reader, sim, resident_card())
    assert len(reader.got(CARD_READ)) == 2 and len(reader.got(CARD_REMOVED)) == 1


def test_a_card_pulled_mid_read_gives_no_read_and_no_crash(reader: Site, sim: SamSimulator) -> None:
    sim.faults.pull_mid_read = True
    sim.present(resident_card())
    wait_until(lambda: sim.card is None, 10, "card pulled")
    polls(sim, 5)
    assert reader.got(CARD_READ) == [] and reader.got(CARD_REMOVED) == []
    assert reader.call("reader1.status")["timeouts"] >= 1
    read_one(reader, sim, resident_card(name="王五"))
    assert reader.got(CARD_READ)[0].person.name == "王五"
    assert reader.health("reader1").state == "ok"


def test_answers_with_a_wrong_checksum_are_dropped_and_retried(
    reader: Site, sim: SamSimulator
) -> None:
    sim.faults.corrupt_answers = 4  # find, select, read... all damaged for a while
    read = read_one(reader, sim, resident_card())
    assert read.person.name == "张三"
    assert reader.call("reader1.status")["checksum_errors"] >= 1
    polls(sim, 3)
    assert len(reader.got(CARD_READ)) == 1


def test_garbage_between_frames_is_skipped(reader: Site, sim: SamSimulator) -> None:
    sim.faults.garbage = b"\x00\xff\xaa\xaa\x96noise\xaa\xaa\xaa"
    read = read_one(reader, sim, foreign_card())
    assert read.person.document_type == "foreign_permanent"
    assert reader.call("reader1.status")["garbage_bytes"] > 0


def test_a_card_the_sam_cannot_read_is_tried_a_few_times_then_left(
    reader: Site, sim: SamSimulator
) -> None:
    sim.present(resident_card(broken=True))
    wait_until(lambda: reader.call("reader1.status")["failed_reads"] >= 3, 10, "3 failures")
    polls(sim, 5)
    status = reader.call("reader1.status")
    assert status["failed_reads"] == 3 and "0x41" in status["last_error"]
    assert reader.got(CARD_READ) == []
    sim.remove()
    polls(sim, 3)
    read_one(reader, sim, resident_card())


def test_reader_unplugged_and_back(reader: Site, sim: SamSimulator) -> None:
    read_one(reader, sim, resident_card())
    sim.unplug()
    health = reader.wait_health("reader1", "degraded")
    assert "sam0" in health.detail
    sim.replug()
    reader.wait_health("reader1", "ok")
    # The card stayed on the reader through the outage: still one read.
    polls(sim, 3)
    assert len(reader.got(CARD_READ)) == 1
    sim.remove()
    wait_until(lambda: reader.got(CARD_REMOVED), 10, "card removed")
    read_one(reader, sim, hk_mo_tw_card())
    assert reader.call("reader1.status")["port_errors"] >= 1


def test_a_silent_reader_degrades_health_and_recovers(reader: Site, sim: SamSimulator) -> None:
    sim.faults.silent = True
    health = reader.wait_health("reader1", "degraded")
    assert "not answering" in health.detail
    sim.faults.silent = False
    reader.wait_health("reader1", "ok")
    read_one(reader, sim, resident_card())


def test_a_port_that_never_existed_is_retried(
    tmp_path: Path, make_site: Callable[..., Site]
) -> None:
    site = make_site({"reader1": {**FAST, "port": str(tmp_path / "late")}}, CARD_READ)
    site.wait_health("reader1", "degraded")
    late = SamSimulator(tmp_path / "late")
    late.start()
    try:
        site.wait_health("reader1", "ok")
        read_one(site, late, resident_card())
    finally:
        late.stop()


def test_a_slow_answer_within_the_timeout_reads(reader: Site, sim: SamSimulator) -> None:
    sim.faults.answer_delay_s = 0.1
    assert read_one(reader, sim, resident_card()).person.name == "张三"


def test_a_read_answer_later_than_the_timeout_is_not_taken_for_another(
    reader: Site, sim: SamSimulator
) -> None:
    sim.faults.read_delay_s = 0.8  # the plugin gives up after 0.5 s
    sim.present(resident_card())
    wait_until(lambda: reader.call("reader1.status")["timeouts"] >= 2, 10, "read timeouts")
    sim.faults.read_delay_s = 0.0
    sim.remove()  # the late answers arrive while the plugin is finding again
    polls(sim, 5)
    assert reader.got(CARD_READ) == []
    read_one(reader, sim, foreign_card())
    assert len(reader.got(CARD_READ)) == 1


def test_a_reader_that_goes_quiet_after_a_read_still_reads_once(
    tmp_path: Path, make_site: Callable[..., Site]
) -> None:
    quiet = SamSimulator(tmp_path / "quiet", quiet_after_read=True)
    quiet.start()
    try:
        site = make_site({"reader1": {**FAST, "port": quiet.path}}, CARD_READ, CARD_REMOVED)
        read_one(site, quiet, resident_card())
        polls(quiet, 10)
        assert len(site.got(CARD_READ)) == 1 and quiet.reads_answered == 1
        quiet.remove()
        read_one(site, quiet, resident_card(name="赵六"))
        assert [r.person.name for r in site.got(CARD_READ)] == ["张三", "赵六"]
    finally:
        quiet.stop()
