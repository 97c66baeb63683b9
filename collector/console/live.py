"""Live updates by server-sent events: an endpoint polls the database (scoped like the page)
and sends what changed; ``web_console/static/console.js`` applies it to the page.

Polling the database rather than listening to the ingest keeps this correct when several
collectors share one database: whichever instance stored the change, every console sees it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlmodel import Session, select

from collector.api.deps import SESSION_COOKIE, ApiRuntime, RuntimeDep
from collector.auth.models import UserSession
from collector.auth.passwords import token_digest
from collector.auth.scope import visible_centre_ids
from collector.console.deps import PageUser, display_zone, page_permission
from collector.console.pages.fleet import device_row
from collector.db_types import utcnow
from collector.devices import service as devices_service

router = APIRouter(include_in_schema=False)

POLL_S = 1.0
SESSION_CHECK_S = 15.0
MAX_STREAM_S = 3600.0  # then the browser reconnects (EventSource does) and is checked anew


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def session_alive(session: Session, token: str, idle_s: float) -> bool:
    """Whether the login behind an open stream still holds, without sliding its idle timer
    (an open page is not activity)."""
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == token_digest(token))
    ).first()
    now = utcnow()
    return (
        row is not None
        and now < row.expires_at
        and (now - row.last_seen_at).total_seconds() < idle_s
    )


async def poll_stream(
    request: Request,
    snapshot: Callable[[], dict[str, Any]],
    alive: Callable[[], bool],
    *,
    interval_s: float = POLL_S,
) -> AsyncIterator[bytes]:
    """Send ``snapshot()``'s changed items as ``update`` events; a full one first.

    ``interval_s`` is how often the database is read: a page whose figure has a latency goal
    (the entrance dashboard) polls faster; its snapshot must then be cheap.
    """
    last: dict[str, Any] = {}
    since_check = 0.0
    deadline = asyncio.get_running_loop().time() + MAX_STREAM_S
    yield b"retry: 2000\n\n"
    while not await request.is_disconnected() and asyncio.get_running_loop().time() < deadline:
        current = await run_in_threadpool(snapshot)
        changed = [v for k, v in current.items() if last.get(k) != v]
        gone = [k for k in last if k not in current]
        if changed or gone:
            yield sse("update", {"items": changed, "gone": gone})
        last = current
        await asyncio.sleep(interval_s)
        since_check += interval_s
        if since_check >= SESSION_CHECK_S:
            since_check = 0.0
            if not await run_in_threadpool(alive):
                yield sse("logout", {})
                return


def live_response(
    request: Request,
    runtime: ApiRuntime,
    snapshot: Callable[[], dict[str, Any]],
    *,
    interval_s: float = POLL_S,
) -> StreamingResponse:
    """A server-sent events answer streaming ``snapshot()`` (scoped by the caller) while the
    login behind the request's session cookie holds."""
    engine = runtime.engine
    cookie = request.cookies.get(SESSION_COOKIE, "")
    idle_s = runtime.settings.auth.session_idle_minutes * 60

    def alive() -> bool:
        with Session(engine) as session:
            return session_alive(session, cookie, idle_s)

    return StreamingResponse(
        poll_stream(request, snapshot, alive, interval_s=interval_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/console/events/devices", dependencies=[page_permission("devices.view")])
async def device_events(request: Request, user: PageUser, runtime: RuntimeDep) -> Any:
    """Devices of the user's centres: online, last heartbeat, backlog, config version."""
    engine = runtime.engine
    tz = display_zone(runtime)

    def snapshot() -> dict[str, Any]:
        with Session(engine) as session:
            visible = sorted(visible_centre_ids(session, user))
            rows, _ = devices_service.list_devices(session, centre_ids=visible, limit=2000)
            return {d.id: device_row(d, tz) for d in rows}

    return live_response(request, runtime, snapshot)
