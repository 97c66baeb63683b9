"""docs/protocol.md is generated from the contract and must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contract import docgen
from contract.envelopes import AckStatus
from contract.registry import Priority, registry
from contract.topics import TopicKind

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"


def test_committed_protocol_doc_is_current():
    rendered = docgen.render_protocol()
    committed = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert committed == rendered, (
        f"docs/protocol.md is stale; regenerate with: {docgen.REGENERATE} (and commit the result)"
    )


def test_render_is_deterministic():
    assert docgen.render_protocol() == docgen.render_protocol()


def test_doc_names_everything_in_the_contract():
    text = docgen.render_protocol()
    for kind in TopicKind:
        assert f"/{kind.value}" in text
    for spec in registry.specs():
        assert f"### {spec.name} v{spec.schema_version}" in text
    for model in docgen.ENVELOPES:
        assert f"### {model.__name__}" in text
    for status in AckStatus:
        assert f"| `{status.value}` |" in text
    for priority in Priority:
        assert f"| `{priority.name.lower()}` |" in text
    for reason in docgen.DEAD_LETTER_REASONS:
        assert f"| `{reason}` |" in text


def test_dead_letter_reasons_match_the_collector():
    try:
        from collector.ingest.models import DeadReason
    except ImportError:
        pytest.skip("collector.ingest.models.DeadReason not importable")
    assert {r.value for r in DeadReason} == set(docgen.DEAD_LETTER_REASONS)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contract.docgen", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )


def test_cli_writes_and_checks(tmp_path: Path):
    out = _run()
    assert out.returncode == 0
    assert out.stdout == docgen.render_protocol()

    target = tmp_path / "protocol.md"
    target.write_text(out.stdout, encoding="utf-8")
    assert _run("--check", str(target)).returncode == 0

    target.write_text(out.stdout.replace("## Topics", "## Topix"), encoding="utf-8")
    stale = _run("--check", str(target))
    assert stale.returncode == 1
    assert "+## Topics" in stale.stderr
    assert docgen.REGENERATE in stale.stderr
