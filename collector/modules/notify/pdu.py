"""SMS-SUBMIT PDUs (3GPP TS 23.040) for GSM modems in PDU mode (``AT+CMGF=0``).

Text goes as UCS-2 (DCS 0x08): every character a modem may meet, Chinese included, in one
encoding. One message holds 70 UTF-16 units; a longer text is split into parts of 67 units,
each starting with a concatenation header (UDH ``05 00 03 ref total seq``) so the phone
joins them again. Surrogate pairs are never split.

:func:`decode_submit` reads such a PDU back; the modem simulator and the tests use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SINGLE_OCTETS = 140
PART_OCTETS = 134  # 140 minus the 6-octet concatenation header
DCS_UCS2 = 0x08
VALIDITY_4_DAYS = 0xAA  # relative validity period: (0xAA - 166) days


@dataclass(frozen=True, slots=True)
class SubmitPdu:
    hex: str
    """The whole PDU (service-centre address first) as hex digits, as AT+CMGS wants it."""
    tpdu_length: int
    """Octets after the service-centre address: the number given to ``AT+CMGS=``."""


@dataclass(frozen=True, slots=True)
class DecodedSubmit:
    smsc: str
    number: str
    text: str
    dcs: int
    concat: tuple[int, int, int] | None  # (reference, total, sequence)


def _semi_octets(digits: str) -> str:
    padded = digits + ("F" if len(digits) % 2 else "")
    return "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))


def _unswap(octets: str, count: int) -> str:
    out = "".join(octets[i + 1] + octets[i] for i in range(0, len(octets), 2))
    return out[:count]


def _split_number(number: str) -> tuple[str, int]:
    text = number.strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        raise ValueError(f"not a phone number: {number!r}")
    international = text.startswith("+") or text.startswith("00")
    if text.startswith("00"):
        digits = digits[2:]
    return digits, (0x91 if international else 0x81)


def encode_address(number: str) -> str:
    """Destination address: digit count, type of number, swapped semi-octets."""
    digits, toa = _split_number(number)
    return f"{len(digits):02X}{toa:02X}{_semi_octets(digits)}"


def encode_smsc(number: str) -> str:
    """Service-centre address (octet count first); ``"00"`` means the SIM's own."""
    if not number:
        return "00"
    digits, toa = _split_number(number)
    body = f"{toa:02X}{_semi_octets(digits)}"
    return f"{len(body) // 2:02X}{body}"


def _units(text: str) -> list[bytes]:
    """The text as UTF-16 code units grouped per character (a surrogate pair stays one)."""
    return [ch.encode("utf-16-be") for ch in text]


def split_ucs2(text: str) -> list[bytes]:
    """The UCS-2 payload of each part (one part if it fits in a single message)."""
    encoded = text.encode("utf-16-be")
    if len(encoded) <= SINGLE_OCTETS:
        return [encoded]
    parts: list[bytes] = []
    current = b""
    for unit in _units(text):
        if len(current) + len(unit) > PART_OCTETS:
            parts.append(current)
            current = b""
        current += unit
    if current:
        parts.append(current)
    return parts


def encode_submit(number: str, text: str, *, smsc: str = "", reference: int = 0) -> list[SubmitPdu]:
    """The PDUs that carry ``text`` to ``number`` (one, or one per part of a long text)."""
    payloads = split_ucs2(text)
    if len(payloads) > 255:
        raise ValueError("text too long for one concatenated SMS")
    sca = encode_smsc(smsc)
    da = encode_address(number)
    multi = len(payloads) > 1
    out = []
    for seq, payload in enumerate(payloads, start=1):
        first = 0x01 | 0x10 | (0x40 if multi else 0)  # SUBMIT, relative VP, UDHI
        udh = bytes([5, 0, 3, reference & 0xFF, len(payloads), seq]) if multi else b""
        ud = udh + payload
        tpdu = (
            f"{first:02X}00{da}00{DCS_UCS2:02X}{VALIDITY_4_DAYS:02X}{len(ud):02X}{ud.hex().upper()}"
        )
        out.append(SubmitPdu(hex=sca + tpdu, tpdu_length=len(tpdu) // 2))
    return out


def decode_submit(pdu_hex: str) -> DecodedSubmit:
    """Read an SMS-SUBMIT PDU (with its service-centre address) back."""
    raw = bytes.fromhex(pdu_hex)
    sca_len = raw[0]
    smsc = ""
    if sca_len:
        toa = raw[1]
        digits = _unswap(raw[2 : 1 + sca_len].hex().upper(), 2 * (sca_len - 1)).rstrip("F")
        smsc = ("+" if toa == 0x91 else "") + digits
    i = 1 + sca_len
    first = raw[i]
    if first & 0x03 != 0x01:
        raise ValueError("not an SMS-SUBMIT PDU")
    i += 2  # first octet, message reference
    da_digits, da_toa = raw[i], raw[i + 1]
    da_octets = (da_digits + 1) // 2
    number = _unswap(raw[i + 2 : i + 2 + da_octets].hex().upper(), da_digits)
    number = ("+" if da_toa == 0x91 else "") + number
    i += 2 + da_octets
    i += 1  # PID
    dcs = raw[i]
    i += 1
    vpf = (first >> 3) & 0x03
    i += {0: 0, 2: 1}.get(vpf, 7)
    udl = raw[i]
    ud = raw[i + 1 :]
    if (dcs & 0x0C) == 0:
        raise ValueError("GSM 7-bit messages are not produced by this codec")
    if len(ud) != udl:
        raise ValueError(f"user data length {udl} but {len(ud)} octets follow")
    concat = None
    if first & 0x40:
        udhl = ud[0]
        header = ud[1 : 1 + udhl]
        j = 0
        while j < len(header):
            iei, iel = header[j], header[j + 1]
            if iei == 0x00 and iel == 3:
                concat = (header[j + 2], header[j + 3], header[j + 4])
            j += 2 + iel
        ud = ud[1 + udhl :]
    text = ud.decode("utf-16-be") if (dcs & 0x0C) == 0x08 else ud.decode("latin-1")
    return DecodedSubmit(smsc=smsc, number=number, text=text, dcs=dcs, concat=concat)
