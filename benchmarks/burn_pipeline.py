"""Burn-station throughput against a raw disk copy, and the speed-up of parallel drives.

Staging + image + verify of the video against a raw disk copy of it measured in the same run,
and the speed-up of 1, 2 and 4 file-backed drives.

    python -m benchmarks.burn_pipeline            # 20 GB of each video kind
    python -m benchmarks.burn_pipeline --gb 2     # a quick run
    python -m benchmarks.burn_pipeline --gb 2 --video synthetic

The pipeline measured is the job's own code: ``Job.staging`` (the Stager's remux, ffprobe,
SHA-256 and background decode checks, the disc layout, one image per disc with its SHA-256)
run on a prepared job, then ``xorriso.verify`` of each image, the check a drive runs on a disc
after burning (the burn itself, a copy of the image to the medium, is not in the figure).

Two kinds of video: ``synthetic`` (720p, 16 Mb/s, x264 ultrafast: CAVLC, no deblocking, the
figure's historical input) and ``nvr`` (1080p, 6 Mb/s High profile, CABAC, deblocking, AAC
audio: what a recorder delivers; its decode check costs much more CPU per byte).

Pass accounting: the raw copy (read + write + fsync of the video) is one pass. For each step
the benchmark prints its wall time in raw-copy passes and its CPU time and disk traffic from
``getrusage`` (this process and its ffmpeg/xorriso children): bytes written are file pages the
step dirtied (a page written again while still dirty in the cache counts once), bytes read are
reads that missed the page cache. Reads served from the cache (the SHA-256 right after the
remux, the decode check, the image and verify reads, on a PC with enough memory) cost CPU but
no disk time. The goal is a ratio of at least 0.5, i.e. staging + image + verify in at most
two raw-copy passes. On a 2-core PC the full decode check alone costs more than that (its CPU
seconds are in the staging line; ``nvr`` at 20 GB takes well over an hour).

Everything happens under ``--work`` (default: a temporary folder in /work) and is removed
afterwards. Needs ffmpeg and xorriso. Peak disk use is about 3 x the video size.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from burn_station import ffmpeg, xorriso
from burn_station.drives import BurnTask, DrivePool
from burn_station.fetch import FetchedItem
from burn_station.jobstore import JobState, JobStore
from burn_station.pipeline import Job
from burn_station.printing import printer_for
from burn_station.settings import BurnerSettings, DriveConfig, LabelSettings
from contract.payloads.burn import BurnJobSpec

GB = 1_000_000_000
DVD = 4_700_000_000

KINDS = {
    # the figure's historical input: cheap to decode per byte
    "synthetic": ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=20",
                  "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "16M", "-g", "50"],
    # like a recorder's stream: High profile, CABAC, deblocking, no B-frames, AAC audio
    "nvr": ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=20",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=20",
            "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", "0",
            "-b:v", "6M", "-maxrate", "6M", "-bufsize", "12M", "-g", "50",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "32k"],
}  # fmt: skip


def make_video(root: Path, total: int, kind: str) -> list[Path]:
    """Clips of about 1 GB each, built by stream-copying one encoded chunk (fast)."""
    chunk = root / "chunk.mp4"
    ffmpeg.run(["-y", "-v", "error", *KINDS[kind], str(chunk)], timeout_s=1800)
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
    listing.unlink()
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


@dataclass
class Usage:
    """CPU seconds and disk bytes of this process and its finished children."""

    cpu: float = 0.0
    read: int = 0
    written: int = 0

    @staticmethod
    def now() -> Usage:
        s = resource.getrusage(resource.RUSAGE_SELF)
        c = resource.getrusage(resource.RUSAGE_CHILDREN)
        return Usage(
            s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime,
            (s.ru_inblock + c.ru_inblock) * 512,
            (s.ru_oublock + c.ru_oublock) * 512,
        )

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu - other.cpu, self.read - other.read, self.written - other.written)


@dataclass
class Step:
    name: str
    wall: float
    usage: Usage | None = None


def bench_job(clips: list[Path], root: Path) -> tuple[Job, JobState]:
    """A job with the clips already fetched, ready for its staging stage."""
    settings = BurnerSettings(
        work_dir=root / "station",
        drives=[DriveConfig(id="bench", device=f"stdio:{root / 'drive' / 'disc.iso'}",
                            media=["dvd"], capacity_bytes=DVD)],
        segment_bytes=DVD // 2,
        keep_images=True,
    )  # fmt: skip
    store = JobStore(settings.work_dir)
    spec = BurnJobSpec.model_validate({
        "job_id": str(uuid.uuid4()), "centre": "bench",
        "project": {"number": "BENCH-1", "name": "基准测试项目",
                    "opening_date": date.today().isoformat()},
        "sources": [{"kind": "folder", "path": str(clips[0].parent)}],
    })  # fmt: skip
    items = [FetchedItem(path=c.name, name=c.name, media="video", source="bench") for c in clips]
    state = JobState(spec=spec, stage="staging", fetched={0: items})
    pool = DrivePool(settings.drives, on_state=lambda s: None)
    job = Job(state, settings=settings, store=store, pool=pool,
              printer=printer_for(LabelSettings()), emit=lambda t, p: None)  # fmt: skip
    fetch = job.folder / "fetch"
    fetch.mkdir(parents=True)
    for clip in clips:
        clip.rename(fetch / clip.name)  # the job's fetched files, as the fetching stage leaves them
    return job, state


def pipeline(clips: list[Path], root: Path) -> tuple[list[Step], int]:
    """The job's staging stage, then the verify of every disc image."""
    job, state = bench_job(clips, root)
    steps = []
    before, t = Usage.now(), time.monotonic()
    job.staging()
    steps.append(Step("staging stage", time.monotonic() - t, Usage.now() - before))
    steps += [Step(f"  {k}", v) for k, v in job.timings.items()]
    before, t = Usage.now(), time.monotonic()
    for disc in state.discs:
        ok, detail = xorriso.verify(f"stdio:{job.folder / disc.image}", timeout_s=36000)
        assert ok, detail
    steps.append(Step("verify", time.monotonic() - t, Usage.now() - before))
    shutil.rmtree(job.folder)
    return steps, len(state.discs)


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


