"""A second-generation ID-card reader at the byte level, on a pseudo-terminal.

It answers the SAM frame protocol (``protocol.py``) like a reader module does, so the real
plugin code runs against it. Tests and demos present cards (:meth:`SamSimulator.present`) of
every kind the plugin knows (:func:`resident_card`, :func:`hk_mo_tw_card`, :func:`foreign_card`
for the 2017 foreign card, :func:`foreign_2023_card`) and ones it must refuse
(:func:`unknown_type_card`, ``foreign_2023_card(number_field=…)`` for a 2023 card whose data does
not fit the expected layout), take them away, and inject the faults seen in the field: a card
the SAM cannot read (0x41), a
slow or silent reader, line noise between frames, answers with a wrong checksum, a card pulled
off in the middle of a read (the answer stops short), and a reader unplugged and plugged in
again behind the same (symlink) path.

``python -m device_plugins.idcard_sam.simulator --link /tmp/sam0`` runs one by hand; see
``--help``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device_plugins.idcard_sam import protocol as p
from device_plugins.idcard_sam.card import (
    FOREIGN,
    FOREIGN_2023,
    HK_MO_TW,
    RESIDENT,
    pack,
    split_english_2023,
)
from device_plugins.ptysim import PtyDevice

PHOTO_LEN = 1024
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(region: str = "110101", birth: str = "19900307", seq: str = "123") -> str:
    """An 18-character ID number with a correct GB 11643 check character."""
    body = f"{region}{birth}{seq}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def _photo(seed: str) -> bytes:
    # Real photos are WLT files (vendor-compressed, starting "WLf"); only the size matters here.
    digest = hashlib.sha256(seed.encode()).digest()
    return (b"WLf" + digest * (PHOTO_LEN // len(digest) + 1))[:PHOTO_LEN]


@dataclass(frozen=True)
class SimCard:
    text: bytes
    photo: bytes = b""
    broken: bool = False
    """The SAM cannot read it: the read answers 0x41."""

    def read_data(self) -> bytes:
        return p.encode_read_data(self.text, self.photo)


def resident_card(
    *,
    name: str = "张三",
    sex: str = "1",
    nation: str = "01",
    birth: str = "19900307",
    address: str = "北京市东城区景山前街4号",
    number: str | None = None,
    authority: str = "北京市公安局东城分局",
    valid_from: str = "20200101",
    valid_to: str = "20400101",
    broken: bool = False,
) -> SimCard:
    number = number or id_number("110101", birth)
    text = pack(
        RESIDENT,
        {
            "name": name,
            "sex": sex,
            "nation": nation,
            "birth": birth,
            "address": address,
            "id_number": number,
            "authority": authority,
            "valid_from": valid_from,
            "valid_to": valid_to,
        },
    )
    return SimCard(text, _photo(number), broken)


def foreign_card(
    *,
    english_name: str = "SMITH JOHN",
    chinese_name: str = "史密斯",
    sex: str = "1",
    number: str = "CAN110090010101",
    nationality: str = "CAN",
    birth: str = "19800101",
    valid_from: str = "20190601",
    valid_to: str = "20290601",
    version: str = "02",
    authority_code: str = "1500",
    broken: bool = False,
) -> SimCard:
    """A 2017 foreign permanent residence card (flag ``I``)."""
    text = pack(
        FOREIGN,
        {
            "english_name": english_name,
            "sex": sex,
            "id_number": number,
            "nationality": nationality,
            "chinese_name": chinese_name,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "birth": birth,
            "card_version": version,
            "authority_code": authority_code,
            "card_type": "I",
        },
    )
    return SimCard(text, _photo(number), broken)


def foreign_2023_card(
    *,
    chinese_name: str = "史密斯",
    english_name: str = "SMITH JOHN",
    sex: str = "1",
    birth: str = "19800101",
    province: str = "11",
    nationality_numeric: str = "124",
    nationality: str = "CAN",
    number: str | None = None,
    valid_from: str = "20240101",
    valid_to: str = "20340101",
    renewal_count: str = "00",
    previous_number_link: str = "",
    number_field: str | None = None,
    broken: bool = False,
) -> SimCard:
    """A 2023 foreign permanent residence card (flag ``Y``); the number is
    ``9`` + province + ISO 3166-1 numeric nationality + birth + sequence + check character.
    ``english_name`` up to 46 characters (stored 35 + 11). ``number_field``: write this into
    the number field instead (a card whose data does not fit the layout the plugin knows)."""
    number = number or id_number(f"9{province}{nationality_numeric}", birth, "001")
    text = pack(
        FOREIGN_2023,
        {
            "chinese_name": chinese_name,
            "sex": sex,
            "renewal_count": renewal_count,
            "birth": birth,
            **split_english_2023(english_name),
            "id_number": number if number_field is None else number_field,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "nationality": nationality,
            "card_type": "Y",
            "previous_number_link": previous_number_link,
        },
    )
    return SimCard(text, _photo(number), broken)


def unknown_type_card(flag: str = "Z") -> SimCard:
    """A card whose type flag (byte 248) is one no reader layout knows, e.g. a future edition."""
    number = id_number("110101", "19900307", "555")
    text = pack(HK_MO_TW, {"name": "未知", "id_number": number, "card_type": flag})
    return SimCard(text, _photo(number))


def hk_mo_tw_card(
    *,
    name: str = "陈大文",
    sex: str = "1",
    birth: str = "19850512",
    address: str = "广东省深圳市福田区福华一路1号",
    number: str | None = None,
    authority: str = "深圳市公安局",
    valid_from: str = "20210301",
    valid_to: str = "20260301",
    pass_number: str = "H60123456",
    issue_count: str = "01",
    broken: bool = False,
) -> SimCard:
    number = number or id_number("810000", birth, "005")
    text = pack(
        HK_MO_TW,
        {
            "name": name,
            "sex": sex,
            "birth": birth,
            "address": address,
            "id_number": number,
            "authority": authority,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "pass_number": pass_number,
            "issue_count": issue_count,
            "card_type": "J",
        },
    )
    return SimCard(text, _photo(number), broken)


@dataclass
class Faults:
    answer_delay_s: float = 0.0
    """Before every answer (the plugin's timeout is exceeded when this is long)."""
    read_delay_s: float = 0.0
    """Extra time a read takes (a real reader takes close to a second)."""
    silent: bool = False
    """Answer nothing at all."""
    garbage: bytes = b""
    """Written before every answer."""
    corrupt_answers: int = 0
    """The next N answers carry a wrong checksum."""
    pull_mid_read: bool = False
    """The next read answer stops halfway and the card is gone."""


class SamSimulator(PtyDevice):
    """``quiet_after_read``: behave like readers whose find answers "no card" (0x80) while a
    card that was read stays on the reader, instead of "card found" (0x9F)."""

    def __init__(self, link: str | Path | None = None, *, quiet_after_read: bool = False) -> None:
        super().__init__(link)
        self.quiet_after_read = quiet_after_read
        self._read_done = False
        self.faults = Faults()
        self._parser = p.FrameParser()
        self._lock = threading.Lock()
        self._card: SimCard | None = None
        self._selected = False
        self.commands: list[tuple[int, int]] = []
        self.reads_answered = 0
        """Read answers with card data written out completely."""

    # -- what a person does at the reader ---------------------------------------------------

    def present(self, card: SimCard) -> None:
        with self._lock:
            self._card, self._selected, self._read_done = card, False, False

    def remove(self) -> None:
        with self._lock:
            self._card, self._selected, self._read_done = None, False, False

    @property
    def card(self) -> SimCard | None:
        return self._card

    # -- the reader -------------------------------------------------------------------------

    def on_bytes(self, data: bytes) -> None:
        for body in self._parser.feed(data):
            try:
                command = p.decode_command(body)
            except ValueError:
                self._send(p.encode_response(0x11))  # length error, as a SAM answers
                continue
            self.commands.append(command.code)
            self._answer(command)

    def _answer(self, command: p.Command) -> None:
        faults = self.faults
        if faults.silent:
            return
        if faults.answer_delay_s:
            time.sleep(faults.answer_delay_s)
        with self._lock:
            card, frame = self._card, self._respond(command)
        if command.code == p.READ_TEXT_PHOTO and card is not None and frame[7 + 2] == p.OK:
            if faults.read_delay_s:
                time.sleep(faults.read_delay_s)
            if faults.pull_mid_read:
                faults.pull_mid_read = False
                self.remove()
                self._send(faults.garbage + frame[: len(frame) // 2])
                return
            self.reads_answered += 1
        if faults.corrupt_answers > 0:
            faults.corrupt_answers -= 1
            frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
        self._send(faults.garbage + frame)

    def _respond(self, command: p.Command) -> bytes:
        card = self._card
        code = command.code
        if code == p.FIND:
            self._selected = False
            if card is None or (self.quiet_after_read and self._read_done):
                return p.encode_response(p.FIND_FAILED)
            return p.encode_response(p.CARD_FOUND, bytes(4))
        if code == p.SELECT:
            self._selected = card is not None
            if card is None:
                return p.encode_response(p.SELECT_FAILED)
            return p.encode_response(p.OK, bytes(8))
        if code == p.READ_TEXT_PHOTO:
            if card is None or not self._selected or card.broken:
                return p.encode_response(p.READ_FAILED)
            self._read_done = True
            return p.encode_response(p.OK, card.read_data())
        if code in (p.RESET_SAM, p.SAM_STATUS):
            return p.encode_response(p.OK)
        if code == p.SAM_ID:
            return p.encode_response(p.OK, bytes(range(16)))
        return p.encode_response(0x21)

    def _send(self, data: bytes) -> None:
        self.port.write(data)


# -- command line -------------------------------------------------------------------------

SAMPLES: dict[str, Callable[[], SimCard]] = {
    "resident": resident_card,
    "foreign": foreign_card,
    "foreign2023": foreign_2023_card,
    "hmt": hk_mo_tw_card,
    "broken": lambda: resident_card(name="李四", broken=True),
    "broken2023": lambda: foreign_2023_card(broken=True),
    "garbled2023": lambda: foreign_2023_card(number_field="CAN110080010101"),
    "unknown": unknown_type_card,
}
HELP = (
    "commands: resident | foreign | foreign2023 | hmt | broken | broken2023 | garbled2023 | "
    "unknown (present), r (remove), u (unplug), p (plug), q"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulated SAM ID-card reader on a pty.")
    parser.add_argument("--link", default="/tmp/prtc-sam0", help="symlink to the pty slave")
    parser.add_argument("--every", type=float, default=0.0, help="present sample cards in turn")
    parser.add_argument("--read-delay", type=float, default=0.8, help="seconds a read takes")
    args = parser.parse_args(argv)
    sim = SamSimulator(args.link)
    sim.faults.read_delay_s = args.read_delay
    sim.start()
    print(f"SAM reader simulator on {sim.path}; set the plugin's port to it.\n{HELP}", flush=True)
    try:
        if args.every > 0:
            for kind in itertools.cycle(["resident", "foreign", "foreign2023", "hmt"]):
                sim.present(SAMPLES[kind]())
                print(f"presented {kind}", flush=True)
                time.sleep(args.every)
                sim.remove()
                time.sleep(args.every)
        for line in sys.stdin:
            word = line.strip()
            if word in SAMPLES:
                sim.present(SAMPLES[word]())
            elif word == "r":
                sim.remove()
            elif word == "u":
                sim.unplug()
            elif word == "p":
                sim.replug()
            elif word == "q":
                break
            else:
                print(HELP, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
