"""NVR video shorter than the window asked for: the fetch fails naming the missing span, or,
when the job allows partial video, the set is archived with a warning in its manifest."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from burn_station import coverage
from burn_station.fetch import FetchEnv, fetch_source
from burn_station.httpfetch import FetchError
from burn_station.plugin import BurnerPlugin
from burn_station.settings import BurnerSettings, Credential
from burn_station.sim_nvr import SimClip, SimNvr
from burn_station.sim_rtsp import SimRtspNvr
from contract.payloads.burn import DiscManifest, Source

from .conftest import FakeContext
from .helpers import extract, settings, spec

T9 = datetime(2026, 11, 20, 9, 0, 0)  # NVR wall clock (Beijing) of 01:00 UTC


def test_missing_spans_are_named_in_order() -> None:
    window = (T9, T9.replace(minute=10))
    covered = [(T9.replace(minute=5), T9.replace(minute=6)), (T9, T9.replace(minute=2))]
    assert coverage.missing(window, covered) == [
        (T9.replace(minute=2), T9.replace(minute=5)),
        (T9.replace(minute=6), T9.replace(minute=10)),
    ]
    tolerance = {"tolerance_s": 5.0, "tolerance_pct": 1.0}
    assert coverage.check("x", window, [window], allow_partial=False, **tolerance) == ""
    nearly = [(T9, T9.replace(minute=9, second=56))]  # 4 s short of 10 min: tolerated
    assert coverage.check("x", window, nearly, allow_partial=False, **tolerance) == ""
    with pytest.raises(coverage.CoverageError, match="09:02:00–09:05:00"):
        coverage.check("x", window, covered, allow_partial=False, **tolerance)
    warning = coverage.check("x", window, covered, allow_partial=True, **tolerance)
    assert "covers 180.0 s of the 600.0 s" in warning


def env(tmp_path: Path, allow_partial: bool = False) -> FetchEnv:
    station = BurnerSettings(
        work_dir=tmp_path, credentials={"nvr1": Credential(username="admin", password="Hik12345")}
    )
    return FetchEnv(station, tmp_path / "fetch", threading.Event(), lambda n: None,
                    allow_partial_video=allow_partial)  # fmt: skip


@pytest.fixture
def short_nvr(media: dict[str, Path]) -> Iterator[SimNvr]:
    """The NVR's index says 09:00:00–09:00:10, but the clip it serves holds 4 s."""
    clip = SimClip(101, T9, T9.replace(second=10), media["nvr"])
    sim = SimNvr("admin", "Hik12345", [clip]).start()
    yield sim
    sim.stop()


def isapi(nvr: SimNvr) -> dict[str, Any]:
    return {"kind": "nvr_isapi", "base_url": nvr.url, "credentials": "nvr1", "channel": 1,
            "start": "2026-11-20T01:00:00Z", "end": "2026-11-20T01:00:10Z"}  # fmt: skip


def test_a_short_isapi_clip_fails_the_fetch(tmp_path: Path, short_nvr: SimNvr) -> None:
    source = TypeAdapter(Source).validate_python(isapi(short_nvr))
    with pytest.raises(FetchError, match=r"missing \(NVR clock\) 2026-11-20 09:00:04–09:00:10"):
        fetch_source(0, source, env(tmp_path))
    [item] = fetch_source(0, source, env(tmp_path / "partial", allow_partial=True))
    assert "09:00:04–09:00:10" in item.warning


def test_a_playback_that_stops_early_fails_the_fetch(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    nvr = SimRtspNvr({1: media["rtsp"]}, "admin", "Hik12345", loop=False).start()  # 3 s
    try:
        source = TypeAdapter(Source).validate_python({
            "kind": "rtsp", "url": nvr.url + "/Streaming/tracks/{channel}01?starttime={start}",
            "credentials": "nvr1", "start": "2026-11-20T01:00:00Z",
            "end": "2026-11-20T01:00:12Z",
        })  # fmt: skip
        with pytest.raises(FetchError, match=r"missing \(NVR clock\) 2026-11-20 09:00:0[2-4]"):
            fetch_source(0, source, env(tmp_path))
    finally:
        nvr.stop()


def test_partial_video_allowed_by_the_job_is_archived_with_a_warning(
    tmp_path: Path, short_nvr: SimNvr
) -> None:
    drive = {"id": "d1", "device": f"stdio:{tmp_path / 'd1.iso'}"}
    nvr1 = {"nvr1": {"username": "admin", "password": "Hik12345"}}
    ctx = FakeContext(settings(tmp_path, [drive], credentials=nvr1))
    plugin = BurnerPlugin(ctx)
    plugin.start()
    try:
        with pytest.raises(Exception, match="09:00:04–09:00:10"):
            ctx.call("burn", spec([isapi(short_nvr)]))
        failed = ctx.events("burn.job_state")[-1]
        assert failed.stage == "failed" and failed.failed_stage == "fetching"
        result = ctx.call("burn", spec([isapi(short_nvr)], allow_partial_video=True))
    finally:
        plugin.stop()
    assert result.stage == "done"
    state = plugin.store.load(result.job_id)
    assert state is not None
    tree = extract(Path(state.discs[0].disc_path), tmp_path / "restore")
    manifest = DiscManifest.model_validate_json((tree / "MANIFEST.json").read_text("utf-8"))
    [warning] = manifest.warnings
    assert "09:00:04–09:00:10" in warning
    assert "Incomplete" in (tree / "index.html").read_text("utf-8")
