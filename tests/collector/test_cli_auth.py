"""``prtc-collector user add``, ``token add``, ``broker-config`` and the broker password that
``device add`` issues."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlmodel import Session, select

from collector.auth.models import User
from collector.auth.service import authenticate, resolve_api_token
from collector.broker_auth import verify_mosquitto_hash
from collector.cli import main
from collector.db import make_engine
from collector.devices.models import Device

FAST = "[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 64\nargon2_parallelism = 1\n"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.db"}"\n{FAST}')
    for key in list(os.environ):
        if key.startswith("PRTC_COLLECTOR_"):
            monkeypatch.delenv(key)
    return path


def shown_once(out: str, label: str = "password") -> str:
    match = re.search(rf"{label} \(shown once[^)]*\): (\S+)", out)
    assert match, out
    return match.group(1)


def test_user_add_generates_a_password_that_logs_in(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["-c", str(config)]
    assert main(["user", "add", "Admin", "--role", "system_admin", *c]) == 0
    password = shown_once(capsys.readouterr().out)
    assert main(["centre", "add", "hz", "Hangzhou", *c]) == 0
    assert main(["user", "add", "op", "--role", "operator", "--centre", "hz", *c]) == 0
    assert main(["user", "add", "admin", "--role", "system_admin", *c]) == 2  # exists
    assert main(["user", "add", "x", "--role", "operator", "--centre", "hz", "--password", "a", *c])
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with Session(engine) as session:
        from collector.auth.policy import AuthPolicy

        policy = AuthPolicy(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)
        assert authenticate(session, "admin", password, policy=policy).role == "system_admin"
        assert session.exec(select(User).where(User.username == "op")).one().centre_id == "hz"
    engine.dispose()


def test_token_add_prints_a_working_token(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["-c", str(config)]
    assert main(["centre", "add", "hz", "Hangzhou", *c]) == 0
    capsys.readouterr()
    argv = ["token", "add", "platform", "--centre", "hz", "--permissions", "devices.view", "-q"]
    assert main([*argv, *c]) == 0
    token = capsys.readouterr().out.strip()
    assert main(["token", "add", "x", "--centre", "hz", "--permissions", "nope", *c]) == 2
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with Session(engine) as session:
        row = resolve_api_token(session, token)
        assert row is not None and row.permissions == ["devices.view"]
    engine.dispose()


def test_device_add_issues_a_broker_password_and_broker_config_writes_it(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["-c", str(config)]
    assert main(["device", "add", "hz", "gate-1", "--kind", "gate", *c]) == 0
    password = shown_once(capsys.readouterr().out)
    assert main(["device", "add", "hz", "gate-1", "--kind", "gate", *c]) == 0  # kept
    assert "shown once" not in capsys.readouterr().out
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with Session(engine) as session:
        hashed = session.get(Device, "gate-1").broker_password_hash  # type: ignore[union-attr]
    engine.dispose()
    assert hashed and verify_mosquitto_hash(password, hashed) and password not in hashed

    out = tmp_path / "broker"
    assert main(["broker-config", "--out", str(out), "--collector-user", "coll", *c]) == 0
    collector_password = shown_once(capsys.readouterr().out)
    lines = dict(line.split(":", 1) for line in (out / "password_file").read_text().splitlines()
                 if line and not line.startswith("#"))  # fmt: skip
    assert set(lines) == {"coll", "gate-1"} and lines["gate-1"] == hashed
    assert verify_mosquitto_hash(collector_password, lines["coll"])
    acl = (out / "acl_file").read_text()
    assert "user gate-1\ntopic write prtc/v1/hz/gate-1/event/#" in acl

    assert main(["device", "add", "hz", "gate-1", "--kind", "gate", "--new-password", *c]) == 0
    assert shown_once(capsys.readouterr().out) != password
