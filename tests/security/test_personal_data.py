from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, select

from collector.security import personal_data as pd
from collector.security.personal_data import (
    PersonalDataCipher,
    PersonalDataDecryptError,
    PersonalDataNotConfigured,
    PiiKind,
    configure_personal_data,
    lookup_hash,
    mask,
    mask_id_number,
    mask_name,
    mask_phone,
    pii_field,
    pii_hash_field,
    sync_pii_hashes,
)
from tests.security.conftest import DB_PARAMS, new_engine

SECRET = "s3cret-" + "x" * 40
ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"


class _TestBase(SQLModel, registry=registry()):
    """Test tables live in their own metadata, out of the collector's."""


@sync_pii_hashes
class Person(_TestBase, table=True):
    __tablename__ = "test_people"

    id: int | None = Field(default=None, primary_key=True)
    name: str | None = pii_field(PiiKind.NAME, context="test_people.name")
    id_number: str | None = pii_field(PiiKind.ID_NUMBER, context="test_people.id_number")
    id_number_hash: str | None = pii_hash_field()
    phone: str | None = pii_field(PiiKind.PHONE, context="test_people.phone")
    phone_hash: str | None = pii_hash_field()


@pytest.fixture(autouse=True)
def cipher():
    yield configure_personal_data(SECRET)
    pd.reset_personal_data()


@pytest.fixture(params=DB_PARAMS)
def pdb(request, tmp_path):
    for engine in new_engine(request.param, tmp_path, metadata=_TestBase.metadata):
        with Session(engine, expire_on_commit=False) as session:
            yield session


def test_round_trip_and_format(cipher):
    stored = cipher.encrypt(ID_NUMBER, "ctx")
    assert stored.startswith("pd1:1:") and ID_NUMBER not in stored
    assert cipher.encrypt(ID_NUMBER, "ctx") != stored  # random nonce
    assert cipher.decrypt(stored, "ctx") == ID_NUMBER
    assert cipher.decrypt(cipher.encrypt(""), "") == ""


@settings(max_examples=50, deadline=None)
@given(st.text())
def test_round_trip_any_text(value):
    assert pd.decrypt(pd.encrypt(value, "c"), "c") == value


def test_context_and_key_id_are_bound(cipher):
    stored = cipher.encrypt(PHONE, "visitors.phone")
    with pytest.raises(PersonalDataDecryptError):
        cipher.decrypt(stored, "experts.phone")
    body = stored.split(":")[2]
    with pytest.raises(PersonalDataDecryptError, match="no key"):
        cipher.decrypt(f"pd1:9:{body}", "visitors.phone")
    with pytest.raises(PersonalDataDecryptError):
        cipher.decrypt(stored[:-2] + ("AA" if stored[-2:] != "AA" else "BB"), "visitors.phone")
    for garbage in ["", "plain", "pd1:1:", "pd2:1:abcd", "pd1:1:!!!"]:
        with pytest.raises(PersonalDataDecryptError):
            cipher.decrypt(garbage)


def test_unconfigured_use_is_a_clear_error():
    pd.reset_personal_data()
    with pytest.raises(PersonalDataNotConfigured, match="configure_personal_data"):
        pd.encrypt("x")
    with pytest.raises(PersonalDataNotConfigured):
        lookup_hash("x", PiiKind.PHONE)


def test_lookup_hash_normalises_and_separates_kinds(cipher):
    h = cipher.lookup_hash
    assert h(" 110105 19491231002x ", "id_number") == h(ID_NUMBER, "id_number")
    assert h("+86 138-1234-5678", "phone") == h(PHONE, "phone") == h("008613812345678", "phone")
    assert h("１３８１２３４５６７８", "phone") == h(PHONE, "phone")  # full-width digits
    assert h(PHONE, "phone") != h(PHONE, "text")
    assert h(PHONE, "phone") != PersonalDataCipher({"1": "other"}, "1").lookup_hash(PHONE, "phone")
    assert len(h(PHONE, "phone")) == 64


