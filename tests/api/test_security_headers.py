"""Security headers on the API and the console, and templates that need no inline script."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from web_console import STATIC

TEMPLATES = Path(STATIC).parent / "templates"


def test_pages_and_json_carry_the_headers(anonymous: TestClient) -> None:
    page = anonymous.get("/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"

    api = anonymous.get("/api/v1/devices")
    assert api.status_code == 401 and api.headers["cache-control"] == "no-store"
    assert api.headers["x-content-type-options"] == "nosniff"

    script = anonymous.get("/static/console.js")
    assert script.status_code == 200 and "cache-control" not in script.headers
    assert script.headers["x-content-type-options"] == "nosniff"

    # FastAPI's own OpenAPI page loads Swagger UI from a CDN: no policy there
    assert "content-security-policy" not in anonymous.get("/api/docs").headers


def test_templates_have_no_inline_script_or_style() -> None:
    inline = re.compile(
        r"""\son[a-z]+\s*=|\sstyle\s*=|<style|<script(?![^>]*\bsrc=)|javascript:""", re.I
    )
    found = [
        f"{path.relative_to(TEMPLATES)}:{n}: {line.strip()[:80]}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if inline.search(line)
    ]
    assert found == [], "the Content-Security-Policy would block these:\n" + "\n".join(found)
