"""The example ``[plugins.entrance]`` section of ``configs/agent.toml`` is valid settings."""

from __future__ import annotations

import tomllib
from pathlib import Path

from device_plugins.entrance.door import EntranceSettings

ROOT = Path(__file__).resolve().parents[3]


def test_example_section_validates() -> None:
    section = dict(
        tomllib.loads((ROOT / "configs" / "agent.toml").read_text())["plugins"]["entrance"]
    )
    assert section.pop("kind") == "entrance"
    section.pop("enabled", None)
    settings = EntranceSettings.model_validate(section)
    assert settings.kiosk_host == "127.0.0.1" and settings.kiosk_port == 8765


def test_commented_local_rules_validate_when_uncommented() -> None:
    text = (ROOT / "configs" / "agent.toml").read_text()
    start = text.index("# [plugins.entrance.rules]")
    lines = []
    for line in text[start:].splitlines():  # the contiguous commented block only
        if not line.startswith("# "):
            break
        lines.append(line.removeprefix("# "))
    rules = tomllib.loads("\n".join(lines))["plugins"]["entrance"]["rules"]
    assert (
        EntranceSettings.model_validate({"rules": rules}).rules.watched_regions[0].prefix == "4201"
    )
