"""The commented device sections of configs/agent.toml stay valid for their plugins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from device_plugins.idcard_sam.plugin import SamSettings
from device_plugins.modbus_gate.plugin import GateSettings
from device_plugins.thermometer.plugin import ThermometerSettings

ROOT = Path(__file__).resolve().parents[2]


def commented_section(name: str) -> dict[str, object]:
    """Uncomment ``# [plugins.<name>]`` and the ``# key = value`` lines under it."""
    lines = (ROOT / "configs" / "agent.toml").read_text().splitlines()
    start = lines.index(f"# [plugins.{name}]")
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("# "):
            break
        text = line[2:]
        if re.match(r"^[a-z_]+ = ", text):
            body.append(text)
    return tomllib.loads("\n".join(body))


@pytest.mark.parametrize(
    ("name", "model"),
    [("idcard", SamSettings), ("thermometer", ThermometerSettings), ("gate1", GateSettings)],
)
def test_commented_example_validates(name: str, model: type[BaseModel]) -> None:
    section = commented_section(name)
    assert section.pop("kind")
    model.model_validate(section)
