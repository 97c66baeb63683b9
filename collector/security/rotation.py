"""Rotation of the personal-data encryption key.

- **The keyring check** (:func:`check_keyring`, at start-up): every key id that has encrypted
  data is recorded in ``personal_data_keys`` with a check value. The collector refuses to
  start when a recorded key is missing from the configuration before it was retired, or when
  a configured secret does not decrypt its key's check value (the usual cause: ``secret_key``
  was changed, which would otherwise leave every stored ID number unreadable).
- **Re-encryption** (:func:`rotate`, a scheduled job and ``prtc-collector pii rotate``):
  every column of type :class:`~collector.security.personal_data.EncryptedText` in every
  table is read in primary-key order, values under another key are re-encrypted under the
  current one, and each row is written back only if its values are still the ones read (a
  row the console changed meanwhile is left for the next pass). When no value under an old
  key remains, the old keys are marked retired and an audit line is written; their secrets
  may then leave the configuration.

Lookup hashes are keyed by ``secret_key``, not by the encryption key, so searches keep
finding rows of either key while the job runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult, Engine, MetaData
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from collector.auth.audit import audit
from collector.db_types import utcnow
from collector.security.models import PersonalDataKey
from collector.security.personal_data import (
    VERSION,
    EncryptedText,
    PersonalDataCipher,
    PersonalDataDecryptError,
    configure_personal_data,
)

log = logging.getLogger(__name__)

CHECK_TEXT = "prtc-site personal-data key check"
CHECK_CONTEXT = "personal_data_keys.check_value"
MAX_PASSES = 3


class KeyringError(ValueError):
    """The configured keys cannot read the stored personal data (start-up refused)."""


@dataclass(frozen=True)
class EncryptedTable:
    """A table with encrypted columns: its primary key and (column, context) pairs."""

    name: str
    key: str
    columns: tuple[tuple[str, str], ...]

    def clause(self) -> sa.TableClause:
        """The table with untyped columns: values read and written as stored."""
        return sa.table(self.name, sa.column(self.key), *(sa.column(c) for c, _ in self.columns))


@dataclass
class RotationResult:
    reencrypted: int = 0
    """Rows written back with their values under the current key."""
    failed: int = 0
    """Values no configured key could decrypt (left as they are; logged by table and key)."""
    remaining: int = 0
    """Values still under an old key after the pass (failed ones, rows changed meanwhile)."""
    retired: list[str] = field(default_factory=list)
    finished: bool = False


def encrypted_tables(metadata: MetaData | None = None) -> list[EncryptedTable]:
    """Every table with an encrypted column (default: the collector's whole schema)."""
    if metadata is None:
        from collector.models import metadata as schema

        metadata = schema
    found = []
    for table in metadata.sorted_tables:
        columns = tuple(
            (c.name, c.type.context) for c in table.columns if isinstance(c.type, EncryptedText)
        )
        if not columns:
            continue
        keys = list(table.primary_key.columns)
        if len(keys) != 1:
            raise TypeError(f"{table.name}: encrypted columns need a one-column primary key")
        found.append(EncryptedTable(table.name, keys[0].name, columns))
    return found


# --- the keyring check ---------------------------------------------------------------------


def open_keyring(
    engine: Engine, secret_key: str, *, key_id: str, keys: Mapping[str, str]
) -> PersonalDataCipher:
    """Configure the process-wide cipher from the settings and check it against the stored
    data (:func:`check_keyring`): what the collector and ``prtc-collector pii`` do first."""
    cipher = configure_personal_data(secret_key, key_id=key_id, keys=keys)
    with Session(engine) as session:
        check_keyring(session, cipher)
    return cipher


def check_keyring(
    session: Session, cipher: PersonalDataCipher, now: datetime | None = None
) -> None:
    """Refuse keys that cannot read the stored data; record keys seen for the first time."""
    recorded = {row.key_id: row for row in session.exec(select(PersonalDataKey))}
    problems = [p for row in recorded.values() if (p := _problem(row, cipher))]
    if problems:
        raise KeyringError("; ".join(problems))
    now = now or utcnow()
    for key_id in sorted(cipher.key_ids - recorded.keys()):
        # the first time a key is configured: from now on it must stay until retired
        check = cipher.encrypt_with(key_id, CHECK_TEXT, CHECK_CONTEXT)
        session.add(PersonalDataKey(key_id=key_id, check_value=check, first_used_at=now))
    current = recorded.get(cipher.current_key_id)
    if current is not None and current.retired_at is not None:
        current.retired_at = None  # an old key made current again
        session.add(current)
    try:
        session.commit()
    except IntegrityError:  # another collector starting at the same time recorded it first
        session.rollback()
        check_keyring(session, cipher, now)


def _problem(row: PersonalDataKey, cipher: PersonalDataCipher) -> str:
    if row.key_id not in cipher.key_ids:
        if row.retired_at is not None:
            return ""
        return (
            f"personal data is still encrypted with key {row.key_id!r}, which is not "
            "configured: put its secret back in personal_data.keys until `prtc-collector pii "
            "rotate` has re-encrypted everything"
        )
    try:
        if cipher.decrypt(row.check_value, CHECK_CONTEXT) == CHECK_TEXT:
            return ""
    except PersonalDataDecryptError:
        pass
    hint = " (key 1 is secret_key: was secret_key changed?)" if row.key_id == "1" else ""
    return (
        f"the configured secret of personal-data key {row.key_id!r} is not the one its data "
        f"was encrypted with{hint}"
    )


def pending_keys(session: Session, cipher: PersonalDataCipher) -> list[str]:
    """Old keys not yet retired: a rotation is under way."""
    rows = session.exec(
        select(PersonalDataKey.key_id).where(
            PersonalDataKey.retired_at.is_(None),  # type: ignore[union-attr]
            PersonalDataKey.key_id != cipher.current_key_id,
        )
    )
    return sorted(rows)


# --- re-encryption --------------------------------------------------------------------------


def _stale(t: sa.TableClause, table: EncryptedTable, prefix: str) -> sa.ColumnElement[bool]:
    return sa.or_(
        *(
            sa.and_(t.c[c].is_not(None), sa.func.substr(t.c[c], 1, len(prefix)) != prefix)
            for c, _ in table.columns
        )
    )


def count_stale(
    session: Session, cipher: PersonalDataCipher, tables: Iterable[EncryptedTable] | None = None
) -> dict[str, int]:
    """Rows per table holding a value under another key than the current one."""
    prefix = f"{VERSION}:{cipher.current_key_id}:"
    counts = {}
    for table in encrypted_tables() if tables is None else tables:
        t = table.clause()
        query = sa.select(sa.func.count()).select_from(t).where(_stale(t, table, prefix))
        counts[table.name] = int(session.execute(query).scalar_one())
    return counts


def rotate(
    session: Session,
    cipher: PersonalDataCipher,
    *,
    batch: int = 2000,
    stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[str, int], None] = lambda table, n: None,
    tables: Iterable[EncryptedTable] | None = None,
) -> RotationResult:
    """Re-encrypt every value under an old key, one commit per ``batch`` rows; retire the
    old keys when none is left. Stops early (unfinished) when ``stop()`` turns true."""
    result = RotationResult()
    old = pending_keys(session, cipher)
    if not old:
        result.finished = True
        return result
    tables = encrypted_tables() if tables is None else list(tables)
    stale: dict[str, int] = {}
    for _ in range(MAX_PASSES):  # a row changed during a pass is taken again by the next
        written = result.reencrypted
        for table in tables:
            _rotate_table(session, cipher, table, batch, stop, on_batch, result)
            if stop():
                return result
        stale = {t: n for t, n in count_stale(session, cipher, tables).items() if n}
        if not stale or result.reencrypted == written:
            break
    result.remaining = sum(stale.values())
    if result.remaining:
        log.warning("personal data: rows with values under an old key remain: %s", stale)
        return result
    _retire(session, old, cipher.current_key_id, result)
    return result


