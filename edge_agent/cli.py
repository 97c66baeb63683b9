"""``prtc-agent``: run the agent, or show the state of its outbox without it running."""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge_agent import agent_version, meta
from edge_agent.agent import OUTBOX_FILE, UPLOADS_FILE, Agent
from edge_agent.db import Database
from edge_agent.outbox import Outbox
from edge_agent.settings import ENV_PREFIX, AgentSettings, load_settings
from edge_agent.upload_queue import UploadQueue

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        help=f"agent TOML file; every key can be overridden by {ENV_PREFIX}<SECTION>__<KEY>",
    )


def _settings(args: argparse.Namespace) -> AgentSettings:
    try:
        return load_settings(args.config)
    except (OSError, ValidationError, ValueError) as exc:
        raise SystemExit(f"prtc-agent: invalid configuration: {exc}") from exc


def cmd_run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    Agent(_settings(args)).run_forever()
    return 0


def read_status(state_dir: Path) -> dict[str, Any]:
    """The outbox and link state from ``outbox.db``, opened read-only."""
    path = state_dir / OUTBOX_FILE
    if not path.exists():
        raise FileNotFoundError(f"no outbox at {path} (the agent has never run here)")
    db = Database(path, readonly=True)
    try:
        stats = Outbox(db).stats()
        facts = meta.Meta(db)
        last_receipt = facts.get(meta.LAST_RECEIPT_AT)
        return {
            "outbox": str(path),
            "depth": stats.depth,
            "bytes": stats.bytes,
            "oldest_age_s": round(stats.oldest_age_s, 1),
            "depth_by_class": stats.depth_by_class,
            "last_seq": stats.last_seq,
            "evicted": stats.evicted,
            "evicted_by_reason": stats.evicted_by_reason,
            "boot": facts.get(meta.BOOT),
            "config_version": facts.get(meta.CONFIG_VERSION),
            "link_state": facts.get(meta.LINK_STATE, "unknown"),
            "link_changed_at": _iso(facts.get(meta.LINK_CHANGED_AT)),
            "last_receipt_at": _iso(last_receipt),
            "last_receipt_age_s": round(time.time() - last_receipt, 1) if last_receipt else None,
            "clock_offset_s": facts.get(meta.CLOCK_OFFSET),
            **_upload_status(state_dir / UPLOADS_FILE),
        }
    finally:
        db.close()


def _upload_status(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    queue = UploadQueue(path, readonly=True)
    try:
        stats = queue.stats()
    except sqlite3.OperationalError:  # created, tables not yet
        return {}
    finally:
        queue.close()
    return {
        "uploads_pending": stats.pending,
        "uploads_pending_bytes": stats.pending_bytes,
        "uploads_failed": stats.failed,
        "uploads_last_error": stats.last_error,
    }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        status = read_status(settings.agent.state_dir)
    except (FileNotFoundError, OSError) as exc:
        print(f"prtc-agent: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    width = max(len(k) for k in status)
    for key, value in status.items():
        print(f"{key:<{width}}  {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prtc-agent",
        description="Edge agent of the trading-centre site platform: captures device events "
        "into a durable outbox, delivers them over MQTT, executes commands.",
    )
    parser.add_argument("--version", action="version", version=f"prtc-agent {agent_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: Sequence[tuple[str, str, Callable[[argparse.Namespace], int]]] = (
        ("run", "run the agent until SIGTERM/SIGINT", cmd_run),
        ("status", "show outbox backlog, evictions and link state (read-only)", cmd_status),
    )
    for name, help_text, func in commands:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_config(p)
        p.set_defaults(func=func)
        if name == "run":
            p.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
        if name == "status":
            p.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
