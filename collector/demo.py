"""``prtc-collector demo``: the whole system on embedded defaults, for a laptop.

Starts the collector with the embedded broker and a SQLite database under ``--data-dir``,
enrols a demo centre tree and a few simulated devices, runs them with ``prtc-sim agents`` in
a child process (so the collector never imports the agent), serves the API (and the console
once it exists) and prints what to open. Ctrl-C stops everything; the data directory stays,
so a second run continues where the first ended.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session

from collector.settings import CollectorSettings, load_settings

DEMO_PROVINCE = "demo-prov"
DEMO_CITY = "demo-city"
DEMO_COUNTY = "demo-county"


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(host: str, preferred: int) -> int:
    """The preferred port if it is free, else one the OS hands out."""
    if port_free(host, preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def persistent_secret(data_dir: Path) -> str:
    """One secret per data directory: personal data written by a previous run stays readable."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


def demo_settings(args: argparse.Namespace) -> CollectorSettings:
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    mqtt_port = pick_port("127.0.0.1", args.mqtt_port)
    http_port = pick_port(args.host, args.port)
    return load_settings(
        args.config,
        development=True,
        secret_key=persistent_secret(data_dir),
        database={"url": f"sqlite:///{data_dir / 'collector.db'}"},
        mqtt={"url": "", "embedded_listen": f"127.0.0.1:{mqtt_port}"},
        http={"host": args.host, "port": http_port},
        files={"root": str(data_dir / "files")},
    )


DEMO_ADMIN = "admin"


def demo_admin_password(data_dir: Path) -> str:
    """The first administrator's password: generated once, kept in DATA_DIR/admin_password."""
    from collector.cli import generate_password

    path = data_dir / "admin_password"
    if path.exists():
        return path.read_text().strip()
    password = generate_password()
    path.write_text(password)
    path.chmod(0o600)
    return password


def ensure_demo_admin(session: Session, settings: CollectorSettings, password: str) -> None:
    from sqlmodel import select

    from collector.auth import service as auth_service
    from collector.auth.models import User

    if session.exec(select(User.id).where(User.username == DEMO_ADMIN)).first() is None:
        auth_service.create_user(
            session,
            username=DEMO_ADMIN,
            password=password,
            role="system_admin",
            display_name="演示管理员",
            policy=settings.auth,
        )


def enrol_demo_site(
    settings: CollectorSettings, devices: list[str], admin_password: str | None = None
) -> None:
    from collector import migrate
    from collector.db import make_engine
    from collector.devices import service

    engine = make_engine(settings.database.url)
    try:
        migrate.upgrade(engine)
        with Session(engine) as session:
            service.ensure_centre(session, DEMO_PROVINCE, "演示省中心", "province")
            service.ensure_centre(
                session, DEMO_CITY, "演示市公共资源交易中心", "city", DEMO_PROVINCE
            )
            service.ensure_centre(
                session, DEMO_COUNTY, "演示县公共资源交易中心", "county", DEMO_CITY
            )
            for device in devices:
                if service.get_device(session, device) is None:
                    service.enrol_device(
                        session,
                        centre_id=DEMO_CITY,
                        device_id=device,
                        kind="sim",
                        name=f"模拟设备 {device}",
                    )
            if admin_password is not None:
                ensure_demo_admin(session, settings, admin_password)
    finally:
        engine.dispose()


def start_agents(broker_url: str, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "device_plugins.sim.cli",
            "agents",
            "--broker",
            broker_url,
            "--centre",
            DEMO_CITY,
            "--count",
            str(args.agents),
            "--rate",
            str(args.rate),
            "--state-dir",
            str(args.data_dir.resolve() / "agents"),
            "--prefix",
            "sim-",
            "--heartbeat-interval",
            "10",
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def quiet_libraries() -> None:
    """The demo prints what to open; library chatter would bury it."""
    for name in ("amqtt", "transitions", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def cmd_demo(args: argparse.Namespace) -> int:
    quiet_libraries()  # before the imports: alembic logs while it loads its plugins
    import uvicorn

    from collector.api.app import create_app
    from collector.runtime import Runtime

    settings = demo_settings(args)
    devices = [f"sim-{i:03d}" for i in range(1, args.agents + 1)]
    admin_password = demo_admin_password(args.data_dir.resolve())
    enrol_demo_site(settings, devices, admin_password)
    runtime = Runtime(settings).start()
    agents: subprocess.Popen[bytes] | None = None
    try:
        if not runtime.wait_ready(30):
            print("prtc-collector demo: the collector did not become ready", file=sys.stderr)
            return 1
        agents = start_agents(runtime.broker_url, args)
        url = f"http://{settings.http.host}:{settings.http.port}"
        print(
            "\n".join(
                [
                    "",
                    "  公共资源交易中心现场平台 — demo / 演示",
                    f"  Console / 控制台:     {url}/",
                    f"  Log in / 登录:        {DEMO_ADMIN} / {admin_password}"
                    f"  (kept in {args.data_dir.resolve() / 'admin_password'})",
                    f"  API docs / 接口文档:  {url}/api/docs",
                    f"  Broker / 消息服务器:  {runtime.broker_url} (embedded, anonymous)",
                    f"  Data / 数据目录:      {args.data_dir.resolve()}",
                    f"  Simulated devices:    {', '.join(devices)} in centre {DEMO_CITY}",
                    "  Ctrl-C stops everything.",
                    "",
                ]
            ),
            flush=True,
        )
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(runtime),
                host=settings.http.host,
                port=settings.http.port,
                log_level="warning",
                access_log=False,
            )
        )
        # uvicorn re-raises Ctrl-C once it has shut down; that is the normal way out here.
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    finally:
        if agents is not None:
            agents.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                agents.wait(15)
            if agents.poll() is None:
                agents.kill()
        runtime.stop()
    return 0


def add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole system on embedded defaults with a simulated site",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("-c", "--config", type=Path, help="optional TOML config to start from")
    p.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="default var/demo")
    p.add_argument("--host", default="127.0.0.1", help="HTTP listen address")
    p.add_argument("--port", type=int, default=8080, help="HTTP port (another if taken)")
    p.add_argument(
        "--mqtt-port", type=int, default=1883, help="embedded broker port (another if taken)"
    )
    p.add_argument("--agents", type=int, default=3, help="simulated devices (default 3)")
    p.add_argument("--rate", type=float, default=1.0, help="events/s per device (default 1)")
    p.set_defaults(func=cmd_demo)
