"""Broker credentials and ACLs, checked against a real Mosquitto with plain paho clients."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.broker_auth import (
    BrokerDevice,
    device_acl,
    hash_for_mosquitto,
    issue_device_password,
    render_acl_file,
    render_password_file,
    verify_mosquitto_hash,
    write_broker_files,
)
from collector.devices.models import Device
from tests.support.mosquitto import MOSQUITTO, Mosquitto

needs_mosquitto = pytest.mark.skipif(
    not Path(MOSQUITTO).exists(), reason="mosquitto is not installed"
)

COLLECTOR = "prtc-collector"


def test_hash_format_matches_mosquitto_passwd(tmp_path):
    hashed = hash_for_mosquitto("secret", salt=b"0123456789ab")
    assert hashed.startswith("$7$101$MDEyMzQ1Njc4OWFi$")
    assert verify_mosquitto_hash("secret", hashed)
    assert not verify_mosquitto_hash("Secret", hashed)
    assert not verify_mosquitto_hash("secret", "$6$abc$def")
    tool = shutil.which("mosquitto_passwd")
    if tool:  # the reference implementation's hash verifies with ours
        pwfile = tmp_path / "pw"
        pwfile.touch()
        subprocess.run([tool, "-b", str(pwfile), "dev", "p4ss:word"], check=True)
        theirs = pwfile.read_text().strip().split(":", 1)[1]
        assert theirs.startswith("$7$") and verify_mosquitto_hash("p4ss:word", theirs)


def test_render_files():
    pw = issue_device_password()
    assert len(pw) >= 32 and issue_device_password() != pw
    text = render_password_file([("b", hash_for_mosquitto("x")), ("a", hash_for_mosquitto("y"))])
    users = [line.split(":")[0] for line in text.splitlines() if not line.startswith("#")]
    assert users == ["a", "b"]
    with pytest.raises(ValueError, match="duplicate"):
        render_password_file([("a", "$7$1$a$b"), ("a", "$7$1$a$b")])
    with pytest.raises(ValueError):
        render_password_file([("a:b", "$7$1$a$b")])
    with pytest.raises(ValueError):
        render_password_file([("a", "plaintext")])

    acl = render_acl_file(
        [
            BrokerDevice("dev-b", "c1", "$7$x", enabled=False),
            Device(id="dev-a", centre_id="c1", kind="gate", broker_password_hash="$7$x"),
            BrokerDevice("dev-c", "c1", None),
        ],
        COLLECTOR,
    )
    assert f"user {COLLECTOR}\ntopic readwrite prtc/v1/#" in acl
    assert "user dev-a\ntopic write prtc/v1/c1/dev-a/event/#" in acl
    assert "dev-b" not in acl and "dev-c" not in acl
    assert ("read", "prtc/v1/c1/dev-a/cmd") in device_acl("c1", "dev-a")
    with pytest.raises(ValueError):
        device_acl("c1", "dev/#")
    with pytest.raises(ValueError):
        render_acl_file([BrokerDevice(COLLECTOR, "c1", "$7$x")], COLLECTOR)


def test_write_is_atomic_and_private(tmp_path):
    files = write_broker_files(
        tmp_path / "broker",
        [BrokerDevice("dev-a", "c1", hash_for_mosquitto("pw"))],
        collector_user=COLLECTOR,
        collector_password_hash=hash_for_mosquitto("cpw"),
    )
    assert sorted(p.name for p in (tmp_path / "broker").iterdir()) == ["acl_file", "password_file"]
    assert (files.password_file.stat().st_mode & 0o777) == 0o640
    assert "dev-a:$7$" in files.password_file.read_text()


# --- against a real broker ---------------------------------------------------------------


class Client:
    """A paho client with blocking connect/subscribe and a queue of received messages."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.disconnected = threading.Event()
        self.connect_rc: mqtt.ReasonCode | None = None
        self.granted: list[mqtt.ReasonCode] = []
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{username}-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv311,
        )
        self.c.username_pw_set(username, password)
        self.c.reconnect_delay_set(0.05, 0.05)  # type: ignore[arg-type]  # fast loop_stop()
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = lambda *_: self.disconnected.set()
        self.c.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self._connected.wait(10), "no CONNACK"

    def _on_connect(self, _c, _u, _flags, rc, _props) -> None:
        self.connect_rc = rc
        self._connected.set()

    def _on_subscribe(self, _c, _u, _mid, rcs, _props) -> None:
        self.granted = list(rcs)
        self._subscribed.set()

    def subscribe(self, topic: str) -> list[mqtt.ReasonCode]:
        self._subscribed.clear()
        self.c.subscribe(topic, qos=1)
        assert self._subscribed.wait(10), "no SUBACK"
        return self.granted

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def until(self, payload: bytes, timeout: float = 10) -> list[tuple[str, bytes]]:
        """Everything received up to and including ``payload``."""
        seen = []
        while True:
            item = self.messages.get(timeout=timeout)
            seen.append(item)
            if item[1] == payload:
                return seen

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def attempt_publish(port: int, user: str, password: str, topic: str, payload: bytes) -> None:
    """Publish once from a fresh connection and return when the broker has dealt with it.

    The broker either acknowledges a refused QoS 1 publish and drops it, or closes the
    connection (MQTT-3.3.5-2 allows both; Mosquitto 2.0.11 closes it when
    ``max_queued_messages`` is 0). Either way the publish has been handled on return.
    """
    client = Client(port, user, password)
    try:
        info = client.c.publish(topic, payload, qos=1)
        deadline = time.monotonic() + 10
        while not (info.is_published() or client.disconnected.is_set()):
            assert time.monotonic() < deadline, "broker neither acknowledged nor disconnected"
            time.sleep(0.01)
    finally:
        client.close()


