"""RTSP playback pulled by the real ffmpeg from a simulated NVR that speaks RTSP with digest
authentication and, like some NVRs, ignores ``endtime`` (its stream never ends)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from burn_station import ffmpeg, rtsp
from burn_station.fetch import FetchEnv, fetch_source
from burn_station.settings import BurnerSettings, Credential
from burn_station.sim_rtsp import Playback, SimRtspNvr
from burn_station.staging import check_video
from contract.payloads.burn import Source

HIK = "/Streaming/tracks/{channel}01?starttime={start}&endtime={end}"
WINDOW = (datetime(2026, 11, 20, 9), datetime(2026, 11, 20, 10))  # NVR wall clock
DAHUA = "/cam/playback?channel={channel}&subtype=0&starttime={start}&endtime={end}"


@pytest.fixture
def nvr(media: dict[str, Path]) -> Iterator[SimRtspNvr]:
    server = SimRtspNvr({1: media["room1"], 3: media["room2"]}, "admin", "Hik12345").start()
    yield server
    server.stop()


def env(tmp_path: Path) -> FetchEnv:
    settings = BurnerSettings(
        work_dir=tmp_path,
        credentials={"nvr1": Credential(username="admin", password="Hik12345")},
    )
    return FetchEnv(settings=settings, dest=tmp_path / "fetch", stop=threading.Event(),
                    on_bytes=lambda n: None)  # fmt: skip


def test_pull_is_bounded_by_its_duration_and_decodes(nvr: SimRtspNvr, tmp_path: Path) -> None:
    # the clip is 2 s and the NVR loops it forever: only the pull's own bound stops it
    url = rtsp.playback_url(nvr.url + HIK, "plain", 1, *WINDOW, "admin", "Hik12345")
    out = rtsp.pull(url, tmp_path / "pull.mkv", 3.0, timeout_s=60)
    info = check_video(out, stop=None, timeout_s=60)
    assert info.video_codec == "h264"
    assert info.duration_s is not None and 2.5 <= info.duration_s <= 3.5
    describes = [r for r in nvr.requests if r.startswith("DESCRIBE")]
    assert len(describes) == 2  # challenged once, then answered with the digest
    assert any(r.startswith("PLAY") for r in nvr.requests)


def test_wrong_password_fails_the_pull(nvr: SimRtspNvr, tmp_path: Path) -> None:
    url = rtsp.playback_url(nvr.url + HIK, "plain", 1, *WINDOW, "admin", "wrong")
    with pytest.raises(ffmpeg.FFmpegError):
        rtsp.pull(url, tmp_path / "pull.mkv", 1.0, timeout_s=60)
    assert not (tmp_path / "pull.mkv").exists()
    assert nvr.playbacks == []


@pytest.mark.parametrize(
    ("vendor", "template", "channel", "expected"),
    [
        ("hikvision", HIK, 1, Playback(1, "20261120T090000Z", "20261120T090002Z")),
        ("dahua", DAHUA, 3, Playback(3, "2026_11_20_09_00_00", "2026_11_20_09_00_02")),
    ],
)
def test_fetch_asks_the_nvr_in_its_own_clock(
    nvr: SimRtspNvr, tmp_path: Path, vendor: str, template: str, channel: int, expected: Playback
) -> None:
    """A job's UTC window reaches the NVR as its Beijing wall clock in the vendor's format."""
    source = TypeAdapter(Source).validate_python(
        {
            "kind": "rtsp",
            "vendor": vendor,
            "url": nvr.url + template,
            "channel": channel,
            "credentials": "nvr1",
            "start": "2026-11-20T01:00:00Z",
            "end": "2026-11-20T01:00:02Z",
            "room": "开标室2",
        }
    )
    items = fetch_source(0, source, env(tmp_path))
    assert nvr.playbacks == [expected]
    [item] = items
    assert item.name == f"开标室2_ch{channel}_20261120_090000.mp4"
    assert "Hik12345" not in item.source
    pulled = ffmpeg.probe(tmp_path / "fetch" / item.path)
    assert pulled is not None and pulled.duration_s is not None
    assert 1.5 <= pulled.duration_s <= 2.5
