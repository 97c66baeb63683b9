"""Project recordings are decode-checked once at the collector; a job's source says so, and the
project page shows the result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.files.models import StoredFile
from collector.modules.burn import recording_check, service
from collector.modules.burn.models import ArchiveProject
from collector.modules.burn.settings import BurnSettings
from tests.api.support import ApiTestRuntime
from tests.modules.burn.test_playback import make_video, store_file

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def sources_by_name(runtime: ApiTestRuntime, project: ArchiveProject) -> dict[str, dict]:  # type: ignore[type-arg]
    with Session(runtime.engine) as session:
        row = session.get(ArchiveProject, project.id)
        assert row is not None
        return {
            s["name"]: s
            for s in service.project_sources(session, BurnSettings(), row)
            if "file_id" in s
        }


def test_recordings_are_checked_once_and_jobs_say_so(
    operator: TestClient,
    runtime: ApiTestRuntime,
    projects: list[ArchiveProject],
    tmp_path: Path,
) -> None:
    good = make_video(tmp_path / "good.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                      "-movflags", "+faststart")  # fmt: skip
    number = projects[0].number
    store_file(runtime, "开标.mp4", good, number)
    store_file(runtime, "评标.mp4", good[: len(good) * 2 // 3], number)  # cut short
    store_file(runtime, "说明.pdf", b"%PDF-1.4 not a video", number, content_type="application/pdf")
    store_file(runtime, "无项目.mp4", good, "")  # not a project recording
    before = sources_by_name(runtime, projects[0])
    assert not before["开标.mp4"]["decode_checked"]
    page = operator.get(f"/burn/projects/{projects[0].id}").text
    assert "待检查" in page

    assert recording_check.check_pending(runtime) == 2  # type: ignore[arg-type]
    assert recording_check.check_pending(runtime) == 0  # type: ignore[arg-type]

    after = sources_by_name(runtime, projects[0])
    assert after["开标.mp4"]["decode_checked"] is True
    assert after["评标.mp4"]["decode_checked"] is False
    assert after["说明.pdf"]["decode_checked"] is False
    page = operator.get(f"/burn/projects/{projects[0].id}").text
    assert "通过" in page and "损坏" in page and "ffmpeg exited" in page
    api = operator.get(f"/api/v1/burn/projects/{projects[0].id}").json()
    verdicts = {r["name"]: r["decode_ok"] for r in api["recordings"]}
    assert verdicts == {"开标.mp4": True, "评标.mp4": False, "说明.pdf": None}


def test_new_bytes_under_the_same_file_are_checked_again(
    runtime: ApiTestRuntime, projects: list[ArchiveProject], tmp_path: Path
) -> None:
    good = make_video(tmp_path / "good.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
    row = store_file(runtime, "开标.mp4", good, projects[0].number)
    assert recording_check.check_pending(runtime) == 1  # type: ignore[arg-type]
    with Session(runtime.engine) as session:
        stored = session.get(StoredFile, row.id)
        assert stored is not None
        stored.sha256 = "0" * 64  # as if the file had been replaced
        session.add(stored)
        session.commit()
    assert not sources_by_name(runtime, projects[0])["开标.mp4"]["decode_checked"]
    assert recording_check.check_pending(runtime) == 1  # type: ignore[arg-type]


def test_a_stopping_collector_leaves_no_verdict(
    runtime: ApiTestRuntime, projects: list[ArchiveProject], tmp_path: Path
) -> None:
    good = make_video(tmp_path / "good.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
    store_file(runtime, "开标.mp4", good, projects[0].number)
    assert recording_check.check_pending(runtime, stop=lambda: True) == 0  # type: ignore[arg-type]
    with Session(runtime.engine) as session:
        assert len(recording_check.pending(session)) == 1