@pytest.fixture(scope="module")
def broker():
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    passwords = {d: issue_device_password() for d in ("dev-a", "dev-b", "dev-off", COLLECTOR)}
    devices = [
        BrokerDevice("dev-a", "c1", hash_for_mosquitto(passwords["dev-a"])),
        BrokerDevice("dev-b", "c2", hash_for_mosquitto(passwords["dev-b"])),
        BrokerDevice("dev-off", "c1", hash_for_mosquitto(passwords["dev-off"]), enabled=False),
    ]
    # Started as root, Mosquitto drops to its own user before reading the files: they must
    # not sit in pytest's private (0700) temporary tree.
    directory = Path(tempfile.mkdtemp(prefix="prtc-broker-auth-"))
    os.chmod(directory, 0o755)
    files = write_broker_files(
        directory,
        devices,
        collector_user=COLLECTOR,
        collector_password_hash=hash_for_mosquitto(passwords[COLLECTOR]),
        mode=0o644,
    )
    mosq = Mosquitto(
        anonymous=False,
        extra_conf=f"password_file {files.password_file}\nacl_file {files.acl_file}\n",
    ).start()
    try:
        yield mosq.port, passwords
    finally:
        mosq.close()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def clients(broker):
    port, passwords = broker
    opened: list[Client] = []

    def connect(user: str, password: str | None = None) -> Client:
        client = Client(port, user, passwords[user] if password is None else password)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()


def _ok(codes: list[mqtt.ReasonCode]) -> bool:
    return all(not rc.is_failure for rc in codes)


@needs_mosquitto
def test_device_publishes_only_under_its_own_prefix(broker, clients):
    port, passwords = broker
    collector = clients(COLLECTOR)
    assert collector.connect_rc == 0
    assert _ok(collector.subscribe("prtc/v1/#"))
    for topic in (
        "prtc/v1/c2/dev-b/event/visitor.card_read",  # another device's prefix
        "prtc/v1/c1/dev-b/ack",  # another device, same centre
        "prtc/v1/c1/dev-a/cmd",  # its own, but read-only
        "prtc/v1/c1/dev-a/config",
        "prtc/v2/c1/dev-a/event/x.y",  # outside the tree
    ):
        attempt_publish(port, "dev-a", passwords["dev-a"], topic, b"forged")

    dev_a = clients("dev-a")
    assert dev_a.connect_rc == 0
    dev_a.publish("prtc/v1/c1/dev-a/event/visitor.card_read", b"own-event")
    dev_a.publish("prtc/v1/c1/dev-a/status", b"online", retain=True)
    dev_a.publish("prtc/v1/c1/dev-a/ack", b"own-ack")
    # The broker handles messages in order, so a forged message it had let through would
    # have reached the collector before these.
    assert collector.until(b"own-ack") == [
        ("prtc/v1/c1/dev-a/event/visitor.card_read", b"own-event"),
        ("prtc/v1/c1/dev-a/status", b"online"),
        ("prtc/v1/c1/dev-a/ack", b"own-ack"),
    ]


