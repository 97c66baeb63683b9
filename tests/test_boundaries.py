"""Import boundaries, checked statically so that a forbidden import fails even if unused.

- the wire contract imports none of the project's other packages;
- the agent side (``edge_agent``, ``device_plugins``, ``burn_station``) never imports the collector;
- the collector never imports the agent side;
- a business module under ``collector/modules/<name>/`` imports another module only through
  its public package (``collector.modules.<other>``) or its public functions
  (``collector.modules.<other>.service``), never its tables or other internals.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN: dict[str, set[str]] = {
    "contract": {"edge_agent", "device_plugins", "burn_station", "collector", "web_console"},
    "edge_agent": {"collector", "web_console"},
    "device_plugins": {"collector", "web_console"},
    "burn_station": {"collector", "web_console"},
    "collector": {"edge_agent", "device_plugins", "burn_station"},
}


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_inside_their_boundary(package: str) -> None:
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in python_files(package)
        for line, name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert not violations, "\n".join(violations)


def test_business_modules_use_each_others_public_package_only() -> None:
    modules_dir = ROOT / "collector" / "modules"
    violations = []
    for path in sorted(modules_dir.rglob("*.py")) if modules_dir.exists() else []:
        if path.parent == modules_dir:
            continue  # the framework and the registry load every module's declaration
        own = path.relative_to(modules_dir).parts[0]
        for line, name in imported_modules(path):
            parts = name.split(".")
            public = len(parts) <= 3 or parts[3:] == ["service"]
            if parts[:2] == ["collector", "modules"] and not public and parts[2] != own:
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not violations, "\n".join(violations)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from collector.runtime import Runtime\nimport edge_agent.outbox\n")
    assert [n for _, n in imported_modules(bad)] == ["collector.runtime", "edge_agent.outbox"]
