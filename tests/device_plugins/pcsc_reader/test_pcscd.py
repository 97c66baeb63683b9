"""The PC/SC plugin against a real pcscd whose readers are vsmartcard's vpcd driver, with a
virtual card speaking vpcd's protocol: UIDs read once per presentation, readers appearing and
vanishing with pcscd, and a card that has no UID to give."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from device_plugins.messages import CARD_UID, CardUid
from device_plugins.pcsc_reader.simulator import VirtualCard
from tests.device_plugins.conftest import Site, wait_until
from tests.device_plugins.pcsc_reader.pcscd import Pcscd

pytestmark = pytest.mark.timeout(90)

READER = "Virtual PCD"


def reader_plugin(**extra: object) -> dict[str, dict[str, object]]:
    return {"ic": {"kind": "pcsc_reader", "wait_ms": 200, "reconnect_min_s": 0.1, **extra}}


def test_reads_the_uid_of_a_virtual_card_once_per_presentation(
    pcscd: Pcscd, make_site: Callable[..., Site]
) -> None:
    port, _ = pcscd.start(READER)
    site = make_site(reader_plugin(debounce_s=0.3), CARD_UID)
    site.wait_health("ic", "ok", 10)
    card = VirtualCard("04A1B2C3D4E5F6", port=port)
    card.insert()
    [msg] = wait_until(lambda: site.got(CARD_UID), 10, "a UID on the local bus")
    assert isinstance(msg, CardUid)
    assert msg.uid_hex == "04A1B2C3D4E5F6"
    assert (msg.reader, msg.device) == ("ic", f"{READER} 00 00")
    assert 0 < time.perf_counter() - msg.last_byte_at < 10
    assert card.apdus[0] == bytes.fromhex("FFCA000000")

    time.sleep(1.0)  # left on the reader: not read again
    assert len(site.got(CARD_UID)) == 1
    status = site.call("ic.status")
    assert status["cards_present"] == [msg.device] and status["reads"] == 1

    card.remove()
    wait_until(lambda: not site.call("ic.status")["cards_present"], 10, "card gone")
    time.sleep(0.4)  # past the debounce
    other = VirtualCard("DEADBEEF", port=port).insert()
    wait_until(lambda: len(site.got(CARD_UID)) == 2, 10, "the second card")
    assert site.got(CARD_UID)[1].uid_hex == "DEADBEEF"
    other.remove()


def test_readers_follow_pcscd_and_a_card_without_uid_is_counted(
    pcscd: Pcscd, make_site: Callable[..., Site]
) -> None:
    pcscd.stop()
    site = make_site(reader_plugin(read_attempts=2), CARD_UID)
    health = site.wait_health("ic", "degraded", 10)
    assert "PC/SC unavailable" in health.detail

    port_a, port_b = pcscd.start("Gate Reader")
    wait_until(lambda: len(site.call("ic.status")["readers"]) == 2, 15, "both readers")
    assert site.health("ic").state == "ok"
    mute = VirtualCard(None, port=port_a).insert()
    wait_until(lambda: site.call("ic.status")["failed_reads"] == 1, 10, "failed read counted")
    assert site.got(CARD_UID) == []
    assert len(mute.apdus) == 2  # read_attempts
    mute.remove()
    card = VirtualCard("0102030405060708", port=port_b).insert()
    [msg] = wait_until(lambda: site.got(CARD_UID), 10, "UID from the second reader")
    assert msg.device == "Gate Reader 00 01" and msg.uid_hex == "0102030405060708"
    card.remove()

    pcscd.stop()  # readers vanish with the daemon
    site.wait_health("ic", "degraded", 10)
    assert site.call("ic.status")["readers"] == []
    pcscd.start(READER)
    wait_until(lambda: site.call("ic.status")["readers"], 15, "reader back")
    assert all(r.startswith(READER) for r in site.call("ic.status")["readers"])


def test_no_reader_attached_is_degraded_and_quiet(
    pcscd: Pcscd, make_site: Callable[..., Site]
) -> None:
    pcscd.start(None)
    site = make_site(reader_plugin(), CARD_UID)
    health = site.wait_health("ic", "degraded", 10)
    assert health.detail == "no PC/SC reader attached"
    before = site.call("ic.status")["reconnects"]
    time.sleep(1.0)
    status = site.call("ic.status")
    assert status["connected"] and status["readers"] == []
    assert status["reconnects"] == before  # waiting, not failing and reconnecting


def test_reader_filter(pcscd: Pcscd, make_site: Callable[..., Site]) -> None:
    port, _ = pcscd.start("Desk Reader")
    site = make_site(reader_plugin(readers=["00 01"]), CARD_UID)
    wait_until(lambda: site.call("ic.status")["readers"] == ["Desk Reader 00 01"], 10, "one")
    card = VirtualCard("11223344", port=port).insert()  # on the reader not used
    time.sleep(1.0)
    assert site.got(CARD_UID) == [] and card.apdus == []
    card.remove()
