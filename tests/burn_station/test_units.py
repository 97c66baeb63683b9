"""Protocol pieces on their own: ffmpeg supervision, staging checks, layout, URLs, labels,
printer routes and resumable downloads."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from uuid import UUID

import httpx
import pytest
import reportlab
from PIL import Image, ImageChops

from burn_station import ffmpeg, isapi, labels, layout, rtsp
from burn_station.httpfetch import FetchError, download
from burn_station.printing import printer_for
from burn_station.settings import LabelSettings
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
    qr_data="https://prtc.example/burn/discs/1",
)
OTHER_NAME = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"  # as long, other characters
NO_CJK_FONT = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils")


def label_image(label: labels.LabelData, dest: Path, font: Path | None = None) -> Image.Image:
    pdf = labels.render(label, dest.with_suffix(".pdf"), font_path=font)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(dest)], check=True
    )
    return Image.open(dest.with_suffix(".png")).convert("L")


def name_glyphs(tmp_path: Path, font: Path | None = None) -> tuple[int, int]:
    """The project name's ink, and how much of it changes when the name is other Chinese
    characters. The region is where the name differs from blanks. Missing glyphs are drawn
    as one empty box ("tofu") or nothing, whatever the character: no change, or no ink."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    images = [
        label_image(replace(LABEL, project_name=name), tmp_path / f"name{n}", font)
        for n, name in enumerate([LABEL.project_name, OTHER_NAME, " " * len(OTHER_NAME)])
    ]
    region = ImageChops.difference(images[0], images[2]).getbbox()
    if region is None:
        return 0, 0
    name, other = (image.crop(region) for image in images[:2])
    changed = ImageChops.difference(name, other).point(lambda v: 255 if v > 64 else 0)
    return sum(name.histogram()[:128]), changed.histogram()[255]


@needs_poppler
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
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    used = [line.split() for line in fonts.splitlines()[2:] if "+" in line.split()[0]]
    assert used and all(row[-5] == "yes" for row in used)  # embedded: no printer font needed
    ink, changed = name_glyphs(tmp_path / "cjk")
    assert ink > 500 and changed > ink / 2  # drawn, and each character its own glyph


@needs_poppler
def test_the_glyph_check_catches_tofu(tmp_path: Path) -> None:
    """The same check on a label drawn with a font without CJK glyphs fails: it has ink (the
    boxes) but every character looks the same."""
    ink, changed = name_glyphs(tmp_path / "latin", NO_CJK_FONT)
    assert not (ink > 500 and changed > ink / 2)


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="needs zbar-tools")
@needs_poppler
def test_every_label_has_a_qr_code_naming_its_record(tmp_path: Path) -> None:
    disc_id = UUID("0195f3a2-7c1e-7d3a-9b1f-3c2d4e5f6a7b")

    def scanned(qr: str, name: str) -> str:
        label_image(replace(LABEL, qr_data=qr), tmp_path / name)
        done = subprocess.run(
            ["zbarimg", "-q", "--raw", str(tmp_path / f"{name}.png")],
            capture_output=True,
            check=True,
        )
        return done.stdout.decode().strip()

    url = labels.qr_data("https://prtc.example/burn/discs/{disc_id}", "c1", "ZB/7号", disc_id)
    assert scanned(url, "url") == f"https://prtc.example/burn/discs/{disc_id}"
    ref = labels.qr_data("", "c1", "ZB-2026/07号", disc_id)  # no console URL configured
    assert ref == f"prtc-archive:c1/ZB-2026%2F07%E5%8F%B7/{disc_id}"  # ASCII: no charset guess
    assert scanned(ref, "ref") == ref
    with pytest.raises(ValueError):
        labels.render(replace(LABEL, qr_data=""), tmp_path / "none.pdf")


def test_cups_options_reach_lp(tmp_path: Path, lp_args: Path) -> None:
    """An Epson disc tray through Gutenprint needs its tray and disc size as lp options."""
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    settings = LabelSettings(
        route="cups", printer="EPSON_XP_960", lp_options=["InputSlot=CD", "PageSize=CD5Inch"]
    )
    ref = printer_for(settings).submit(pdf, job_name="V1")
    assert ref.startswith("request id is disc-7")
    assert lp_args.read_text().splitlines() == [
        "-d", "EPSON_XP_960", "-o", "InputSlot=CD", "-o", "PageSize=CD5Inch", "-t", "V1", str(pdf),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="key=value"):
        LabelSettings(route="cups", lp_options=["-d other"])


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("primera_jrq", ["JobID=ZB_A1_0101", "ClientID=prtc-burn", "Copies=1",
                         "PrintLabel=C:\\PTBurnJobs\\ZB_A1_0101.jpg"]),
        ("epson_jdf", ["JOB_ID=ZB_A1_0101", "PUBLISHER=PP-100II", "COPIES=1",
                       "LABEL=C:\\PTBurnJobs\\ZB_A1_0101.jpg"]),
    ],
)  # fmt: skip
@needs_poppler
def test_robot_jobs_print_the_burned_disc(tmp_path: Path, route: str, expected: list[str]) -> None:
    """Print only: no blank-disc check (it would reject the written disc), no recording keys,
    the label as a JPEG beside the job, named as the robot's PC sees the folder."""
    pdf = labels.render(LABEL, tmp_path / "label.pdf")
    settings = LabelSettings(route=route, watch_dir=tmp_path / "watch",  # type: ignore[arg-type]
                             robot_dir="C:\\PTBurnJobs", robot_publisher="PP-100II")  # fmt: skip
    job = Path(printer_for(settings).submit(pdf, job_name="ZB_A1_0101"))
    raw = job.read_bytes()
    assert raw.endswith(b"\r\n") and raw.decode().splitlines() == expected
    if route == "primera_jrq":
        assert job.name == "ZB_A1_0101.JRQ" and b"RejectIfNotBlank" not in raw
    else:
        assert job.name == "ZB_A1_0101.JDF" and not raw.startswith(b"[")
    jpeg = tmp_path / "watch" / "ZB_A1_0101.jpg"
    assert Image.open(jpeg).format == "JPEG"
    assert sorted(p.name for p in jpeg.parent.iterdir()) == sorted([jpeg.name, job.name])


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
