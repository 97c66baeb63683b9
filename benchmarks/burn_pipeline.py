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

Three kinds of video:

- ``recordings``: evaluation-room recordings as the terminals upload them (fragmented MP4, the
  recorder's format, with the ``synthetic`` encoding), already decode-checked by the collector
  after upload (``collector/modules/burn/recording_check.py``). Staging keeps them byte for
  byte, with the SHA-256 their download verified, and decodes nothing. The benchmark measures
  that collector-side check on one clip and prints its CPU cost per GB: it is paid once per
  recording, at low priority on the collector, not once per burn, and is not in the figure.
- ``synthetic`` (720p, 16 Mb/s, x264 ultrafast: CAVLC, no deblocking, the figure's historical
  input), MP4 with its index last, so remuxed and decode-checked by the station, as NVR clips
  are;
- ``nvr`` (1080p, 6 Mb/s High profile, CABAC, deblocking, AAC audio: what an NVR delivers; its
  decode check costs much more CPU per byte).

Pass accounting: the raw copy (read + write + fsync of the video) is one pass. For each step
the benchmark prints its wall time in raw-copy passes and its CPU time and disk traffic from
``getrusage`` (this process and its ffmpeg/xorriso children): bytes written are file pages the
step dirtied (a page written again while still dirty in the cache counts once), bytes read are
reads that missed the page cache. Reads served from the cache (the SHA-256 right after the
remux, the decode check, the image and verify reads, on a PC with enough memory) cost CPU but
no disk time. The staging step ends with a ``sync``, as the raw copy ends with an ``fsync``.
The job builds its images several at once (one xorriso per core), and verify runs as on a
station with ``--drives`` drives (default 2): each drive verifies the disc it burned, at the same
time as the others. The goal is a ratio of at least 0.5, i.e. staging + image + verify in at most
two raw-copy passes. On a 2-core PC the full decode check alone costs more than that (its CPU
seconds are in the staging line; ``nvr`` at 20 GB takes well over an hour).

Tool floor: after the pipeline, on the same staged files, the benchmark runs xorriso alone on
the same discs: each disc's tree laid out again exactly as the job laid it out (the job's own
``discfiles.populate`` calls, recorded, replayed into another folder: hard links to the staged
files and the same three meta files), bare ``xorriso.image_args`` builds with the job's image
parallelism (one xorriso per core, at most 4), a ``sync``, then ``xorriso.verify`` of each image
with the same ``--drives`` parallelism. The pipeline's images are removed first. Before each
floor run the staged files are read once (untimed), as the pipeline's run starts right after
the SHA-256 of the fetched files, so the page cache holds the video on both sides as far as it
fits; the read GB columns show what missed it. The same builds are then timed with ``-md5 off``
(nothing to verify without the MD5s): the difference is what the MD5 requirement costs in the
image build. The report prints xorriso alone in raw-copy passes and what the pipeline (remux or
links, SHA-256s, decode checks, tree layout, image SHA-256s) adds over it.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from unittest import mock

from burn_station import discfiles, ffmpeg, xorriso
from burn_station.drives import BurnTask, DrivePool
from burn_station.fetch import FetchedItem
from burn_station.hashing import sha256_file
from burn_station.jobstore import JobState, JobStore
from burn_station.pipeline import Job
from burn_station.printing import printer_for
from burn_station.settings import BurnerSettings, DriveConfig, LabelSettings
from collector.modules.burn import recording_check
from contract.payloads.burn import BurnJobSpec

GB = 1_000_000_000
DVD = 4_700_000_000

FRAGMENTED = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof"]
"""The evaluation-room recorder's MP4 (``device_plugins/recorder/ffmpeg_args.py``)."""

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
KINDS["recordings"] = KINDS["synthetic"]
CHECKED_AT_COLLECTOR = {"recordings"}


def make_video(root: Path, total: int, kind: str) -> list[Path]:
    """Clips of about 1 GB each, built by stream-copying one encoded chunk (fast)."""
    chunk = root / "chunk.mp4"
    ffmpeg.run(["-y", "-v", "error", *KINDS[kind], str(chunk)], timeout_s=1800)
    mux = FRAGMENTED if kind in CHECKED_AT_COLLECTOR else []
    repeat = max(1, round(min(total, GB) / chunk.stat().st_size))
    listing = root / "list.txt"
    listing.write_text("".join(f"file '{chunk}'\n" for _ in range(repeat)))
    clips: list[Path] = []
    made = 0
    while made < total:
        clip = root / f"room{len(clips) + 1}.mp4"
        ffmpeg.run(["-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", *mux, str(clip)], timeout_s=3600)  # fmt: skip
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


