"""``prtc-sim``: simulated devices for demos, tests and benchmarks.

Each subcommand is one ``add_*_command(subparsers)`` function in :data:`SUBCOMMANDS`; adding
a subcommand is adding one such function.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from device_plugins.sim.entrance import EntranceSite, EntranceSpec
from edge_agent import agent_version
from edge_agent.fleet import AgentFleet
from edge_agent.settings import AgentSettings, settings_from_mapping

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

Subparsers = Any  # argparse's _SubParsersAction is private
AddCommand = Callable[[Subparsers], None]


def sim_agent_settings(
    *,
    broker: str,
    centre: str,
    device: str,
    state_dir: Path,
    sim: dict[str, Any],
    heartbeat_interval_s: float = 30.0,
    instance: str = "sim1",
) -> AgentSettings:
    """Settings of one simulated agent with one sim plugin instance (environment ignored)."""
    return settings_from_mapping(
        {
            "agent": {
                "centre": centre,
                "device": device,
                "state_dir": state_dir,
                "heartbeat_interval_s": heartbeat_interval_s,
            },
            "mqtt": {"url": broker},
            "plugins": {instance: {"kind": "sim", **sim}},
        }
    )


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    while not done.wait(1.0):
        pass


def cmd_agents(args: argparse.Namespace) -> int:
    sim: dict[str, Any] = {"rate": args.rate}
    if args.types:
        sim["types"] = args.types
    if args.events:
        sim["count"] = args.events
    settings = [
        sim_agent_settings(
            broker=args.broker,
            centre=args.centre,
            device=device,
            state_dir=args.state_dir / device,
            sim=sim,
            heartbeat_interval_s=args.heartbeat_interval,
        )
        for device in (f"{args.prefix}{i:03d}" for i in range(1, args.count + 1))
    ]
    sites = [
        EntranceSite(
            spec,
            broker=args.broker,
            state_dir=args.state_dir / spec.device,
            heartbeat_interval_s=args.heartbeat_interval,
            every_s=args.entrance_every,
        )
        for spec in args.entrance
    ]
    for site in sites:
        site.start_devices()
    fleet = AgentFleet([*settings, *(site.settings() for site in sites)])
    try:
        fleet.start()
        for site in sites:
            site.start_driver()
        for agent in fleet.agents[: len(settings)]:
            print(
                f"{agent.device} started: centre={agent.centre} boot={agent.boot} "
                f"rate={args.rate:g}/s state={agent.settings.agent.state_dir}",
                flush=True,
            )
        for site in sites:
            print(
                f"{site.spec.device} started: centre={site.spec.centre} entrance with "
                f"simulated reader, thermometer and gate; screen {site.kiosk_url}",
                flush=True,
            )
        wait_for_signal()
    finally:
        fleet.stop()
        for site in sites:
            site.stop()
        print(f"stopped {len(fleet.agents)} agent(s)", flush=True)
    return 0


def add_agents_command(sub: Subparsers) -> None:
    p = sub.add_parser(
        "agents",
        help="run N simulated agents in this process",
        description="Run N agents (devices <prefix>001..) with one sim plugin each, and "
        "any simulated entrance PCs, until Ctrl-C or SIGTERM.",
    )
    p.add_argument("--broker", required=True, help="mqtt://host:port or mqtts://host:port")
    p.add_argument("--centre", required=True, help="centre id of all devices")
    p.add_argument("--count", type=int, default=1, help="number of agents (default 1)")
    p.add_argument("--rate", type=float, default=1.0, help="events/s per agent (default 1)")
    p.add_argument("--state-dir", type=Path, required=True, help="one subdirectory per agent")
    p.add_argument(
        "--types",
        nargs="+",
        choices=["sim.reading", "sim.access", "sim.bulk"],
        help="event types to cycle through (default: all three)",
    )
    p.add_argument("--events", type=int, default=0, help="events per agent, 0 = unlimited")
    p.add_argument("--prefix", default="sim-", help="device id prefix (default sim-)")
    p.add_argument("--heartbeat-interval", type=float, default=30.0, help="seconds")
    p.add_argument(
        "--entrance",
        action="append",
        default=[],
        type=EntranceSpec.parse,
        metavar="DEVICE@CENTRE[:PORT]",
        help="also run a simulated entrance PC (real entrance plugins on simulated reader, "
        "thermometer and gate, visitors coming and going; its screen on local PORT, "
        "default any free port); repeatable",
    )
    p.add_argument(
        "--entrance-every",
        type=float,
        default=4.0,
        help="seconds between visitors at each simulated entrance (default 4)",
    )
    p.set_defaults(func=cmd_agents)


SUBCOMMANDS: tuple[AddCommand, ...] = (add_agents_command,)


def build_parser(subcommands: Sequence[AddCommand] = SUBCOMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prtc-sim", description="Simulated site devices.")
    parser.add_argument("--version", action="version", version=f"prtc-sim {agent_version()}")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in subcommands:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
