"""``prtc-collector demo``: the whole system on embedded defaults, for a laptop.

Starts the collector with the embedded broker and a SQLite database under ``--data-dir``,
enrols a demo centre tree and a few simulated devices, runs them with ``prtc-sim agents`` in
a child process (so the collector never imports the agent), serves the API and the console
and prints what to open. The simulated site has an entrance PC per city and county centre
(the real entrance plugins on simulated reader, thermometer and gate, with visitors coming
and going); the first run seeds a little data into the venues and experts modules through
their service functions. Ctrl-C stops everything; the data directory stays, so a second run
continues where the first ended.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import logging
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from collector.settings import CollectorSettings, load_settings

if TYPE_CHECKING:
    from collector.runtime import Runtime

DEMO_PROVINCE = "demo-prov"
DEMO_CITY = "demo-city"
DEMO_COUNTY = "demo-county"
ENTRANCE_CENTRES = (DEMO_CITY, DEMO_COUNTY)
KIOSK_PORT = 8765  # the entrance screen's usual port; the next ones for further entrances


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


def entrance_device(centre: str) -> str:
    return f"entrance-{centre.removeprefix('demo-')}"


def enrol_demo_site(
    settings: CollectorSettings,
    devices: list[str],
    admin_password: str | None = None,
    entrances: dict[str, str] | None = None,
) -> None:
    """Create the centre tree and enrol ``devices`` (sim, in the city centre) and
    ``entrances`` (device → centre, kind ``entrance``)."""
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
            for device, centre in (entrances or {}).items():
                if service.get_device(session, device) is None:
                    service.enrol_device(
                        session,
                        centre_id=centre,
                        device_id=device,
                        kind="entrance",
                        name="入口登记终端（东门，模拟）",
                    )
            if admin_password is not None:
                ensure_demo_admin(session, settings, admin_password)
    finally:
        engine.dispose()


def kiosk_ports(count: int) -> list[int]:
    """Local ports for the entrance screens: 8765, 8766, … where free."""
    ports: list[int] = []
    for i in range(count):
        port = pick_port("127.0.0.1", KIOSK_PORT + i)
        while port in ports:  # the OS handed out a port already chosen: ask again
            port = pick_port("127.0.0.1", KIOSK_PORT + i)
        ports.append(port)
    return ports


def start_agents(
    broker_url: str, args: argparse.Namespace, entrances: dict[str, tuple[str, int]]
) -> subprocess.Popen[bytes]:
    """``prtc-sim agents`` in a child process; ``entrances``: device → (centre, screen port)."""
    entrance_args: list[str] = []
    for device, (centre, port) in entrances.items():
        entrance_args += ["--entrance", f"{device}@{centre}:{port}"]
    if entrances:
        entrance_args += ["--entrance-every", str(args.entrance_every)]
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
            *entrance_args,
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


# -- demo data of the business modules, through their service functions ----------------------


def _demo_id_number(rng: random.Random, region: str) -> str:
    from contract.idnumber import check_character

    first17 = f"{region}{rng.randint(1960, 2000)}{rng.randint(1, 12):02d}"
    first17 += f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return first17 + check_character(first17)


def seed_venues(session: Session, settings: CollectorSettings, rng: random.Random) -> str:
    """Three venues of the city centre and a week of QR-code scans, imported as a CSV."""
    from collector.modules.venues import service as venues
    from collector.modules.venues.columns import SCAN_COLUMNS
    from collector.modules.venues.models import Venue
    from collector.modules.venues.scope import VenueScope

    sample = [
        ("DEMO-V01", "开平市人民医院", "医疗机构", "长沙街道"),
        ("DEMO-V02", "开平市汽车总站", "交通场站", "三埠街道"),
        ("DEMO-V03", "开平市图书馆", "文化场馆", "长沙街道"),
    ]
    if session.exec(
        select(Venue.id).where(Venue.centre_id == DEMO_CITY, Venue.code == sample[0][0])
    ).first():
        return ""
    scope = VenueScope(frozenset({DEMO_CITY}))
    for code, name, category, street in sample:
        body = venues.VenueIn(
            centre_id=DEMO_CITY,
            code=code,
            name=name,
            category=category,
            city="开平市",
            street=street,
        )
        venues.save_venue(session, scope, body, actor=None)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.label for c in SCAN_COLUMNS])  # the import wants every template column
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    for days_ago in range(7, 0, -1):
        day = today - timedelta(days=days_ago)
        for code, name, _, _ in sample:
            for _ in range(rng.randint(4, 15)):
                at = datetime.combine(day, time(rng.randint(8, 17), rng.randint(0, 59)))
                person = rng.choice("王李张刘陈杨黄") + rng.choice(["伟", "芳", "敏", "强", "丽"])
                number = _demo_id_number(rng, rng.choice(["440783", "440703", "440106"]))
                row = {
                    "venue_code": code,
                    "venue_name": name,
                    "id_number": number,
                    "person_name": person,
                    "collected_at": at.strftime("%Y-%m-%d %H:%M:%S"),
                }
                writer.writerow([row.get(c.key, "") for c in SCAN_COLUMNS])
    result = venues.import_scan_file(
        session,
        out.getvalue().encode(),
        centre_id=DEMO_CITY,
        actor=None,
        actor_label="演示数据",
        settings=settings.venues,
        filename="demo-scans.csv",
    )
    return f"venues: {len(sample)} venues and {result.inserted} scans of the past week"


def seed_experts(session: Session, settings: CollectorSettings, rng: random.Random) -> str:
    """An evaluation room and a project with a session under way today and its roster."""
    from collector.modules.experts import service as experts
    from collector.modules.experts.models import Project

    number = "DEMO-2026-001"
    if session.exec(
        select(Project.id).where(Project.centre_id == DEMO_CITY, Project.number == number)
    ).first():
        return ""
    experts.save_room(
        session,
        experts.RoomIn(centre_id=DEMO_CITY, code="PB01", name="第一评标室"),
        actor=None,
    )
    names = ["陈建国", "林晓红", "黄志明", "吴海燕", "周文斌"]
    roster = [
        experts.PersonIn(
            name=name,
            role="leader" if i == 0 else "member",
            id_number=_demo_id_number(rng, "440106"),
            specialty="房屋建筑工程",
        )
        for i, name in enumerate(names)
    ]
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    body = experts.ProjectIn(
        centre_id=DEMO_CITY,
        number=number,
        name="演示市第一中学教学楼改造工程施工招标",
        category="construction",
        sessions=[
            experts.SessionIn(
                rooms=["PB01"],
                start=start,
                end=start + timedelta(hours=4),
                host_name="李主持",
                roster=roster,
            )
        ],
    )
    experts.apply_project(session, body, actor=None, source="demo", tz=ZoneInfo(settings.timezone))
    session.commit()
    return f"experts: project {number}, a session in room PB01 today, {len(roster)} experts"


SEEDS = (("venues", seed_venues), ("experts", seed_experts))


def seed_demo_modules(runtime: Runtime, settings: CollectorSettings) -> list[str]:
    """Seed each module once per data directory; what was seeded, one line per module.

    A module whose seeding fails is skipped with a one-line note: the demo goes on."""
    rng = random.Random(2026)
    lines: list[str] = []
    for name, seed in SEEDS:
        try:
            with Session(runtime.engine) as session:
                line = seed(session, settings, rng)
        except Exception as exc:
            logging.getLogger(__name__).debug("seeding %s failed", name, exc_info=True)
            line = f"{name}: not seeded ({type(exc).__name__}: {exc})"[:200]
        if line:
            lines.append(line)
    return lines


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
    centres = ENTRANCE_CENTRES if args.entrance_every > 0 else ()
    entrances = {
        entrance_device(centre): (centre, port)
        for centre, port in zip(centres, kiosk_ports(len(centres)), strict=True)
    }
    admin_password = demo_admin_password(args.data_dir.resolve())
    enrol_demo_site(settings, devices, admin_password, {d: c for d, (c, _) in entrances.items()})
    runtime = Runtime(settings).start()
    agents: subprocess.Popen[bytes] | None = None
    try:
        if not runtime.wait_ready(30):
            print("prtc-collector demo: the collector did not become ready", file=sys.stderr)
            return 1
        seeded = seed_demo_modules(runtime, settings)
        agents = start_agents(runtime.broker_url, args, entrances)
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
                    *(
                        f"  Entrance screen / 入口屏幕 ({centre}): http://127.0.0.1:{port}/"
                        for centre, port in entrances.values()
                    ),
                    *(f"  Demo data / 演示数据: {line}" for line in seeded),
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
    p.add_argument(
        "--entrance-every",
        type=float,
        default=3.0,
        help="seconds between visitors at each simulated entrance (default 3; 0 = none)",
    )
    p.set_defaults(func=cmd_demo)
