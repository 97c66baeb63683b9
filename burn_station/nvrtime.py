"""True time → an NVR's wall clock (its zone and its offset from true time)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def to_nvr_clock(moment: datetime, tz: str, clock_offset_s: float = 0.0) -> datetime:
    """Naive wall-clock time the NVR shows at ``moment`` (aware)."""
    shifted = moment + timedelta(seconds=clock_offset_s)
    return shifted.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
