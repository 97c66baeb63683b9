"""The example Mosquitto configs start on a real Mosquitto and do what their comments say.

configs/mosquitto/prtc.conf is loaded the Debian way (an include of a main config that sets
persistence_location), with its ports and file paths pointed at a temporary directory; the
bridge config joins a county broker to a municipal one and is checked in both directions,
including a municipal outage.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.support.net import free_port, wait_port

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "mosquitto"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")

pytestmark = pytest.mark.skipif(
    not Path(MOSQUITTO).exists() or MOSQUITTO_PASSWD is None,
    reason="mosquitto and mosquitto_passwd are needed",
)

USERS = {"prtc-collector": "collector-pw", "d1": "d1-pw", "prtc-bridge-c9": "bridge-pw"}
ACL = """\
user prtc-collector
topic readwrite prtc/v1/#

user prtc-bridge-c9
topic readwrite prtc/v1/c9/#

user d1
topic readwrite prtc/v1/c9/d1/#
"""


class Broker:
    """Mosquitto laid out like Debian's package: main config + conf.d with our files."""

    def __init__(self, name: str, includes: dict[str, str], tls: Path | None = None) -> None:
        self.port = free_port()
        self.tls_port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"prtc-{name}-"))
        (self.dir / "conf.d").mkdir()
        (self.dir / "data").mkdir()
        self.log = self.dir / "mosquitto.log"
        passwd = self.dir / "prtc.passwd"
        passwd.touch()
        for user, password in USERS.items():
            subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwd), user, password], check=True)
        (self.dir / "prtc.acl").write_text(ACL)
        prtc = (CONFIGS / "prtc.conf").read_text()
        prtc = _replace_line(prtc, "listener 1883", f"listener {self.port} 127.0.0.1")
        prtc = prtc.replace("/etc/mosquitto/prtc.passwd", str(passwd))
        prtc = prtc.replace("/etc/mosquitto/prtc.acl", str(self.dir / "prtc.acl"))
        if tls is not None:  # the commented TLS block, switched on
            prtc = _replace_line(prtc, "#listener 8883", f"listener {self.tls_port} 127.0.0.1")
            for option in ("cafile", "certfile", "keyfile", "tls_version"):
                prtc = re.sub(rf"^#({option} )", r"\1", prtc, count=1, flags=re.MULTILINE)
            prtc = prtc.replace("/etc/mosquitto/certs", str(tls))
        (self.dir / "conf.d" / "prtc.conf").write_text(prtc)
        for file_name, text in includes.items():
            (self.dir / "conf.d" / file_name).write_text(text)
        self.conf = self.dir / "mosquitto.conf"
        # As root Mosquitto would switch to the "mosquitto" user, who cannot read our temp dir.
        self.conf.write_text(
            ("user root\n" if os.geteuid() == 0 else "")
            + f"persistence_location {self.dir / 'data'}/\n"
            f"log_dest file {self.log}\n"
            f"include_dir {self.dir / 'conf.d'}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_port(self.port)
            if "listener " + str(self.tls_port) in (self.dir / "conf.d" / "prtc.conf").read_text():
                wait_port(self.tls_port)
        except TimeoutError:
            self.proc.kill()
            _, err = self.proc.communicate(5)
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(f"mosquitto did not start: {err.decode()}\n{log}") from None
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # clean: the persistence file is written
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _replace_line(text: str, line: str, new: str) -> str:
    pattern = re.compile(rf"^{re.escape(line)}$", re.MULTILINE)
    assert pattern.search(text), f"{line!r} not found"
    return pattern.sub(new, text)


class Client:
    def __init__(
        self,
        port: int,
        user: str | None,
        *,
        client_id: str | None = None,
        ca_file: Path | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connected: queue.Queue[int] = queue.Queue()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"t-{uuid.uuid4().hex[:8]}",
            clean_session=client_id is None,
        )
        if user is not None:
            self.client.username_pw_set(user, USERS[user])
        self.client.on_connect = lambda c, u, f, rc, p: self.connected.put(rc.value)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file))
        self.client.connect(host, port)
        self.client.loop_start()
        self.rc = self.connected.get(timeout=10)

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        time.sleep(0.3)  # SUBACK; then the broker routes to us

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def expect(self, topic: str, payload: bytes, timeout: float = 15.0) -> mqtt.MQTTMessage:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{topic} {payload!r} not received")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message.topic == topic and message.payload == payload:
                return message

    def nothing_on(self, topic: str, wait: float = 1.0) -> None:
        time.sleep(wait)
        while not self.messages.empty():
            assert self.messages.get_nowait().topic != topic

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def test_prtc_conf_requires_credentials_and_enforces_the_acl(clients: list[Client]):
    broker = Broker("single", {}).start()
    try:
        anonymous = Client(broker.port, None)
        clients.append(anonymous)
        assert anonymous.rc != 0, "anonymous clients must be refused"

        collector = Client(broker.port, "prtc-collector")
        device = Client(broker.port, "d1")
        clients += [collector, device]
        assert collector.rc == 0
        assert device.rc == 0
        collector.subscribe("prtc/v1/#")

        device.publish("prtc/v1/c9/d1/event/sim.reading", b"own")
        collector.expect("prtc/v1/c9/d1/event/sim.reading", b"own")
        device.publish("prtc/v1/c9/d2/event/sim.reading", b"foreign")
        collector.nothing_on("prtc/v1/c9/d2/event/sim.reading")
    finally:
        broker.close()


