"""Generate docs/configuration.md from the settings classes of the collector and the agent.

    .venv/bin/python scripts/gen_config_doc.py > docs/configuration.md
    .venv/bin/python scripts/gen_config_doc.py --check docs/configuration.md

Walks the pydantic models: every leaf field becomes one row with its TOML key, its
environment variable, its default and its description.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import sys
import types
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "python scripts/gen_config_doc.py > docs/configuration.md"


@dataclass(frozen=True)
class Role:
    title: str
    module: str
    cls: str
    env_prefix: str
    example: str
    intro: str


ROLES = (
    Role(
        "Collector",
        "collector.settings",
        "CollectorSettings",
        "PRTC_COLLECTOR_",
        "configs/collector.toml, configs/collector-postgres.toml",
        "`prtc-collector` reads the TOML file given on its command line; every key can be "
        "overridden by its environment variable. Outside `development`, `secret_key` is "
        "required.",
    ),
    Role(
        "Agent",
        "edge_agent.settings",
        "AgentSettings",
        "PRTC_AGENT_",
        "configs/agent.toml",
        "`prtc-agent` reads the TOML file given on its command line; every key can be "
        "overridden by its environment variable. `[agent]` `centre` and `device` are "
        "required.",
    ),
)


@dataclass(frozen=True)
class Row:
    key: str
    env: str
    type: str
    default: str
    description: str


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class of ``Model`` or ``Model | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [_model_of(a) for a in typing.get_args(annotation) if a is not type(None)]
        if len(models) == 1:
            return models[0]
    return None


def _dict_value_model(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is dict:
        _, value = typing.get_args(annotation)
        return _model_of(value)
    return None


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return " \\| ".join(f"`{m.value}`" for m in annotation)
        if annotation is SecretStr:
            return "secret string"
        if issubclass(annotation, Path):
            return "path"
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" (optional)" if type(None) in args else "")
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (list, tuple, set):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "table"
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        factory = field.default_factory
        if factory in (list, dict, set, tuple):
            return "`[]`" if factory in (list, set, tuple) else "`{}`"
        return "computed at start-up"
    value = field.default
    if value is PydanticUndefined:
        return "**required**"
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "unset" if not value.get_secret_value() else "(secret)"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return f'`"{value}"`' if value else '`""`'
    return f"`{json.dumps(value)}`"


def _text(value: str | None) -> str:
    return " ".join((value or "").split()).replace("|", "\\|")


def _rows(model: type[BaseModel], env_prefix: str, key_prefix: str = "") -> list[Row]:
    """Leaf fields of ``model`` first, then those of its sub-sections (one table each)."""
    rows: list[Row] = []
    nested: list[Row] = []
    for name, field in model.model_fields.items():
        key = f"{key_prefix}{name}"
        env = f"{env_prefix}{name.upper()}"
        annotation = field.annotation
        section = _model_of(annotation)
        if section is not None:
            nested += _rows(section, f"{env}__", f"{key}.")
            continue
        value_model = _dict_value_model(annotation)
        if value_model is not None:
            nested += _rows(value_model, f"{env}__<NAME>__", f"{key}.<name>.")
            if value_model.model_config.get("extra") == "allow":
                nested.append(
                    Row(
                        f"{key}.<name>.<setting>",
                        f"{env}__<NAME>__<SETTING>",
                        "any",
                        "",
                        "any other key is handed to the plugin as its own setting",
                    )
                )
            continue
        rows.append(
            Row(key, env, _type_name(annotation), _default(field), _text(field.description))
        )
    return rows + nested


def _lenient_sections(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Sections whose model neither forbids nor deliberately allows unknown keys."""
    found: list[str] = []
    for name, field in model.model_fields.items():
        section = _model_of(field.annotation) or _dict_value_model(field.annotation)
        if section is None:
            continue
        key = f"{prefix}{name}" if _model_of(field.annotation) else f"{prefix}{name}.<name>"
        if section.model_config.get("extra") not in ("forbid", "allow"):
            found.append(key)
        found += _lenient_sections(section, f"{key}.")
    return found


def _section_of(key: str) -> str:
    parts = key.split(".")
    return ".".join(parts[:-1])


def render_role(role: Role) -> list[str]:
    settings_cls = getattr(importlib.import_module(role.module), role.cls)
    lines = [
        f"## {role.title}",
        "",
        f"Settings class `{role.module}.{role.cls}`; examples in {role.example}. "
        f"Environment prefix `{role.env_prefix}`. {role.intro}",
        "",
    ]
    lenient = _lenient_sections(settings_cls)
    if lenient:
        lines += [
            "Unknown keys are rejected at the top level, but ignored in "
            + ", ".join(f"`[{s}]`" for s in lenient)
            + ": check the spelling of keys there.",
            "",
        ]
    else:
        lines += ["Unknown keys are rejected in every section.", ""]
    current: str | None = None
    for row in _rows(settings_cls, role.env_prefix):
        section = _section_of(row.key)
        if section != current:
            if current is not None:
                lines.append("")
            current = section
            lines += [
                f"### `[{section}]`" if section else "### Top level",
                "",
                "| key | environment variable | type | default | description |",
                "|---|---|---|---|---|",
            ]
        leaf = row.key.rsplit(".", 1)[-1]
        lines.append(
            f"| `{leaf}` | `{row.env}` | {row.type} | {row.default or ''} | {row.description} |"
        )
    lines.append("")
    return lines


def render() -> str:
    lines = [
        "# Configuration",
        "",
        f"<!-- Generated from the settings classes by `{REGENERATE}`. Do not edit by hand. -->",
        "",
        "Each process reads one TOML file and the environment; the environment wins. A key "
        "`key` in section `[a.b]` of the file is the variable `<PREFIX>A__B__KEY`: the role's "
        "prefix, the section path and the key in upper case, joined by `__`. Lists and tables "
        "given in the environment are JSON (for example "
        '`PRTC_AGENT_PLUGINS=\'{"sim1": {"kind": "sim"}}\'`). Under systemd put the '
        "variables, secrets in particular, in `/etc/prtc/<role>.env` (mode 0600); the units "
        "read it with `EnvironmentFile=`.",
        "",
    ]
    for role in ROLES:
        lines += render_role(role)
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", metavar="FILE", type=Path, help="exit 1 if FILE is stale")
    args = parser.parse_args(argv)
    rendered = render()
    if args.check is None:
        sys.stdout.buffer.write(rendered.encode("utf-8"))
        sys.stdout.flush()
        return 0
    current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
    if current == rendered:
        return 0
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        rendered.splitlines(keepends=True),
        fromfile=str(args.check),
        tofile="rendered",
    )
    sys.stderr.writelines(diff)
    sys.stderr.write(f"\n{args.check} is stale; regenerate with: {REGENERATE}\n")
    return 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
