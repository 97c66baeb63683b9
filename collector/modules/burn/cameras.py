"""NVR video of a project without anyone typing a time window: its rooms' cameras, its sessions.

The integrator lists each room's cameras once (``burn.room_cameras``: the NVR, its channel and
how to ask it). The experts module knows when each session of a project took place and in which
rooms (:func:`collector.modules.experts.service.project_room_windows`). A job then fetches, from
every camera of those rooms, the planned time of each session widened by
``video_before_min`` / ``video_after_min``. A room for which the project already names an NVR
source by hand keeps only that one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from collector.modules.burn.models import ArchiveProject
from collector.modules.burn.settings import BurnSettings, RoomCamera
from collector.modules.experts import service as experts

NVR_KINDS = ("nvr_isapi", "rtsp")


def camera_sources(
    session: Session, settings: BurnSettings, project: ArchiveProject
) -> list[dict[str, Any]]:
    """The NVR sources of the project's sessions, as source dicts (not yet validated)."""
    cameras = [c for c in settings.room_cameras if c.centre == project.centre_id]
    if not cameras:
        return []
    by_hand = {s.get("room") for s in project.sources if s.get("kind") in NVR_KINDS}
    before = timedelta(minutes=settings.video_before_min)
    after = timedelta(minutes=settings.video_after_min)
    sources = []
    for window in experts.project_room_windows(session, project.centre_id, project.number):
        if window.room in by_hand:
            continue
        start, end = window.start - before, window.end + after
        for camera in cameras:
            if camera.room == window.room:
                sources.append(_source(camera, start, end))
    return sources


def _source(camera: RoomCamera, start: datetime, end: datetime) -> dict[str, Any]:
    source = {**camera.source, "start": start, "end": end, "room": camera.room}
    if camera.name and not source.get("name"):
        source["name"] = f"{camera.room}_{camera.name}"  # the station adds the clip's time
    return source
