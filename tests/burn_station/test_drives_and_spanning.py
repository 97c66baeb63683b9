"""Spanning a project over several discs, parallel drives, a drive failing mid-burn,
re-verifying a disc put back in a drive, and a restart in the middle of a job."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from burn_station.jobstore import JobState
from burn_station.plugin import BurnerPlugin
from contract.payloads.burn import BurnJobSpec, DiscManifest

from .conftest import FakeContext
from .helpers import extract, settings, sha256, spec

MIB = 1024**2


def docs_folder(root: Path, sizes: list[int]) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for n, size in enumerate(sizes):
        path = root / f"文件{n:02d}.bin"
        path.write_bytes(os.urandom(size))
        out[path.name] = sha256(path)
    return out


def test_project_larger_than_a_disc_spans_and_restores(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    originals = docs_folder(tmp_path / "docs", [900_000] * 7)
    shutil.copy(media["room2"], tmp_path / "docs" / "开标录像.mp4")
    drive = {"id": "d1", "device": f"stdio:{tmp_path / 'd1.iso'}", "capacity_bytes": 4 * MIB}
    ctx = FakeContext(settings(tmp_path, [drive]))
    plugin = BurnerPlugin(ctx)
    plugin.start()
    try:
        result = ctx.call("burn", spec([{"kind": "folder", "path": str(tmp_path / "docs")}]))
    finally:
        plugin.stop()
    assert result.stage == "done"
    state = plugin.store.load(result.job_id)
    assert state is not None
    count = len(state.discs)
    assert count >= 2
    restored: dict[str, str] = {}
    for plan in state.discs:
        assert Path(plan.disc_path).stat().st_size <= 4 * MIB
        tree = extract(Path(plan.disc_path), tmp_path / "restore" / plan.volume_id)
        manifest = DiscManifest.model_validate_json((tree / "MANIFEST.json").read_text("utf-8"))
        assert manifest.disc_count == count and manifest.volume_id == plan.volume_id
        for f in manifest.files:
            restored[Path(f.path).name] = sha256(tree / f.path)
    assert sorted(p.disc_index for p in ctx.events("burn.disc")) == list(range(1, count + 1))
    for name, digest in originals.items():
        assert restored[name] == digest  # every original came back bit for bit
    assert "开标录像.mp4" in restored  # the video was staged (remuxed) and is on a disc


def two_jobs(tmp_path: Path, drives: list[dict], pins: list[list[str]], after_burn=None):  # type: ignore[no-untyped-def]
    docs_folder(tmp_path / "a", [1_500_000, 1_500_000])
    docs_folder(tmp_path / "b", [1_500_000, 1_500_000])
    ctx = FakeContext(settings(tmp_path, drives))
    plugin = BurnerPlugin(ctx, after_burn=after_burn)
    plugin.start()
    results: dict[str, object] = {}

    def run(key: str, folder: str, pin: list[str]) -> None:
        job = spec([{"kind": "folder", "path": str(tmp_path / folder)}], drives=pin)
        try:
            results[key] = ctx.call("burn", job)
        except Exception as exc:
            results[key] = exc

    threads = [
        threading.Thread(target=run, args=("a", "a", pins[0])),
        threading.Thread(target=run, args=("b", "b", pins[1])),
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        plugin.stop()
    return ctx, results


def test_two_drives_burn_in_parallel(tmp_path: Path) -> None:
    drives = [
        {"id": "d1", "device": f"stdio:{tmp_path / 'd1.iso'}"},
        {"id": "d2", "device": f"stdio:{tmp_path / 'd2.iso'}"},
    ]
    # each drive, once it has burned a disc, waits for the other one to have burned one too:
    # if the drives took turns, the barrier would break and the burns fail
    barrier = threading.Barrier(2, timeout=60)
    holding: list[str] = []

    def meet(drive: str, device: str) -> None:
        if drive not in holding:
            holding.append(drive)
            barrier.wait()

    ctx, results = two_jobs(tmp_path, drives, [[], []], after_burn=meet)
    assert all(getattr(r, "stage", None) == "done" for r in results.values()), results
    assert sorted(holding) == ["d1", "d2"]
    assert {d.drive for d in ctx.events("burn.disc")} == {"d1", "d2"}


def test_a_drive_failing_mid_burn_fails_only_its_job(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.symlink_to("/dev/full")  # every write fails: the drive dies while burning
    drives = [
        {"id": "good", "device": f"stdio:{tmp_path / 'good.iso'}"},
        {"id": "bad", "device": f"stdio:{broken}"},
    ]
    ctx, results = two_jobs(tmp_path, drives, [["good"], ["bad"]])
    assert getattr(results["a"], "stage", None) == "done"
    assert isinstance(results["b"], Exception)
    failed = [s for s in ctx.events("burn.job_state") if s.stage == "failed"]
    assert len(failed) == 1 and failed[0].failed_stage == "burning"
    assert any(s.drive == "bad" and s.state == "error" for s in ctx.events("burn.drive_state"))
    assert broken.is_symlink()  # nothing "ejected" the device


def test_verify_disc_put_back_in_a_drive(tmp_path: Path) -> None:
    docs_folder(tmp_path / "docs", [300_000])
    drive_file = tmp_path / "d1.iso"
    ctx = FakeContext(settings(tmp_path, [{"id": "d1", "device": f"stdio:{drive_file}"}]))
    plugin = BurnerPlugin(ctx)
    plugin.start()
    try:
        result = ctx.call("burn", spec([{"kind": "folder", "path": str(tmp_path / "docs")}]))
        disc = plugin.store.load(result.job_id).discs[0]  # type: ignore[union-attr]
        shutil.copy(disc.disc_path, drive_file)  # the operator puts it back
        good = ctx.call("verify_disc", {"drive": "d1", "disc_id": str(disc.disc_id)})
        with drive_file.open("r+b") as f:
            f.seek(drive_file.stat().st_size // 2)
            f.write(os.urandom(2048))
        bad = ctx.call("verify_disc", {"drive": "d1"})
    finally:
        plugin.stop()
    assert good.ok and good.disc_id == disc.disc_id and good.files_checked == 1
    assert not bad.ok
    assert [c.ok for c in ctx.events("burn.disc_check")] == [True, False]


def test_verify_disc_reports_another_disc_in_the_drive(tmp_path: Path) -> None:
    """The drive holds the off-site copy when the archive copy was asked for: neither is
    verified nor reported bad; the check names the disc found and the command fails."""
    docs_folder(tmp_path / "docs", [200_000])
    drive_file = tmp_path / "d1.iso"
    ctx = FakeContext(settings(tmp_path, [{"id": "d1", "device": f"stdio:{drive_file}"}]))
    plugin = BurnerPlugin(ctx)
    plugin.start()
    copies = [{"role": "archive", "count": 1}, {"role": "offsite", "count": 1}]
    try:
        result = ctx.call(
            "burn", spec([{"kind": "folder", "path": str(tmp_path / "docs")}], copies=copies)
        )
        asked, other = plugin.store.load(result.job_id).discs  # type: ignore[union-attr]
        shutil.copy(other.disc_path, drive_file)  # the operator picked the wrong box
        with pytest.raises(RuntimeError, match="wrong disc"):
            ctx.call("verify_disc", {"drive": "d1", "disc_id": str(asked.disc_id)})
        drive_file.unlink()  # and an empty drive: nothing is reported at all
        with pytest.raises(RuntimeError, match="no recorded disc"):
            ctx.call("verify_disc", {"drive": "d1", "disc_id": str(asked.disc_id)})
    finally:
        plugin.stop()
    [check] = ctx.events("burn.disc_check")
    assert check.outcome == "wrong_disc" and not check.ok and check.files_checked == 0
    assert check.disc_id == asked.disc_id and check.found_disc_id == other.disc_id
    assert check.volume_id == other.volume_id and str(other.disc_id) in check.detail


def test_restart_fails_the_job_cleanly_and_retry_resumes(tmp_path: Path) -> None:
    docs_folder(tmp_path / "docs", [200_000])
    drive = {"id": "d1", "device": f"stdio:{tmp_path / 'd1.iso'}"}
    ctx = FakeContext(settings(tmp_path, [drive]))
    job = spec([{"kind": "folder", "path": str(tmp_path / "docs")}])
    # a first station ran the job up to staging, then the power went
    plugin = BurnerPlugin(ctx)
    state = JobState(spec=BurnJobSpec.model_validate(job), stage="staging")
    plugin.store.save(state)
    plugin.start()
    failed = [s for s in ctx.events("burn.job_state") if s.stage == "failed"]
    assert failed and failed[0].failed_stage == "staging"
    assert "restarted" in failed[0].error
    try:
        result = ctx.call("retry", {"job_id": job["job_id"]})
    finally:
        plugin.stop()
    assert result.stage == "done"  # fetching was redone (nothing had been fetched) and all after
    last = ctx.events("burn.job_state")[-1]
    assert last.stage == "done" and last.attempt == 2


def test_cancel_stops_a_job(tmp_path: Path) -> None:
    docs_folder(tmp_path / "docs", [100_000])
    ctx = FakeContext(settings(tmp_path, [], media_wait_s=60))
    plugin = BurnerPlugin(ctx)
    plugin.start()
    job = spec([{"kind": "folder", "path": str(tmp_path / "docs")}], medium="cd")
    with pytest.raises(Exception, match="no drive"):
        ctx.call("burn", job)  # no drive takes the medium: fails in burning, cleanly
    state = plugin.store.load(job["job_id"])
    plugin.stop()
    assert state is not None and state.stage == "failed" and state.failed_stage == "burning"
