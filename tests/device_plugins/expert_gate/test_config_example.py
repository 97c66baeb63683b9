"""configs/expert-gate.toml loads as agent settings and every plugin section (the commented
Wiegand one too) is valid for its plugin."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel

from device_plugins.expert_gate.gatekeeper import ExpertGateSettings
from device_plugins.idcard_sam.plugin import SamSettings
from device_plugins.modbus_gate.plugin import GateSettings
from device_plugins.pcsc_reader.plugin import PcscSettings
from device_plugins.wiegand_gate.plugin import WiegandGateSettings
from edge_agent.settings import load_settings

PATH = Path(__file__).resolve().parents[3] / "configs" / "expert-gate.toml"
MODELS: dict[str, type[BaseModel]] = {
    "idcard_sam": SamSettings,
    "pcsc_reader": PcscSettings,
    "modbus_gate": GateSettings,
    "wiegand_gate": WiegandGateSettings,
    "expert_gate": ExpertGateSettings,
}


def test_example_loads_and_sections_validate() -> None:
    settings = load_settings(PATH)
    assert settings.agent.device == "gate-east"
    kinds = set()
    for section in settings.plugins.values():
        MODELS[section.kind].model_validate(section.plugin_settings)
        kinds.add(section.kind)
    assert kinds == {"idcard_sam", "pcsc_reader", "modbus_gate", "expert_gate"}


def test_commented_wiegand_section_validates() -> None:
    lines = PATH.read_text().splitlines()
    start = lines.index("# [plugins.door]")
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("# ") or not re.match(r"^[a-z_]+ = ", line[2:]):
            break
        body.append(line[2:])
    section = tomllib.loads("\n".join(body))
    assert section.pop("kind") == "wiegand_gate"
    WiegandGateSettings.model_validate(section)
