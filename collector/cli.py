"""``prtc-collector``: serve, migrate the database, enrol centres and devices, add users and
API tokens, write the broker's password and ACL files, rotate the personal-data key."""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlmodel import Session

from collector.settings import CollectorSettings, SettingsError, load_settings

log = logging.getLogger("collector")


def _version() -> str:
    try:
        return version("prtc-site")
    except PackageNotFoundError:
        return "0+unknown"


def _settings(args: argparse.Namespace, *, require_secret: bool) -> CollectorSettings:
    return load_settings(args.config, require_secret=require_secret)


def _admin_engine(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """An engine for administrative commands, migrated first when configured to."""
    from collector import migrate
    from collector.db import make_engine

    settings = _settings(args, require_secret=False)
    engine = make_engine(settings.database.url)
    if settings.database.migrate_on_start:
        migrate.upgrade(engine)
    return engine


# -- serve ------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from collector import systemd
    from collector.runtime import Runtime

    settings = _settings(args, require_secret=True)
    # uvicorn handles SIGINT/SIGTERM while it serves, then restores the previous handlers and
    # raises the signal again; these handlers make that second delivery (or one that arrives
    # during start-up) a request to stop instead of an abrupt death before runtime.stop().
    signals: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: signals.append(signum))
    runtime = Runtime(settings)
    runtime.start()
    try:
        from collector.api.app import create_app

        app = create_app(runtime)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.http.host,
                port=settings.http.port,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=10,
                forwarded_allow_ips=settings.http.forwarded_allow_ips,
            )
        )
        done = threading.Event()
        threading.Thread(
            target=_notify_systemd, args=(server, runtime, done), name="sd-notify", daemon=True
        ).start()
        url = settings.http.public_url or f"http://{settings.http.host}:{settings.http.port}/"
        log.info("serving %s (broker %s)", url, runtime.broker_url)
        if not signals:
            server.run()  # returns after SIGINT / SIGTERM, once requests have drained
        done.set()
        systemd.notify("STOPPING=1")
    finally:
        runtime.stop()
    return 0


def _notify_systemd(server, runtime, done: threading.Event) -> None:  # type: ignore[no-untyped-def]
    from collector import systemd

    while not server.started and not done.wait(0.1):
        pass
    if done.is_set():
        return
    systemd.notify("READY=1")
    interval = systemd.watchdog_interval()
    if interval is None:
        return
    while not done.wait(interval):
        # A dead ingest worker means restart: stop feeding the watchdog.
        if runtime.worker.running:
            systemd.notify("WATCHDOG=1")


# -- db ---------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from collector import migrate
    from collector.db import make_engine

    settings = _settings(args, require_secret=False)
    engine = make_engine(settings.database.url)
    try:
        migrate.upgrade(engine, args.revision)
        print(f"database at revision {migrate.current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from collector import migrate
    from collector.db import make_engine

    engine = make_engine(_settings(args, require_secret=False).database.url)
    try:
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
        print(f"current: {current or '(empty)'}  head: {head}")
        return 0 if current == head else 1
    finally:
        engine.dispose()


# -- centres and devices ----------------------------------------------------------------


def cmd_centre_add(args: argparse.Namespace) -> int:
    from collector.devices import service

    engine = _admin_engine(args)
    try:
        with Session(engine) as session:
            centre = service.ensure_centre(
                session, args.id, args.name, args.level, args.parent, update=True
            )
            print(f"centre {centre.id} ({centre.level.value}) {centre.name}")
    finally:
        engine.dispose()
    return 0


def cmd_device_add(args: argparse.Namespace) -> int:
    from collector.devices import service

    engine = _admin_engine(args)
    try:
        with Session(engine) as session:
            service.ensure_centre(session, args.centre, args.centre)
            device = service.enrol_device(
                session,
                centre_id=args.centre,
                device_id=args.device,
                kind=args.kind,
                name=args.name,
            )
            print(f"device {device.id} enrolled in {device.centre_id} as {device.kind}")
            password = service.issue_broker_password(session, device, replace=args.new_password)
            if password is not None:
                print(f"broker user {device.id} password (shown once): {password}")
    finally:
        engine.dispose()
    return 0


def cmd_device_list(args: argparse.Namespace) -> int:
    from collector.devices import service

    engine = _admin_engine(args)
    try:
        with Session(engine) as session:
            online = {"online": True, "offline": False}.get(args.state)
            rows, total = service.list_devices(
                session,
                centre_ids=args.centre or None,
                online=online,
                kind=args.kind,
                limit=args.limit,
                offset=args.offset,
            )
    finally:
        engine.dispose()
    header = ("DEVICE", "CENTRE", "KIND", "STATE", "LAST SEEN", "LAST SEQ", "NAME")
    table = [header]
    for d in rows:
        seen = d.last_seen_at.strftime("%Y-%m-%d %H:%M:%S") if d.last_seen_at else "-"
        state = ("online" if d.online else "offline") + ("" if d.enabled else " (disabled)")
        table.append((d.id, d.centre_id, d.kind, state, seen, str(d.last_seq), d.name))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"{len(rows)} of {total} device(s)")
    return 0


