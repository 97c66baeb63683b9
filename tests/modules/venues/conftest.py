"""The venues tests run on the API tests' app and database (``tests/api/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector.security.personal_data import reset_personal_data
from tests.api.conftest import anonymous, app, client, runtime
from tests.modules.venues.support import ensure_cipher

__all__ = ["anonymous", "app", "client", "runtime"]


@pytest.fixture(autouse=True)
def cipher() -> Iterator[None]:
    ensure_cipher()
    yield
    reset_personal_data()
