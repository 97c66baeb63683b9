"""Personal-data key rotation on a migrated database (SQLite and PostgreSQL): the keyring
check that refuses a wrong or missing key, re-encryption of every encrypted column, searches
during and after it, a row changed meanwhile, and the ``prtc-collector pii`` commands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from collector.auth.models import AuditEntry
from collector.centres.models import Centre, CentreLevel
from collector.cli import main
from collector.db import make_engine
from collector.migrate import upgrade
from collector.modules.venues.importer import ScanRecord, insert_records
from collector.modules.venues.models import VenueUnit
from collector.modules.visitors.models import Visit
from collector.security import rotation
from collector.security.personal_data import (
    PersonalDataCipher,
    PiiKind,
    configure_personal_data,
    lookup_hash,
    reset_personal_data,
)
from collector.security.rotation import KeyringError, check_keyring, count_stale, rotate
from tests.support import postgres

SECRET = "rotation-test-secret-0123456789abcdef"
KEY2 = "second-personal-data-key-" + "k" * 20
KEY3 = "third-personal-data-key-" + "m" * 20
ID_NUMBER = "11010519491231002X"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    yield from postgres.migrated_engine(request.param)


@pytest.fixture(autouse=True)
def _forget_cipher() -> Iterator[None]:
    yield
    reset_personal_data()


def keyring(key_id: str = "1", **keys: str) -> PersonalDataCipher:
    return configure_personal_data(SECRET, key_id=key_id, keys=keys)


def start(engine: Engine, cipher: PersonalDataCipher) -> None:
    with Session(engine) as session:
        check_keyring(session, cipher)


def seed(engine: Engine) -> None:
    """Personal data in three tables, written under the key configured now."""
    with Session(engine) as session:
        session.add(Centre(id="c1", name="市中心", level=CentreLevel.CITY))
        session.commit()
        session.add(Visit(centre_id="c1", name="欧阳娜娜", id_number=ID_NUMBER))
        session.add(VenueUnit(centre_id="c1", name="监管单位", leader="李四", phone="13800138000"))
        scans = [
            ScanRecord("KP1", datetime(2025, 5, 1, 9), id_number=ID_NUMBER, phone="13900000001"),
            ScanRecord("KP1", datetime(2025, 5, 1, 10)),  # no personal data
        ]
        insert_records(session, scans, centre_id="c1", actor="test", source="test")
        session.commit()


def stored(engine: Engine) -> list[str]:
    """Every encrypted value as stored."""
    values = []
    with engine.connect() as conn:
        for table in rotation.encrypted_tables():
            t = table.clause()
            for row in conn.execute(sa.select(t)):
                values += [row._mapping[c] for c, _ in table.columns if row._mapping[c]]
    return values


def test_rotation_reencrypts_every_value_and_retires_the_old_key(engine: Engine) -> None:
    start(engine, keyring())
    seed(engine)
    assert {v.split(":")[1] for v in stored(engine)} == {"1"}

    new = keyring("2", **{"2": KEY2})
    start(engine, new)  # the collector restarts with the new key current
    with Session(engine) as session:
        assert rotation.pending_keys(session, new) == ["1"]
        stale = {t: n for t, n in count_stale(session, new).items() if n}
        assert stale == {"visits": 1, "venue_units": 1, "venue_scans": 1}
        # rows of either key are read and found during the rotation
        visit = session.exec(
            select(Visit).where(Visit.id_number_hash == lookup_hash(ID_NUMBER, PiiKind.ID_NUMBER))
        ).one()
        assert visit.name == "欧阳娜娜"

        batches: list[tuple[str, int]] = []
        result = rotate(session, new, batch=1, on_batch=lambda t, n: batches.append((t, n)))

    assert result.finished and result.retired == ["1"] and result.failed == 0
    assert result.reencrypted == 3  # a visit, a unit, the scan with personal data
    assert ("venue_scans", 1) in batches
    assert {v.split(":")[1] for v in stored(engine)} == {"2"}
    with Session(engine) as session:
        visit = session.exec(
            select(Visit).where(Visit.id_number_hash == lookup_hash(ID_NUMBER, PiiKind.ID_NUMBER))
        ).one()
        assert (visit.name, visit.id_number) == ("欧阳娜娜", ID_NUMBER)
        unit = session.exec(select(VenueUnit)).one()
        assert (unit.leader, unit.phone) == ("李四", "13800138000")
        assert rotation.pending_keys(session, new) == []
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "personal_data.rotated")
        ).one()
        assert entry.detail == {"retired": ["1"], "reencrypted": 3}
        again = rotate(session, new)  # nothing pending: one small query
    assert again.finished and again.reencrypted == 0


def test_start_is_refused_while_a_key_cannot_read_the_data(engine: Engine) -> None:
    start(engine, keyring())
    seed(engine)
    with pytest.raises(KeyringError, match="was secret_key changed"):
        start(engine, configure_personal_data("a-changed-secret-" + "x" * 30))

    start(engine, keyring("2", **{"2": KEY2}))
    with pytest.raises(KeyringError, match="key '2' is not the one"):
        start(engine, keyring("2", **{"2": "a-different-secret-" + "y" * 30}))
    with Session(engine) as session:
        rotate(session, keyring("2", **{"2": KEY2}))

    # from key 2 to key 3: key 2 may not leave the configuration before the rotation ends
    three = keyring("3", **{"2": KEY2, "3": KEY3})
    start(engine, three)
    with pytest.raises(KeyringError, match="still encrypted with key '2'"):
        start(engine, keyring("3", **{"3": KEY3}))
    with Session(engine) as session:
        assert rotate(session, three).retired == ["2"]
    start(engine, keyring("3", **{"3": KEY3}))  # retired: its secret may go
    assert {v.split(":")[1] for v in stored(engine)} == {"3"}


def test_a_row_changed_during_the_pass_keeps_the_new_value(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    start(engine, keyring())
    seed(engine)
    new = keyring("2", **{"2": KEY2})
    start(engine, new)
    original = rotation._reencrypt_row

    def console_edits_first(row: Any, table: Any, *args: Any) -> Any:
        params = original(row, table, *args)
        if table.name == "visits":  # the console renames the visitor after the read
            with Session(engine) as other:
                visit = other.exec(select(Visit)).one()
                visit.name = "欧阳娜"
                other.add(visit)
                other.commit()
        return params

    monkeypatch.setattr(rotation, "_reencrypt_row", console_edits_first)
    with Session(engine) as session:
        result = rotate(session, new)
        # the edited row was skipped by the first pass and taken by the second
        assert result.finished and result.reencrypted == 3
        visit = session.exec(select(Visit)).one()
        assert (visit.name, visit.id_number) == ("欧阳娜", ID_NUMBER)  # the edit is kept
    assert {v.split(":")[1] for v in stored(engine)} == {"2"}


def test_pii_commands_rotate_from_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in list(os.environ):
        if key.startswith("PRTC_COLLECTOR_"):
            monkeypatch.delenv(key)
    db = tmp_path / "c.db"
    config = tmp_path / "collector.toml"
    base = f'secret_key = "{SECRET}"\n[database]\nurl = "sqlite:///{db}"\n'
    config.write_text(base)
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    start(engine, keyring())
    seed(engine)

    config.write_text(base + f'[personal_data]\nkey_id = "2"\nkeys = {{"2" = "{KEY2}"}}\n')
    assert main(["pii", "status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "current key: 2" in out and "key 1:" in out and "to be re-encrypted" in out
    assert "visits: 1" in out and "venue_scans: 1" in out

    assert main(["pii", "rotate", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "3 rows re-encrypted; retired keys: 1" in out and "visits: 1 rows" in out
    assert main(["pii", "status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "every stored value is under the current key" in out and "retired" in out

    config.write_text(base.replace(SECRET, "a-changed-secret-" + "x" * 30))
    assert main(["pii", "status", "-c", str(config)]) == 2
    assert "was secret_key changed" in capsys.readouterr().err
    engine.dispose()
