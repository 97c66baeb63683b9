"""Request body limits, enforced before a route reads a body.

uvicorn accepts bodies of any size, and a route that parses JSON or a form reads the whole
body into memory first, before it checks a login or a permission. So every request with a
body is limited here by its content type:

- JSON, URL-encoded forms and bodies without a content type: ``http.max_body_bytes``;
- files (multipart forms, a spreadsheet posted as the body, ``application/octet-stream``):
  ``http.max_import_bytes``;
- the resumable upload protocol's ``application/offset+octet-stream`` chunks are left to the
  file service, which limits each upload to its declared size.

A declared ``Content-Length`` over the limit is answered ``413`` at once; a body without one
(chunked) is counted as it arrives and cut off with ``413`` when it passes the limit.
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNLIMITED = ("application/offset+octet-stream",)
SMALL = ("application/json", "application/x-www-form-urlencoded", "")


class BodyTooLarge(HTTPException):
    """Raised while a route reads a body past the limit (FastAPI passes it through as 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, {"message": "请求内容过大 / request body too large", "limit": limit})
        self.limit = limit


def _media_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, body_bytes: int, import_bytes: int) -> None:
        self.app = app
        self.body_bytes = body_bytes
        self.import_bytes = import_bytes

    def limit_for(self, media_type: str) -> int | None:
        if media_type in UNLIMITED:
            return None
        if media_type in SMALL or media_type.endswith("+json"):
            return self.body_bytes
        return self.import_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(_media_type(scope))
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _reply_too_large(send, limit)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _reply_too_large(send, limit)


async def _reply_too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": BodyTooLarge(limit).detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
