"""xorriso command lines and their supervised runs: build an image, burn it, read the medium,
verify the recorded MD5s, extract files.

Every run sets ``LANG=C`` and passes the character sets explicitly, so a service without a
UTF-8 locale still writes Chinese file names correctly.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

XORRISO = "xorriso"
CHARSETS = ["-local_charset", "UTF-8", "-in_charset", "UTF-8", "-out_charset", "UTF-8"]
"""The service may run with LANG=C: the local (file system) names are UTF-8 all the same."""
ENV = {**os.environ, "LANG": "C", "LC_ALL": "C"}


class XorrisoError(RuntimeError):
    def __init__(self, message: str, output: str = "") -> None:
        tail = "\n".join(output.strip().splitlines()[-6:])
        super().__init__(f"{message}: {tail}" if tail else message)
        self.output = output


class XorrisoStopped(XorrisoError):
    pass


_PROGRESS = [
    re.compile(r"(\d+)\s+of\s+(\d+)\s+MB written"),
    re.compile(r"([\d.]+)% done"),
]


def run(
    args: Sequence[str],
    *,
    timeout_s: float = 3600.0,
    stop: threading.Event | None = None,
    on_progress: Callable[[float], None] | None = None,
    ok_codes: tuple[int, ...] = (0,),
) -> tuple[int, str]:
    """Run ``xorriso <args>``; return (exit code, output). Raises on a code not in ok_codes."""
    proc = subprocess.Popen(
        [XORRISO, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=ENV,
    )
    lines: deque[str] = deque(maxlen=400)

    def read() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            lines.append(line)
            if on_progress is not None:
                _parse_progress(line, on_progress)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    reason = ""
    while proc.poll() is None:
        if stop is not None and stop.is_set():
            reason = "stopped"
        elif time.monotonic() > deadline:
            reason = f"timed out after {timeout_s:g}s"
        if reason:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
            break
        time.sleep(0.05)
    proc.wait()
    reader.join(5)
    output = "\n".join(lines)
    if reason == "stopped":
        raise XorrisoStopped("xorriso stopped", output)
    if reason:
        raise XorrisoError(f"xorriso {reason}", output)
    if proc.returncode not in ok_codes:
        raise XorrisoError(f"xorriso exited {proc.returncode}", output)
    return proc.returncode, output


def _parse_progress(line: str, on_progress: Callable[[float], None]) -> None:
    m = _PROGRESS[0].search(line)
    if m and int(m.group(2)):
        on_progress(min(1.0, int(m.group(1)) / int(m.group(2))))
        return
    m = _PROGRESS[1].search(line)
    if m:
        on_progress(min(1.0, float(m.group(1)) / 100))


# -- commands ------------------------------------------------------------------------------


COMPLIANCE = "iso_9660_level=3:joliet_long_names:joliet_utf16"
"""Joliet names of up to 103 UTF-16 units rather than 64 (Windows shows them in full), and
characters outside the BMP kept as UTF-16 pairs; staging keeps every name and path within
the Joliet limits (:mod:`burn_station.discnames`)."""


def image_args(tree: Path, image: Path, volid: str) -> list[str]:
    """ISO 9660 + Joliet + Rock Ridge, per-file MD5 and session MD5, closed."""
    return [
        *CHARSETS,
        "-outdev",
        f"stdio:{image}",
        "-blank",
        "as_needed",
        "-volid",
        volid,
        "-joliet",
        "on",
        "-rockridge",
        "on",
        "-md5",
        "on",
        "-compliance",
        COMPLIANCE,
        "-close",
        "on",
        "-map",
        str(tree),
        "/",
        "-commit",
    ]


def burn_args(device: str, image: Path, *, eject: bool = False) -> list[str]:
    """Write an image as one closed session (disc-at-once); no padding after it."""
    args = ["-as", "cdrecord", "-v", f"dev={device}", "-dao", "padsize=0"]
    if eject:
        args.append("-eject")
    return [*args, str(image)]


def verify_args(device: str, *, files: bool = False) -> list[str]:
    """Compare the loaded session with its recorded MD5 (one read of every block: the file data,
    the tree and the descriptors), or with ``files`` each file with its own recorded MD5 (which
    names the damaged files). A mismatch exits 32."""
    check = ["-check_md5_r", "SORRY", "/", "--"] if files else ["-check_md5", "SORRY", "--"]
    return [
        "-abort_on",
        "NEVER",
        "-return_with",
        "SORRY",
        "32",
        *CHARSETS,
        "-md5",
        "on",
        "-indev",
        device,
        *check,
    ]


def toc_args(device: str) -> list[str]:
    return ["-outdev", device, "-toc", "-tell_media_space"]


def extract_args(device: str, dest: Path, path: str = "/") -> list[str]:
    return [*CHARSETS, "-osirrox", "on", "-indev", device, "-extract", path, str(dest)]


# -- parsed results ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Media:
    present: bool
    type: str
    blank: bool
    free_bytes: int
    capacity_bytes: int


def parse_toc(output: str) -> Media:
    current = re.search(r"^Media current:\s*(.+)$", output, re.M)
    status = re.search(r"^Media status\s*:\s*(.+)$", output, re.M)
    space = re.search(r"^Media space\s*:\s*(\d+)s", output, re.M)
    blocks = re.search(r"^Media blocks\s*:.*?(\d+)\s+overall", output, re.M)
    if current is None or "is not present" in (status.group(1) if status else "is not present"):
        return Media(False, "", False, 0, 0)
    free = int(space.group(1)) * 2048 if space else 0
    total = int(blocks.group(1)) * 2048 if blocks else free
    return Media(True, current.group(1).strip(), "is blank" in status.group(1), free, total)  # type: ignore[union-attr]


def media(device: str, *, timeout_s: float = 120.0) -> Media:
    """What is in the drive. A stdio: file that does not exist yet is a blank medium."""
    try:
        _, out = run(toc_args(device), timeout_s=timeout_s)
    except XorrisoError as exc:
        if "Cannot acquire drive" in exc.output or "no media" in exc.output.lower():
            return Media(False, "", False, 0, 0)
        raise
    return parse_toc(out)


def verify(
    device: str, *, stop: threading.Event | None = None, timeout_s: float = 7200.0
) -> tuple[bool, str]:
    """Verify a medium or image by its session MD5: one read of the disc, which covers every
    file. Only when it does not match is the disc read again, file by file, to name the damaged
    files (on a DVD each read is minutes: the good case reads once)."""
    code, out = run(verify_args(device), timeout_s=timeout_s, stop=stop, ok_codes=(0, 32))
    if code == 0 and "session data match recorded md5" in out and "MISMATCH" not in out:
        return True, "session MD5 matches: every file and the directory tree are intact"
    if "MD5 MISMATCH WITH DATA OF LOADED SESSION" not in out:
        return False, "\n".join(out.splitlines()[-4:])[:1900]  # no MD5 recorded, unreadable, …
    _, out = run(verify_args(device, files=True), timeout_s=timeout_s, stop=stop, ok_codes=(0, 32))
    mismatches = [line for line in out.splitlines() if "MISMATCH" in line]
    return False, ("session MD5 mismatch; " + "; ".join(mismatches[:10]))[:1900]
