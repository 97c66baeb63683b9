"""Fixtures of the experts tests: the API app over a temporary SQLite database (from
``tests/api``) with personal-data encryption configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector.security.personal_data import configure_personal_data, reset_personal_data
from tests.api.conftest import anonymous, app, client, runtime
from tests.modules.experts.support import SECRET

__all__ = ["anonymous", "app", "client", "runtime"]


@pytest.fixture(autouse=True)
def personal_data() -> Iterator[None]:
    configure_personal_data(SECRET)
    yield
    reset_personal_data()
