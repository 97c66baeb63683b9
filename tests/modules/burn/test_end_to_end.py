"""End to end through the broker: a project with a recording in the collector's file store
becomes a burn job, the real burner plugin on a ``prtc-agent`` burns it on two file-backed
drives, and the collector's archive holds two verified discs with the recording's checksum.

Everything is a separate process: Mosquitto, ``prtc-collector serve``, ``prtc-agent run``
with the ``burner`` plugin (xorriso, ffmpeg). Skipped without xorriso or ffmpeg."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.net import wait_until
from tests.support.processes import AgentProcess, CollectorProcess, tmpdir

pytestmark = pytest.mark.skipif(
    shutil.which("xorriso") is None or shutil.which("ffmpeg") is None,
    reason="xorriso and ffmpeg needed",
)

CENTRE = "e2e-city"
STATION = "burn-e2e"


@pytest.fixture
def site() -> Iterator[tuple[Path, Mosquitto, CollectorProcess]]:
    workdir = tmpdir("prtc-burn-e2e-")
    broker = Mosquitto().start()
    collector = CollectorProcess(workdir, broker.url)
    try:
        yield workdir, broker, collector
    finally:
        collector.stop()
        broker.close()
        shutil.rmtree(workdir, ignore_errors=True)


def burner_agent(
    workdir: Path, broker: Mosquitto, collector: CollectorProcess, token: str, **env: str
) -> AgentProcess:
    agent = AgentProcess(workdir, CENTRE, STATION, broker.url, heartbeat_interval_s=1.0, **env)
    drives = workdir / "drives"
    drives.mkdir()
    agent.config.write_text(
        agent.config.read_text()
        + f"""
[plugins.burner]
kind = "burner"
work_dir = "{workdir / "burnwork"}"
collector_url = "{collector.api}"
collector_token = "{token}"
media_wait_s = 5.0

[[plugins.burner.drives]]
id = "d1"
device = "stdio:{drives / "d1.iso"}"
media = ["dvd"]