def _bridge_conf(municipal_port: int) -> str:
    text = (CONFIGS / "bridge-county.conf").read_text()
    text = text.replace("COUNTY", "c9")
    text = _replace_line(
        text, "address municipal.example.internal:1883", f"address 127.0.0.1:{municipal_port}"
    )
    text = _replace_line(text, "remote_password <bridge password>", "remote_password bridge-pw")
    return _replace_line(text, "restart_timeout 5 60", "restart_timeout 1 2")


def test_county_bridge_forwards_both_ways_and_queues_through_outages(clients: list[Client]):
    municipal = Broker("municipal", {}).start()
    county = Broker("county", {"bridge-county.conf": _bridge_conf(municipal.port)})
    try:
        county.start()
        # Persistent sessions, like the real collector and agents: paho reconnects by itself
        # and the brokers keep the subscriptions across a clean restart.
        collector = Client(municipal.port, "prtc-collector", client_id="collector-1")
        device = Client(county.port, "d1", client_id="d1")
        clients += [collector, device]
        collector.subscribe("prtc/v1/#")
        device.subscribe("prtc/v1/c9/d1/#")
        time.sleep(2)  # let the bridge connect and subscribe

        # County -> municipal: events, and a retained status that stays retained there.
        device.publish("prtc/v1/c9/d1/event/sim.reading", b"e1")
        collector.expect("prtc/v1/c9/d1/event/sim.reading", b"e1")
        device.publish("prtc/v1/c9/d1/status", b"online", retain=True)
        collector.expect("prtc/v1/c9/d1/status", b"online")
        late = Client(municipal.port, "prtc-collector")
        clients.append(late)
        late.subscribe("prtc/v1/c9/d1/status")
        assert late.expect("prtc/v1/c9/d1/status", b"online").retain

        # Municipal -> county: commands for the county's prefix, nothing else.
        collector.publish("prtc/v1/c9/d1/cmd", b"c1")
        device.expect("prtc/v1/c9/d1/cmd", b"c1")
        collector.publish("prtc/v1/c8/d1/cmd", b"other county")
        device.nothing_on("prtc/v1/c8/d1/cmd")

        # Municipal outage: the county broker queues for the bridge and forwards afterwards.
        municipal.stop()
        device.publish("prtc/v1/c9/d1/event/sim.reading", b"during municipal outage")
        municipal.start()
        collector.expect("prtc/v1/c9/d1/event/sim.reading", b"during municipal outage", 30)

        # County broker outage: the municipal broker queues for the bridge's session.
        county.stop()
        collector.publish("prtc/v1/c9/d1/cmd", b"during county outage")
        county.start()
        device.expect("prtc/v1/c9/d1/cmd", b"during county outage", 30)
    finally:
        county.close()
        municipal.close()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_tls_recipe_and_listener(tmp_path: Path, clients: list[Client]):
    """The openssl commands of docs/deployment.md and the TLS block of prtc.conf."""
    tls = tmp_path
    _openssl(
        "req", "-x509", "-newkey", "rsa:3072", "-sha256", "-days", "3650", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=prtc fleet CA",
        cwd=tls,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:3072", "-sha256", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
        cwd=tls,
    )  # fmt: skip
    (tls / "server.ext").write_text(
        "subjectAltName = DNS:localhost, IP:127.0.0.1\nextendedKeyUsage = serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "825", "-sha256", "-extfile", "server.ext",
        "-out", "server.crt",
        cwd=tls,
    )  # fmt: skip
    broker = Broker("tls", {}, tls=tls).start()
    try:
        device = Client(broker.tls_port, "d1", ca_file=tls / "ca.crt", host="localhost")
        clients.append(device)
        assert device.rc == 0
        device.subscribe("prtc/v1/c9/d1/cmd")
        device.publish("prtc/v1/c9/d1/cmd", b"over tls")
        device.expect("prtc/v1/c9/d1/cmd", b"over tls")
        anonymous = Client(broker.tls_port, None, ca_file=tls / "ca.crt", host="localhost")
        clients.append(anonymous)
        assert anonymous.rc != 0, "passwords are required on the TLS listener too"
    finally:
        broker.close()
