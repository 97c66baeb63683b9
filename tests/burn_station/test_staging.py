"""Staging: the index-first MP4 written in one pass, and the decode check that still fails a
damaged recording although it now runs in the background."""

from __future__ import annotations

import hashlib
import shutil
import struct
import threading
from pathlib import Path

import pytest

from burn_station import ffmpeg, staging
from burn_station.fetch import FetchedItem
from burn_station.jobstore import JobStore
from burn_station.pipeline import Job
from burn_station.sim_nvr import make_test_video
from burn_station.staging import Stager, StagingError

from .helpers import staging_job


def boxes(path: Path) -> list[str]:
    """Top-level MP4 boxes in file order."""
    out, data, pos = [], path.read_bytes(), 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        out.append(kind.decode("latin-1"))
        if size < 8:
            break
        pos += size
    return out


def index_first(path: Path) -> bool:
    kinds = boxes(path)
    return "moov" in kinds and "mdat" in kinds and kinds.index("moov") < kinds.index("mdat")


@pytest.fixture
def fetch(tmp_path: Path, media: dict[str, Path]) -> Path:
    """The fetch folder: a clip with its index last (as a recorder leaves it), the same clip
    with its index first, and that one cut short and with flipped bytes."""
    folder = tmp_path / "fetch"
    folder.mkdir()
    shutil.copyfile(media["nvr"], folder / "tail.mp4")
    good = folder / "good.mp4"  # index first, so a cut copy still opens
    ffmpeg.run(["-v", "error", "-i", str(media["nvr"]), "-c", "copy", "-movflags", "+faststart",
                str(good)], timeout_s=60)  # fmt: skip
    data = good.read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    flipped = bytearray(data)
    for i in range(len(data) // 2, len(data) // 2 + 3000, 7):
        flipped[i] ^= 0x5A
    (folder / "flipped.mp4").write_bytes(bytes(flipped))
    return folder


def stager(fetch: Path, tmp_path: Path, segment_bytes: int = 10**9) -> Stager:
    return Stager(fetch, tmp_path / "stage", segment_bytes=segment_bytes,
                  stop=threading.Event(), timeout_s=60)  # fmt: skip


def item(name: str) -> FetchedItem:
    return FetchedItem(path=name, name=name, media="video", source="test")


def test_staged_video_has_its_index_first_without_a_second_pass(
    fetch: Path, tmp_path: Path
) -> None:
    assert not index_first(fetch / "tail.mp4")
    s = stager(fetch, tmp_path)
    [out] = s.stage_all([item("tail.mp4")])
    path = tmp_path / "stage" / out.path
    assert index_first(path) and s.faststart_fallbacks == 0
    assert boxes(path)[:3] == ["ftyp", "moov", "free"]  # the rest of the reserved room
    assert out.codec == "h264" and out.duration_s == pytest.approx(4.0, abs=0.1)
    staging.check_video(path, stop=None, timeout_s=60)


def test_segments_have_their_index_first(fetch: Path, tmp_path: Path) -> None:
    make_test_video(fetch / "long.mp4", seconds=20.0, size="640x480")
    size = (fetch / "long.mp4").stat().st_size
    s = stager(fetch, tmp_path, segment_bytes=size * 3 // 4)
    out = s.stage_all([item("long.mp4")])
    assert len(out) >= 2 and s.faststart_fallbacks == 0
    for f in out:
        path = tmp_path / "stage" / f.path
        assert f.size < size * 3 // 4 and index_first(path)


def test_a_short_reserve_falls_back_to_faststart(
    fetch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "moov_reserve", lambda info, seconds: 1024)
    s = stager(fetch, tmp_path)
    [out] = s.stage_all([item("tail.mp4")])
    path = tmp_path / "stage" / out.path
    assert s.faststart_fallbacks == 1
    assert index_first(path)  # +faststart moved the index to the front
    staging.check_video(path, stop=None, timeout_s=60)


def test_a_recording_already_index_first_goes_on_the_disc_unchanged(
    fetch: Path, tmp_path: Path
) -> None:
    """Its SHA-256 on the disc is the one the file store recorded; it is still checked."""
    [out] = stager(fetch, tmp_path).stage_all([item("good.mp4")])
    assert (tmp_path / "stage" / out.path).read_bytes() == (fetch / "good.mp4").read_bytes()
    assert out.sha256 == hashlib.sha256((fetch / "good.mp4").read_bytes()).hexdigest()
    # a cut of it is index first too, and is refused by the decode check, not kept
    with pytest.raises(StagingError, match="decode check failed"):
        stager(fetch, tmp_path / "again").stage_all([item("cut.mp4")])


def checked(name: str, data: bytes) -> FetchedItem:
    """A file-store recording whose bytes the collector decode-checked (and whose download
    verified their SHA-256)."""
    return item(name).model_copy(
        update={"sha256": hashlib.sha256(data).hexdigest(), "decode_checked": True}
    )


def test_a_recording_checked_at_the_collector_is_not_decoded_again(
    fetch: Path, tmp_path: Path
) -> None:
    good = (fetch / "good.mp4").read_bytes()
    s = stager(fetch, tmp_path)
    [out] = s.stage_all([checked("good.mp4", good)])
    assert s.reused_checks == 1 and s._checks == []  # no decode check queued
    assert out.sha256 == hashlib.sha256(good).hexdigest() and out.codec == "h264"
    assert (tmp_path / "stage" / out.path).read_bytes() == good


def test_a_checked_recording_that_must_be_remuxed_is_checked_here(
    fetch: Path, tmp_path: Path
) -> None:
    """The remux makes new bytes: the collector's check does not cover them."""
    s = stager(fetch, tmp_path)
    [out] = s.stage_all([checked("tail.mp4", (fetch / "tail.mp4").read_bytes())])
    assert s.reused_checks == 0 and len(s._checks) == 1
    assert out.sha256 == hashlib.sha256((tmp_path / "stage" / out.path).read_bytes()).hexdigest()


def test_an_unchecked_damaged_recording_kept_as_is_still_fails(fetch: Path, tmp_path: Path) -> None:
    unchecked = checked("flipped.mp4", (fetch / "flipped.mp4").read_bytes())
    unchecked.decode_checked = False
    with pytest.raises(StagingError, match="decode check failed"):
        stager(fetch, tmp_path).stage_all([unchecked])


def test_reserve_covers_an_hour_of_recorder_video() -> None:
    info = ffmpeg.ProbeInfo(
        "mov,mp4", 3600.0, "h264", "aac",
        [{"codec_type": "video", "codec_name": "h264", "nb_frames": "90000", "duration": "3600"},
         {"codec_type": "audio", "codec_name": "pcm_alaw", "sample_rate": "8000"}],
    )  # fmt: skip
    reserve = staging.moov_reserve(info, 3600.0)
    # 25 video frames and ~8 AAC frames (the A-law audio becomes AAC) a second, at worst case
    per_hour = (25 + 8000 / 1024) * 3600 * staging.MOOV_BYTES_PER_SAMPLE
    assert per_hour < reserve < 2 * per_hour


@pytest.mark.parametrize("name", ["cut.mp4", "flipped.mp4"])
def test_damaged_recording_still_fails_staging(fetch: Path, tmp_path: Path, name: str) -> None:
    with pytest.raises(StagingError, match="decode check failed"):
        stager(fetch, tmp_path).stage_all([item("good.mp4"), item(name)])


def test_a_failed_background_check_fails_the_next_item(fetch: Path, tmp_path: Path) -> None:
    s = stager(fetch, tmp_path)
    try:
        s.stage_files([item("flipped.mp4")])  # its check runs in the background
        s._checks[0].exception(timeout=60)  # let it finish
        with pytest.raises(StagingError, match="decode check failed"):
            s.stage_files([item("good.mp4")])
    finally:
        s.close()


def job_for(fetch: Path, tmp_path: Path, names: list[str]) -> Job:
    return staging_job(tmp_path, fetch, [item(n) for n in names])


def test_job_staging_builds_images_and_gates_on_the_checks(fetch: Path, tmp_path: Path) -> None:
    job = job_for(fetch, tmp_path, ["good.mp4"])
    job.staging()
    [disc] = job.state.discs
    assert disc.status == "imaged" and (job.folder / disc.image).is_file()
    assert set(job.timings) == {"stage_files", "images", "decode_wait"}

    bad = job_for(fetch, tmp_path / "bad", ["good.mp4", "flipped.mp4"])
    with pytest.raises(StagingError, match="decode check failed"):
        bad.staging()
    # nothing unchecked is left for a retry from a later stage to burn
    saved = JobStore(tmp_path / "bad" / "work").load(bad.spec.job_id)
    assert saved is not None and saved.discs == [] and saved.staged is None
