"""Long Chinese file names: Windows (the Joliet tree) shows the names the manifest, SHA256SUMS
and index.html give, read back from a real image built by xorriso."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import pytest

from burn_station import discnames, xorriso
from burn_station.discnames import DiscNames, units
from burn_station.fetch import FetchedItem, safe_name
from burn_station.staging import Stager
from contract.payloads.burn import DiscManifest

from .helpers import extract, staging_job

NAME_70 = ("关于某某县第一中学教学楼建设工程施工招标项目评标委员会评审报告及附件材料汇编" * 2)[:70]
LONG_MIXED = "评标报告" * 10 + "appendix-" * 8  # 112 UTF-16 units, 192 bytes
DEEP = ["投标文件" * 8, "甲公司资格审查材料" * 4, "第二部分"]


def joliet_files(iso: Path) -> set[str]:
    """Paths of the files in the image's Joliet tree: what Windows shows."""
    _, out = xorriso.run(
        [*xorriso.CHARSETS, "-read_fs", "norock", "-indev", f"stdio:{iso}",
         "-find", "/", "-type", "f"],
        timeout_s=60,
    )  # fmt: skip
    return {m.group(1) for m in re.finditer(r"^'/(.*)'$", out, re.M)}


def test_names_fit_joliet_and_stay_unique() -> None:
    names = DiscNames()
    assert names.assign(f"documents/{NAME_70}.pdf") == f"documents/{NAME_70}.pdf"
    first = names.assign(f"documents/{LONG_MIXED}（一）.pdf")
    second = names.assign(f"documents/{LONG_MIXED}（二）.pdf")  # same once cut
    for path in (first, second):
        leaf = path.rsplit("/", 1)[1]
        assert units(leaf) <= discnames.NAME_UNITS and leaf.endswith(".pdf") and "…" in leaf
    assert first.casefold() != second.casefold()
    assert names.assign("documents/A.pdf") != names.assign("documents/a.pdf")  # Windows
    deep = [names.assign("/".join(["documents", *DEEP, f"{n}{NAME_70}.pdf"])) for n in range(2)]
    assert all(units(p) <= discnames.PATH_UNITS for p in deep)
    assert deep[0].rsplit("/", 1)[0] == deep[1].rsplit("/", 1)[0]  # one folder, one name
    assert names.assign("documents/a;b.pdf") == "documents/a_b.pdf"  # Joliet refuses ";"
    emoji = names.assign("documents/" + "😀" * 60 + ".pdf")
    assert units(emoji.rsplit("/", 1)[1]) <= discnames.NAME_UNITS  # two units each
    assert len(safe_name("录像" * 100 + ".mp4").encode()) <= 255  # the local file system too


@pytest.fixture
def long_named(tmp_path: Path, media: dict[str, Path]) -> tuple[Path, list[FetchedItem]]:
    fetch = tmp_path / "fetch"
    fetch.mkdir()
    items = []
    for n, name in enumerate(
        [
            f"{NAME_70}.pdf",
            f"{LONG_MIXED}（一）.pdf",
            f"{LONG_MIXED}（二）.pdf",
            "/".join([*DEEP, f"{NAME_70}.docx"]),
        ]
    ):
        (fetch / f"f{n}").write_bytes(f"document {n}".encode())
        items.append(FetchedItem(path=f"f{n}", name=name, media="document", source="test"))
    shutil.copy(media["room1"], fetch / "video.mp4")
    video_name = "第一开标室" + "评标过程录像" * 15 + ".mp4"  # 95 units: with _partNN over 103
    items.append(FetchedItem(path="video.mp4", name=video_name, media="video", source="test"))
    return fetch, items


def test_windows_sees_the_names_the_manifest_gives(
    tmp_path: Path, long_named: tuple[Path, list[FetchedItem]]
) -> None:
    fetch, items = long_named
    job = staging_job(tmp_path, fetch, items)
    job.staging()
    [disc] = job.state.discs
    iso = job.folder / disc.image
    tree = extract(iso, tmp_path / "restore")
    manifest = DiscManifest.model_validate_json((tree / "MANIFEST.json").read_text("utf-8"))
    paths = {f.path for f in manifest.files}
    assert f"documents/{NAME_70}.pdf" in paths  # 70 characters: kept whole
    [video] = [p for p in paths if p.startswith("video/")]
    assert video.endswith("….mp4") and len(video.encode()) <= 6 + 255  # cut to 255 bytes
    # what Windows reads is exactly what the manifest names
    assert joliet_files(iso) == paths | {"MANIFEST.json", "SHA256SUMS", "index.html"}
    sums = (tree / "SHA256SUMS").read_text("utf-8").splitlines()
    assert {line.split("  ", 1)[1] for line in sums} - {"MANIFEST.json", "index.html"} == paths
    index = (tree / "index.html").read_text("utf-8")
    hrefs = set(re.findall(r'<a href="([^"]+)"', index))
    assert hrefs == paths
    for path in paths:  # and Linux (Rock Ridge) reads the same names
        assert (tree / path).is_file()


def test_a_long_named_video_cut_into_parts_keeps_its_part_numbers(
    tmp_path: Path, long_named: tuple[Path, list[FetchedItem]], media: dict[str, Path]
) -> None:
    fetch, items = long_named
    shutil.copy(media["nvr"], fetch / "video.mp4")  # 4 s, about 100 kB: cut in two
    stager = Stager(fetch, tmp_path / "stage", segment_bytes=100_000, stop=threading.Event(),
                    timeout_s=60)  # fmt: skip
    parts = [f.disc_path for f in stager.stage_all(items[-1:])]
    assert len(parts) >= 2
    for n, path in enumerate(parts, start=1):
        leaf = path.removeprefix("video/")
        assert leaf.endswith(f"…_part{n - 1:02d}.mp4") and units(leaf) <= discnames.NAME_UNITS
        assert len(leaf.encode()) <= discnames.NAME_BYTES
