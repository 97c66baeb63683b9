"""Printer routes for disc labels: CUPS, or a job file in a disc-publishing robot's watched
folder (Primera PTBurn JRQ, Epson TD Bridge JDF). The route is chosen by settings."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from burn_station.settings import LabelSettings


class PrintError(RuntimeError):
    pass


class LabelPrinter(Protocol):
    def submit(self, pdf: Path, *, job_name: str) -> str:
        """Send one label; return a reference (a CUPS request id, a job file path)."""
        ...


class NoPrinter:
    def submit(self, pdf: Path, *, job_name: str) -> str:
        return ""


class CupsPrinter:
    """``lp -d <printer> -t <title> [-o key=value …] file.pdf``; a disc-tray printer driver
    (Gutenprint for Epson models with a CD tray) takes the PDF as it is, once the options
    select the tray and the disc size (Gutenprint: ``InputSlot=CD``, ``PageSize=CD5Inch``)."""

    def __init__(self, printer: str, lp_command: str = "lp", options: Sequence[str] = ()) -> None:
        self.printer = printer
        self.lp = lp_command
        self.options = list(options)

    def command(self, pdf: Path, job_name: str) -> list[str]:
        cmd = [self.lp]
        if self.printer:
            cmd += ["-d", self.printer]
        for option in self.options:
            cmd += ["-o", option]
        return [*cmd, "-t", job_name, str(pdf)]

    def submit(self, pdf: Path, *, job_name: str) -> str:
        try:
            done = subprocess.run(
                self.command(pdf, job_name), capture_output=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PrintError(f"lp: {exc}") from exc
        if done.returncode != 0:
            raise PrintError(
                f"lp exited {done.returncode}: {done.stderr.decode(errors='replace')[:300]}"
            )
        return done.stdout.decode(errors="replace").strip()


ROBOT_DPI = 300


def robot_path(folder: str, name: str) -> str:
    """``name`` in the watched folder as the robot's PC names the folder: a Windows path
    (``C:\\jobs``, ``\\\\pc\\jobs``) is joined with a backslash."""
    windows = "\\" in folder or re.match(r"^[A-Za-z]:", folder) is not None
    return folder.rstrip("\\/") + ("\\" if windows else "/") + name


def jrq_text(job_name: str, label: str) -> str:
    """A Primera PTBurn job request that prints one disc the station has already burned and
    verified (PTBurn SDK: a job with ``PrintLabel`` and no ``Data``/``ImageFile``/
    ``AudioFile`` is print only). ``RejectIfNotBlank`` and the other recording keys are left
    out: they apply to burning, and a written disc must not be rejected. ``label`` is a JPEG
    (PTBurn prints .jpg, .bmp, .STD and .PRN, not PDF) as the robot's PC names it."""
    lines = [f"JobID={job_name}", "ClientID=prtc-burn", "Copies=1", f"PrintLabel={label}"]
    return "\r\n".join(lines) + "\r\n"


def jdf_text(job_name: str, label: str, publisher: str = "") -> str:
    """An Epson TD Bridge job (JDF: one ``KEY=value`` a line, upper-case keys, no section
    header) that prints one disc the station has already burned: ``LABEL`` and no ``DATA``,
    ``VIDEO`` or ``AUDIO_TRACK``. ``JOB_ID`` takes letters, digits, ``-`` and ``_`` (a volume
    id is such); ``PUBLISHER`` is needed only when TD Bridge knows several robots."""
    lines = [f"JOB_ID={job_name}"]
    if publisher:
        lines.append(f"PUBLISHER={publisher}")
    lines += ["COPIES=1", f"LABEL={label}"]
    return "\r\n".join(lines) + "\r\n"


def label_jpeg(pdf: Path, dest: Path, dpi: int = ROBOT_DPI) -> Path:
    """The label as a JPEG (robots print images, not PDF), rendered by poppler's pdftoppm."""
    try:
        subprocess.run(
            [
                "pdftoppm",
                "-jpeg",
                "-r",
                str(dpi),
                "-singlefile",
                str(pdf),
                str(dest.with_suffix("")),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PrintError(f"pdftoppm: {exc}") from exc
    return dest


class WatchFolderPrinter:
    """A disc-publishing robot as the label printer of the discs the station burned: per disc
    the label JPEG and a print-only job file in the robot's watched folder (the job file last,
    atomically: temp name, then rename, so the robot never reads half a job). The robot takes
    the disc to print from its input bin: load the verified discs there in the order of the
    job files (each job is named by the disc's volume id)."""

    def __init__(self, folder: Path, fmt: str, robot_dir: str = "", publisher: str = "") -> None:
        self.folder = folder
        self.fmt = fmt
        self.robot_dir = robot_dir or str(folder)
        self.publisher = publisher

    def submit(self, pdf: Path, *, job_name: str) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        label = robot_path(self.robot_dir, label_jpeg(pdf, self.folder / f"{job_name}.jpg").name)
        if self.fmt == "primera_jrq":
            ext, text = "JRQ", jrq_text(job_name, label)
        else:
            ext, text = "JDF", jdf_text(job_name, label, self.publisher)
        dest = self.folder / f"{job_name}.{ext}"
        tmp = dest.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(dest)
        return str(dest)


def printer_for(settings: LabelSettings) -> LabelPrinter:
    if settings.route == "cups":
        return CupsPrinter(settings.printer, settings.lp_command, settings.lp_options)
    if settings.route in ("primera_jrq", "epson_jdf"):
        if settings.watch_dir is None:
            raise PrintError(f"label route {settings.route} needs watch_dir")
        return WatchFolderPrinter(
            settings.watch_dir, settings.route, settings.robot_dir, settings.robot_publisher
        )
    return NoPrinter()
