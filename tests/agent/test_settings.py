"""Agent settings: TOML file, environment overrides, plugin sections, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from contract.registry import Priority
from edge_agent.settings import load_settings, settings_from_mapping

TOML = """
[agent]
centre = "city-1"
device = "gate-01"
state_dir = "/tmp/prtc-test-state"

[mqtt]
url = "mqtts://broker.example:8884"
username = "gate-01"
password = "from-file"

[outbox]
max_events = 5000
max_age_s = { bulk = 60 }

[plugins.sim1]
kind = "sim"
rate = 2.5
types = ["sim.access"]
"""


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(TOML)
    return path


def test_file_values_and_defaults(toml_file: Path) -> None:
    s = load_settings(toml_file)
    assert (s.agent.centre, s.agent.device) == ("city-1", "gate-01")
    assert s.agent.heartbeat_interval_s == 30
    assert s.mqtt.tls and (s.mqtt.host, s.mqtt.port) == ("broker.example", 8884)
    assert s.mqtt.password is not None and s.mqtt.password.get_secret_value() == "from-file"
    assert s.outbox.max_events == 5000 and s.outbox.max_bytes == 512 * 1024 * 1024
    limits = s.outbox.limits()
    assert limits.max_age_s[Priority.BULK] == 60
    assert limits.max_age_s[Priority.CRITICAL] == 30 * 86400
    assert s.commands.max_in_flight == 4
    sim = s.plugins["sim1"]
    assert sim.kind == "sim" and sim.plugin_settings == {"rate": 2.5, "types": ["sim.access"]}


def test_environment_wins_over_the_file(toml_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRTC_AGENT_MQTT__URL", "mqtt://10.0.0.5:1883")
    monkeypatch.setenv("PRTC_AGENT_AGENT__DEVICE", "gate-02")
    monkeypatch.setenv("PRTC_AGENT_OUTBOX__MAX_AGE_S__STATUS", "120")
    monkeypatch.setenv("PRTC_AGENT_PLUGINS__SIM1__RATE", "0")
    s = load_settings(toml_file)
    assert s.mqtt.url == "mqtt://10.0.0.5:1883" and not s.mqtt.tls and s.mqtt.port == 1883
    assert s.mqtt.username == "gate-01"  # untouched keys keep the file's value
    assert s.agent.device == "gate-02"
    assert s.outbox.max_age_s.status == 120 and s.outbox.max_age_s.bulk == 60
    assert s.plugins["sim1"].plugin_settings["rate"] == 0
    assert s.plugins["sim1"].kind == "sim"


def test_settings_from_mapping_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRTC_AGENT_AGENT__DEVICE", "everyone")
    s = settings_from_mapping({"agent": {"centre": "c", "device": "sim-001"}})
    assert s.agent.device == "sim-001"


@pytest.mark.parametrize(
    "data",
    [
        {"agent": {"centre": "c", "device": "d"}, "mqtt": {"url": "http://x"}},
        {"agent": {"centre": "c", "device": "bad/id"}},
        {"agent": {"centre": "c", "device": "d"}, "plugins": {"Sim": {"kind": "sim"}}},
        {"agent": {"centre": "c", "device": "d"}, "plugins": {"agent": {"kind": "sim"}}},
        {"agent": {"centre": "c", "device": "d"}, "outbox": {"max_evnts": 3}},
    ],
)
def test_invalid_settings_are_refused(data: dict) -> None:
    with pytest.raises(ValidationError):
        settings_from_mapping(data)
