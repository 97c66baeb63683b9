"""Playback in the console: project videos with byte ranges (seeking), a faststart H.264 MP4
served as stored, anything else transcoded once to H.264 with ffmpeg; scoped by centre."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.files.models import StoredFile
from collector.files.service import FileService
from collector.modules.burn.models import ArchiveProject
from collector.modules.burn.playback import probe
from tests.api.support import ApiTestRuntime

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


def test_a_video_that_cannot_be_read_says_so_on_the_page(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    row = store_file(runtime, "坏文件.mkv", b"not a video" * 100, projects[0].number,
                     content_type="video/x-matroska")  # fmt: skip
    page = client.get(f"/burn/play/{row.id}").text
    assert 'class="error"' in page and "<video" not in page
    assert client.get(f"/api/v1/burn/media/{row.id}").status_code == 502
