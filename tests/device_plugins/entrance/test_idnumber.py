"""GB 11643 numbers, the other identity documents, and GB/T 2260 division names."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.idnumber import (
    DivisionTable,
    check_character,
    divisions,
    mask_id_number,
    origin_of,
    parse_id_number,
    region_name,
    resolve_division,
    upgrade_15,
)

TODAY = date(2026, 6, 1)


def with_check(first17: str) -> str:
    return first17 + check_character(first17)


def test_the_standards_examples_are_valid() -> None:
    for number, born, sex in [
        ("11010519491231002X", date(1949, 12, 31), "女"),
        ("440524188001010014", date(1880, 1, 1), "男"),
    ]:
        info = parse_id_number(number, today=TODAY)
        assert info.valid, info.problems
        assert info.kind == "resident"
        assert info.birth_date == born
        assert info.sex == sex
        assert info.document_type == "resident"


def test_lower_case_x_spaces_and_full_width_digits_are_normalised() -> None:
    assert parse_id_number(" 110105 19491231 002x ", today=TODAY).number == "11010519491231002X"
    assert parse_id_number("１１０１０５１９４９１２３１００２Ｘ", today=TODAY).valid


def test_a_wrong_check_character_is_reported() -> None:
    info = parse_id_number("110105194912310021", today=TODAY)
    assert not info.valid
    assert info.problems == ("校验码错误",)


@pytest.mark.parametrize(
    ("birth", "problem"),
    [("19490230", "出生日期无效"), ("20990101", "出生日期晚于今天"), ("18000101", "出生日期过早")],
)
def test_birth_dates_must_exist_and_not_be_in_the_future(birth: str, problem: str) -> None:
    info = parse_id_number(with_check("110105" + birth + "002"), today=TODAY)
    assert problem in info.problems
    assert not info.valid


def test_fifteen_digit_numbers_are_converted() -> None:
    info = parse_id_number("110105491231002", today=TODAY)
    assert info.kind == "resident_15"
    assert info.converted and info.valid
    assert info.number == "11010519491231002X"
    assert upgrade_15("110105491231002") == "11010519491231002X"
    assert info.birth_date == date(1949, 12, 31)


def test_hong_kong_macau_taiwan_permits() -> None:
    for prefix, province in [
        ("810000", "香港特别行政区"),
        ("820000", "澳门特别行政区"),
        ("830000", "台湾省"),
    ]:
        info = parse_id_number(with_check(prefix + "19900101001"), today=TODAY)
        assert info.kind == "hk_mo_tw" and info.valid
        assert info.document_type == "hk_mo_tw"
        origin = origin_of(info)
        assert origin is not None and origin.province == province


def test_foreign_permanent_residence_cards_new_and_old() -> None:
    new = parse_id_number(with_check("9" + "31" + "840" + "19800101" + "001"), today=TODAY)
    assert new.kind == "foreign_permanent" and new.valid
    assert new.nationality == "840" and new.accepting_province == "31"
    assert new.document_type == "foreign_permanent"
    assert origin_of(new) is None
    old = parse_id_number("USA310801010110", today=TODAY)
    assert old.kind == "foreign_permanent_old" and old.valid
    assert old.nationality == "USA" and old.accepting_province == "31"
    assert old.document_type == "foreign_permanent" and origin_of(old) is None
    # The inner layout of the 15-character number is not reliably published: only its shape
    # is checked, and no birth date is read from it (the card gives one).
    assert old.birth_date is None and old.sex is None
    assert parse_id_number("USA319902301011", today=TODAY).valid


@pytest.mark.parametrize(
    "number",
    [
        "CAN110090010101",  # the simulator's 2017 card: 3 letters + 12 digits
        "USA110085061212",
        "GBR440019991231",
        "can110090010101",  # typed in lower case
    ],
)
def test_an_old_foreign_number_is_never_flagged_for_its_inner_digits(number: str) -> None:
    info = parse_id_number(number, today=TODAY)
    assert info.kind == "foreign_permanent_old" and info.valid, info.problems
    assert info.division_code is None


def test_old_foreign_numbers_of_the_wrong_shape_are_not_recognised() -> None:
    for bad in ["CA1110090010101", "CAN11009001010", "CAN1100900101011", "CANA10090010101"]:
        assert parse_id_number(bad, today=TODAY).kind == "unknown", bad


def test_a_2023_foreign_number_is_checked_like_a_citizen_number() -> None:
    good = with_check("9" + "44" + "392" + "19751231" + "002")
    info = parse_id_number(good, today=TODAY)
    assert info.kind == "foreign_permanent" and info.valid
    assert (info.accepting_province, info.nationality) == ("44", "392")
    assert info.birth_date == date(1975, 12, 31) and info.sex == "女"
    assert info.division_code is None and origin_of(info) is None
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    assert parse_id_number(wrong_check, today=TODAY).problems == ("校验码错误",)
    bad_birth = with_check("9" + "44" + "392" + "19751332" + "002")
    assert parse_id_number(bad_birth, today=TODAY).problems == ("出生日期无效",)
    # Starting with 9 is what tells it from a citizen number: no division check applies.
    assert "地址码无效" not in parse_id_number(wrong_check, today=TODAY).problems


def test_unrecognised_shapes() -> None:
    for bad in ["", "12345", "11010519491231002Y", "A1234567890123456"]:
        info = parse_id_number(bad, today=TODAY)
        assert info.kind == "unknown" and not info.valid


def test_masking() -> None:
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_id_number("110105491231002") == "110********1002"
    assert mask_id_number("abc") == "***"


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_every_computed_check_character_validates_and_any_other_does_not(body: str) -> None:
    good = check_character(body)
    number = body + good
    info = parse_id_number(number, today=TODAY)
    assert "校验码错误" not in info.problems
    for other in "0123456789X":
        if other != good:
            assert "校验码错误" in parse_id_number(body + other, today=TODAY).problems


def test_divisions_current_names() -> None:
    d = resolve_division("420102")
    assert (d.province, d.city, d.county, d.matched) == ("湖北省", "武汉市", "江岸区", "county")
    assert resolve_division("110105").label == "北京市朝阳区"
    assert resolve_division("500101").label == "重庆市万州区"
    assert resolve_division("429004").label == "湖北省仙桃市"  # 省直辖 county-level city
    assert region_name("4201") == "湖北省武汉市"
    assert region_name("42") == "湖北省"
    assert len(divisions()) > 7000


def test_historical_codes_of_old_numbers_still_resolve() -> None:
    xuanwu = resolve_division("110104")  # 宣武区, merged into 西城区 in 2010
    assert xuanwu.county == "宣武区" and xuanwu.historical
    xiaogan = resolve_division("422201", 1985)  # 孝感地区孝感市 1983-1992
    assert (xiaogan.city, xiaogan.county) == ("孝感地区", "孝感市")
    info = parse_id_number(with_check("422201" + "19850101" + "001"), today=TODAY)
    origin = origin_of(info)
    assert origin is not None and origin.county == "孝感市"


def test_unknown_codes_fall_back_to_city_and_province() -> None:
    city = resolve_division("420199")
    assert (city.province, city.city, city.county, city.matched) == ("湖北省", "武汉市", "", "city")
    province = resolve_division("429999")
    assert province.province == "湖北省" and province.matched == "province"
    nothing = resolve_division("990101")
    assert nothing.matched == "none" and nothing.label == ""
    with pytest.raises(ValueError):
        resolve_division("4201x")


def test_table_loads_from_its_file() -> None:
    table = DivisionTable.from_csv_gz()
    assert "420102" in table and table.name("420102") == ("江岸区", False)