def collector_check_cpu(clip: Path) -> float:
    """CPU seconds per GB of the collector's decode check of a recording (one clip)."""
    before = Usage.now()
    verdict = recording_check.decode("ffmpeg", clip, timeout_s=36000)
    assert verdict is not None and verdict[0], verdict
    return (Usage.now() - before).cpu / (clip.stat().st_size / GB)


def bench_job(clips: list[Path], root: Path, kind: str) -> tuple[Job, JobState]:
    """A job with the clips already fetched, ready for its staging stage. Recordings come from
    the file store: their download verified the SHA-256 the store recorded, and the collector
    has decode-checked them."""
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
    if kind in CHECKED_AT_COLLECTOR:
        items = [
            i.model_copy(update={"sha256": sha256_file(c), "decode_checked": True})
            for i, c in zip(items, clips, strict=True)
        ]
    state = JobState(spec=spec, stage="staging", fetched={0: items})
    pool = DrivePool(settings.drives, on_state=lambda s: None)
    job = Job(state, settings=settings, store=store, pool=pool,
              printer=printer_for(LabelSettings()), emit=lambda t, p: None)  # fmt: skip
    fetch = job.folder / "fetch"
    fetch.mkdir(parents=True)
    for clip in clips:
        clip.rename(fetch / clip.name)  # the job's fetched files, as the fetching stage leaves them
    return job, state


def verify_all(images: list[Path], drives: int) -> None:
    """``xorriso.verify`` of every image, ``drives`` at once (each drive verifies the disc it
    has just burned)."""

    def verify(image: Path) -> None:
        ok, detail = xorriso.verify(f"stdio:{image}", timeout_s=36000)
        assert ok, detail

    with ThreadPoolExecutor(drives) as pool:
        list(pool.map(verify, images))


def pipeline(
    clips: list[Path], root: Path, kind: str, drives: int
) -> tuple[list[Step], list[Step], int]:
    """The job's staging stage, then the verify of every disc image, as a station with
    ``drives`` drives does it: each drive verifies the disc it has just burned. Then the tool
    floor on the same discs (:func:`tool_floor`)."""
    job, state = bench_job(clips, root, kind)
    steps = []
    before, t = Usage.now(), time.monotonic()
    with mock.patch.object(discfiles, "populate", wraps=discfiles.populate) as populate:
        job.staging()
    os.sync()  # like the raw copy's fsync: the images are on the disk, not only in the cache
    steps.append(Step("staging stage", time.monotonic() - t, Usage.now() - before))
    steps += [Step(f"  {k}", v) for k, v in job.timings.items()]
    before, t = Usage.now(), time.monotonic()
    verify_all([job.folder / disc.image for disc in state.discs], drives)
    steps.append(Step(f"verify ({drives} drives)", time.monotonic() - t, Usage.now() - before))
    shutil.rmtree(job.folder / "images")
    layouts = {call.args[0].name: call.args for call in populate.call_args_list}
    trees = []
    for disc in state.discs:  # each disc's tree again, as the job laid it out
        _, stage_dir, sources, manifest = layouts[disc.volume_id]
        tree = root / "floor" / "discs" / disc.volume_id
        discfiles.populate(tree, stage_dir, sources, manifest)
        trees.append((tree, disc.volume_id))
    workers = job.settings.image_workers or min(os.cpu_count() or 1, 4)  # as build_images
    staged = [job.folder / "stage" / f.path for f in state.staged or []]
    floor = tool_floor(trees, staged, root / "floor" / "images", workers, drives)
    shutil.rmtree(job.folder)
    shutil.rmtree(root / "floor")
    return steps, floor, len(state.discs)


def read_through(files: list[Path]) -> None:
    """Read the files once (they come from the page cache where they still fit)."""
    for path in files:
        with path.open("rb") as f:
            while f.readinto(BUFFER):
                pass


BUFFER = bytearray(8 * 1024 * 1024)


def tool_floor(
    trees: list[tuple[Path, str]], staged: list[Path], out: Path, workers: int, drives: int
) -> list[Step]:
    """xorriso alone on the job's disc trees: the images built ``workers`` at once and
    synced, then verified ``drives`` at once; then the images built again with ``-md5 off``."""
    out.mkdir(parents=True)

    def build(tree: Path, volid: str, md5: str) -> Path:
        image = out / f"{volid}.iso"
        args = xorriso.image_args(tree, image, volid)
        args[args.index("-md5") + 1] = md5
        xorriso.run(args, timeout_s=7200)
        return image

    steps = []
    for md5 in ("on", "off"):
        read_through(staged)
        before, t = Usage.now(), time.monotonic()
        with ThreadPoolExecutor(workers) as pool:
            images = list(pool.map(lambda tv: build(tv[0], tv[1], md5), trees))  # noqa: B023
        os.sync()
        at_once = min(workers, len(trees))
        name = f"xorriso image ({at_once} at once)" if md5 == "on" else "xorriso image, -md5 off"
        steps.append(Step(name, time.monotonic() - t, Usage.now() - before))
        if md5 == "on":
            before, t = Usage.now(), time.monotonic()
            verify_all(images, drives)
            steps.append(
                Step(
                    f"xorriso verify ({drives} drives)", time.monotonic() - t, Usage.now() - before
                )
            )
        for image in images:
            image.unlink()
    return steps


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


