"""Recording cost: CPU of one 1080p recorder stream, and the uploader's throughput against a
plain HTTP copy of the same file measured in the same run.

1. CPU: the recorder's own ffmpeg command (:func:`device_plugins.recorder.ffmpeg_args.
   build_command`, default encoding settings: libx264 veryfast CRF 26, AAC, 15 fps, 5 min
   segments shortened to 10 s here) on a 1920x1080 source for ``--seconds``; the ffmpeg
   process's CPU is sampled with psutil. The source is ``x11grab`` of an Xvfb display when
   ``Xvfb`` is installed (``--source x11``), else ``lavfi testsrc2``, whose generation is part of
   the figure (so it overstates a real capture slightly).
2. Upload: a ``--mib`` file of random bytes to a real collector process (SQLite, local file
   store). Baseline: one ``POST /files`` and one plain ``PATCH`` of the whole file streamed by
   httpx. Then the agent's :class:`~edge_agent.uploader.Uploader` (64 MiB chunks, durable
   queue) uploads the same file; its time runs from waking the idle uploader (SHA-256 computed
   at queuing, as for a segment) to done. Rounds alternate; best and median of ``--rounds``
   each. Goal: at least 0.8 of the baseline.

    python -m benchmarks.recording [--seconds 20] [--mib 256] [--source lavfi|x11]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psutil

from device_plugins.recorder.ffmpeg_args import build_command
from device_plugins.recorder.settings import RecorderSettings
from edge_agent.settings import UploadsSection
from edge_agent.upload_queue import UploadQueue
from edge_agent.uploader import Uploader
from tests.support.processes import tmpdir
from tests.support.upload_collector import UploadCollector

DEVICE = "bench-room"
MIB = 1024 * 1024
LOG = logging.getLogger("bench.recording")


def start_xvfb(display: str) -> subprocess.Popen[bytes] | None:
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        return None
    proc = subprocess.Popen(
        [xvfb, display, "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    return proc


def measure_cpu(seconds: float, source: str, work: Path) -> None:
    xvfb = None
    if source == "x11":
        xvfb = start_xvfb(":97")
        if xvfb is None:
            print("Xvfb not installed: using lavfi testsrc2 instead")
            source = "lavfi"
    video = (
        {"type": "desktop", "device": ":97", "video_size": "1920x1080"}
        if source == "x11"
        else {"type": "lavfi", "device": "testsrc2=size=1920x1080:rate=15"}
    )
    settings = RecorderSettings.model_validate(
        {"sources": [video, {"type": "lavfi", "device": "sine"}], "segment_s": 10}
    )
    out = work / "cpu"
    out.mkdir()
    args = build_command(settings, pattern=out / "seg_%05d.mp4", segment_list=out / ".list.csv")
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    ps.cpu_percent(None)
    samples: list[float] = []
    try:
        time.sleep(2.0)  # warm-up: encoder start, lookahead
        ps.cpu_percent(None)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1.0)
            samples.append(ps.cpu_percent(None))
    finally:
        if proc.poll() is None and proc.stdin is not None:
            proc.stdin.write(b"q")
            proc.stdin.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if xvfb is not None:
            xvfb.terminate()
    if not samples:
        raise SystemExit(
            f"ffmpeg failed: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}"
        )
    size = sum(p.stat().st_size for p in out.glob("*.mp4"))
    duration = seconds + 2.0
    cores = psutil.cpu_count() or 1
    mean = statistics.mean(samples)
    print(
        f"1080p stream ({source}, libx264 {settings.preset} CRF {settings.crf}, "
        f"{settings.framerate:g} fps + AAC): CPU mean {mean:.0f}% of one core "
        f"(p95 {sorted(samples)[int(len(samples) * 0.95) - 1]:.0f}%), "
        f"{mean / cores:.0f}% of this {cores}-core machine; "
        f"~{size * 8 / duration / 1e6:.2f} Mbit/s on disk"
    )


def plain_copy(collector: UploadCollector, path: Path, digest: str) -> float:
    headers = {"Authorization": f"Bearer {collector.token}"}
    size = path.stat().st_size
    with httpx.Client(base_url=f"{collector.url}/api/v1", headers=headers, timeout=300) as client:
        started = time.perf_counter()
        r = client.post(
            "/files",
            json={"name": path.name, "size": size, "sha256": digest, "device_id": DEVICE},
        )
        r.raise_for_status()
        url = r.json()["upload_url"]

        def body() -> object:
            with path.open("rb") as f:
                while block := f.read(MIB):
                    yield block

        r = client.patch(
            url,
            content=body(),  # type: ignore[arg-type]
            headers={
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(size),
            },
        )
        took = time.perf_counter() - started
    if r.status_code != 204 or r.headers.get("Upload-State") != "complete":
        raise SystemExit(f"plain PATCH failed: {r.status_code} {r.text[:200]}")
    return took


def uploader_copy(collector: UploadCollector, path: Path, work: Path, n: int) -> float:
    queue = UploadQueue(work / f"uploads-{n}.db")
    done = threading.Event()
    uploader = Uploader(
        queue,
        UploadsSection(**collector.uploads_section()),
        device=DEVICE,
        emit=lambda _t, _p: done.set(),
        logger=LOG,
    )
    uploader.start()  # idle: in production the uploader thread and its client live on
    try:
        time.sleep(0.2)
        upload_id = queue.enqueue(path, kind="benchmark")  # hashed at queuing, as a segment is
        started = time.perf_counter()
        uploader.wake()
        if not done.wait(600) or queue.state(upload_id) != "done":
            raise SystemExit(f"uploader did not finish: {uploader.stats()}")
        return time.perf_counter() - started
    finally:
        uploader.stop()
        queue.close()


def measure_upload(mib: int, rounds: int, work: Path) -> None:
    path = work / "segment.bin"
    with path.open("wb") as f:
        for _ in range(mib):
            f.write(os.urandom(MIB))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    collector = UploadCollector(work / "collector")
    try:
        collector.enrol(DEVICE)
        plain: list[float] = []
        ours: list[float] = []
        for n in range(rounds):
            plain.append(plain_copy(collector, path, digest))
            ours.append(uploader_copy(collector, path, work, n))
    finally:
        collector.close()
    size_mb = mib * MIB / 1e6
    best_plain, best_ours = size_mb / min(plain), size_mb / min(ours)
    print(
        f"plain HTTP PATCH of {mib} MiB: {best_plain:.0f} MB/s (best of {rounds}; "
        f"{', '.join(f'{size_mb / t:.0f}' for t in plain)})"
    )
    print(
        f"agent uploader (64 MiB chunks, durable queue): {best_ours:.0f} MB/s "
        f"({', '.join(f'{size_mb / t:.0f}' for t in ours)})"
    )
    median = statistics.median(plain) / statistics.median(ours)
    print(
        f"uploader / plain copy: {best_ours / best_plain:.2f} best vs best, "
        f"{median:.2f} median vs median (goal >= 0.8)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--source", choices=["lavfi", "x11"], default="lavfi")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-upload", action="store_true")
    args = parser.parse_args()
    work = tmpdir("prtc-bench-rec-")
    try:
        if not args.skip_cpu:
            measure_cpu(args.seconds, args.source, work)
        if not args.skip_upload:
            measure_upload(args.mib, args.rounds, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
