"""A simulated entrance PC for demos: the real entrance plugins on device simulators.

One :class:`EntranceSite` is one agent running the real ``idcard_sam`` plugin twice (an
entry and an exit reader, each on its SAM simulator), the real ``thermometer`` plugin
(streaming from a GY-MCU90614 simulator), the real ``modbus_gate`` plugin on a Modbus RTU
relay-board simulator and the ``entrance`` plugin with its screen, plus a driver thread that
plays the visitors: every few seconds a person with a generated card (see :func:`random_card`:
mostly resident cards, some foreign and Hong Kong/Macao/Taiwan documents, now and then one no
reader knows) steps in front of the thermometer and presents the card at the entry reader, and
some time later people who were let in leave through the exit reader. About one visitor in
fifteen has a fever and is refused by the rules. All simulators live on pseudo-terminals under
the agent's state directory.
"""

from __future__ import annotations

import random
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_plugins.idcard_sam.simulator import (
    SamSimulator,
    SimCard,
    foreign_2023_card,
    foreign_card,
    hk_mo_tw_card,
    id_number,
    resident_card,
    unknown_type_card,
)
from device_plugins.modbus_rtu import RtuSlaveSimulator
from device_plugins.thermometer.simulator import GyMcu90614Simulator
from edge_agent.settings import AgentSettings, settings_from_mapping

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高梁郑谢宋唐"
GIVEN_NAMES = (  # space-separated
    "伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 "
    "明 超 秀兰 霞 平 刚 桂英 建华 文 志强 海燕 晓东 思远 子涵 雨桐 浩然"
)
# Counties the visitors come from (most from the province of the demo centres).
REGIONS = (
    ("440106", 6),
    ("440305", 4),
    ("440783", 6),
    ("440703", 3),
    ("110105", 1),
    ("310115", 1),
    ("420106", 1),
    ("510104", 1),
    ("330102", 1),
    ("320106", 1),
    ("430104", 1),
    ("350203", 1),
)
# Foreign visitors: ISO 3166-1 numeric and alpha-3 nationality, English and Chinese name.
FOREIGNERS = (
    ("124", "CAN", "SMITH JOHN", "史密斯"),
    ("840", "USA", "JOHNSON EMILY", "约翰逊"),
    ("410", "KOR", "KIM MINJUN", "金敏俊"),
    ("392", "JPN", "SATO HARUTO", "佐藤阳翔"),
    ("276", "DEU", "MUELLER ANNA", "穆勒"),
)
OTHER_SHARE = 1 / 12
UNKNOWN_SHARE = 1 / 60
AMBIENT_C = 24.0  # what the sensor sees when nobody stands in front of it
FEVER_SHARE = 1 / 15


def free_local_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class EntranceSpec:
    """``DEVICE@CENTRE[:KIOSK_PORT]`` on the command line; port 0 or none = any free port."""

    device: str
    centre: str
    kiosk_port: int = 0

    @classmethod
    def parse(cls, text: str) -> EntranceSpec:
        device, sep, rest = text.partition("@")
        centre, _, port = rest.partition(":")
        if not sep or not device or not centre:
            raise ValueError(f"expected DEVICE@CENTRE[:PORT], got {text!r}")
        return cls(device, centre, int(port) if port else 0)


def random_card(rng: random.Random) -> SimCard:
    """The card of a made-up visitor: mostly a resident card; about one in twelve another
    document the readers know (2023 and 2017 foreign permanent residence cards, Hong Kong,
    Macao and Taiwan residence permits); about one in sixty a card of a type no reader knows
    (the kiosk asks for registration by hand)."""
    draw = rng.random()
    if draw < UNKNOWN_SHARE:
        return unknown_type_card()
    if draw < UNKNOWN_SHARE + OTHER_SHARE:
        return rng.choice((_foreign_2023, _foreign_2017, _hk_mo_tw))(rng)
    return _resident(rng)


def _birth(rng: random.Random) -> str:
    return f"{rng.randint(1958, 2002)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def _foreign_2023(rng: random.Random) -> SimCard:
    numeric, alpha, english, chinese = rng.choice(FOREIGNERS)
    birth, seq, province = _birth(rng), f"{rng.randint(0, 999):03d}", rng.choice(("44", "11"))
    return foreign_2023_card(
        chinese_name=chinese,
        english_name=english,
        sex=rng.choice("12"),
        birth=birth,
        province=province,
        nationality_numeric=numeric,
        nationality=alpha,
        number=id_number(f"9{province}{numeric}", birth, seq),
    )


def _foreign_2017(rng: random.Random) -> SimCard:
    _numeric, alpha, english, chinese = rng.choice(FOREIGNERS)
    birth = _birth(rng)
    number = f"{alpha}44{rng.randint(0, 9999):04d}{birth[2:8]}"  # 3 letters + 12 digits
    return foreign_card(
        english_name=english, chinese_name=chinese, number=number, nationality=alpha, birth=birth
    )


