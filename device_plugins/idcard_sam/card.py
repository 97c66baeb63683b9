"""The 256-byte text block of a card read (30 01) into :class:`CardText` and ``Person``.

The block is UCS-2 little-endian in fixed fields padded with spaces. Byte 248 (one UCS-2
character) is the card-type flag. Field sizes in bytes:

* blank: resident ID card (居民身份证): name 30, sex 2, nation 4, birth 16, address 70,
  ID number 36, authority 30, valid from 16, valid to 16 (``长期`` for long-term), reserved 36;
* ``J``: Hong Kong / Macau / Taiwan residence permit (港澳台居民居住证): the resident layout
  with an empty nation, then pass number 18 (通行证号码), issue count 4 (签发次数),
  reserved 6, type 2, reserved 6;
* ``I``: foreign permanent residence card, 2017 edition (外国人永久居留身份证): English name 120,
  sex 2, card number 30 (15 characters), nationality 6 (GB/T 2659 alpha-3), Chinese name 30,
  valid from 16, valid to 16, birth 16, card version 4, accepting authority code 8
  (当次申请受理机关代码), type 2, reserved 6;
* ``Y``: foreign permanent residence card, 2023 edition (2023 版外国人永久居留身份证), laid out
  on the resident card's grid: Chinese name 30, sex 2, renewal count 4 (换证次数), birth 16,
  English name 70 (characters 1-35), card number 36 (18 characters: ``9`` + province +
  nationality + birth + sequence + GB 11643 check character), reserved 30, valid from 16,
  valid to 16, English name continued 22 (characters 36-46), nationality 6, type 2, link to
  the holder's previous card number 6 (既往版本永居证号码关联项).

Sources and certainty (see docs/devices/idcard_sam.md): the resident, ``J`` and ``I`` layouts are
those of the published machine-readable-data tables and of every reader SDK; the ``Y`` layout is
from the National Immigration Administration's 2023 "machine-readable information rules" as
reader vendors restate them (e.g. the ``t_idforeigner2023`` structure of vendor SDK headers).
Certain in ``Y``: the type flag at byte 248, the Chinese name, sex, birth, card number and
validity at the resident card's offsets, the English name split 35 + 11 characters and the
nationality before the flag. Less certain: that the 4 bytes after sex are the renewal count,
what the 30 bytes after the number hold (reserved; taken as the authority when not blank), and
how the 3-character link relates to the old 15-character number. Because of that, a ``Y`` block
whose number field is not an 18-character ``9…`` number raises :class:`CardFormatError` instead
of producing a visitor with wrong data; so does any unknown flag. The reader plugin reports such
a card to the operator, who registers the visitor by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from contract.payloads.entrance import DocumentType, Person
from device_plugins.idcard_sam.codes import nation_name, sex_name

TEXT_LEN = 256
TYPE_OFFSET = 248
LONG_TERM = "长期"

Layout = tuple[tuple[str, int], ...]

_RESIDENT_HEAD: Layout = (
    ("name", 30),
    ("sex", 2),
    ("nation", 4),
    ("birth", 16),
    ("address", 70),
    ("id_number", 36),
    ("authority", 30),
    ("valid_from", 16),
    ("valid_to", 16),
)
RESIDENT: Layout = (*_RESIDENT_HEAD, ("reserved", 36))
HK_MO_TW: Layout = (
    *_RESIDENT_HEAD,
    ("pass_number", 18),
    ("issue_count", 4),
    ("reserved1", 6),
    ("card_type", 2),
    ("reserved2", 6),
)
FOREIGN: Layout = (
    ("english_name", 120),
    ("sex", 2),
    ("id_number", 30),
    ("nationality", 6),
    ("chinese_name", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("birth", 16),
    ("card_version", 4),
    ("authority_code", 8),
    ("card_type", 2),
    ("reserved", 6),
)
"""The 2017 edition (flag ``I``)."""
FOREIGN_2023: Layout = (
    ("chinese_name", 30),
    ("sex", 2),
    ("renewal_count", 4),  # less certain: see the module docstring
    ("birth", 16),
    ("english_name", 70),  # characters 1-35
    ("id_number", 36),
    ("reserved1", 30),  # reserved; some readers may show an authority here
    ("valid_from", 16),
    ("valid_to", 16),
    ("english_name_more", 22),  # characters 36-46
    ("nationality", 6),
    ("card_type", 2),
    ("previous_number_link", 6),
)
"""The 2023 edition (flag ``Y``)."""
ENGLISH_2023_FIRST = 35
"""Characters of the 2023 card's English name in its first field; the rest follow later."""

