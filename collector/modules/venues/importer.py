"""Fast, all-or-nothing import of scan records (扫码进场信息) from xlsx or CSV.

``collector.tabular.read_rows`` validates each row through pydantic and holds at most 20,000
rows; the provincial exports run to millions, so this path streams instead: ``csv`` (or
openpyxl in read-only mode) → one tuple per row, checked with plain Python → batched
``INSERT … ON CONFLICT (centre_id, record_hash) DO NOTHING`` on the DBAPI cursor, all in
the caller's transaction. Any bad row rolls everything back and the errors come back as
:class:`ImportErrors` with the Excel row number and the Chinese column label; the daily
counts of the touched days are recomputed before the commit. Rows collected before the
retention boundary (``keep_from``, see ``retention.py``) are checked but not stored, and
counted in ``ImportResult.expired``.

Personal fields are encrypted as one value per row (one AES-GCM operation, not three);
``id_number_hash``, ``phone_hash`` and ``record_hash`` are keyed BLAKE2b hashes (key derived
from the personal-data lookup key), so identical records collide and nothing in them is
readable or guessable without the secret.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from collector.db_types import table_of
from collector.modules.venues.columns import SCAN_COLUMNS
from collector.modules.venues.models import VenueScan, VenueScanDay
from collector.security.personal_data import VERSION as CIPHER_VERSION
from collector.security.personal_data import PiiKind, lookup_hash, personal_data_cipher
from collector.tabular import ImportErrors, RowError, SheetColumn
from collector.tabular.writer import HINT_PREFIX

CHINA = timedelta(hours=8)  # no daylight saving in mainland China since 1991
PERSON_CONTEXT = "venue_scans.person"
MAX_ERRORS = 200
TIME_HINT = "应为日期时间，如 2022-05-01 09:30:00"
MAX_UNPACKED_BYTES = 2 * 2**30

INSERT_COLUMNS = (
    "centre_id",
    "venue_code",
    "venue_name",
    "category",
    "city",
    "street",
    "venue_admin",
    "person",
    "id_number_hash",
    "phone_hash",
    "collect_result",
    "nucleic_result",
    "nucleic_time",
    "health_code",
    "location",
    "collected_at",
    "day",
    "imported_by",
    "imported_at",
    "source",
    "record_hash",
)
# Plain text fields of a scan row, in file order, with the column's length limit.
TEXT_FIELDS = (
    ("venue_code", 100),
    ("venue_name", 200),
    ("category", 100),
    ("city", 50),
    ("street", 100),
    ("venue_admin", 100),
    ("id_number", 50),
    ("person_name", 100),
    ("phone", 50),
    ("collect_result", 50),
    ("nucleic_result", 50),
    ("nucleic_time", 50),
    ("health_code", 50),
    ("location", 300),
)


@dataclass
class ImportResult:
    rows: int = 0
    inserted: int = 0
    expired: int = 0  # collected before the retention boundary: not stored
    days: set[date] = field(default_factory=set)
    latest: datetime | None = None
    alerts: int = 0  # new alerts of the evaluation run right after the import

    @property
    def duplicates(self) -> int:
        return self.rows - self.inserted - self.expired


_NON_DIGIT = re.compile(r"\D")


class ScanHasher:
    """Keyed hashes for one import (or query): identity of a record, an ID number, a phone."""

    def __init__(self) -> None:
        key = bytes.fromhex(lookup_hash("venues.scans/blake2b/v1", PiiKind.TEXT))
        self._keyed = hashlib.blake2b(key=key, digest_size=16)  # keyed once, copied per hash

    def _h(self, text: str) -> str:
        h = self._keyed.copy()
        h.update(text.encode())
        return h.hexdigest()

    def id_number(self, value: str) -> str:
        return self._h("i\x00" + value.replace(" ", "").upper())

    def phone(self, value: str) -> str:
        # ASCII digits only (the usual export): nothing for the regex to remove.
        digits = value if value.isascii() and value.isdigit() else _NON_DIGIT.sub("", value)
        if len(digits) == 13 and digits.startswith("861"):
            digits = digits[2:]
        return self._h("p\x00" + digits)

    def record(self, fields: Sequence[str]) -> str:
        return self._h("r\x00" + "\x1f".join(fields))


# --- reading ------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), ","
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "\t"
    try:
        return data.decode("utf-8"), ","
    except UnicodeDecodeError:
        return data.decode("gb18030"), ","


def iter_rows(data: bytes) -> Iterator[Sequence[Any]]:
    """Raw rows of an xlsx (first sheet) or CSV upload."""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_UNPACKED_BYTES:
                raise ImportErrors([RowError(0, "", "文件解压后过大")])
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            ws.reset_dimensions()  # type: ignore[union-attr]
            yield from ws.iter_rows(values_only=True)
        finally:
            wb.close()
        return
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportErrors([RowError(0, "", "不支持旧版 .xls 文件，请另存为 .xlsx 后上传")])
    text, delimiter = _decode(data)
    yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def map_header(header: Sequence[Any], columns: Sequence[SheetColumn]) -> dict[str, int]:
    """Column positions by key. The header must hold every column of the template (by its
    Chinese or English label or key, in any order, a leading ``*`` ignored) and nothing
    else but empty cells: users arrange the provincial export after the downloaded
    template, so a missing or unknown column means the file was not, and its data would
    land in the wrong fields or be lost without a word."""
    names: dict[str, SheetColumn] = {}
    for column in columns:
        for name in {column.label, column.label_en, column.key} - {""}:
            names[name.strip().casefold()] = column
    positions: dict[str, int] = {}
    errors: list[RowError] = []
    unknown: list[str] = []
    for index, value in enumerate(header):
        text = str(value or "").strip().lstrip("*＊").strip()
        found = names.get(text.casefold())
        if found is None:
            if text:
                unknown.append(text)
            continue
        if found.key in positions:
            errors.append(RowError(1, found.label, "表头中出现了两次"))
        positions[found.key] = index
    if not positions:
        raise ImportErrors([RowError(1, "", "未找到表头，请使用下载的导入模板")])
    missing = [c.label for c in columns if c.key not in positions]
    if missing:
        message = f"缺少模板中的列：{'、'.join(missing)}（请按下载的导入模板整理）"
        errors.append(RowError(1, "", message))
    if unknown:
        message = f"模板中没有的列：{'、'.join(unknown)}（请删除这些列，或按下载的导入模板整理）"
        errors.append(RowError(1, "", message))
    if errors:
        raise ImportErrors(errors)
    return positions


_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y年%m月%d日 %H:%M:%S")


def parse_local_time(value: Any) -> datetime | None:
    """A China-time cell (text or an Excel datetime) as a naive local datetime, or None."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) + CHINA if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC).replace(tzinfo=None) + CHINA
    return parsed


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value).strip()


