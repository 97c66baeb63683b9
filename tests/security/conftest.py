"""Fixtures for the auth, security, broker-auth and tabular tests: a fresh database per test
on SQLite and (when reachable) PostgreSQL, a cheap argon2 policy, and a centre tree."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from collector.auth.models import ApiToken, AuditEntry, User, UserSession
from collector.auth.policy import AuthPolicy
from collector.centres.models import Centre, CentreLevel
from collector.db import make_engine
from tests.support import postgres

AUTH_TABLES = [Centre, User, UserSession, ApiToken, AuditEntry]


@cache
def _pg_available() -> bool:
    return postgres.available()


def new_engine(kind: str, tmp_path, metadata=None, tables=None) -> Iterator[Engine]:
    db = None
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    else:
        if not _pg_available():
            pytest.skip("PostgreSQL not reachable")
        db = postgres.TempDatabase()
        engine = make_engine(db.url, pool_size=2)
    (metadata or SQLModel.metadata).create_all(engine, tables=tables)
    try:
        yield engine
    finally:
        engine.dispose()
        if db is not None:
            db.drop()


DB_PARAMS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DB_PARAMS)
def engine(request, tmp_path) -> Iterator[Engine]:
    yield from new_engine(request.param, tmp_path, tables=[m.__table__ for m in AUTH_TABLES])


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    yield from new_engine("sqlite", tmp_path, tables=[m.__table__ for m in AUTH_TABLES])


@pytest.fixture
def policy() -> AuthPolicy:
    # Cheap argon2 parameters: the tests are about the logic, not the KDF's cost.
    return AuthPolicy(
        argon2_time_cost=1,
        argon2_memory_kib=64,
        argon2_parallelism=1,
        max_failed_attempts=3,
        lockout_minutes=10,
        session_idle_minutes=30,
        session_absolute_hours=8,
        session_touch_seconds=0,
    )


def add_centre_tree(session: Session) -> None:
    """prov → city-a → county-a1 → town-a1x; prov → city-b; and an unrelated root other."""
    for cid, parent, level in [
        ("prov", None, CentreLevel.PROVINCE),
        ("city-a", "prov", CentreLevel.CITY),
        ("city-b", "prov", CentreLevel.CITY),
        ("county-a1", "city-a", CentreLevel.COUNTY),
        ("town-a1x", "county-a1", CentreLevel.COUNTY),
        ("other", None, CentreLevel.PROVINCE),
    ]:
        session.add(Centre(id=cid, name=cid, level=level, parent_id=parent))
        session.flush()
    session.commit()


@pytest.fixture
def db(engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        add_centre_tree(session)
        yield session


@pytest.fixture
def sdb(sqlite_engine) -> Iterator[Session]:
    """SQLite only, for logic that does not depend on the database."""
    with Session(sqlite_engine, expire_on_commit=False) as session:
        add_centre_tree(session)
        yield session