FORMATS: dict[str, tuple[DocumentType, Layout, str]] = {
    "": ("resident", RESIDENT, ""),
    "J": ("hk_mo_tw", HK_MO_TW, ""),
    "I": ("foreign_permanent", FOREIGN, "2017"),
    "Y": ("foreign_permanent", FOREIGN_2023, "2023"),
}
"""Card type flag → (document type, layout, edition)."""
TYPE_FLAGS: dict[str, DocumentType] = {flag: f[0] for flag, f in FORMATS.items() if flag}
LAYOUTS: dict[DocumentType, Layout] = {
    "resident": RESIDENT,
    "hk_mo_tw": HK_MO_TW,
    "foreign_permanent": FOREIGN,
}
"""The layout per document type as first supported (the 2017 foreign card); see FORMATS."""

_NUMBER_2023 = re.compile(r"^9\d{16}[\dX]$")


class CardFormatError(ValueError):
    """The text block cannot be a card this module knows.

    ``flag`` is the card type flag read (None when the block is not even that far valid);
    :attr:`operator_text` says it in Chinese for the entrance screen.
    """

    def __init__(self, message: str, *, flag: str | None = None) -> None:
        super().__init__(message)
        self.flag = flag

    @property
    def operator_text(self) -> str:
        if self.flag is not None and self.flag not in FORMATS:
            return f"无法识别的证件类型（类型标识 {self.flag!r}），请手工登记"
        if self.flag == "Y":
            return "新版外国人永久居留身份证数据无法解析，请手工登记"
        return "证件数据无法解析，请手工登记"


@dataclass(frozen=True)
class CardText:
    document_type: DocumentType
    id_number: str
    name: str
    """Resident and J: the name; foreign: the English name with the Chinese one in brackets."""
    sex_code: str
    birth_date: date | None
    valid_from: date | None
    valid_to: date | None
    """None: long-term (长期)."""
    nation_code: str = ""
    address: str = ""
    authority: str = ""
    english_name: str = ""
    chinese_name: str = ""
    nationality: str = ""
    card_version: str = ""
    authority_code: str = ""
    pass_number: str = ""
    issue_count: str = ""
    """J: issue count (签发次数); Y: renewal count (换证次数)."""
    edition: str = ""
    """Foreign cards: "2017" (flag I) or "2023" (flag Y)."""
    previous_number_link: str = ""
    """Y: the link to the holder's previous (15-character) card number, as stored."""

    def to_person(self) -> Person:
        foreign = self.document_type == "foreign_permanent"
        # Foreign: the 2017 card stores the code of the accepting authority; the 2023 card a
        # reserved field (kept when it is not blank).
        authority = (self.authority_code or self.authority) if foreign else self.authority
        return Person(
            document_type=self.document_type,
            name=self.name[:120],
            id_number=self.id_number,
            sex=sex_name(self.sex_code),
            # ``nation`` keeps the nationality code on foreign cards for older receivers.
            nation=self.nationality if foreign else nation_name(self.nation_code),
            birth_date=self.birth_date,
            address=self.address,
            authority=authority[:120],
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            english_name=self.english_name[:120],
            nationality=self.nationality[:8],
            pass_number=self.pass_number[:20],
            issue_count=self.issue_count[:4],
        )


def card_type_flag(block: bytes) -> str:
    return _text(block[TYPE_OFFSET : TYPE_OFFSET + 2])


def document_type_of(block: bytes) -> DocumentType:
    flag = card_type_flag(block)
    if flag in FORMATS:
        return FORMATS[flag][0]
    raise CardFormatError(f"unsupported card type flag {flag!r}", flag=flag)


def unpack(block: bytes, layout: Layout, *, strip: bool = True) -> dict[str, str]:
    fields: dict[str, str] = {}
    offset = 0
    for name, size in layout:
        raw = block[offset : offset + size]
        fields[name] = _text(raw) if strip else _decode(raw)
        offset += size
    return fields


