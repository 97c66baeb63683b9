"""A project with recordings, an NVR clip, an RTSP pull and documents becomes verified discs."""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from burn_station.plugin import BurnerPlugin
from burn_station.sim_nvr import SimClip, SimNvr
from burn_station.sim_rtsp import Playback, SimRtspNvr
from contract.payloads.burn import STAGES, DiscManifest

from .conftest import FakeContext, FileServer
from .helpers import extract, pdftotext, settings, sha256, spec


def corrupt_once(hits: list[str]):
    lock = threading.Lock()  # the drives burn in parallel: only the first one is corrupted

    def hook(drive: str, device: str) -> None:
        with lock:
            if hits:
                return
            hits.append(drive)
        path = Path(device.removeprefix("stdio:"))
        with path.open("r+b") as f:  # flip bytes in the middle of the data
            f.seek(path.stat().st_size // 2)
            f.write(os.urandom(4096))

    return hook


@pytest.fixture
def nvr(media: dict[str, Path]):
    clip = SimClip(
        101, datetime(2026, 11, 20, 9, 0, 0), datetime(2026, 11, 20, 9, 0, 4), media["nvr"]
    )
    sim = SimNvr("admin", "Hik12345", [clip]).start()
    yield sim
    sim.stop()


@pytest.fixture
def rtsp_nvr(media: dict[str, Path]):
    sim = SimRtspNvr({1: media["rtsp"]}, "admin", "Hik12345").start()
    yield sim
    sim.stop()


def test_project_becomes_two_verified_discs(
    tmp_path: Path,
    media: dict[str, Path],
    file_server: FileServer,
    nvr: SimNvr,
    rtsp_nvr: SimRtspNvr,
) -> None:
    shutil.copy(media["room1"], file_server.root / "rec1.mp4")
    docs = tmp_path / "docs"
    (docs / "投标文件").mkdir(parents=True)
    (docs / "招标文件.pdf").write_bytes(os.urandom(50_000))
    (docs / "投标文件" / "甲公司.zip").write_bytes(os.urandom(30_000))
    watch = tmp_path / "robot"
    ctx = FakeContext(
        settings(
            tmp_path,
            [
                {"id": "d1", "device": f"stdio:{tmp_path / 'drives' / 'd1.iso'}"},
                {"id": "d2", "device": f"stdio:{tmp_path / 'drives' / 'd2.iso'}"},
            ],
            collector_url=file_server.url,
            collector_token="t0ken",
            credentials={"nvr1": {"username": "admin", "password": "Hik12345"}},
            label={"route": "primera_jrq", "watch_dir": str(watch)},
        )
    )
    hits: list[str] = []
    plugin = BurnerPlugin(ctx, after_burn=corrupt_once(hits))
    plugin.start()
    try:
        job = spec(
            [
                {
                    "kind": "file_store",
                    "file_id": "f-1",
                    "url": "/files/rec1.mp4",
                    "name": "评标室1录像.mp4",
                    "sha256": sha256(media["room1"]),
                    "size": media["room1"].stat().st_size,
                },
                {
                    "kind": "nvr_isapi",
                    "base_url": nvr.url,
                    "credentials": "nvr1",
                    "channel": 1,
                    "start": "2026-11-20T01:00:00Z",
                    "end": "2026-11-20T01:00:03Z",
                    "room": "开标室2",
                },
                {
                    "kind": "rtsp",
                    "vendor": "hikvision",
                    "url": rtsp_nvr.url + "/Streaming/tracks/{channel}01?starttime={start}",
                    "credentials": "nvr1",
                    "start": "2026-11-20T01:00:00Z",
                    "end": "2026-11-20T02:00:00Z",
                    "max_duration_s": 2,
                    "room": "评标室1",
                },
                {"kind": "folder", "path": str(docs)},
            ],
            copies=[{"role": "archive", "count": 1}, {"role": "offsite", "count": 1}],
            label={
                "centre_name": "某某市公共资源交易中心",
                "archive_url": "https://prtc/a/{disc_id}",
            },
        )
        result = ctx.call("burn", job)
    finally:
        plugin.stop()

    assert result.stage == "done", ctx.events("burn.job_state")[-1]
    assert len(result.discs) == 2
    # every stage was reported, in order
    stages = [s.stage for s in ctx.events("burn.job_state")]
    seen = list(dict.fromkeys(stages))
    assert seen == [s for s in STAGES if s not in ("failed", "cancelled")]
    # the NVR was asked with digest auth: a challenge, then search and download
    assert any("search" in r for r in nvr.requests) and any("download" in r for r in nvr.requests)
    # the RTSP playback was asked for in the NVR's Beijing clock
    assert rtsp_nvr.playbacks == [Playback(1, "20261120T090000Z", "")]

    discs = ctx.events("burn.disc")
    assert [d.verify for d in discs].count("bad") == 1 and len(hits) == 1
    bad = next(d for d in discs if d.verify == "bad")
    reburned = [d for d in discs if d.disc_id == bad.disc_id and d.verify == "ok"]
    assert reburned and reburned[0].attempt == 2
    good = {d.disc_id: d for d in discs if d.verify == "ok"}
    assert {d.copy_role for d in good.values()} == {"archive", "offsite"}

    state = plugin.store.load(result.job_id)
    assert state is not None
    for plan in state.discs:
        iso = Path(plan.disc_path)
        assert iso.exists() and plan.status == "ok"
        tree = extract(iso, tmp_path / "restore" / plan.volume_id)
        manifest = DiscManifest.model_validate_json((tree / "MANIFEST.json").read_text("utf-8"))
        assert manifest.project.name == job["project"]["name"]
        assert (manifest.disc_index, manifest.disc_count) == (1, 1)
        assert manifest.copy_role == plan.copy_role
        videos = [f for f in manifest.files if f.media == "video"]
        assert len(videos) == 3
        for f in manifest.files:
            assert sha256(tree / f.path) == f.sha256
            assert (tree / f.path).stat().st_size == f.size
        for f in videos:
            assert f.codec == "h264" and f.duration_s and f.duration_s > 1
        nvr_clip = next(f for f in videos if f.source.startswith("isapi:"))
        assert nvr_clip.duration_s is not None and nvr_clip.duration_s <= 3.5
        assert "documents/投标文件/甲公司.zip" in {f.path for f in manifest.files}
        sums = (tree / "SHA256SUMS").read_text("utf-8").splitlines()
        assert len(sums) == len(manifest.files) + 2
        index = (tree / "index.html").read_text("utf-8")
        assert "<video" in index and job["project"]["number"] in index
        text = "".join(pdftotext(state_label(plugin, result.job_id, plan.label)).split())
        assert "项目编号：JSGC-2026-0815" in text and "第1张/共1张" in text
        assert job["project"]["name"] in text and "开标日期：2026-11-20" in text
    jobs = sorted(watch.glob("*.JRQ"))
    assert len(jobs) == 2 and "PrintLabel=" in jobs[0].read_text()
    assert json.loads(state.model_dump_json())["stage"] == "done"


def state_label(plugin: BurnerPlugin, job_id, rel: str) -> Path:  # type: ignore[no-untyped-def]
    return plugin.store.folder(job_id) / rel


def test_isapi_times_use_the_nvr_clock(media: dict[str, Path]) -> None:
    from burn_station.nvrtime import to_nvr_clock

    moment = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert to_nvr_clock(moment, "Asia/Shanghai") == datetime(2026, 11, 20, 9, 0)
    assert to_nvr_clock(moment, "Asia/Shanghai", 30) == datetime(2026, 11, 20, 9, 0, 30)
