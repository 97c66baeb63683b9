"""docs/configuration.md is generated from the settings classes and must be current; the
example configs in configs/ use only keys the settings classes know, and load."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_config_doc", ROOT / "scripts" / "gen_config_doc.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen = _generator()


def test_committed_configuration_doc_is_current():
    committed = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert committed == gen.render(), (
        f"docs/configuration.md is stale; regenerate with: {gen.REGENERATE} (and commit the result)"
    )


def test_check_option(tmp_path: Path):
    stale = tmp_path / "configuration.md"
    stale.write_text("old\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_doc.py"), "--check", str(stale)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert gen.REGENERATE in result.stderr


def test_every_key_has_an_environment_variable_and_a_description():
    for role in gen.ROLES:
        module = importlib.import_module(role.module)
        rows = gen._rows(getattr(module, role.cls), role.env_prefix)
        assert rows
        for row in rows:
            assert row.env.startswith(role.env_prefix)
            assert row.description, f"{role.cls}: {row.key} has no description"


def _unknown_keys(data: dict[str, Any], model: type[BaseModel], path: str = "") -> list[str]:
    """Keys of a TOML table that the model does not declare, at any depth."""
    found: list[str] = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            if model.model_config.get("extra") != "allow":
                found.append(f"{path}{key}")
            continue
        section = gen._model_of(field.annotation)
        if section is not None and isinstance(value, dict):
            found += _unknown_keys(value, section, f"{path}{key}.")
        entry = gen._dict_value_model(field.annotation)
        if entry is not None and isinstance(value, dict):
            for name, item in value.items():
                found += _unknown_keys(item, entry, f"{path}{key}.{name}.")
    return found


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith(("PRTC_COLLECTOR_", "PRTC_AGENT_")):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize("name", ["collector.toml", "collector-postgres.toml"])
def test_collector_examples_load(name: str, clean_env: pytest.MonkeyPatch):
    from collector.settings import CollectorSettings, load_settings

    path = ROOT / "configs" / name
    assert _unknown_keys(tomllib.loads(path.read_text()), CollectorSettings) == []
    clean_env.setenv("PRTC_COLLECTOR_SECRET_KEY", "x" * 40)
    settings = load_settings(path)
    assert not settings.development


def test_agent_example_loads(clean_env: pytest.MonkeyPatch):
    from edge_agent.settings import AgentSettings, load_settings

    path = ROOT / "configs" / "agent.toml"
    assert _unknown_keys(tomllib.loads(path.read_text()), AgentSettings) == []
    settings = load_settings(path)
    sim1 = settings.plugins["sim1"]
    assert sim1.kind == "sim"
    from device_plugins.sim.plugin import SimSettings

    SimSettings.model_validate(sim1.plugin_settings)  # the plugin's own keys are valid too
