"""The systemd units restart always, have a watchdog, and (where available) pass
``systemd-analyze verify``."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
SERVICES = sorted(SYSTEMD.glob("*.service"))
DROP_INS = sorted(SYSTEMD.glob("*.service.d/*.conf"))
DEBIAN_MOSQUITTO = Path("/lib/systemd/system/mosquitto.service")


def _parse(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser


def test_units_exist():
    assert {p.name for p in SERVICES} >= {"prtc-collector.service", "prtc-agent.service"}
    assert [p.parent.name for p in DROP_INS] == ["mosquitto.service.d"]


@pytest.mark.parametrize("path", SERVICES + DROP_INS, ids=lambda p: p.name)
def test_restart_always_without_start_limit(path: Path):
    unit = _parse(path)
    assert unit["Service"]["Restart"] == "always"
    assert "RestartSec" in unit["Service"]
    # A rate limit would stop Restart=always after a burst of failures.
    assert unit["Unit"]["StartLimitIntervalSec"] == "0"


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_services_notify_with_a_watchdog(path: Path):
    service = _parse(path)["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert _parse(path)["Install"]["WantedBy"] == "multi-user.target"


def test_collector_hardening():
    unit = _parse(SYSTEMD / "prtc-collector.service")
    service = unit["Service"]
    assert service["WatchdogSec"] == "60"
    assert service["RestartSec"] == "2"
    assert service["EnvironmentFile"] == "-/etc/prtc/collector.env"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/prtc-collector"
    assert service["NoNewPrivileges"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["User"] == "prtc"


def test_agent_starts_without_the_network():
    unit = _parse(SYSTEMD / "prtc-agent.service")
    assert "network-online.target" in unit["Unit"]["After"].split()
    for key in ("Requires", "Requisite", "BindsTo", "PartOf", "Wants"):
        assert "network" not in unit["Unit"].get(key, ""), f"{key}= would tie the agent to it"
    service = unit["Service"]
    assert service["WatchdogSec"] == "30"
    assert service["StateDirectory"] == "prtc-agent"


def _verify(unit_dir: Path, name: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit_dir / name)],
        capture_output=True,
        text=True,
        env={"SYSTEMD_UNIT_PATH": f"{unit_dir}:", "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=60,
    )
    # Complaints about other units on this machine are not ours.
    ours = [line for line in result.stderr.splitlines() if name in line or str(unit_dir) in line]
    assert result.returncode == 0 and not ours, result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_systemd_analyze_verify(path: Path, tmp_path: Path):
    # The install location /opt/prtc/venv does not exist here; verify against /bin/true.
    text = path.read_text(encoding="utf-8")
    lines = [
        "ExecStart=/bin/true" if line.startswith("ExecStart=") else line
        for line in text.splitlines()
    ]
    (tmp_path / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    _verify(tmp_path, path.name)


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or not DEBIAN_MOSQUITTO.exists(),
    reason="needs systemd-analyze and Debian's mosquitto.service",
)
def test_systemd_analyze_verify_mosquitto_drop_in(tmp_path: Path):
    shutil.copy(DEBIAN_MOSQUITTO, tmp_path / "mosquitto.service")
    shutil.copytree(SYSTEMD / "mosquitto.service.d", tmp_path / "mosquitto.service.d")
    _verify(tmp_path, "mosquitto.service")
