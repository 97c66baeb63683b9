"""Disc layout: which staged files go on which disc of a set, given the medium's capacity."""

from __future__ import annotations

import re

from burn_station.staging import StagedFile

SECTOR = 2048
NOMINAL_CAPACITY = {
    "cd": 700 * 1024**2,
    "dvd": 4_700_000_000,
    "bd": 25_000_000_000,
    "disk": 4_700_000_000,
}
"""Used to size segments and plan discs when no medium can be read yet."""


class LayoutError(ValueError):
    pass


def sectors(size: int) -> int:
    return -(-size // SECTOR)


def file_cost(f: StagedFile) -> int:
    """Bytes a file takes on an ISO 9660 + Joliet + Rock Ridge image: its data rounded to
    sectors, plus its directory records in three trees and its MD5 entry."""
    return sectors(f.size) * SECTOR + 3 * 256 + 64 + 2 * len(f.disc_path.encode())


def reserve(n_files: int) -> int:
    """Fixed overhead of an image: system area, descriptors, root trees, the MANIFEST.json,
    SHA256SUMS and index.html written per disc, and the drive's pad after the session."""
    return 1024**2 + n_files * 2048 + 512 * 1024


def plan(files: list[StagedFile], capacity: int) -> list[list[StagedFile]]:
    """First fit in order (documents first, then video in name order), so the set reads in
    sequence and the documents land on disc 1. Raises LayoutError for a file that fits nowhere."""
    ordered = sorted(files, key=lambda f: (f.media != "document", f.disc_path))
    discs: list[list[StagedFile]] = []
    used: list[int] = []
    for f in ordered:
        cost = file_cost(f)
        for i, disc in enumerate(discs):
            if used[i] + cost + reserve(len(disc) + 1) <= capacity:
                disc.append(f)
                used[i] += cost
                break
        else:
            if cost + reserve(1) > capacity:
                raise LayoutError(
                    f"{f.disc_path} ({f.size} bytes) does not fit a {capacity}-byte disc"
                )
            discs.append([f])
            used.append(cost)
    return discs


def volume_id(project_number: str, role: str, copy_number: int, index: int, count: int) -> str:
    """ASCII volume id (Chinese stays on the label and in the manifest): upper-case letters,
    digits and underscores, at most 32 characters."""
    base = re.sub(r"[^A-Z0-9]+", "_", project_number.upper()).strip("_")[:18] or "PROJECT"
    return f"{base}_{role[0].upper()}{copy_number}_{index:02d}{count:02d}"[:32]
