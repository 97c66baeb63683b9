"""The checked NVR video of a job goes to the collector's file store: queued once per job
through the agent's real upload queue, from a durable outbox that the job's clean-up never
touches and that is emptied once an upload has ended."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from burn_station.plugin import BurnerPlugin
from burn_station.sim_nvr import SimClip, SimNvr
from burn_station.sim_rtsp import SimRtspNvr
from contract.payloads.burn import NVR_VIDEO_KIND, NvrClipMeta, Source, nvr_key
from edge_agent.settings import UploadsSection
from edge_agent.upload_queue import UploadQueue
from edge_agent.uploader import Uploader

from .conftest import FakeContext, FileServer
from .helpers import settings, sha256, spec

CREDENTIALS = {"nvr1": {"username": "admin", "password": "Hik12345"}}


class UploadingContext(FakeContext):
    """The fake plugin context with the agent's real uploader and queue (``uploads.db``).
    Without ``uploads`` (a collector) what is queued stays pending; the worker runs only once
    :meth:`Uploader.start` is called."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        state_dir: Path,
        uploads: UploadsSection | None = None,
        device: str = "burn-pc",
    ) -> None:
        super().__init__(settings)
        self.device = device
        self.uploader = Uploader(
            UploadQueue(state_dir / "uploads.db"),
            uploads or UploadsSection(),
            device=self.device,
            emit=lambda event_type, payload: None,
            logger=logging.getLogger("test.uploads"),
        )
        self.uploads: list[str] = []

    def upload(
        self,
        path: Path | str,
        *,
        kind: str,
        meta: Mapping[str, Any] | None = None,
        delete_after: bool | None = None,
    ) -> str:
        upload_id = self.uploader.enqueue(
            path, kind=kind, meta=dict(meta or {}), delete_after=delete_after
        )
        self.uploads.append(upload_id)
        return upload_id

    def upload_state(self, upload_id: str) -> str | None:
        return self.uploader.state(upload_id)


@pytest.fixture
def nvr(media: dict[str, Path]) -> Iterator[SimNvr]:
    """Two 4-second clips back to back on track 101, from 09:00:00 NVR time."""
    at = [datetime(2026, 11, 20, 9, 0, s) for s in (0, 4, 8)]
    clips = [SimClip(101, at[0], at[1], media["nvr"]), SimClip(101, at[1], at[2], media["nvr"])]
    sim = SimNvr("admin", "Hik12345", clips).start()
    yield sim
    sim.stop()


@pytest.fixture
def rtsp_nvr(media: dict[str, Path]) -> Iterator[SimRtspNvr]:
    sim = SimRtspNvr({1: media["rtsp"]}, "admin", "Hik12345").start()
    yield sim
    sim.stop()


def isapi(nvr: SimNvr) -> dict[str, Any]:
    return {"kind": "nvr_isapi", "base_url": nvr.url, "credentials": "nvr1", "channel": 1,
            "start": "2026-11-20T01:00:00Z", "end": "2026-11-20T01:00:08Z", "room": "开标室2",
            "name": "开标室2_全景"}  # fmt: skip


def rtsp(sim: SimRtspNvr) -> dict[str, Any]:
    return {"kind": "rtsp", "url": sim.url + "/Streaming/tracks/{channel}01?starttime={start}",
            "credentials": "nvr1", "start": "2026-11-20T01:00:00Z",
            "end": "2026-11-20T02:00:00Z", "max_duration_s": 2}  # fmt: skip


def recording(file_server: FileServer, media: dict[str, Path]) -> dict[str, Any]:
    (file_server.root / "rec1.mp4").write_bytes(media["room1"].read_bytes())
    return {"kind": "file_store", "file_id": "f-1", "url": "/files/rec1.mp4",
            "name": "评标室1录像.mp4", "sha256": sha256(media["room1"]),
            "size": media["room1"].stat().st_size}  # fmt: skip