def _hk_mo_tw(rng: random.Random) -> SimCard:
    region, prefix = rng.choice((("810000", "H"), ("820000", "M"), ("830000", "")))
    birth, seq = _birth(rng), f"{rng.randint(0, 999):03d}"
    return hk_mo_tw_card(
        name=rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES.split()),
        sex="1" if int(seq[-1]) % 2 else "2",
        birth=birth,
        number=id_number(region, birth, seq),
        pass_number=prefix + f"{rng.randint(0, 99_999_999):08d}",
    )


def _resident(rng: random.Random) -> SimCard:
    regions, weights = zip(*REGIONS, strict=True)
    region = rng.choices(regions, weights)[0]
    birth = _birth(rng)
    seq = f"{rng.randint(0, 999):03d}"
    sex = "1" if int(seq[-1]) % 2 else "2"
    name = rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES.split())
    return resident_card(name=name, sex=sex, birth=birth, number=id_number(region, birth, seq))


class EntranceSite:
    def __init__(
        self,
        spec: EntranceSpec,
        *,
        broker: str,
        state_dir: Path,
        heartbeat_interval_s: float = 30.0,
        every_s: float = 4.0,
        seed: int | None = None,
    ) -> None:
        self.spec = spec
        self.broker = broker
        self.state_dir = state_dir
        self.heartbeat_interval_s = heartbeat_interval_s
        self.every_s = every_s
        self.kiosk_port = spec.kiosk_port or free_local_port()
        devices = state_dir / "devices"
        devices.mkdir(parents=True, exist_ok=True)
        self.reader_in = SamSimulator(devices / "sam-in")
        self.reader_out = SamSimulator(devices / "sam-out")
        self.thermometer = GyMcu90614Simulator(devices / "thermo", object_c=AMBIENT_C)
        self.board = RtuSlaveSimulator(devices / "rs485", slave=1)
        for sam in (self.reader_in, self.reader_out):
            sam.faults.read_delay_s = 0.3  # a real reader takes up to a second
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._driver: threading.Thread | None = None
        self.presented = 0

    @property
    def kiosk_url(self) -> str:
        return f"http://127.0.0.1:{self.kiosk_port}/"

    def start_devices(self) -> None:
        for device in (self.reader_in, self.reader_out, self.thermometer, self.board):
            device.start()

    def settings(self) -> AgentSettings:
        """The entrance agent's settings (environment ignored)."""
        plugins: dict[str, Any] = {
            "idcard_in": {"kind": "idcard_sam", "port": self.reader_in.path},
            "idcard_out": {"kind": "idcard_sam", "port": self.reader_out.path},
            "thermometer": {
                "kind": "thermometer",
                "protocol": "gy_mcu90614",
                "port": self.thermometer.path,
                "mode": "stream",
                "interval_s": 0.3,
            },
            "gate1": {"kind": "modbus_gate", "port": self.board.path, "pulse_ms": 500},
            "entrance": {
                "kind": "entrance",
                "door": "东门",
                "readers": {"idcard_in": "in", "idcard_out": "out"},
                "gate_action": "gate1.open",
                "operator": "演示值班员",
                "kiosk_port": self.kiosk_port,
            },
        }
        return settings_from_mapping(
            {
                "agent": {
                    "centre": self.spec.centre,
                    "device": self.spec.device,
                    "state_dir": self.state_dir,
                    "heartbeat_interval_s": self.heartbeat_interval_s,
                },
                "mqtt": {"url": self.broker},
                "plugins": plugins,
            }
        )

    # -- the visitors ------------------------------------------------------------------------

    def start_driver(self) -> None:
        self._driver = threading.Thread(
            target=self._drive, name=f"{self.spec.device}/visitors", daemon=True
        )
        self._driver.start()

    def _drive(self) -> None:
        rng, stop = self._rng, self._stop
        inside: list[SimCard] = []
        if stop.wait(min(1.0, self.every_s)):  # let the plugins open their ports
            return
        while not stop.is_set():
            leaving = bool(inside) and (rng.random() < 0.4 or len(inside) > 12)
            if leaving:
                card = inside.pop(rng.randrange(len(inside)))
                if not self._swipe(self.reader_out, card):
                    return
            else:
                card = random_card(rng)
                fever = rng.random() < FEVER_SHARE
                low, high = (37.5, 38.6) if fever else (36.0, 37.0)
                self.thermometer.object_c = round(rng.uniform(low, high), 1)
                if stop.wait(0.8):  # the sensor takes the forehead before the card is read
                    return
                if not self._swipe(self.reader_in, card):
                    return
                self.thermometer.object_c = AMBIENT_C
                if not fever:
                    inside.append(card)
            if stop.wait(self.every_s * rng.uniform(0.6, 1.4)):
                return

    def _swipe(self, reader: SamSimulator, card: SimCard) -> bool:
        """Present ``card`` for a moment; False when stopping."""
        reader.present(card)
        self.presented += 1
        stopping = self._stop.wait(1.5)
        reader.remove()
        return not stopping

    def stop(self) -> None:
        """Stop the driver and the simulators (stop the agent first)."""
        self._stop.set()
        if self._driver is not None:
            self._driver.join(5)
        for device in (self.reader_in, self.reader_out, self.thermometer, self.board):
            device.stop()
