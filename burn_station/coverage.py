"""Whether fetched NVR video covers the window a job asked for.

An NVR answers a search with what it has: a gap in its recording (a disk fault, a camera
offline), clips that end early, or a playback stream that stops, all give a shorter video
without any error. The fetch measures what it got (ffprobe durations, placed in the window)
and names the spans that are missing, in the NVR's clock as the operator reads it there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

Span = tuple[datetime, datetime]


class CoverageError(RuntimeError):
    pass


def missing(window: Span, covered: list[Span]) -> list[Span]:
    """The parts of ``window`` that no span of ``covered`` overlaps, in order."""
    gaps, cursor = [], window[0]
    for start, end in sorted(covered):
        if start > cursor:
            gaps.append((cursor, min(start, window[1])))
        cursor = max(cursor, end)
        if cursor >= window[1]:
            break
    if cursor < window[1]:
        gaps.append((cursor, window[1]))
    return [(a, b) for a, b in gaps if b > a]


def _seconds(spans: list[Span]) -> float:
    return sum((b - a).total_seconds() for a, b in spans)


def _span_text(span: Span) -> str:
    a, b = span
    end = f"{b:%H:%M:%S}" if a.date() == b.date() else f"{b:%Y-%m-%d %H:%M:%S}"
    return f"{a:%Y-%m-%d %H:%M:%S}–{end} ({(b - a).total_seconds():.1f} s)"


def placed(start: datetime, seconds: float) -> Span:
    """A clip of ``seconds`` of video that starts at ``start``."""
    return start, start + timedelta(seconds=max(0.0, seconds))


def check(
    what: str,
    window: Span,
    covered: list[Span],
    *,
    tolerance_s: float,
    tolerance_pct: float,
    allow_partial: bool,
) -> str:
    """ "" when the video covers ``window`` within the tolerance (the larger of the seconds
    and the percentage of the window); else the shortfall, as a warning when
    ``allow_partial``, or raised as :class:`CoverageError`."""
    gaps = missing(window, covered)
    short = _seconds(gaps)
    length = (window[1] - window[0]).total_seconds()
    if short <= max(tolerance_s, length * tolerance_pct / 100):
        return ""
    message = (
        f"{what}: the video covers {length - short:.1f} s of the {length:.1f} s asked for; "
        f"missing (NVR clock) {', '.join(_span_text(g) for g in gaps[:10])}"
    )
    if not allow_partial:
        raise CoverageError(message + " (the job may allow partial video)")
    return message
