"""The venues tests run on the API tests' app and database (``tests/api/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from collector.security.personal_data import reset_personal_data
from tests.api.conftest import anonymous, app, client, runtime
from tests.modules.venues.support import ensure_cipher
from tests.support import postgres

__all__ = ["anonymous", "app", "client", "runtime"]

# The fixtures date their scans in 2022 and 2025, long past the default retention (30 days):
# the tests of other behaviour keep them (import and sync skip rows older than the retention).
# test_retention.py sets its own periods.
CENTURY = 36_500


@pytest.fixture(autouse=True)
def cipher() -> Iterator[None]:
    ensure_cipher()
    yield
    reset_personal_data()


@pytest.fixture(autouse=True)
def keep_old_scans(request: pytest.FixtureRequest) -> None:
    if "runtime" in request.fixturenames:
        request.getfixturevalue("runtime").settings.venues.retention_days = CENTURY


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated database of its own, SQLite and PostgreSQL (skipped when unavailable)."""
    yield from postgres.migrated_engine(request.param)