def pack(layout: Layout, values: dict[str, str]) -> bytes:
    """The inverse of :func:`unpack`: each field UCS-2LE, padded with spaces (simulators,
    tests). Raises ValueError for a value too long for its field or an unknown field."""
    unknown = set(values) - {name for name, _ in layout}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    out = bytearray()
    for name, size in layout:
        raw = values.get(name, "").encode("utf-16-le")
        if len(raw) > size:
            raise ValueError(f"{name}: {values[name]!r} is longer than {size} bytes")
        out += raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)
    return bytes(out)


def split_english_2023(english_name: str) -> dict[str, str]:
    """The two fields a 2023 card stores its English name in (simulators, tests)."""
    return {
        "english_name": english_name[:ENGLISH_2023_FIRST],
        "english_name_more": english_name[ENGLISH_2023_FIRST:],
    }


def parse_text(block: bytes) -> CardText:
    if len(block) != TEXT_LEN:
        raise CardFormatError(f"text block of {len(block)} bytes, expected {TEXT_LEN}")
    flag = card_type_flag(block)
    if flag not in FORMATS:
        raise CardFormatError(f"unsupported card type flag {flag!r}", flag=flag)
    kind, layout, edition = FORMATS[flag]
    if flag == "Y":
        return _parse_2023(block, flag)
    f = unpack(block, layout)
    if kind == "foreign_permanent":
        english, chinese = f["english_name"], f["chinese_name"]
        return CardText(
            document_type=kind,
            id_number=f["id_number"],
            name=_foreign_name(english, chinese),
            sex_code=f["sex"],
            birth_date=_date(f["birth"]),
            valid_from=_date(f["valid_from"]),
            valid_to=_date(f["valid_to"]),
            english_name=english,
            chinese_name=chinese,
            nationality=f["nationality"],
            card_version=f["card_version"],
            authority_code=f["authority_code"],
            edition=edition,
        )
    return CardText(
        document_type=kind,
        id_number=f["id_number"],
        name=f["name"],
        sex_code=f["sex"],
        birth_date=_date(f["birth"]),
        valid_from=_date(f["valid_from"]),
        valid_to=_date(f["valid_to"]),
        nation_code=f["nation"],
        address=f["address"],
        authority=f["authority"],
        pass_number=f.get("pass_number", ""),
        issue_count=f.get("issue_count", ""),
    )


def _parse_2023(block: bytes, flag: str) -> CardText:
    f = unpack(block, FOREIGN_2023)
    number = f["id_number"].upper()
    if not _NUMBER_2023.match(number):
        # The layout is not the one this parser knows (or the card is damaged): refuse rather
        # than hand the door a visitor built from the wrong bytes.
        raise CardFormatError(
            f"card type {flag!r} (2023 foreign permanent residence card): the number field "
            "does not hold an 18-character number starting with 9",
            flag=flag,
        )
    raw = unpack(block, FOREIGN_2023, strip=False)
    # Characters 1-35 and 36-46 of one name: join before stripping, so that a space at the
    # split is kept.
    english = _strip(raw["english_name"] + raw["english_name_more"])
    chinese = f["chinese_name"]
    return CardText(
        document_type="foreign_permanent",
        id_number=number,
        name=_foreign_name(english, chinese),
        sex_code=f["sex"],
        birth_date=_date(f["birth"]),
        valid_from=_date(f["valid_from"]),
        valid_to=_date(f["valid_to"]),
        authority=f["reserved1"],
        english_name=english,
        chinese_name=chinese,
        nationality=f["nationality"],
        issue_count=f["renewal_count"],
        edition="2023",
        previous_number_link=f["previous_number_link"],
    )


def _foreign_name(english: str, chinese: str) -> str:
    return f"{english} ({chinese})" if english and chinese else english or chinese


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise CardFormatError(f"field is not UCS-2: {raw.hex()}") from exc


def _strip(value: str) -> str:
    return value.strip(" \x00")


def _text(raw: bytes) -> str:
    return _strip(_decode(raw))


def _date(value: str) -> date | None:
    """YYYYMMDD; None for 长期 and for anything that is not a date (the rules flag it)."""
    if len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None
