"""The SAM reader plugin on a byte-level simulator: a fast-polling reader and helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from device_plugins.idcard_sam.simulator import SamSimulator, SimCard
from device_plugins.messages import CARD_READ, CARD_REMOVED, CARD_UNREADABLE, CardRead

from ..conftest import Site, wait_until

FAST = {
    "kind": "idcard_sam",
    "poll_interval_s": 0.02,
    "command_timeout_s": 0.3,
    "read_timeout_s": 0.5,
    "reopen_min_s": 0.05,
    "reopen_max_s": 0.2,
}


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SamSimulator]:
    s = SamSimulator(tmp_path / "sam0")
    s.start()
    yield s
    s.stop()


@pytest.fixture
def reader(sim: SamSimulator, make_site: Callable[..., Site]) -> Site:
    site = make_site(
        {"reader1": {**FAST, "port": sim.path}}, CARD_READ, CARD_REMOVED, CARD_UNREADABLE
    )
    site.wait_health("reader1", "ok")
    return site


def polls(sim: SamSimulator, n: int) -> None:
    """Wait until the plugin has sent ``n`` more find commands."""
    target = sim.commands.count((0x20, 0x01)) + n
    wait_until(lambda: sim.commands.count((0x20, 0x01)) >= target, 10, f"{n} more finds")


def read_one(site: Site, sim: SamSimulator, card: SimCard) -> CardRead:
    before = len(site.got(CARD_READ))
    sim.present(card)
    reads = wait_until(lambda: site.got(CARD_READ)[before:], 10, "a card read")
    return reads[0]
