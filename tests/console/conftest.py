"""The console over the same app and database as the API tests (``tests/api/conftest.py``)."""

from __future__ import annotations

from tests.api.conftest import anonymous, app, client, runtime

__all__ = ["anonymous", "app", "client", "runtime"]
