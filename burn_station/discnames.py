"""Paths on the disc that Windows shows exactly as the manifest names them.

Windows reads the Joliet tree, and libisofs (xorriso) changes or drops names there that break
its limits, where Linux (Rock Ridge) shows them intact:

- a name is cut after 64 UTF-16 units, or 103 with ``-compliance joliet_long_names`` (which the
  images use); a character outside the BMP counts twice (``joliet_utf16`` keeps it intact);
- a file whose path (without the leading ``/``) is over 120 UTF-16 units (240 bytes of
  UCS-2) is left out of the Joliet tree altogether, with only a warning;
- ``* / : ; ? \\`` become ``_``.

Rock Ridge and the local file system take at most 255 UTF-8 bytes per name. Staging gives
every file a disc path within all of these (:class:`DiscNames`), so ``MANIFEST.json``,
``SHA256SUMS`` and ``index.html`` name what every reader shows.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

NAME_UNITS = 103
PATH_UNITS = 120
NAME_BYTES = 255
LEAF_RESERVE = 40
"""Units of a path that folder names leave for the file names below them."""
MIN_DIR_UNITS = 6
MIN_UNITS = 16
"""Below this a file name cannot keep its extension and a unique tag: refuse the path."""
MAX_EXT_UNITS = 10
ELLIPSIS = "…"
_JOLIET_BAD = re.compile(r'[*:;?\\<>"|\x00-\x1f]')


class DiscNameError(ValueError):
    pass


def units(text: str) -> int:
    """Length in UTF-16 code units, as Joliet counts."""
    return len(text.encode("utf-16-le")) // 2


def _fits(name: str, max_units: int, spare: int = 0) -> bool:
    return units(name) <= max_units - spare and len(name.encode()) <= NAME_BYTES - spare


def _split(name: str) -> tuple[str, str]:
    suffix = PurePosixPath(name).suffix
    if suffix and units(suffix) <= MAX_EXT_UNITS and suffix != name:
        return name[: -len(suffix)], suffix
    return name, ""


def shorten(name: str, max_units: int = NAME_UNITS, tag: str = "", *, spare: int = 0) -> str:
    """``name`` with ``tag`` before its extension, cut to ``max_units`` UTF-16 units and
    :data:`NAME_BYTES` bytes, less ``spare`` of each (room for a tag added later); the
    extension and the tag are kept, a cut stem ends in "…"."""
    stem, ext = _split(name)
    if _fits(stem + tag + ext, max_units, spare):
        return stem + tag + ext
    while stem and not _fits(stem + ELLIPSIS + tag + ext, max_units, spare):
        stem = stem[:-1]
    return stem + ELLIPSIS + tag + ext


class DiscNames:
    """Assigns disc paths within the Joliet and Rock Ridge limits, unique without regard to
    case (Windows). A directory keeps the one name it was given first for every file under
    it. Assign in a stable order: a retry then gives the same names."""

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._dirs: dict[tuple[str, ...], str] = {}

    def assign(self, path: str) -> str:
        """The disc path for ``path`` (a relative POSIX path)."""
        parts = PurePosixPath(path).parts
        if not parts:
            raise DiscNameError("empty path")
        parent = self._dir(parts[:-1])
        budget = min(NAME_UNITS, PATH_UNITS - units(parent) - 1)
        if budget < MIN_UNITS:
            raise DiscNameError(f"{parent}/{parts[-1]}: folders too deep for the Joliet tree")
        return self._place(parent, parts[-1], budget)

    def _dir(self, parts: tuple[str, ...]) -> str:
        """A folder's disc path, the same for every file below it. Each level may take half
        of what is left above :data:`LEAF_RESERVE`, so deeper levels still find room."""
        if not parts:
            return ""
        if parts not in self._dirs:
            parent = self._dir(parts[:-1])
            free = PATH_UNITS - (units(parent) + 1 if parent else 0) - LEAF_RESERVE
            budget = min(NAME_UNITS, max(MIN_DIR_UNITS, free // 2))
            self._dirs[parts] = self._place(parent, parts[-1], budget)
        return self._dirs[parts]

    def _place(self, parent: str, name: str, budget: int) -> str:
        prefix = f"{parent}/" if parent else ""
        clean = _JOLIET_BAD.sub("_", name).strip() or "_"
        k = 1
        while True:
            candidate = prefix + shorten(clean, budget, f"_{k}" if k > 1 else "")
            if candidate.casefold() not in self._taken:
                self._taken.add(candidate.casefold())
                return candidate
            k += 1