def station(tmp_path: Path, file_server: FileServer, **extra: Any) -> UploadingContext:
    drive = {"id": "d1", "device": f"stdio:{tmp_path / 'd1.iso'}"}
    values = settings(tmp_path, [drive], collector_url=file_server.url,
                      collector_token="t0ken", credentials=CREDENTIALS, **extra)  # fmt: skip
    return UploadingContext(values, tmp_path)


def test_checked_nvr_video_is_queued_once_with_its_metadata(
    tmp_path: Path,
    media: dict[str, Path],
    file_server: FileServer,
    nvr: SimNvr,
    rtsp_nvr: SimRtspNvr,
) -> None:
    ctx = station(tmp_path, file_server)
    plugin = BurnerPlugin(ctx)
    plugin.start()
    job = spec([recording(file_server, media), isapi(nvr), rtsp(rtsp_nvr)])
    try:
        result = ctx.call("burn", job)
        assert result.stage == "done"
        state = plugin.store.load(result.job_id)
        assert state is not None and state.staged is not None
        staged = {f.disc_path: f for f in state.staged}
        queued = {u: ctx.uploader.queue.get(u) for u in ctx.uploads}
        # the recording from the file store is not sent back; 2 ISAPI clips + 1 RTSP pull are
        assert len(queued) == 3 and len(state.nvr_uploads) == 3
        for upload_id, item in queued.items():
            assert item is not None and item.state == "pending" and item.kind == NVR_VIDEO_KIND
            assert item.delete_after, "the uploader deletes the outbox file once uploaded"
            # the outbox, outside the job's folder, holds a hard link to the checked file
            assert item.path.is_relative_to((tmp_path / "work" / "outbox").resolve())
            record = next(r for r in state.nvr_uploads if r.upload_id == upload_id)
            f = staged[record.disc_path]
            stage = plugin.store.folder(result.job_id) / "stage" / f.path
            assert os.path.samefile(item.path, stage)
            assert item.sha256 == f.sha256 and item.name == Path(f.disc_path).name
            assert all(isinstance(v, str | int | float) for v in item.meta.values())
        # a retry from burning, one from staging (the files are staged again) and a restart
        # queue nothing again
        ctx.call("retry", {"job_id": job["job_id"], "from_stage": "burning"})
        ctx.call("retry", {"job_id": job["job_id"], "from_stage": "staging"})
    finally:
        plugin.stop()
    again = BurnerPlugin(ctx)
    again.start()
    again.stop()
    assert len(ctx.uploads) == 3
    assert all(item is not None and item.path.exists() for item in queued.values())

    sources = TypeAdapter(list[Source]).validate_python(job["sources"])
    metas = [NvrClipMeta.model_validate(item.meta) for item in queued.values() if item]
    by_part = sorted((m.source_kind, m.part, m.parts) for m in metas)
    assert by_part == [("nvr_isapi", 1, 2), ("nvr_isapi", 2, 2), ("rtsp", 1, 1)]
    isapi_meta = next(m for m in metas if m.source_kind == "nvr_isapi")
    assert isapi_meta.nvr_key == nvr_key(sources[1])  # type: ignore[arg-type]
    assert isapi_meta.project_number == job["project"]["number"]
    assert isapi_meta.job_id == job["job_id"]
    where = (isapi_meta.room, isapi_meta.camera, isapi_meta.channel)
    assert where == ("开标室2", "开标室2_全景", 1)
    assert isapi_meta.nvr == nvr.url
    assert isapi_meta.window_start.isoformat() == "2026-11-20T01:00:00+00:00"
    assert isapi_meta.window_end.isoformat() == "2026-11-20T01:00:08+00:00"
    assert not isapi_meta.warning
    rtsp_meta = next(m for m in metas if m.source_kind == "rtsp")
    assert rtsp_meta.nvr_key == nvr_key(sources[2])  # type: ignore[arg-type]
    assert "admin" not in rtsp_meta.nvr and rtsp_meta.room == ""


