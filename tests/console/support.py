"""Logging in through the console's own form, as a browser does."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from collector.auth.models import User
from collector.auth.permissions import Role
from collector.auth.service import create_user
from tests.api.support import ApiTestRuntime


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def form_login(client: TestClient, username: str, password: str, next_url: str = "/") -> Response:
    page = client.get("/login")
    assert page.status_code == 200
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_of(page.text),
            "next": next_url,
        },
        follow_redirects=False,
    )


PASSWORD = "County-pass-1"  # of the ``county_user`` fixture's users

# Path parameter → an id in the other county c3 (filled in by the ``county_user`` fixture).
OTHER_IDS: dict[str, str] = {"device_id": "dB"}


def add_user(
    session: Session, runtime: ApiTestRuntime, username: str, role: Role, centre: str
) -> User:
    """A console user with :data:`PASSWORD`."""
    return create_user(
        session,
        username=username,
        password=PASSWORD,
        role=role,
        centre_id=centre,
        policy=runtime.settings.auth,
    )
