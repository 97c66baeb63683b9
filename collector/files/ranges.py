"""Byte-range responses (RFC 9110 §14): what lets a browser seek in a recording.

One ``bytes=`` range is honoured with 206 and ``Content-Range``; several ranges, other units
or bad syntax get the whole body (200), as the RFC allows; a range past the end gets 416.
Used by the file API and by every module page that plays or serves stored files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from fastapi import Response
from fastapi.responses import StreamingResponse


class Unsatisfiable(Exception):
    """The range starts past the end of the content."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` of a single ``bytes=`` range; None to send everything."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, sep, last = spec.strip().partition("-")
    if not sep:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0 or size == 0:
                raise Unsatisfiable
            return max(0, size - suffix), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start < 0 or (last and end <= start):
        return None
    if start >= size:
        raise Unsatisfiable
    return start, min(end, size)


def range_response(
    range_header: str | None,
    size: int,
    body: Callable[[int, int], Iterable[bytes]],
    *,
    media_type: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Stream ``body(start, end)`` as a 200 or 206 answer to ``range_header`` (or 416)."""
    out = {"Accept-Ranges": "bytes", **(headers or {})}
    try:
        parsed = parse_range(range_header, size)
    except Unsatisfiable:
        return Response(status_code=416, headers={**out, "Content-Range": f"bytes */{size}"})
    start, end, status = 0, size, 200
    if parsed is not None:
        (start, end), status = parsed, 206
        out["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    out["Content-Length"] = str(end - start)
    return StreamingResponse(
        body(start, end), status_code=status, media_type=media_type, headers=out
    )
