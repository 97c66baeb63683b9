"""Burn-station throughput: staging + image + verify against a raw disk copy, and the parallel
speed-up of 1, 2 and 4 file-backed drives.

    python -m benchmarks.burn_pipeline            # 20 GB of video, as issue #6 asks
    python -m benchmarks.burn_pipeline --gb 2     # a quick run

Everything happens under ``--work`` (default: a temporary folder in /work) and is removed
afterwards. Needs ffmpeg and xorriso. Peak disk use is about 3 x the video size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from burn_station import discfiles, ffmpeg, layout, xorriso
from burn_station.drives import BurnTask, DrivePool
from burn_station.fetch import FetchedItem
from burn_station.settings import DriveConfig
from burn_station.staging import Stager
from contract.payloads.burn import DiscFile, DiscManifest, ProjectRef

GB = 1_000_000_000
DVD = 4_700_000_000


def make_video(root: Path, total: int) -> list[Path]:
    """Clips of about 1 GB each, built by stream-copying one encoded chunk (fast)."""
    chunk = root / "chunk.mp4"
    ffmpeg.run(
        ["-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=20",
         "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "16M", "-g", "50", str(chunk)],
        timeout_s=600,
    )  # fmt: skip
    repeat = max(1, round(min(total, GB) / chunk.stat().st_size))
    listing = root / "list.txt"
    listing.write_text("".join(f"file '{chunk}'\n" for _ in range(repeat)))
    clips, made = [], 0
    while made < total:
        clip = root / f"room{len(clips) + 1}.mp4"
        ffmpeg.run(["-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", str(clip)], timeout_s=3600)  # fmt: skip
        clips.append(clip)
        made += clip.stat().st_size
    chunk.unlink()
    return clips


def raw_copy_rate(clips: list[Path], dest: Path) -> float:
    dest.mkdir()
    started = time.monotonic()
    total = 0
    for clip in clips:
        out = dest / clip.name
        with clip.open("rb") as src, out.open("wb") as dst:
            shutil.copyfileobj(src, dst, 8 * 1024 * 1024)
            dst.flush()
            os.fsync(dst.fileno())
        total += out.stat().st_size
    rate = total / (time.monotonic() - started)
    shutil.rmtree(dest)
    return rate


def manifest_for(volid: str, files: list[DiscFile], index: int, count: int) -> DiscManifest:
    return DiscManifest(
        disc_id=uuid.uuid4(), job_id=uuid.uuid4(), centre="bench",
        project=ProjectRef(number="BENCH-1", name="基准测试项目", opening_date=date.today()),
        disc_index=index, disc_count=count, copy_role="archive", copy_number=1,
        volume_id=volid, created_at=datetime.now(UTC), files=files,
    )  # fmt: skip


def pipeline(clips: list[Path], work: Path) -> dict[str, float]:
    """Stage (remux, decode check, SHA-256), lay out on DVDs, image, write to a file drive and
    verify, one disc at a time (each image is removed once verified)."""
    fetch = clips[0].parent
    items = [FetchedItem(path=c.name, name=c.name, media="video", source="bench") for c in clips]
    times: dict[str, float] = {}
    t = time.monotonic()
    stager = Stager(fetch, work / "stage", segment_bytes=layout.NOMINAL_CAPACITY["dvd"] // 2,
                    stop=threading.Event(), timeout_s=36000)  # fmt: skip
    staged = stager.stage_all(items)
    times["staging"] = time.monotonic() - t
    discs = layout.plan(staged, DVD)
    times["image"] = times["verify"] = 0.0
    by_path = {f.disc_path: f for f in staged}
    for i, files in enumerate(discs, start=1):
        volid = f"BENCH_{i:02d}"
        t = time.monotonic()
        entries = [DiscFile(path=f.disc_path, size=f.size, sha256=f.sha256, media="video",
                            duration_s=f.duration_s, codec=f.codec) for f in files]  # fmt: skip
        tree = work / "tree"
        sources = {f.disc_path: by_path[f.disc_path].path for f in files}
        manifest = manifest_for(volid, entries, i, len(discs))
        discfiles.populate(tree, work / "stage", sources, manifest)
        image = work / f"{volid}.iso"
        xorriso.run(xorriso.image_args(tree, image, volid), timeout_s=36000)
        shutil.rmtree(tree)
        times["image"] += time.monotonic() - t
        t = time.monotonic()
        ok, detail = xorriso.verify(f"stdio:{image}", timeout_s=36000)
        assert ok, detail
        times["verify"] += time.monotonic() - t
        image.unlink()
    shutil.rmtree(work / "stage")
    times["discs"] = len(discs)
    return times


def parallel(work: Path, n_images: int, size: int, drives: int) -> float:
    """Seconds to burn and verify ``n_images`` images on ``drives`` file drives at once."""
    src = work / "img-src"
    images = []
    if not src.exists():
        src.mkdir()
        for i in range(n_images):
            tree = work / f"t{i}"
            tree.mkdir()
            with (tree / "data.bin").open("wb") as f:
                for _ in range(size // (8 * 1024 * 1024)):
                    f.write(os.urandom(8 * 1024 * 1024))
            xorriso.run(xorriso.image_args(tree, src / f"P{i}.iso", f"P{i}"), timeout_s=3600)
            shutil.rmtree(tree)
    images = sorted(src.glob("*.iso"))
    configs = [DriveConfig(id=f"d{k}", device=f"stdio:{work / f'd{k}' / 'disc.iso'}", media=["dvd"])
               for k in range(drives)]  # fmt: skip
    pool = DrivePool(configs, on_state=lambda s: None, media_wait_s=5)
    pool.start()
    started = time.monotonic()
    stop = threading.Event()
    futures = [pool.submit(BurnTask(job_id=uuid.uuid4(), image=img, volume_id=img.stem,
                                    medium="dvd", drives=[], stop=stop, max_reburns=0))
               for img in images]  # fmt: skip
    for future in futures:
        assert future.result().ok
    elapsed = time.monotonic() - started
    pool.stop()
    for k in range(drives):
        shutil.rmtree(work / f"d{k}", ignore_errors=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=20.0, help="video to push through (GB)")
    parser.add_argument("--work", type=Path, default=Path("/work"), help="where to make files")
    parser.add_argument(
        "--parallel-gb", type=float, default=None, help="each of the 4 images (default gb/8)"
    )
    args = parser.parse_args()
    total = int(args.gb * GB)
    free = shutil.disk_usage(args.work).free
    if free < 3.2 * total:
        raise SystemExit(
            f"need {3.2 * total / GB:.0f} GB free under {args.work}, have {free / GB:.0f}"
        )
    root = Path(tempfile.mkdtemp(prefix="burn-bench-", dir=args.work))
    try:
        src = root / "src"
        src.mkdir()
        clips = make_video(src, total)
        size = sum(c.stat().st_size for c in clips)
        copy_rate = raw_copy_rate(clips, root / "copy")
        times = pipeline(clips, root)
        work = times["staging"] + times["image"] + times["verify"]
        rate = size / work
        print(f"video: {size / GB:.2f} GB in {len(clips)} files, {int(times['discs'])} DVD images")
        print(f"raw disk copy:            {copy_rate / 1e6:8.1f} MB/s")
        for stage in ("staging", "image", "verify"):
            print(f"  {stage:<8} {times[stage]:8.1f} s  {size / times[stage] / 1e6:8.1f} MB/s")
        print(
            f"staging+image+verify:     {rate / 1e6:8.1f} MB/s = {rate / copy_rate:.2f} x raw copy"
        )
        shutil.rmtree(src)
        image_size = int((args.parallel_gb or max(args.gb / 8, 0.1)) * GB)
        base = None
        for drives in (1, 2, 4):
            elapsed = parallel(root, 4, image_size, drives)
            base = base or elapsed
            print(f"burn+verify 4 x {image_size / GB:.2f} GB on {drives} file drive(s): "
                  f"{elapsed:7.1f} s  speed-up {base / elapsed:4.2f}")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