def _rotate_table(
    session: Session,
    cipher: PersonalDataCipher,
    table: EncryptedTable,
    batch: int,
    stop: Callable[[], bool],
    on_batch: Callable[[str, int], None],
    result: RotationResult,
) -> None:
    t = table.clause()
    pk = t.c[table.key]
    names = [c for c, _ in table.columns]
    prefix = f"{VERSION}:{cipher.current_key_id}:"
    # a row is written back only if it still holds the values read
    unchanged = [t.c[c].is_not_distinct_from(sa.bindparam(f"_old_{c}")) for c in names]
    write = (
        sa.update(t)
        .where(pk == sa.bindparam("_key"), *unchanged)
        .values({c: sa.bindparam(f"_new_{c}") for c in names})
    )
    after: Any = None
    while not stop():
        query = sa.select(t).where(_stale(t, table, prefix)).order_by(pk).limit(batch)
        if after is not None:
            query = query.where(pk > after)
        rows = session.execute(query).all()
        if not rows:
            return
        params = [p for row in rows if (p := _reencrypt_row(row, table, cipher, prefix, result))]
        written = 0
        if params:
            written = cast("CursorResult[Any]", session.execute(write, params)).rowcount
        session.commit()
        result.reencrypted += written
        after = rows[-1][0]
        on_batch(table.name, written)


def _reencrypt_row(
    row: sa.Row[Any],
    table: EncryptedTable,
    cipher: PersonalDataCipher,
    prefix: str,
    result: RotationResult,
) -> dict[str, Any] | None:
    values = row._mapping
    params: dict[str, Any] = {"_key": values[table.key]}
    changed = False
    for column, context in table.columns:
        value = values[column]
        params[f"_old_{column}"] = params[f"_new_{column}"] = value
        if value is None or value.startswith(prefix):
            continue
        try:
            params[f"_new_{column}"] = cipher.reencrypt(value, context)
        except PersonalDataDecryptError as exc:
            result.failed += 1
            log.warning("%s %s=%s: %s", table.name, table.key, values[table.key], exc)
            continue
        changed = True
    return params if changed else None


def _retire(session: Session, old: list[str], current: str, result: RotationResult) -> None:
    now = utcnow()
    for key_id in old:
        row = session.get(PersonalDataKey, key_id)
        if row is not None:
            row.retired_at = now
            session.add(row)
    audit(
        session,
        actor=None,
        action="personal_data.rotated",
        target_type="personal_data_key",
        target_id=current,
        detail={"retired": old, "reencrypted": result.reencrypted},
    )
    session.commit()
    result.retired = old
    result.finished = True
    log.info(
        "personal data: every value is under key %r; retired %s (%d rows re-encrypted)",
        current,
        ", ".join(old),
        result.reencrypted,
    )