def test_no_upload_when_the_station_is_told_not_to(
    tmp_path: Path, media: dict[str, Path], file_server: FileServer, nvr: SimNvr
) -> None:
    ctx = station(tmp_path, file_server, upload_nvr_video=False)
    plugin = BurnerPlugin(ctx)
    plugin.start()
    try:
        result = ctx.call("burn", spec([recording(file_server, media), isapi(nvr)]))
    finally:
        plugin.stop()
    assert result.stage == "done" and ctx.uploads == []
    state = plugin.store.load(result.job_id)
    assert state is not None and state.nvr_uploads == []
    assert not any((tmp_path / "work" / "outbox").rglob("*.mp4"))


def test_video_archived_incomplete_says_so_and_ended_uploads_leave_the_outbox(
    tmp_path: Path, media: dict[str, Path], file_server: FileServer, nvr: SimNvr
) -> None:
    ctx = station(tmp_path, file_server)
    plugin = BurnerPlugin(ctx)
    plugin.start()
    short = {**isapi(nvr), "end": "2026-11-20T01:00:20Z"}  # the NVR has 8 s of these 20
    try:
        result = ctx.call("burn", spec([short], allow_partial_video=True))
    finally:
        plugin.stop()
    assert result.stage == "done" and len(ctx.uploads) == 2
    items = [ctx.uploader.queue.get(u) for u in ctx.uploads]
    assert all(i is not None and "09:00:08–09:00:20" in i.meta["warning"] for i in items)
    paths = [i.path for i in items if i is not None]
    assert all(p.exists() for p in paths)

    # one upload failed for good, the uploader could not delete the other: both files go at
    # the next start, and so does a file linked by a station that stopped before queuing it
    first, second = ctx.uploads
    ctx.uploader.queue.mark_failed(first, "the collector refused it")
    ctx.uploader.queue.mark_done(second)
    stray = tmp_path / "work" / "outbox" / str(result.job_id) / "x_01" / "stray.mp4"
    stray.parent.mkdir()
    stray.write_bytes(b"half")
    again = BurnerPlugin(ctx)
    again.start()
    again.stop()
    assert not any(p.exists() for p in paths) and not stray.exists()
    outbox = tmp_path / "work" / "outbox"
    assert not outbox.exists() or not any(outbox.iterdir())


def test_the_key_names_the_video_not_the_password() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(Source)
    window = {"start": "2026-11-20T09:00:00+08:00", "end": "2026-11-20T09:30:00+08:00"}
    plain = {"kind": "rtsp", "url": "rtsp://10.0.8.21:554/cam/playback?channel={channel}",
             "channel": 2, **window}  # fmt: skip
    with_password = {
        **plain,
        "url": "rtsp://admin:secret@10.0.8.21:554/cam/playback?channel={channel}",
    }
    in_utc = {**plain, "start": "2026-11-20T01:00:00Z", "end": "2026-11-20T01:30:00Z"}
    later = {**plain, "end": "2026-11-20T09:31:00+08:00"}
    key = nvr_key(adapter.validate_python(plain))
    assert nvr_key(adapter.validate_python(with_password)) == key
    assert nvr_key(adapter.validate_python(in_utc)) == key  # the same instants
    assert nvr_key(adapter.validate_python(later)) != key


class SweepFailingContext(UploadingContext):
    def upload_state(self, upload_id: str) -> str | None:
        raise RuntimeError("database is locked")  # as sqlite3.OperationalError would


def test_a_failing_outbox_sweep_fails_neither_the_job_nor_the_start(
    tmp_path: Path, media: dict[str, Path], file_server: FileServer, nvr: SimNvr
) -> None:
    drive = {"id": "d1", "device": f"stdio:{tmp_path / 'd1.iso'}"}
    values = settings(tmp_path, [drive], collector_url=file_server.url,
                      collector_token="t0ken", credentials=CREDENTIALS)  # fmt: skip
    ctx = SweepFailingContext(values, tmp_path)
    plugin = BurnerPlugin(ctx)
    plugin.start()
    try:
        result = ctx.call("burn", spec([isapi(nvr)]))
    finally:
        plugin.stop()
    assert result.stage == "done" and len(ctx.uploads) == 2
    again = BurnerPlugin(ctx)  # the start-up sweep fails too: the plugin starts all the same
    again.start()
    again.stop()
