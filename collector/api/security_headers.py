"""Security headers on every response of the API and the console.

- ``Content-Security-Policy``: scripts, styles, media and connections from the collector
  itself only. No inline script or style attribute, no framing, forms post only here. The
  console is built for it: its behaviour is declared in data attributes that
  ``/static/console.js`` acts on. The OpenAPI page (``/api/docs``) is left without it, as
  FastAPI's page loads Swagger UI from a CDN with an inline script.
- ``X-Frame-Options: DENY`` and ``frame-ancestors 'none'``: no clickjacking of the console.
- ``X-Content-Type-Options: nosniff``: an upload served back is never run as a script.
- ``Referrer-Policy: same-origin``: a query with an ID number in its URL does not leave.
- ``Cache-Control: no-store`` on pages and JSON that did not set their own: pages with
  personal data do not stay in the browser's or a proxy's cache.

HSTS belongs to the TLS proxy in front of the collector (see the deployment guide).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_CSP = CSP.encode()
NO_CSP_PREFIXES = ("/api/docs",)
NOT_STORED = (b"text/html", b"application/json")

_ALWAYS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = not scope["path"].startswith(NO_CSP_PREFIXES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _add(list(message.get("headers", [])), csp)
            await send(message)

        await self.app(scope, receive, with_headers)


def _add(headers: list[tuple[bytes, bytes]], csp: bool) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    extra = [(name, value) for name, value in _ALWAYS if name not in present]
    if csp and b"content-security-policy" not in present:
        extra.append((b"content-security-policy", _CSP))
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    if b"cache-control" not in present and content_type.startswith(NOT_STORED):
        extra.append((b"cache-control", b"no-store"))
    return headers + extra