def test_rotation_keeps_old_rows_readable(cipher):
    old = cipher.encrypt(ID_NUMBER, "c")
    new = configure_personal_data(SECRET, key_id="2", keys={"2": "new-secret-" + "y" * 40})
    assert new.decrypt(old, "c") == ID_NUMBER
    assert new.needs_rotation(old)
    rotated = new.reencrypt(old, "c")
    assert rotated.startswith("pd1:2:") and not new.needs_rotation(rotated)
    assert new.reencrypt(rotated, "c") == rotated
    assert new.decrypt(rotated, "c") == ID_NUMBER
    # the lookup key stays with the collector secret: searches find rows of either key
    assert new.lookup_hash(PHONE, "phone") == cipher.lookup_hash(PHONE, "phone")
    with pytest.raises(ValueError):
        PersonalDataCipher({"a:b": "x"}, "a:b")


def test_model_stores_ciphertext_only_and_finds_by_hash(pdb):
    pdb.add(Person(name="欧阳娜娜", id_number=ID_NUMBER, phone=PHONE))
    pdb.add(Person(name="张三", id_number="110105194912310038", phone="13900000000"))
    pdb.commit()

    raw = pdb.connection().execute(text("SELECT name, id_number, phone FROM test_people")).all()
    dump = repr(raw)
    for secret in ("欧阳", "张三", "19491231", "1381234", "13900000000"):
        assert secret not in dump
    assert all(v.startswith("pd1:1:") for row in raw for v in row)

    q = lookup_hash("11010519491231002x", PiiKind.ID_NUMBER)
    found = pdb.exec(select(Person).where(Person.id_number_hash == q)).one()
    assert (found.name, found.id_number, found.phone) == ("欧阳娜娜", ID_NUMBER, PHONE)
    assert mask(found.name, PiiKind.NAME) == "欧阳**"

    # The hash follows an update through the ORM.
    found.phone = "+86 137 0000 1111"
    pdb.add(found)
    pdb.commit()
    q = lookup_hash("13700001111", PiiKind.PHONE)
    assert pdb.exec(select(Person.id).where(Person.phone_hash == q)).one() == found.id
    assert pdb.exec(select(Person).where(Person.phone.is_(None))).all() == []


def test_encrypted_columns_refuse_sql_comparison():
    with pytest.raises(TypeError, match="_hash"):
        select(Person).where(Person.id_number == ID_NUMBER)
    with pytest.raises(TypeError):
        select(Person).where(Person.phone.like("138%"))


def test_wrong_key_fails_loudly(pdb):
    pdb.add(Person(id_number=ID_NUMBER))
    pdb.commit()
    pdb.expunge_all()
    configure_personal_data("a-different-secret-" + "z" * 30)
    with pytest.raises(PersonalDataDecryptError, match="failed authentication"):
        pdb.exec(select(Person)).all()


def test_sync_pii_hashes_needs_a_pair():
    with pytest.raises(TypeError):

        @sync_pii_hashes
        class NoHash(_TestBase, table=True):
            __tablename__ = "test_no_hash"
            id: int | None = Field(default=None, primary_key=True)
            name: str | None = pii_field(PiiKind.NAME)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("11010519491231002X", "110***********002X"),
        ("110105 19491231 002x", "110***********002X"),
        ("110105491231002", "110********1002"),  # 15-digit first-generation card
        ("1234", "***4"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_id_number(value, expected):
    assert mask_id_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("010-62345678", "010****5678"),
        ("12345", "****5"),
        (None, ""),
    ],
)
def test_mask_phone(value, expected):
    assert mask_phone(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("张三", "张*"),
        ("张三丰", "张**"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳", "欧*"),
        ("诸葛亮", "诸葛*"),
        ("买买提·艾力", "买**·**"),
        ("王", "*"),
        ("John Smith", "J*** S****"),
        ("", ""),
    ],
)
def test_mask_name(value, expected):
    assert mask_name(value) == expected
