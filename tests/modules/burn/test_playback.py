"""Playback in the console: project videos with byte ranges (seeking), a faststart H.264 MP4
served as stored, anything else transcoded once to H.264 with ffmpeg; scoped by centre."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.files.models import StoredFile
from collector.files.service import FileService
from collector.modules.burn import playback
from collector.modules.burn.models import ArchiveProject
from collector.modules.burn.playback import Player, probe
from tests.api.support import ADMIN_PASSWORD, ApiTestRuntime, log_in

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def make_video(path: Path, *codec: str) -> bytes:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", "testsrc=duration=2:size=160x120:rate=10", *codec, str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def store_file(runtime: ApiTestRuntime, name: str, data: bytes, project: str, centre: str = "c2",
               content_type: str = "video/mp4") -> StoredFile:  # fmt: skip
    files = FileService(runtime.file_store, max_upload_bytes=2**30)
    with Session(runtime.engine, expire_on_commit=False) as session:
        row = files.create_upload(
            session, name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
            content_type=content_type, centre_id=centre, meta={"project": project},
        )  # fmt: skip
        writer = files.begin_chunk(session, row.id, 0)
        writer.write(data)
        return files.end_chunk(session, writer)


def test_ranges_let_the_browser_seek(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject], tmp_path: Path
) -> None:
    data = make_video(tmp_path / "a.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                      "-movflags", "+faststart")  # fmt: skip
    row = store_file(runtime, "第一开标室.mp4", data, projects[0].number)
    url = f"/api/v1/burn/media/{row.id}"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert (
        whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"] == "video/mp4"
    )
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert part.headers["content-length"] == "100"
    tail = client.get(url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    assert tail.headers["content-range"] == f"bytes {len(data) - 50}-{len(data) - 1}/{len(data)}"
    open_end = client.get(url, headers={"Range": f"bytes={len(data) - 10}-"})
    assert open_end.status_code == 206 and open_end.content == data[-10:]
    beyond = client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    # the project page lists the video and the player page points at the media URL
    page = client.get(f"/burn/projects/{projects[0].id}").text
    assert f"/burn/play/{row.id}" in page
    assert f'src="/api/v1/burn/media/{row.id}"' in client.get(f"/burn/play/{row.id}").text


def test_an_unplayable_codec_is_transcoded_to_h264_once(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject], tmp_path: Path
) -> None:
    data = make_video(tmp_path / "b.mkv", "-c:v", "mpeg4")
    row = store_file(
        runtime, "评标室.mkv", data, projects[0].number, content_type="video/x-matroska"
    )
    first = client.get(f"/api/v1/burn/media/{row.id}")
    assert first.status_code == 200 and first.headers["content-type"] == "video/mp4"
    out = tmp_path / "out.mp4"
    out.write_bytes(first.content)
    info = probe("ffprobe", str(out))
    assert info.video == "h264" and info.playable and info.duration_s and info.duration_s > 1.5
    cached = Path(runtime.settings.files.root) / "burn-playback" / f"{row.id}.mp4"
    assert list(cached.parent.glob("*.part*")) == []  # the partial file was renamed
    mtime = cached.stat().st_mtime_ns
    again = client.get(f"/api/v1/burn/media/{row.id}", headers={"Range": "bytes=0-99"})
    assert again.status_code == 206 and again.content == first.content[:100]
    assert cached.stat().st_mtime_ns == mtime  # served from the cache
    original = client.get(f"/api/v1/burn/media/{row.id}?original=true")
    assert original.content == data


def test_videos_of_another_centre_are_not_found(
    operator: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject], tmp_path: Path
) -> None:
    data = make_video(tmp_path / "c.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
    mine = store_file(runtime, "mine.mp4", data, projects[0].number)
    theirs = store_file(runtime, "theirs.mp4", data, "C1-1", centre="c1")
    assert operator.get(f"/api/v1/burn/media/{mine.id}").status_code == 200
    assert operator.get(f"/api/v1/burn/media/{theirs.id}").status_code == 404
    assert operator.get(f"/burn/play/{theirs.id}").status_code == 404


def test_a_long_transcode_runs_in_the_background_and_the_page_shows_its_progress(
    client: TestClient,
    runtime: ApiTestRuntime,
    projects: list[ArchiveProject],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from collector.modules.burn import routes

    monkeypatch.setattr(routes, "MEDIA_WAIT_S", 0.0)  # as if the video were hours long
    data = make_video(tmp_path / "d.mkv", "-c:v", "mpeg4")
    row = store_file(
        runtime, "开标室.mkv", data, projects[0].number, content_type="video/x-matroska"
    )
    page = client.get(f"/burn/play/{row.id}").text
    assert 'id="transcoding"' in page and 'http-equiv="refresh"' in page
    assert "<video" not in page
    busy = client.get(f"/api/v1/burn/media/{row.id}")
    assert busy.status_code in (200, 503), busy.text  # 200: converted already
    if busy.status_code == 503:  # still converting: the client is told when to come back
        assert busy.headers["retry-after"] == "10"
    player = client.app.state.burn_player  # type: ignore[attr-defined]
    with Session(runtime.engine) as session:
        stored = session.get(StoredFile, row.id)
        assert stored is not None
        assert player.wait(stored, 60).path is not None
    page = client.get(f"/burn/play/{row.id}").text
    assert f'src="/api/v1/burn/media/{row.id}"' in page and 'http-equiv="refresh"' not in page
    ready = client.get(f"/api/v1/burn/media/{row.id}")
    assert ready.status_code == 200 and ready.headers["content-type"] == "video/mp4"
    out = tmp_path / "out.mp4"
    out.write_bytes(ready.content)
    assert probe("ffprobe", str(out)).playable
    cache = Path(runtime.settings.files.root) / "burn-playback"
    assert [p.name for p in cache.iterdir()] == [f"{row.id}.mp4"]  # no partial file left


def test_a_video_that_cannot_be_read_says_so_on_the_page(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    row = store_file(runtime, "坏文件.mkv", b"not a video" * 100, projects[0].number,
                     content_type="video/x-matroska")  # fmt: skip
    page = client.get(f"/burn/play/{row.id}").text
    assert 'class="error"' in page and "<video" not in page
    assert client.get(f"/api/v1/burn/media/{row.id}").status_code == 502


def fake_tool(tmp_path: Path, name: str, body: str) -> Path:
    """A shell script standing in for ffmpeg or ffprobe; it appends to ``<name>.log`` its pid
    and the file it was asked to write (its last argument)."""
    log = tmp_path / f"{name}.log"
    script = tmp_path / name
    script.write_text(
        f'#!/bin/sh\nfor last; do :; done\necho "$$ $last" >> "{log}"\n{body}\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def runs_of(script: Path, count: int = 0, timeout_s: float = 10.0) -> list[tuple[int, Path]]:
    """(pid, output) of each run of a :func:`fake_tool` so far, once there are ``count``."""
    log = script.with_name(f"{script.name}.log")
    deadline = time.monotonic() + timeout_s
    while True:
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return [(int(pid), Path(out)) for pid, out in (line.split(" ", 1) for line in lines)]
        time.sleep(0.05)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def mkv(runtime: ApiTestRuntime, tmp_path: Path, project: str, name: str = "开标室") -> StoredFile:
    data = make_video(tmp_path / f"{name}.mkv", "-c:v", "mpeg4")
    return store_file(runtime, f"{name}.mkv", data, project, content_type="video/x-matroska")


def test_a_failed_transcode_is_shown_to_everyone_until_its_cooldown_is_over(
    client: TestClient,
    runtime: ApiTestRuntime,
    projects: list[ArchiveProject],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ffmpeg = fake_tool(tmp_path, "broken-ffmpeg", 'echo "no such encoder" >&2\nexit 1')
    monkeypatch.setattr(runtime.settings.burn, "ffmpeg", str(ffmpeg))
    row = mkv(runtime, tmp_path, projects[0].number)
    client.get(f"/burn/play/{row.id}")  # the first viewer starts the transcode
    player = client.app.state.burn_player  # type: ignore[attr-defined]
    assert "no such encoder" in player.wait(row, 30).error
    for _ in range(2):  # another viewer, a reload: told so, without another attempt
        page = client.get(f"/burn/play/{row.id}").text
        assert 'class="error"' in page and "no such encoder" in page and "<video" not in page
        assert "10 分钟后" in page and 'http-equiv="refresh"' not in page
    media = client.get(f"/api/v1/burn/media/{row.id}")  # an API client retrying after a 503
    assert media.status_code == 502 and "no such encoder" in media.json()["detail"]
    english = client.get(f"/burn/play/{row.id}?lang=en").text
    assert "(reload after 10 minutes to try again): ffmpeg failed" in english
    assert len(runs_of(ffmpeg)) == 1

    cooldown = playback.RETRY_FAILED_AFTER_S
    monkeypatch.setattr(playback, "RETRY_FAILED_AFTER_S", 0.0)  # the cooldown is over
    assert player.prepare(row).transcoding  # tried again
    monkeypatch.setattr(playback, "RETRY_FAILED_AFTER_S", cooldown)
    assert "no such encoder" in player.wait(row, 30).error
    assert len(runs_of(ffmpeg, 2)) == 2
    assert list((Path(runtime.settings.files.root) / "burn-playback").glob("*.part*")) == []


def test_each_transcode_writes_a_file_of_its_own_and_stop_kills_it(
    runtime: ApiTestRuntime, projects: list[ArchiveProject], tmp_path: Path
) -> None:
    """Two players over one cache (two collectors sharing ``files.root``) never write the same
    partial file; :meth:`Player.stop` ends the ffmpeg still running."""
    ffmpeg = fake_tool(tmp_path, "slow-ffmpeg", "exec sleep 60")
    row = mkv(runtime, tmp_path, projects[0].number)
    cache = tmp_path / "cache"
    players = [
        Player(store=runtime.file_store, cache_dir=cache, ffmpeg=str(ffmpeg), ffprobe="ffprobe")
        for _ in range(2)
    ]
    for player in players:
        ready = player.prepare(row)
        assert ready.transcoding and not ready.error
    runs = runs_of(ffmpeg, 2)
    assert len(runs) == 2
    (pid1, out1), (pid2, out2) = runs
    assert out1 != out2 and out1.parent == out2.parent == cache
    assert out1.name.startswith(f"{row.id}.part") and out2.name.startswith(f"{row.id}.part")
    assert not gone(pid1) and not gone(pid2)
    for player in players:
        player.stop()
    for player in players:
        assert player.wait(row, 10).error  # the transcode ended, without a file
    assert gone(pid1) and gone(pid2)
    assert not (cache / f"{row.id}.mp4").exists()


def test_a_waiting_transcode_says_so_and_the_apps_shutdown_stops_the_running_one(
    app: FastAPI,
    runtime: ApiTestRuntime,
    projects: list[ArchiveProject],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ffmpeg = fake_tool(tmp_path, "slow-ffmpeg", "exec sleep 60")
    monkeypatch.setattr(runtime.settings.burn, "ffmpeg", str(ffmpeg))
    first = mkv(runtime, tmp_path, projects[0].number, "开标室")
    second = mkv(runtime, tmp_path, projects[0].number, "评标室")
    with TestClient(app) as client:
        log_in(client, "admin", ADMIN_PASSWORD)
        client.get(f"/burn/play/{first.id}")
        runs = runs_of(ffmpeg, 1)
        assert len(runs) == 1
        page = client.get(f"/burn/play/{first.id}").text  # no duration known: no percentage
        assert 'id="transcoding"' in page and "正在转换" in page and "排队" not in page
        waiting = client.get(f"/burn/play/{second.id}").text  # one transcode at a time
        assert 'id="transcoding"' in waiting and "排队等待转换" in waiting
        assert 'http-equiv="refresh"' in waiting
        english = client.get(f"/burn/play/{second.id}?lang=en").text
        assert "Waiting to convert" in english
        busy = client.get(f"/api/v1/burn/media/{second.id}")
        assert busy.status_code == 503 and "waits to be converted" in busy.json()["detail"]
        player = app.state.burn_player
    # the client's exit is the app's shutdown: the running ffmpeg ended, the waiting one
    # never starts
    pid = runs[0][0]
    assert player.wait(first, 10).error and player.wait(second, 10).error
    assert gone(pid) and len(runs_of(ffmpeg)) == 1


def test_a_hanging_or_confused_ffprobe_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    confused = fake_tool(tmp_path, "confused-ffprobe", "echo 'not json'")
    with pytest.raises(RuntimeError, match="no JSON"):
        probe(str(confused), "video.mkv")
    hanging = fake_tool(tmp_path, "hanging-ffprobe", "exec sleep 60")
    monkeypatch.setattr(playback, "PROBE_TIMEOUT_S", 0.5)
    with pytest.raises(RuntimeError, match="timed out"):
        probe(str(hanging), "video.mkv")
