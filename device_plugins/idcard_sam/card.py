"""The 256-byte text block of a card read (30 01) into :class:`CardText` and ``Person``.

The block is UCS-2 little-endian in fixed fields padded with spaces. Byte 248 (one UCS-2
character) is the card-type flag: blank on the resident ID card (居民身份证), ``I`` on the
foreign permanent residence card (外国人永久居留身份证, 2017 edition) and ``J`` on the Hong
Kong / Macau / Taiwan residence permit (港澳台居民居住证). Field sizes in bytes:

* resident: name 30, sex 2, nation 4, birth 16, address 70, ID number 36, authority 30,
  valid from 16, valid to 16 (``长期`` for long-term), reserved 36;
* ``J``: the resident layout with an empty nation, then pass number 18 (通行证号码),
  issue count 4 (签发次数), reserved 6, type 2, reserved 6;
* ``I``: English name 120, sex 2, card number 30, nationality 6 (GB/T 2659 alpha-3),
  Chinese name 30, valid from 16, valid to 16, birth 16, card version 4, authority code 8,
  type 2, reserved 6.

The 2023 edition of the foreign permanent residence card (flag ``Y``) has another layout and is
refused with :class:`CardFormatError`; the operator registers its holder by hand.
"""

from __future__ import annotations

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
LAYOUTS: dict[DocumentType, Layout] = {
    "resident": RESIDENT,
    "hk_mo_tw": HK_MO_TW,
    "foreign_permanent": FOREIGN,
}
TYPE_FLAGS: dict[str, DocumentType] = {"I": "foreign_permanent", "J": "hk_mo_tw"}


class CardFormatError(ValueError):
    """The text block cannot be a card this module knows."""


@dataclass(frozen=True)
class CardText:
    document_type: DocumentType
    id_number: str
    name: str
    """Resident and J: the name; I: the English name, with the Chinese one in brackets."""
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

    def to_person(self) -> Person:
        foreign = self.document_type == "foreign_permanent"
        return Person(
            document_type=self.document_type,
            name=self.name[:120],
            id_number=self.id_number,
            sex=sex_name(self.sex_code),
            nation=self.nationality if foreign else nation_name(self.nation_code),
            birth_date=self.birth_date,
            address=self.address,
            authority=self.authority_code if foreign else self.authority,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
        )


def card_type_flag(block: bytes) -> str:
    return _text(block[TYPE_OFFSET : TYPE_OFFSET + 2])


def document_type_of(block: bytes) -> DocumentType:
    flag = card_type_flag(block)
    if flag in TYPE_FLAGS:
        return TYPE_FLAGS[flag]
    if flag == "":
        return "resident"
    raise CardFormatError(f"unsupported card type flag {flag!r}")


def unpack(block: bytes, layout: Layout) -> dict[str, str]:
    fields: dict[str, str] = {}
    offset = 0
    for name, size in layout:
        fields[name] = _text(block[offset : offset + size])
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


def parse_text(block: bytes) -> CardText:
    if len(block) != TEXT_LEN:
        raise CardFormatError(f"text block of {len(block)} bytes, expected {TEXT_LEN}")
    kind = document_type_of(block)
    f = unpack(block, LAYOUTS[kind])
    if kind == "foreign_permanent":
        english, chinese = f["english_name"], f["chinese_name"]
        return CardText(
            document_type=kind,
            id_number=f["id_number"],
            name=f"{english} ({chinese})" if english and chinese else english or chinese,
            sex_code=f["sex"],
            birth_date=_date(f["birth"]),
            valid_from=_date(f["valid_from"]),
            valid_to=_date(f["valid_to"]),
            english_name=english,
            chinese_name=chinese,
            nationality=f["nationality"],
            card_version=f["card_version"],
            authority_code=f["authority_code"],
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


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-16-le").strip(" \x00")
    except UnicodeDecodeError as exc:
        raise CardFormatError(f"field is not UCS-2: {raw.hex()}") from exc


def _date(value: str) -> date | None:
    """YYYYMMDD; None for 长期 and for anything that is not a date (the rules flag it)."""
    if len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None