@needs_mosquitto
def test_device_reads_only_its_own_topics(clients):
    collector = clients(COLLECTOR)
    dev_a = clients("dev-a")
    # Mosquitto's acl_file does not refuse subscriptions (SUBACK grants them); it checks
    # read access on every delivery instead, so nothing of dev-b's ever arrives.
    dev_a.subscribe("prtc/v1/c2/dev-b/cmd")
    dev_a.subscribe("prtc/v1/+/+/config")
    assert _ok(dev_a.subscribe("prtc/v1/c1/dev-a/cmd"))
    assert _ok(dev_a.subscribe("prtc/v1/c1/dev-a/receipt"))

    collector.publish("prtc/v1/c2/dev-b/cmd", b"cmd-b")
    collector.publish("prtc/v1/c2/dev-b/config", b"config-b")
    collector.publish("prtc/v1/c1/dev-a/config", b"config-a")
    collector.publish("prtc/v1/c1/dev-a/receipt", b"receipt-a")
    collector.publish("prtc/v1/c1/dev-a/cmd", b"cmd-a")
    assert dev_a.until(b"cmd-a") == [
        ("prtc/v1/c1/dev-a/config", b"config-a"),
        ("prtc/v1/c1/dev-a/receipt", b"receipt-a"),
        ("prtc/v1/c1/dev-a/cmd", b"cmd-a"),
    ]


@needs_mosquitto
def test_collector_can_use_a_shared_subscription(clients):
    collector = clients(COLLECTOR)
    assert _ok(collector.subscribe("$share/collectors/prtc/v1/+/+/event/#"))
    clients("dev-b").publish("prtc/v1/c2/dev-b/event/sensor.reading", b"shared")
    assert collector.until(b"shared")[-1] == ("prtc/v1/c2/dev-b/event/sensor.reading", b"shared")


@needs_mosquitto
@pytest.mark.parametrize(
    ("user", "password"),
    [("dev-a", "wrong-password"), ("nobody", "x"), ("dev-off", None), (COLLECTOR, "")],
)
def test_bad_credentials_are_refused_at_connect(clients, user, password):
    # None: the device's real password; dev-off is disabled, so it is not in the files.
    client = clients(user, password)
    assert client.connect_rc is not None and client.connect_rc.is_failure


@needs_mosquitto
def test_rewritten_files_take_effect_on_sighup():
    directory = Path(tempfile.mkdtemp(prefix="prtc-broker-auth-"))
    os.chmod(directory, 0o755)
    collector_pw, new_pw = issue_device_password(), issue_device_password()

    def write(devices):
        return write_broker_files(
            directory,
            devices,
            collector_user=COLLECTOR,
            collector_password_hash=hash_for_mosquitto(collector_pw),
            mode=0o644,
        )

    files = write([])
    mosq = Mosquitto(
        anonymous=False,
        extra_conf=f"password_file {files.password_file}\nacl_file {files.acl_file}\n",
    ).start()
    opened: list[Client] = []
    try:
        opened.append(Client(mosq.port, "dev-new", new_pw))
        assert opened[-1].connect_rc.is_failure  # not enrolled yet
        write([BrokerDevice("dev-new", "c9", hash_for_mosquitto(new_pw))])
        assert mosq.proc is not None
        mosq.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            opened.append(Client(mosq.port, "dev-new", new_pw))
            if not opened[-1].connect_rc.is_failure:
                break
            assert time.monotonic() < deadline, "broker did not reload its files"
            time.sleep(0.05)
    finally:
        for client in opened:
            client.close()
        mosq.close()
        shutil.rmtree(directory, ignore_errors=True)
