"""Logging in through the console's own form, as a browser does."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response


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