def report(
    kind: str, size: int, n_clips: int, discs: int, copy_rate: float, steps: list[Step]
) -> None:
    one_pass = size / copy_rate  # seconds of one raw-copy pass over this video
    print(f"[{kind}] video: {size / GB:.2f} GB in {n_clips} files, {discs} DVD images")
    print(f"  raw disk copy (1 pass):   {copy_rate / 1e6:8.1f} MB/s  {one_pass:7.1f} s")
    print(f"  {'step':<22} {'wall s':>8} {'passes':>7} {'CPU s':>7} {'read GB':>8} {'wrote GB':>8}")
    for s in steps:
        line = f"  {s.name:<22} {s.wall:8.1f} {s.wall / one_pass:7.2f}"
        if s.usage is not None:
            u = s.usage
            line += f" {u.cpu:7.1f} {u.read / GB:8.2f} {u.written / GB:8.2f}"
        print(line)
    total = sum(s.wall for s in steps if s.usage is not None)
    written = sum(s.usage.written for s in steps if s.usage is not None)
    rate = size / total
    print(f"  staging+image+verify: {rate / 1e6:8.1f} MB/s = {rate / copy_rate:.2f} x raw copy")
    print(f"  = {total / one_pass:.2f} raw-copy passes of wall time (goal: at most 2); "
          f"wrote {written / size:.2f} x the video")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=20.0, help="video to push through (GB)")
    parser.add_argument("--work", type=Path, default=Path("/work"), help="where to make files")
    parser.add_argument("--video", choices=[*KINDS, "both"], default="both")
    parser.add_argument(
        "--parallel-gb", type=float, default=None, help="each of the 4 images (default gb/8)"
    )
    parser.add_argument("--no-parallel", action="store_true", help="skip the drive speed-up")
    args = parser.parse_args()
    total = int(args.gb * GB)
    free = shutil.disk_usage(args.work).free
    if free < 3.2 * total:
        raise SystemExit(
            f"need {3.2 * total / GB:.0f} GB free under {args.work}, have {free / GB:.0f}"
        )
    root = Path(tempfile.mkdtemp(prefix="burn-bench-", dir=args.work))
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    print(f"{os.cpu_count()} CPUs, {mem / GB:.0f} GB memory, load {os.getloadavg()[0]:.1f}")
    try:
        for kind in KINDS if args.video == "both" else [args.video]:
            src = root / "src"
            src.mkdir()
            clips = make_video(src, total, kind)
            size = sum(c.stat().st_size for c in clips)
            copy_rate = raw_copy_rate(clips, root / "copy")
            steps, discs = pipeline(clips, root / kind)
            report(kind, size, len(clips), discs, copy_rate, steps)
            shutil.rmtree(src)
            shutil.rmtree(root / kind, ignore_errors=True)
        if args.no_parallel:
            return
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
