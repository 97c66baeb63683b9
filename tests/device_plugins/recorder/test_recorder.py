"""The recorder with the real ffmpeg recording lavfi test sources into real segment files."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from device_plugins.recorder.segments import Ledger
from tests.device_plugins.conftest import wait_until

from .conftest import RecorderSite, ffprobe, recorder_settings


def segments(site: RecorderSite) -> list[Path]:
    """Segments queued for upload, in the order queued."""
    rows = site.uploader.queue.db.query(
        "SELECT path FROM uploads WHERE kind = 'recording' ORDER BY created_at"
    )
    return [Path(p) for (p,) in rows]


def states(site: RecorderSite) -> list[tuple[str, str | None]]:
    return [(e["state"], e["session_id"]) for e in site.of_type("recorder.state")]


def test_command_records_segments_that_ffprobe_accepts(make_site, tmp_path: Path) -> None:
    site = make_site({"rec1": recorder_settings(tmp_path / "rec")})
    wait_until(lambda: site.health("rec1").state == "ok", 10, "recorder ok")
    status = site.call("rec1.start", {"session_id": "S-manual"})
    assert status["state"] == "recording" and status["session_id"] == "S-manual"
    wait_until(lambda: len(segments(site)) >= 2, 20, "two finished segments")
    status = site.call("rec1.stop")
    assert status["state"] == "idle"
    files = segments(site)
    assert len(files) >= 3, "the segment open at stop is finished and queued too"
    for i, path in enumerate(files):
        assert path.parent == tmp_path / "rec" / "rec1" / "S-manual"
        probe = ffprobe(path)
        kinds = sorted(s["codec_type"] for s in probe["streams"])
        assert kinds == ["audio", "video"], path
        duration = float(probe["format"]["duration"])
        # The segment open at stop may be short; the others have the configured length.
        low = 0.0 if i == len(files) - 1 else 0.5
        assert low < duration < 3.5, path
    assert ffprobe(files[0])["streams"][0]["codec_name"] in ("h264", "aac")
    rows = site.uploader.queue.db.query("SELECT meta FROM uploads ORDER BY created_at")
    assert '"session_id": "S-manual"' in rows[0][0] and '"duration_s"' in rows[0][0]
    assert ("recording", "S-manual") in states(site) and states(site)[-1] == ("idle", None)
    health = site.health("rec1")
    assert health.data["state"] == "idle" and health.data["uploads_pending"] >= 3
    assert health.data["disk_free_bytes"] > 0


def test_starts_and_stops_on_the_session_schedule(make_site, tmp_path: Path) -> None:
    site = make_site({"rec1": recorder_settings(tmp_path / "rec", pre_roll_s=0, post_roll_s=0)})
    start = datetime.now(UTC) + timedelta(seconds=3)
    end = start + timedelta(seconds=5)
    schedule = [
        {"session_id": "P-2026-001", "start": start.isoformat(), "end": end.isoformat()},
        {
            "session_id": "later",
            "start": (end + timedelta(hours=2)).isoformat(),
            "end": (end + timedelta(hours=3)).isoformat(),
        },
    ]
    assert site.configure(1, {"rec1": {"schedule": schedule}}) == []
    time.sleep(1.0)
    assert site.call("rec1.status")["state"] == "idle", "not before the start"
    wait_until(lambda: site.call("rec1.status")["state"] == "recording", 10, "recording")
    began = datetime.now(UTC)
    assert began >= start - timedelta(seconds=0.1)
    assert site.call("rec1.status")["session_id"] == "P-2026-001"
    wait_until(lambda: site.call("rec1.status")["state"] == "idle", 15, "stopped at the end")
    assert datetime.now(UTC) >= end
    assert states(site)[-1] == ("idle", None)
    files = segments(site)
    assert len(files) >= 2
    assert all(p.parent.name == "P-2026-001" for p in files)
    for path in files:
        ffprobe(path)


def test_stop_command_holds_a_scheduled_session_until_its_window_ends(
    make_site, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    schedule = [
        {
            "session_id": "S1",
            "start": (now - timedelta(minutes=1)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
        }
    ]
    site = make_site({"rec1": recorder_settings(tmp_path / "rec", schedule=schedule)})
    wait_until(lambda: site.call("rec1.status")["state"] == "recording", 10, "recording")
    assert site.call("rec1.stop")["state"] == "idle"
    time.sleep(1.5)
    assert site.call("rec1.status")["state"] == "idle", "stays stopped"
    assert site.call("rec1.start", {"session_id": "S1"})["state"] == "recording"


def test_ffmpeg_killed_is_restarted_and_its_partial_segment_kept(make_site, tmp_path: Path) -> None:
    site = make_site({"rec1": recorder_settings(tmp_path / "rec", segment_s=30)})
    site.call("rec1.start", {"session_id": "S-crash"})
    plugin = site.manager._instances["rec1"].plugin
    assert plugin is not None
    proc = plugin._ffmpeg
    wait_until(lambda: proc.pid is not None, 5, "ffmpeg pid")
    time.sleep(3.5)  # a few fragments into the 30 s segment
    first_pid = proc.pid
    os.kill(first_pid, signal.SIGKILL)
    wait_until(lambda: segments(site), 10, "partial segment queued")
    wait_until(lambda: proc.pid != first_pid and proc.running, 10, "ffmpeg restarted")
    assert any(s == "error" for s, _ in states(site)), "the crash was reported"
    (partial,) = segments(site)
    probe = ffprobe(partial)
    assert float(probe["format"]["duration"]) > 1.0, "playable up to its last fragment"
    rows = site.uploader.queue.db.query("SELECT meta FROM uploads")
    assert '"partial": true' in rows[0][0]


def test_leftover_segments_of_a_power_cut_are_queued_on_start(make_site, tmp_path: Path) -> None:
    session = tmp_path / "rec" / "rec1" / "S-old"
    session.mkdir(parents=True)
    leftover = session / "20260101T080000_000000_00007.mp4"
    leftover.write_bytes(b"\0" * 1000)
    (session / "20260101T080000_000000_00008.mp4").write_bytes(b"")  # opened, never written
    site = make_site({"rec1": recorder_settings(tmp_path / "rec")})
    assert segments(site) == [leftover.resolve()]
    assert not (session / "20260101T080000_000000_00008.mp4").exists()
    assert Ledger(tmp_path / "rec" / "rec1").entries.keys() == {"S-old/" + leftover.name}