# -- users, tokens, broker files --------------------------------------------------------


def generate_password() -> str:
    """A random password that meets any password policy of up to four character classes."""
    while True:
        password = secrets.token_urlsafe(15)
        classes = [str.islower, str.isupper, str.isdigit]
        if all(any(test(c) for c in password) for test in classes):
            return password + "-"


def cmd_user_add(args: argparse.Namespace) -> int:
    from collector.auth import service as auth

    settings = _settings(args, require_secret=False)
    password = args.password or generate_password()
    engine = _admin_engine(args)
    try:
        with Session(engine, expire_on_commit=False) as session:
            user = auth.create_user(
                session,
                username=args.username,
                password=password,
                role=args.role,
                centre_id=args.centre,
                display_name=args.display_name,
                policy=settings.auth,
            )
    except (auth.UserExists, auth.WeakPassword) as exc:
        print(f"prtc-collector: error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"user {user.username} ({user.role.value}) in {user.centre_id or 'all centres'}")
    if not args.password:
        print(f"password (shown once): {password}")
    return 0


def cmd_token_add(args: argparse.Namespace) -> int:
    from collector.auth import service as auth

    permissions = [p for item in args.permissions for p in item.split(",") if p]
    engine = _admin_engine(args)
    try:
        with Session(engine, expire_on_commit=False) as session:
            row, secret = auth.create_api_token(
                session, name=args.name, centre_id=args.centre, permissions=permissions
            )
    finally:
        engine.dispose()
    if args.quiet:
        print(secret)
    else:
        print(f"API token {row.id} {row.name!r} for {row.centre_id}: {', '.join(row.permissions)}")
        print(f"token (shown once): {secret}")
    return 0


def cmd_broker_config(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from collector.broker_auth import hash_for_mosquitto, write_broker_files
    from collector.devices.models import Device

    settings = _settings(args, require_secret=False)
    collector_user = args.collector_user or settings.mqtt.username or "prtc-collector"
    password = settings.mqtt.password
    engine = _admin_engine(args)
    try:
        with Session(engine) as session:
            devices = list(session.exec(select(Device)).all())
    finally:
        engine.dispose()
    generated = not password
    password = password or generate_password()
    files = write_broker_files(
        args.out,
        devices,
        collector_user=collector_user,
        collector_password_hash=hash_for_mosquitto(password),
    )
    active = sum(1 for d in devices if d.enabled and d.broker_password_hash)
    print(f"wrote {files.password_file} and {files.acl_file}: {active} device(s)")
    if generated:
        print(f"broker user {collector_user} password (shown once; set mqtt.password): {password}")
    return 0


# -- parser -----------------------------------------------------------------------------


# -- personal-data keys ----------------------------------------------------------------------


def _pii_cipher(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The configured cipher and an engine, after the keyring check (which records new keys)."""
    from collector.security.rotation import open_keyring

    settings = _settings(args, require_secret=True)
    pd = settings.personal_data
    engine = _admin_engine(args)
    cipher = open_keyring(engine, settings.secret_key, key_id=pd.key_id, keys=pd.keys)
    return settings, cipher, engine


def cmd_pii_status(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from collector.security.models import PersonalDataKey
    from collector.security.rotation import count_stale

    _, cipher, engine = _pii_cipher(args)
    try:
        with Session(engine) as session:
            keys = session.exec(select(PersonalDataKey).order_by(PersonalDataKey.key_id)).all()
            stale = {t: n for t, n in count_stale(session, cipher).items() if n}
    finally:
        engine.dispose()
    print(f"current key: {cipher.current_key_id}")
    for key in keys:
        state = "current" if key.key_id == cipher.current_key_id else "to be re-encrypted"
        if key.retired_at is not None:
            state = f"retired {key.retired_at:%Y-%m-%d %H:%M} UTC (its secret may be removed)"
        print(f"  key {key.key_id}: first used {key.first_used_at:%Y-%m-%d %H:%M} UTC, {state}")
    if stale:
        print("rows with values under an old key:")
        for table, n in stale.items():
            print(f"  {table}: {n}")
    else:
        print("every stored value is under the current key")
    return 0


def cmd_pii_rotate(args: argparse.Namespace) -> int:
    from collector.security.rotation import rotate

    settings, cipher, engine = _pii_cipher(args)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda _s, _f: stop.set())
    done: dict[str, int] = {}

    def progress(table: str, n: int) -> None:
        done[table] = done.get(table, 0) + n
        print(f"  {table}: {done[table]} rows re-encrypted", flush=True)

    try:
        with Session(engine, expire_on_commit=False) as session:
            result = rotate(
                session,
                cipher,
                batch=settings.personal_data.rotate_batch,
                stop=stop.is_set,
                on_batch=progress,
            )
    finally:
        engine.dispose()
    if result.finished:
        retired = ", ".join(result.retired) or "none pending"
        print(f"done: {result.reencrypted} rows re-encrypted; retired keys: {retired}")
        return 0
    print(
        f"not finished: {result.reencrypted} rows re-encrypted, {result.remaining} rows left, "
        f"{result.failed} values could not be decrypted (see the log)",
        file=sys.stderr,
    )
    return 1


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=Path,
        help="TOML config file (environment PRTC_COLLECTOR_* overrides it)",
    )
    common.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )

    parser = argparse.ArgumentParser(
        prog="prtc-collector",
        description="Collector of the trading-centre site platform: stores the fleet's "
        "events exactly once, tracks devices, sends commands and configuration, serves the API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", parents=[common], help="run the collector and its web API")
    p.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    p = db_sub.add_parser("upgrade", parents=[common], help="apply migrations")
    p.add_argument("--revision", default="head", help="target revision (default: head)")
    p.set_defaults(func=cmd_db_upgrade)
    p = db_sub.add_parser(
        "current", parents=[common], help="show the revision (exit 1 if not at head)"
    )
    p.set_defaults(func=cmd_db_current)

    centre = sub.add_parser("centre", help="trading centres")
    centre_sub = centre.add_subparsers(dest="centre_command", required=True, metavar="COMMAND")
    p = centre_sub.add_parser("add", parents=[common], help="add or update a centre")
    p.add_argument("id", help="centre id as used in topics, e.g. hz-city")
    p.add_argument("name", help="display name")
    p.add_argument("--level", default="city", choices=["province", "city", "county"])
    p.add_argument("--parent", default=None, help="id of the parent centre")
    p.set_defaults(func=cmd_centre_add)

    device = sub.add_parser("device", help="enrolled devices")
    device_sub = device.add_subparsers(dest="device_command", required=True, metavar="COMMAND")
    p = device_sub.add_parser(
        "add", parents=[common], help="enrol a device (creates the centre if missing)"
    )
    p.add_argument("centre", help="centre id")
    p.add_argument("device", help="device id (globally unique; also its MQTT client id)")
    p.add_argument("--kind", required=True, help="device kind, e.g. entrance, gate, burner")
    p.add_argument("--name", default="", help="display name")
    p.add_argument(
        "--new-password",
        action="store_true",
        help="issue a new broker password even if the device has one",
    )
    p.set_defaults(func=cmd_device_add)
    p = device_sub.add_parser("list", parents=[common], help="list enrolled devices")
    p.add_argument("--centre", action="append", help="only this centre (repeatable)")
    p.add_argument("--kind", help="only this kind")
    p.add_argument("--state", choices=["online", "offline"], help="only online or offline ones")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(func=cmd_device_list)

    from collector.auth.permissions import Permission, Role

    user = sub.add_parser("user", help="console users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    p = user_sub.add_parser("add", parents=[common], help="add a user (e.g. the first admin)")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--centre", default=None, help="centre id (every role but system_admin)")
    p.add_argument("--display-name", default="", help="name shown in the console")
    p.add_argument("--password", default=None, help="default: generated and printed once")
    p.set_defaults(func=cmd_user_add)

    token = sub.add_parser("token", help="API tokens for machine clients")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    p = token_sub.add_parser("add", parents=[common], help="create an API token, printed once")
    p.add_argument("name", help="what the token is for")
    p.add_argument("--centre", required=True, help="the token sees this centre and below")
    p.add_argument(
        "--permissions",
        action="append",
        required=True,
        help=f"comma-separated, repeatable: {', '.join(perm.value for perm in Permission)}",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the token")
    p.set_defaults(func=cmd_token_add)

    p = sub.add_parser(
        "broker-config",
        parents=[common],
        help="write Mosquitto password_file and acl_file from the device registry",
    )
    p.add_argument("--out", required=True, type=Path, help="directory for the two files")
    p.add_argument(
        "--collector-user",
        default=None,
        help="broker user of the collector (default: mqtt.username or prtc-collector)",
    )
    p.set_defaults(func=cmd_broker_config)

    pii = sub.add_parser("pii", help="personal-data encryption keys")
    pii_sub = pii.add_subparsers(dest="pii_command", required=True, metavar="COMMAND")
    p = pii_sub.add_parser(
        "status", parents=[common], help="keys in use and rows still under an old key"
    )
    p.set_defaults(func=cmd_pii_status)
    p = pii_sub.add_parser(
        "rotate",
        parents=[common],
        help="re-encrypt personal data under the current key now, then retire the old keys",
    )
    p.set_defaults(func=cmd_pii_rotate)

    from collector.demo import add_demo_parser

    add_demo_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (SettingsError, ValueError, LookupError, FileNotFoundError) as exc:
        print(f"prtc-collector: error: {exc}", file=sys.stderr)
        return 2