# --- writing ------------------------------------------------------------------------------

DayCounts = Counter[tuple[str, date]]


class ScanWriter:
    """Idempotent bulk insert of scan tuples on the session's own connection, keeping the
    daily counts exact.

    - **SQLite**: batched ``INSERT … ON CONFLICT (centre_id, record_hash) DO NOTHING`` with
      ``executemany`` on the DBAPI cursor. The daily counts of a batch whose rows were all
      new are added (``count = count + n``); the days of a batch that met a duplicate are
      recomputed from the records at the end. The page cache is enlarged for the import
      (connection-level ``cache_size``; durability pragmas are left as configured).
    - **PostgreSQL**: ``COPY`` into a temporary table, then one statement
      ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING venue_code, day`` whose returned
      (really inserted) rows are grouped into ``venue_scan_days`` by an upsert in the same
      statement, so duplicates (in the table or within the file) are never counted.
    """

    SQLITE_CACHE_KIB = 256 * 1024

    def __init__(self, session: Session, centre_id: str) -> None:
        self.session = session
        self.centre_id = centre_id
        self.sqlite = session.get_bind().dialect.name == "sqlite"
        self.inserted = 0
        self._cursor: Any = None
        self._counts: DayCounts = Counter()
        self._dirty: set[date] = set()
        self._staging = ""
        self._copy_sql = ""
        self._cache_before: int | None = None
        columns = ", ".join(INSERT_COLUMNS)
        self.sql = (
            f"INSERT INTO venue_scans ({columns}) VALUES "
            f"({', '.join(['?'] * len(INSERT_COLUMNS))}) "
            "ON CONFLICT (centre_id, record_hash) DO NOTHING"
        )

    def time_value(self, utc_naive: datetime) -> str:
        """The stored text of a UTC time: as SQLAlchemy's SQLite DateTime stores it (so
        comparisons agree), or a PostgreSQL ``timestamptz`` literal for ``COPY``."""
        text = utc_naive.isoformat(" ")
        if not utc_naive.microsecond:
            text += ".000000"
        return text if self.sqlite else text + "+00"

    def _open(self) -> None:
        self._cursor = self.session.connection().connection.cursor()
        if self.sqlite:
            self._cursor.execute("PRAGMA cache_size")
            self._cache_before = self._cursor.fetchone()[0]
            self._cursor.execute(f"PRAGMA cache_size=-{self.SQLITE_CACHE_KIB}")
            return
        self._staging = f"venue_scans_in_{uuid.uuid4().hex[:12]}"
        columns = ", ".join(INSERT_COLUMNS)
        self._cursor.execute(
            f"CREATE TEMPORARY TABLE {self._staging} ON COMMIT DROP AS "
            f"SELECT {columns} FROM venue_scans WITH NO DATA"
        )
        self._copy_sql = f"COPY {self._staging} ({columns}) FROM STDIN"

    def write(self, rows: list[tuple[Any, ...]], counts: DayCounts) -> None:
        """Insert (SQLite) or stage (PostgreSQL) one batch; ``counts`` are its rows per
        (公共场所ID, day)."""
        if not rows:
            return
        if self._cursor is None:
            self._open()
        if not self.sqlite:
            with self._cursor.copy(self._copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        self._cursor.executemany(self.sql, rows)
        added = max(self._cursor.rowcount, 0)
        self.inserted += added
        if added == len(rows):
            self._counts.update(counts)
        else:  # some were already stored: count these days from the records
            self._dirty.update(day for _code, day in counts)

    def finish(self) -> None:
        """Store the staged rows (PostgreSQL) and bring the daily counts up to date."""
        if self._cursor is None:
            return
        if not self.sqlite:
            self._finish_postgres()
            return
        table = table_of(VenueScanDay)
        clean = [
            {"centre_id": self.centre_id, "venue_code": code, "day": day, "count": n}
            for (code, day), n in self._counts.items()
            if day not in self._dirty
        ]
        if clean:
            upsert = sqlite_insert(table)
            self.session.execute(
                upsert.on_conflict_do_update(
                    index_elements=[table.c.centre_id, table.c.venue_code, table.c.day],
                    set_={"count": table.c["count"] + upsert.excluded["count"]},
                ),
                clean,
            )
        if self._dirty:
            recompute_days(self.session, self.centre_id, self._dirty)

    def close(self) -> None:
        """Give the connection its page cache size back (SQLite)."""
        if self._cache_before is not None:
            self._cursor.execute(f"PRAGMA cache_size={int(self._cache_before)}")
            self._cache_before = None

    def _finish_postgres(self) -> None:
        columns = ", ".join(INSERT_COLUMNS)
        self._cursor.execute(
            f"WITH ins AS (INSERT INTO venue_scans ({columns}) "
            f"SELECT {columns} FROM {self._staging} "
            "ON CONFLICT (centre_id, record_hash) DO NOTHING RETURNING venue_code, day), "
            "agg AS (INSERT INTO venue_scan_days (centre_id, venue_code, day, count) "
            "SELECT %s, venue_code, day, count(*) FROM ins GROUP BY venue_code, day "
            "ON CONFLICT (centre_id, venue_code, day) "
            "DO UPDATE SET count = venue_scan_days.count + EXCLUDED.count) "
            "SELECT count(*) FROM ins",
            (self.centre_id,),
        )
        self.inserted += self._cursor.fetchone()[0]
        self._cursor.execute(f"DROP TABLE {self._staging}")


def _day_runs(days: set[date], longest: int = 31) -> Iterator[tuple[date, date]]:
    """``days`` as runs of consecutive days (each at most ``longest`` days)."""
    ordered = sorted(days)
    i = 0
    while i < len(ordered):
        first = last = ordered[i]
        i += 1
        while (
            i < len(ordered)
            and ordered[i] == last + timedelta(days=1)
            and (ordered[i] - first).days < longest
        ):
            last = ordered[i]
            i += 1
        yield first, last


def recompute_days(session: Session, centre_id: str, days: set[date]) -> None:
    """Rebuild the daily counts of ``days`` in one centre from the scan records (over the
    ``(centre_id, collected_at)`` index: a China day is a fixed UTC interval)."""
    scans = table_of(VenueScan)
    table = table_of(VenueScanDay)
    for first, last in _day_runs(days):
        session.execute(
            delete(table).where(
                table.c.centre_id == centre_id, table.c.day >= first, table.c.day <= last
            )
        )
        since = datetime(first.year, first.month, first.day) - CHINA
        until = datetime(last.year, last.month, last.day) + timedelta(days=1) - CHINA
        session.execute(
            insert(table).from_select(
                ["centre_id", "venue_code", "day", "count"],
                select(scans.c.centre_id, scans.c.venue_code, scans.c.day, func.count())
                .where(
                    scans.c.centre_id == centre_id,
                    scans.c.collected_at >= since.replace(tzinfo=UTC),
                    scans.c.collected_at < until.replace(tzinfo=UTC),
                )
                .group_by(scans.c.centre_id, scans.c.venue_code, scans.c.day),
            )
        )


@dataclass
class ScanRecord:
    """One scan as a sync source or a test hands it over (plain values, China time)."""

    venue_code: str
    collected_at: datetime
    venue_name: str = ""
    category: str = ""
    city: str = ""
    street: str = ""
    venue_admin: str = ""
    id_number: str = ""
    person_name: str = ""
    phone: str = ""
    collect_result: str = ""
    nucleic_result: str = ""
    nucleic_time: str = ""
    health_code: str = ""
    location: str = ""


_PLAIN_JSON = re.compile(r'[\x00-\x1f"\\\x7f\u2028\u2029]')


def _person_json(idn: str, person: str, phone: str) -> str:
    """``json.dumps([idn, person, phone], ensure_ascii=False)``, without the encoder for
    the usual values that need no escaping (same text either way)."""
    joined = idn + person + phone
    if _PLAIN_JSON.search(joined) is None:
        return f'["{idn}", "{person}", "{phone}"]'
    return json.dumps([idn, person, phone], ensure_ascii=False)


class ScanBuilder:
    """Turns the 14 text fields and the local collection time into an insert tuple.

    Everything per import is prepared once: the AES-GCM object and its associated data,
    the keyed BLAKE2b state (copied per hash), the nonces (drawn from ``os.urandom`` per
    batch, 12 fresh random bytes per value as before)."""

    NONCES = 4096

    def __init__(self, writer: ScanWriter, centre_id: str, actor: str, source: str) -> None:
        self.writer = writer
        self.hasher = ScanHasher()
        cipher = personal_data_cipher()
        key_id = cipher.current_key_id
        self._aead = cipher._aead[key_id]
        self._aad = f"{CIPHER_VERSION}:{key_id}:{PERSON_CONTEXT}".encode()
        self._prefix = f"{CIPHER_VERSION}:{key_id}:"
        self._nonces = b""
        self._nonce_at = 0
        self.centre_id = centre_id
        self.actor = actor
        self.source = source
        self.imported_at = writer.time_value(datetime.now(UTC).replace(tzinfo=None))
        self.days: set[date] = set()
        self.counts: DayCounts = Counter()
        self.latest: datetime | None = None
        self._day_text: dict[date, Any] = {}

    def _encrypt(self, plaintext: str) -> str:
        at = self._nonce_at
        if at >= len(self._nonces):
            self._nonces = os.urandom(12 * self.NONCES)
            at = 0
        nonce = self._nonces[at : at + 12]
        self._nonce_at = at + 12
        sealed = self._aead.encrypt(nonce, plaintext.encode(), self._aad)
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return self._prefix + body

    def take_counts(self) -> DayCounts:
        counts, self.counts = self.counts, Counter()
        return counts

    def build(self, texts: list[str], local: datetime) -> tuple[Any, ...]:
        (code, name, category, city, street, admin, idn, person, phone, result, nat, nat_time,
         health, location) = texts  # fmt: skip
        utc = local - CHINA
        day = local.date()
        day_value = self._day_text.get(day)
        if day_value is None:
            self.days.add(day)
            day_value = self._day_text[day] = day.isoformat()
        self.counts[(code, day)] += 1
        latest = self.latest
        if latest is None or utc > latest:
            self.latest = utc
        stamp = self.writer.time_value(utc)
        hasher = self.hasher
        record_hash = hasher.record(
            (*texts, stamp if self.writer.sqlite else str(utc))  # as stored before
        )
        blob = self._encrypt(_person_json(idn, person, phone)) if (idn or person or phone) else None
        return (
            self.centre_id,
            code,
            name,
            category,
            city,
            street,
            admin,
            blob,
            hasher.id_number(idn) if idn else None,
            hasher.phone(phone) if phone else None,
            result,
            nat,
            nat_time,
            health,
            location,
            stamp,
            day_value,
            self.actor,
            self.imported_at,
            self.source,
            record_hash,
        )


def _check_lengths(
    number: int, texts: list[str], limits: list[int], labels: list[str]
) -> list[RowError]:
    return [
        RowError(number, label, f"长度不能超过 {limit} 个字符")
        for value, limit, label in zip(texts, limits, labels, strict=True)
        if len(value) > limit
    ]


def _local(keep_from: datetime | None) -> datetime | None:
    """An aware UTC boundary as naive China time (how rows are compared while reading)."""
    if keep_from is None:
        return None
    return keep_from.astimezone(UTC).replace(tzinfo=None) + CHINA


def import_scans(
    session: Session,
    data: bytes,
    *,
    centre_id: str,
    actor: str,
    batch: int = 5000,
    keep_from: datetime | None = None,
) -> ImportResult:
    """Parse, check and insert every row; nothing is kept (the caller rolls back) when
    :class:`ImportErrors` is raised. Does not commit. Valid rows collected before
    ``keep_from`` (aware; the retention boundary) are counted in ``expired``, not stored."""
    rows = iter_rows(data)
    try:
        header = next(rows)
    except StopIteration:
        raise ImportErrors([RowError(0, "", "文件为空")]) from None
    except ImportErrors:
        raise
    except Exception as exc:
        raise ImportErrors([RowError(0, "", f"无法读取文件：{exc}")]) from exc
    positions = map_header(header, SCAN_COLUMNS)
    writer = ScanWriter(session, centre_id)
    try:
        builder = ScanBuilder(writer, centre_id, actor, "import")
        return _import_rows(rows, positions, writer, builder, batch, _local(keep_from))
    finally:
        writer.close()


def _import_rows(
    rows: Iterator[Sequence[Any]],
    positions: dict[str, int],
    writer: ScanWriter,
    builder: ScanBuilder,
    batch: int,
    keep_local: datetime | None,
) -> ImportResult:
    build = builder.build
    width = max(positions.values()) + 1
    # Rows shorter than the header are padded with empty cells before picking.
    pick = itemgetter(*[positions[key] for key, _ in TEXT_FIELDS])
    padding = [""] * width
    limits = [limit for _, limit in TEXT_FIELDS]
    shortest = min(limits)
    labels = {c.key: c.label for c in SCAN_COLUMNS}
    text_labels = [labels[key] for key, _ in TEXT_FIELDS]
    time_position = positions["collected_at"]
    fromisoformat = datetime.fromisoformat

    errors: list[RowError] = []
    pending: list[tuple[Any, ...]] = []
    result = ImportResult()
    number = 1
    try:
        for raw in rows:
            number += 1
            if type(raw) is list:  # csv: all text
                raw.extend(padding)
                texts = [value.strip() for value in pick(raw)]
                when = raw[time_position].strip()
            else:  # xlsx: any cell type
                raw = [*raw, *padding]
                texts = [_text(value) for value in pick(raw)]
                when = raw[time_position]
                if isinstance(when, str):
                    when = when.strip()
            if when is None or when == "":
                if not any(texts):
                    continue  # blank row
                local = None
            else:
                try:  # the common case: ISO text, no zone
                    local = fromisoformat(when)  # type: ignore[arg-type]
                    if local.tzinfo is not None:
                        local = parse_local_time(local)
                except (TypeError, ValueError):
                    local = parse_local_time(when)
            code = texts[0]
            if number == 2 and code.startswith(HINT_PREFIX):
                continue  # the template's example row
            if not code or local is None or max(map(len, texts)) > shortest:
                row_errors = []
                if not code:
                    row_errors.append(RowError(number, labels["venue_code"], "必填"))
                if local is None:
                    message = "必填" if when in (None, "") else TIME_HINT
                    row_errors.append(RowError(number, labels["collected_at"], message))
                row_errors += _check_lengths(number, texts, limits, text_labels)
                if row_errors:
                    errors.extend(row_errors)
                    if len(errors) >= MAX_ERRORS:
                        break
                    continue
            result.rows += 1
            if errors:
                continue  # keep checking, stop writing
            if keep_local is not None and local < keep_local:  # type: ignore[operator]
                result.expired += 1
                continue
            pending.append(build(texts, local))  # type: ignore[arg-type]
            if len(pending) >= batch:
                writer.write(pending, builder.take_counts())
                pending = []
    except ImportErrors:
        raise
    except Exception as exc:  # a broken file: report it like a row error
        raise ImportErrors([RowError(number, "", f"无法读取文件：{exc}")]) from exc
    if errors:
        raise ImportErrors(errors)
    writer.write(pending, builder.take_counts())
    writer.finish()
    result.inserted = writer.inserted
    result.days = builder.days
    result.latest = builder.latest.replace(tzinfo=UTC) if builder.latest else None
    return result


def insert_records(
    session: Session,
    records: Sequence[ScanRecord],
    *,
    centre_id: str,
    actor: str,
    source: str,
    keep_from: datetime | None = None,
) -> ImportResult:
    """Insert already-read records (the front-database sync, tests); does not commit.
    Records collected before ``keep_from`` are counted in ``expired``, not stored."""
    writer = ScanWriter(session, centre_id)
    builder = ScanBuilder(writer, centre_id, actor, source)
    keep_local = _local(keep_from)
    rows = []
    expired = 0
    for r in records:
        texts = [_text(getattr(r, key))[:limit] for key, limit in TEXT_FIELDS]
        local = parse_local_time(r.collected_at)
        if local is None:
            continue
        if keep_local is not None and local < keep_local:
            expired += 1
            continue
        rows.append(builder.build(texts, local))
    try:
        writer.write(rows, builder.take_counts())
        writer.finish()
    finally:
        writer.close()
    return ImportResult(
        rows=len(rows) + expired, inserted=writer.inserted, expired=expired, days=builder.days
    )
