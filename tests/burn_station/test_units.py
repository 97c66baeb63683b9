"""Protocol pieces on their own: ffmpeg supervision, staging checks, layout, URLs, labels,
printer routes and resumable downloads."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

from burn_station import ffmpeg, isapi, labels, layout, rtsp
from burn_station.httpfetch import FetchError, download
from burn_station.printing import CupsPrinter, WatchFolderPrinter, jrq_text
from burn_station.staging import StagedFile, StagingError, check_video

from .conftest import FileServer
from .helpers import pdftotext, sha256


def test_decode_check_fails_on_a_truncated_file(tmp_path: Path, media: dict[str, Path]) -> None:
    good = tmp_path / "faststart.mp4"  # index first: a cut file still opens
    ffmpeg.run(["-v", "error", "-i", str(media["room1"]), "-c", "copy", "-movflags", "+faststart",
                str(good)], timeout_s=60)  # fmt: skip
    check_video(good, stop=None, timeout_s=60)
    cut = tmp_path / "cut.mp4"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    # what the issue warns about: a plain null-output pass says nothing is wrong
    plain_check = ["ffmpeg", "-v", "error", "-i", str(cut), "-f", "null", "-"]
    plain = subprocess.run(plain_check, capture_output=True)
    assert plain.returncode == 0
    with pytest.raises(StagingError):
        check_video(cut, stop=None, timeout_s=60)


def test_ffmpeg_is_stopped_and_timed_out() -> None:
    endless = ["-f", "lavfi", "-re", "-i", "testsrc=size=64x64:rate=5", "-f", "null", "-"]
    seen: list[float] = []
    with pytest.raises(ffmpeg.FFmpegError, match="timed out"):
        ffmpeg.run(endless, timeout_s=1.5, on_progress=seen.append)
    assert seen and seen[-1] > 0  # progress came from -progress pipe:1
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    with pytest.raises(ffmpeg.Stopped):
        ffmpeg.run(endless, timeout_s=60, stop=stop)
    assert time.monotonic() - started < 10


def staged(path: str, size: int, media: str = "video") -> StagedFile:
    return StagedFile(path=path, disc_path=path, media=media, size=size, sha256="0" * 64)


def test_layout_fills_discs_in_order_and_refuses_what_cannot_fit() -> None:
    files = [staged(f"video/v{n}.mp4", 3_000_000) for n in range(5)]
    files.append(staged("documents/a.pdf", 10_000, "document"))
    discs = layout.plan(files, 12 * 1024**2)
    assert [len(d) for d in discs] == [4, 2]
    assert [f.disc_path for d in discs for f in d][1:] == [f"video/v{n}.mp4" for n in range(5)]
    assert discs[0][0].disc_path == "documents/a.pdf"  # documents land on disc 1
    with pytest.raises(layout.LayoutError):
        layout.plan([staged("video/big.mp4", 20 * 1024**2)], 10 * 1024**2)
    assert layout.volume_id("招标 ZB-2026/07号", "offsite", 2, 1, 3) == "ZB_2026_07_O2_0103"


def test_playback_urls_carry_the_nvr_clock() -> None:
    start, end = datetime(2026, 11, 20, 9, 0), datetime(2026, 11, 20, 9, 30)
    hik = rtsp.playback_url(
        "rtsp://10.0.0.5:554/Streaming/tracks/{channel}01?starttime={start}&endtime={end}",
        "hikvision",
        3,
        start,
        end,
        "admin",
        "p@ss",
    )
    assert hik == (
        "rtsp://admin:p%40ss@10.0.0.5:554/Streaming/tracks/301"
        "?starttime=20261120T090000Z&endtime=20261120T093000Z"
    )
    dahua = rtsp.playback_url(
        "rtsp://nvr/cam/playback?channel={channel}&subtype=0&starttime={start}&endtime={end}",
        "dahua",
        2,
        start,
        end,
    )
    assert "channel=2&subtype=0&starttime=2026_11_20_09_00_00&endtime=2026_11_20_09_30_00" in dahua
    args = rtsp.pull_args("rtsp://nvr/x", Path("out.mkv"), 1800)
    assert args[args.index("-t") + 1] == "1800.000"  # bounded even if the NVR ignores endtime


def test_isapi_search_document_round_trip() -> None:
    body = isapi.search_xml(101, datetime(2026, 1, 1, 8), datetime(2026, 1, 1, 9), 0, "ID")
    assert b"<trackID>101</trackID>" in body and b"2026-01-01T08:00:00Z" in body
    reply = (
        b'<CMSearchResult xmlns="http://www.hikvision.com/ver20/XMLSchema"><responseStatusStrg>MORE'
        b"</responseStatusStrg><matchList><searchMatchItem><trackID>101</trackID><timeSpan>"
        b"<startTime>2026-01-01T08:00:00Z</startTime><endTime>2026-01-01T08:10:00Z</endTime>"
        b"</timeSpan><mediaSegmentDescriptor><playbackURI>rtsp://x/1?a=b&amp;c=d</playbackURI>"
        b"</mediaSegmentDescriptor></searchMatchItem></matchList></CMSearchResult>"
    )
    clips, more = isapi.parse_search(reply)
    assert more and clips[0].playback_uri == "rtsp://x/1?a=b&c=d" and clips[0].track_id == 101


LABEL = labels.LabelData(
    centre_name="某某市公共资源交易中心",
    project_name="某某县人民医院门诊楼改造工程监理服务采购",
    project_number="ZFCG-2026-118",
    opening_date=date(2026, 11, 20),
    disc_index=2,
    disc_count=3,
    copy_role="offsite",
    copy_number=1,
    burn_date=date(2026, 11, 23),
    volume_id="ZFCG_2026_118_O1_0203",
    archive_url="https://prtc.example/burn/archive/1",
)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils")
def test_label_renders_the_chinese_fields(tmp_path: Path) -> None:
    pdf = labels.render(LABEL, tmp_path / "label.pdf")
    text = "".join(pdftotext(pdf).split())
    for field in (
        "某某县人民医院门诊楼改造工程监理服务采购",
        "项目编号：ZFCG-2026-118",
        "开标日期：2026-11-20",
        "第2张/共3张",
        "异地备份",
        "刻录日期：2026-11-23",
    ):
        assert field in text
    # rendered to an image, the text is really drawn (glyphs, not empty boxes or nothing)
    from PIL import Image

    def dark_pixels(label: labels.LabelData, name: str) -> int:
        out = tmp_path / name
        labels.render(label, out.with_suffix(".pdf"))
        pdf = out.with_suffix(".pdf")
        subprocess.run(
            ["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(out)], check=True
        )
        image = Image.open(out.with_suffix(".png")).convert("L")
        return sum(image.histogram()[:128])

    blank = labels.LabelData(**{**LABEL.__dict__, "project_name": "", "archive_url": ""})
    assert dark_pixels(LABEL, "full") > dark_pixels(blank, "blank") + 500


def test_printer_routes(tmp_path: Path) -> None:
    fake_lp = tmp_path / "lp"
    fake_lp.write_text(
        f'#!/bin/sh\necho "$@" > {tmp_path}/lp.args\necho "request id is disc-7 (1 file(s))"\n'
    )
    fake_lp.chmod(0o755)
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    ref = CupsPrinter("EPSON_XP_960", str(fake_lp)).submit(pdf, job_name="V1")
    assert ref.startswith("request id is disc-7")
    assert (tmp_path / "lp.args").read_text().split() == [
        "-d",
        "EPSON_XP_960",
        "-t",
        "V1",
        str(pdf),
    ]
    path = WatchFolderPrinter(tmp_path / "watch", "primera_jrq").submit(pdf, job_name="V1")
    assert Path(path).name == "V1.JRQ"
    assert jrq_text("V1", pdf, None).splitlines()[:3] == [
        "JobID=V1",
        "ClientID=prtc-burn",
        "Copies=1",
    ]


def test_download_resumes_with_range_and_checks_sha256(
    tmp_path: Path, file_server: FileServer
) -> None:
    data = os.urandom(300_000)
    (file_server.root / "rec.mp4").write_bytes(data)
    digest = sha256(file_server.root / "rec.mp4")
    headers = {"Authorization": "Bearer t0ken"}
    dest = tmp_path / "rec.mp4"
    file_server.fail_after = 100_000
    with httpx.Client() as client:
        with pytest.raises(httpx.HTTPError):
            download(
                client,
                f"{file_server.url}/files/rec.mp4",
                dest,
                sha256=digest,
                size=len(data),
                headers=headers,
            )
        assert dest.with_name("rec.mp4.part").stat().st_size == 100_000
        download(
            client,
            f"{file_server.url}/files/rec.mp4",
            dest,
            sha256=digest,
            size=len(data),
            headers=headers,
        )
        assert dest.read_bytes() == data
        assert file_server.requests[-1][1] == "bytes=100000-"
        with pytest.raises(FetchError, match="SHA-256"):
            download(
                client,
                f"{file_server.url}/files/rec.mp4",
                tmp_path / "y",
                sha256="0" * 64,
                headers=headers,
            )
