"""TLS (mqtts://) with a private CA, and broker user names and passwords."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge_agent.agent import Agent
from tests.support.pki import make_pki

from .conftest import Broker, wait_until

pytestmark = pytest.mark.skipif(
    not (shutil.which("openssl") and shutil.which("mosquitto_passwd")),
    reason="needs openssl and mosquitto_passwd",
)


def make_credentials(d: Path) -> None:
    make_pki(d)
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(d / "passwd"), "gate-01", "s3cret"],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    make_credentials(tmp_path)
    conf = (
        f"cafile {tmp_path / 'ca.crt'}\n"
        f"certfile {tmp_path / 'server.crt'}\n"
        f"keyfile {tmp_path / 'server.key'}\n"
        "allow_anonymous false\n"
        f"password_file {tmp_path / 'passwd'}\n" + ("user root\n" if os.geteuid() == 0 else "")
        # As root, mosquitto drops to user "mosquitto", who cannot read a 0600 key in tmp_path.
    )
    broker = Broker(tmp_path, extra_conf=conf).start()
    yield broker
    broker.stop()


def test_tls_with_password_connects_and_a_wrong_password_does_not(
    make_agent: Callable[..., Agent], tls_broker: Broker, tmp_path: Path
) -> None:
    mqtt = {"url": tls_broker.url, "tls_ca_file": tmp_path / "ca.crt", "username": "gate-01"}
    good = make_agent("gate-01", tls_broker.port, mqtt={**mqtt, "password": "s3cret"})
    bad = make_agent("gate-02", tls_broker.port, mqtt={**mqtt, "password": "wrong"})
    wait_until(lambda: good.link.connected, 10, "TLS connection")
    assert good.settings.mqtt.tls
    wait_until(lambda: bad.link.session >= 2, 10, "refused and retried")
    assert not bad.link.connected
