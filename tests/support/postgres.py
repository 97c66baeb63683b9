"""A fresh PostgreSQL database per test, dropped afterwards.

Migrating an empty database costs about two seconds; ``TempDatabase(migrated=True)`` instead
copies a template database migrated once (PostgreSQL's ``CREATE DATABASE … TEMPLATE``). The
template's name carries a digest of the migration scripts, so a changed migration builds a new
one; code that migrates at start finds the copy already at head.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    return os.environ.get("PRTC_TEST_PG_URL", DEFAULT_URL)


def available() -> bool:
    try:
        engine = create_engine(admin_url(), connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def _url(database: str) -> str:
    return make_url(admin_url()).set(database=database).render_as_string(hide_password=False)


@cache
def migrated_template() -> str:
    """The name of a database migrated to head, built once (under a temporary name, renamed
    when complete, so an interrupted build is never used)."""
    from collector.migrate import upgrade

    versions = Path(__file__).parents[2] / "collector" / "migrations"
    digest = hashlib.sha256()
    for script in sorted(versions.rglob("*.py")):
        digest.update(script.read_bytes())
    name = f"prtc_tmpl_{digest.hexdigest()[:16]}"
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first():
                return name
            building = f"{name}_{uuid.uuid4().hex[:6]}"
            conn.execute(text(f'CREATE DATABASE "{building}"'))
        upgrade(_url(building))
        with admin.connect() as conn:
            try:
                conn.execute(text(f'ALTER DATABASE "{building}" RENAME TO "{name}"'))
            except Exception:  # another run built it meanwhile
                conn.execute(text(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)'))
        return name
    finally:
        admin.dispose()


class TempDatabase:
    def __init__(self, *, migrated: bool = False) -> None:
        self.name = f"prtc_t_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{migrated_template()}"' if migrated else ""
        self._admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"{template}'))
        self.url = _url(self.name)

    def drop(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


def migrated_engine(kind: str) -> Iterator[Engine]:
    """A migrated database of a test's own, ``"sqlite"`` (a temporary file) or
    ``"postgresql"`` (a copy of the migrated template; skipped when the server is down)."""
    from collector.db import make_engine
    from collector.migrate import upgrade

    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'test.db'}")
            upgrade(engine)
            yield engine
            engine.dispose()
        return
    if not available():
        pytest.skip("PostgreSQL is not available")
    database = TempDatabase(migrated=True)
    try:
        engine = make_engine(database.url)
        yield engine
        engine.dispose()
    finally:
        database.drop()