[[plugins.burner.drives]]
id = "d2"
device = "stdio:{drives / "d2.iso"}"
media = ["dvd"]
"""
    )
    return agent


def upload(
    collector: CollectorProcess,
    name: str,
    data: bytes,
    project: str,
    content_type: str = "video/mp4",
) -> str:
    body = {
        "name": name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": content_type,
        "device_id": STATION,
        "meta": {"project": project},
    }
    created = collector.post("/api/v1/files", body)
    r = httpx.patch(
        created["upload_url"],
        content=data,
        headers={**collector.headers, "Upload-Offset": "0",
                 "Content-Type": "application/offset+octet-stream"},
        timeout=30,
    )  # fmt: skip
    assert r.status_code == 204, r.text
    return str(created["id"])


def test_a_project_is_burned_by_the_real_station(
    site: tuple[Path, Mosquitto, CollectorProcess],
) -> None:
    workdir, broker, collector = site
    collector.enrol(CENTRE, STATION, kind="burner")
    out = collector.cli(
        "token", "add", "burn-e2e-files", "--centre", CENTRE, "--permissions", "devices.view"
    )
    token = re.search(r"prtc_\S+", out)
    assert token, out
    collector.start()
    collector.wait_ready()

    video = workdir / "rec.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", "testsrc=duration=2:size=160x120:rate=10", "-c:v", "libx264", "-pix_fmt",
         "yuv420p", "-movflags", "+faststart", str(video)],
        check=True,
    )  # fmt: skip
    data = video.read_bytes()
    upload(collector, "第一开标室.mp4", data, "E2E-2026-001")
    project = collector.post(
        "/api/v1/burn/projects",
        {"centre_id": CENTRE, "number": "E2E-2026-001", "name": "端到端测试项目",
         "category": "procurement", "opening_date": "2026-11-20"},
    )  # fmt: skip
    job = collector.post(
        "/api/v1/burn/jobs",
        {"project_ids": [project["id"]], "medium": "dvd", "copies": ["archive", "offsite"]},
    )[0]
    assert job["state"] == "queued" and job["station_id"] == STATION

    agent = burner_agent(workdir, broker, collector, token.group(0))
    agent.start()  # the station comes online and gets the durable command
    try:

        def finished() -> bool:
            state = collector.get(f"/api/v1/burn/jobs/{job['id']}")["state"]
            if state == "failed":
                raise AssertionError(collector.get(f"/api/v1/burn/jobs/{job['id']}"))
            return bool(state == "done")

        wait_until(finished, 120, 0.5, "the job is done")
        detail = collector.get(f"/api/v1/burn/jobs/{job['id']}")
        stages = [line["state"] for line in detail["log"]]
        for stage in ("fetching", "staging", "burning", "done"):
            assert stage in stages, stages
        discs = collector.get("/api/v1/burn/discs", q="E2E-2026-001")
        assert discs["total"] == 2
        assert sorted(d["copy_role"] for d in discs["items"]) == ["archive", "offsite"]
        digest = hashlib.sha256(data).hexdigest()
        for disc in discs["items"]:
            assert disc["verify"] == "ok" and disc["next_verify_due"]
            assert any(f["sha256"] == digest for f in disc["files"]), disc["files"]
        assert collector.get(f"/api/v1/burn/projects/{project['id']}")["archive_status"] == "done"
        drives = collector.get("/api/v1/burn/drives")
        assert {d["drive"] for d in drives["items"]} >= {"d1", "d2"}
    finally:
        agent.stop()


def test_a_schedule_larger_than_the_station_waits_its_turn(
    site: tuple[Path, Mosquitto, CollectorProcess],
) -> None:
    """Three projects picked up at once by a schedule, for a station that runs one command at
    a time: the collector sends two (``max_jobs_per_station``), the station answers "busy" to
    the second, which waits and goes again; every job ends done, none failed."""
    workdir, broker, collector = site
    collector.env["PRTC_COLLECTOR_BURN__MAX_JOBS_PER_STATION"] = "2"
    collector.enrol(CENTRE, STATION, kind="burner")
    out = collector.cli(
        "token", "add", "burn-e2e-files", "--centre", CENTRE, "--permissions", "devices.view"
    )
    token = re.search(r"prtc_\S+", out)
    assert token, out
    collector.start()
    collector.wait_ready()
    numbers = [f"E2E-2026-10{n}" for n in range(3)]
    for number in numbers:
        document = f"%PDF-1.4 {number} 招标文件".encode()
        upload(collector, f"{number}.pdf", document, number, content_type="application/pdf")
        collector.post(
            "/api/v1/burn/projects",
            {"centre_id": CENTRE, "number": number, "name": f"排队测试 {number}",
             "opening_date": "2026-11-20"},
        )  # fmt: skip
    agent = burner_agent(
        workdir, broker, collector, token.group(0), PRTC_AGENT_COMMANDS__MAX_IN_FLIGHT="1"
    )
    agent.start()
    try:
        wait_until(lambda: collector.get(f"/api/v1/devices/{STATION}")["online"], 30, 0.2,
                   "the station is online")  # fmt: skip
        collector.post(
            "/api/v1/burn/schedules",
            {"centre_id": CENTRE, "name": "立即归档", "frequency": "once", "copies": ["archive"]},
        )

        def jobs() -> list[dict[str, object]]:
            items: list[dict[str, object]] = collector.get("/api/v1/burn/jobs")["items"]
            failed = [j for j in items if j["state"] == "failed"]
            assert not failed, failed
            return items

        wait_until(lambda: len(jobs()) == 3 and all(j["state"] == "done" for j in jobs()),
                   180, 1.0, "every scheduled job done")  # fmt: skip
        logs = [collector.get(f"/api/v1/burn/jobs/{j['id']}")["log"] for j in jobs()]
        requeued = [line for log in logs for line in log if "重新排队" in line["message"]]
        assert requeued, "the station never answered busy"
        statuses = collector.get("/api/v1/burn/projects")["items"]
        assert {p["number"]: p["archive_status"] for p in statuses} == dict.fromkeys(
            numbers, "done"
        )
    finally:
        agent.stop()