def _row(s: Step, one_pass: float) -> str:
    line = f"  {s.name:<30} {s.wall:8.1f} {s.wall / one_pass:7.2f}"
    if s.usage is not None:
        u = s.usage
        line += f" {u.cpu:7.1f} {u.read / GB:8.2f} {u.written / GB:8.2f}"
    return line


def report(
    kind: str,
    size: int,
    n_clips: int,
    discs: int,
    copy_rate: float,
    steps: list[Step],
    floor: list[Step],
) -> None:
    one_pass = size / copy_rate  # seconds of one raw-copy pass over this video
    print(f"[{kind}] video: {size / GB:.2f} GB in {n_clips} files, {discs} DVD images")
    print(f"  raw disk copy (1 pass):   {copy_rate / 1e6:8.1f} MB/s  {one_pass:7.1f} s")
    print(f"  {'step':<30} {'wall s':>8} {'passes':>7} {'CPU s':>7} {'read GB':>8} {'wrote GB':>8}")
    for s in steps:
        print(_row(s, one_pass))
    total = sum(s.wall for s in steps if s.usage is not None)
    written = sum(s.usage.written for s in steps if s.usage is not None)
    rate = size / total
    print(f"  staging+image+verify: {rate / 1e6:8.1f} MB/s = {rate / copy_rate:.2f} x raw copy")
    print(f"  = {total / one_pass:.2f} raw-copy passes of wall time (goal: at most 2); "
          f"wrote {written / size:.2f} x the video")  # fmt: skip
    print("  tool floor, after the pipeline on the same files (xorriso alone, same disc trees):")
    for s in floor:
        print(_row(s, one_pass))
    image, verify, image_off = floor
    alone = image.wall + verify.wall
    print(f"  xorriso alone (image + verify): {alone:.1f} s = {alone / one_pass:.2f} raw-copy "
          f"passes; the pipeline adds {total - alone:.1f} s over it "
          f"({(total - alone) / one_pass:.2f} passes)")  # fmt: skip
    per_gb = size / GB
    on_cpu = image.usage.cpu / per_gb if image.usage else 0.0
    off_cpu = image_off.usage.cpu / per_gb if image_off.usage else 0.0
    print(f"  xorriso -md5 off (image only, nothing to verify): {image_off.wall:.1f} s = "
          f"{image_off.wall / one_pass:.2f} passes, {off_cpu:.1f} CPU s/GB; -md5 on: "
          f"{image.wall:.1f} s = {image.wall / one_pass:.2f} passes, {on_cpu:.1f} CPU s/GB; "
          f"the MD5s cost {image.wall - image_off.wall:.1f} s of image build "
          f"(the verify, {verify.wall:.1f} s, needs them)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=20.0, help="video to push through (GB)")
    parser.add_argument("--work", type=Path, default=Path("/work"), help="where to make files")
    parser.add_argument("--video", choices=[*KINDS, "all"], default="all")
    parser.add_argument(
        "--parallel-gb", type=float, default=None, help="each of the 4 images (default gb/8)"
    )
    parser.add_argument("--no-parallel", action="store_true", help="skip the drive speed-up")
    parser.add_argument(
        "--drives", type=int, default=2, help="drives of the station whose job is measured"
    )
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
        for kind in KINDS if args.video == "all" else [args.video]:
            src = root / "src"
            src.mkdir()
            clips = make_video(src, total, kind)
            size = sum(c.stat().st_size for c in clips)
            copy_rate = raw_copy_rate(clips, root / "copy")
            check_cpu = collector_check_cpu(clips[0]) if kind in CHECKED_AT_COLLECTOR else None
            steps, floor, discs = pipeline(clips, root / kind, kind, args.drives)
            report(kind, size, len(clips), discs, copy_rate, steps, floor)
            if check_cpu is not None:
                print(f"  (not in the figure) the collector's decode check after upload: "
                      f"{check_cpu:.1f} CPU s per GB, once per recording")  # fmt: skip
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
