"""A fresh PostgreSQL database per test, dropped afterwards."""

from __future__ import annotations

import os
import uuid

from sqlalchemy import create_engine, text
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


class TempDatabase:
    def __init__(self) -> None:
        self.name = f"prtc_t_{uuid.uuid4().hex[:12]}"
        self._admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = (
            make_url(admin_url()).set(database=self.name).render_as_string(hide_password=False)
        )

    def drop(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()
