"""Verifying a disc: one read against the session MD5; a mismatch names the damaged file."""

from __future__ import annotations

import os
from pathlib import Path

from burn_station import xorriso


def image_with(tmp_path: Path, files: dict[str, int]) -> Path:
    tree = tmp_path / "tree"
    for name, size in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(os.urandom(size))
    image = tmp_path / "disc.iso"
    xorriso.run(xorriso.image_args(tree, image, "VERIFY_TEST"))
    return image


def damage(image: Path, needle: bytes) -> None:
    """Overwrite bytes inside the file whose content starts with ``needle``."""
    data = image.read_bytes()
    at = data.index(needle) + len(needle) + 100
    with image.open("r+b") as f:
        f.seek(at)
        f.write(b"\0" * 64)


def test_intact_image_passes_with_one_read(tmp_path: Path) -> None:
    image = image_with(tmp_path, {"视频/会议.mp4": 400_000, "docs/b.pdf": 200_000})
    ok, detail = xorriso.verify(f"stdio:{image}")
    assert ok, detail
    assert "session MD5" in detail


def test_damaged_file_fails_and_is_named(tmp_path: Path) -> None:
    image = image_with(tmp_path, {"a.bin": 300_000, "b.bin": 300_000})
    head_b = (tmp_path / "tree" / "b.bin").read_bytes()[:64]
    damage(image, head_b)
    ok, detail = xorriso.verify(f"stdio:{image}")
    assert not ok
    assert "session MD5 mismatch" in detail
    assert "b.bin" in detail and "a.bin" not in detail


def test_image_without_recorded_md5_fails(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.bin").write_bytes(os.urandom(10_000))
    image = tmp_path / "plain.iso"
    xorriso.run(["-outdev", f"stdio:{image}", "-map", str(tree), "/", "-commit"])
    ok, _detail = xorriso.verify(f"stdio:{image}")
    assert not ok
