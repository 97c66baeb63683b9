"""Printer routes for disc labels: CUPS, or a job file in a disc-publishing robot's watched
folder (Primera PTPublisher JRQ, Epson Total Disc Maker JDF). The route is chosen by settings."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Protocol

from burn_station.settings import LabelSettings


class PrintError(RuntimeError):
    pass


class LabelPrinter(Protocol):
    def submit(self, pdf: Path, *, job_name: str, image: Path | None = None) -> str:
        """Send one label; return a reference (a CUPS request id, a job file path)."""
        ...


class NoPrinter:
    def submit(self, pdf: Path, *, job_name: str, image: Path | None = None) -> str:
        return ""


class CupsPrinter:
    """``lp -d <printer> -t <title> file.pdf``; a disc-tray printer driver (Gutenprint for
    Epson models with a CD tray) takes the PDF as it is."""

    def __init__(self, printer: str, lp_command: str = "lp") -> None:
        self.printer = printer
        self.lp = lp_command

    def command(self, pdf: Path, job_name: str) -> list[str]:
        cmd = [self.lp]
        if self.printer:
            cmd += ["-d", self.printer]
        return [*cmd, "-t", job_name, str(pdf)]

    def submit(self, pdf: Path, *, job_name: str, image: Path | None = None) -> str:
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


def jrq_text(job_name: str, pdf: Path, image: Path | None, copies: int = 1) -> str:
    """Primera PTPublisher job request: ``key=value`` lines. With ``image`` the robot burns
    and prints; without it, print only."""
    lines = [f"JobID={job_name}", "ClientID=prtc-burn", f"Copies={copies}"]
    if image is not None:
        lines += [f"ImageFile={image}", "CloseDisc=YES", "VerifyDisc=YES"]
    else:
        lines += ["PrintOnly=YES"]
    lines += [f"PrintLabel={pdf}", "RejectIfNotBlank=YES"]
    return "\r\n".join(lines) + "\r\n"


def jdf_text(job_name: str, pdf: Path, image: Path | None, copies: int = 1) -> str:
    """Epson Total Disc Maker / Discproducer job description (key=value, one job per file)."""
    lines = ["[JOB]", f"JOB_ID={job_name}", "PUBLISHER=AUTO", f"COPIES={copies}"]
    if image is not None:
        lines += ["DISC_TYPE=AUTO", f"IMAGE={image}", "VERIFY=YES"]
    lines += [f"LABEL={pdf}", "LABEL_TYPE=PDF"]
    return "\r\n".join(lines) + "\r\n"


class WatchFolderPrinter:
    """Writes a job file into the robot's watched folder (atomically: temp name, then rename)."""

    def __init__(self, folder: Path, fmt: str) -> None:
        self.folder = folder
        self.fmt = fmt

    def submit(self, pdf: Path, *, job_name: str, image: Path | None = None) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        ext, text = (
            ("JRQ", jrq_text(job_name, pdf, image))
            if self.fmt == "primera_jrq"
            else ("JDF", jdf_text(job_name, pdf, image))
        )
        dest = self.folder / f"{job_name}.{ext}"
        tmp = dest.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(dest)
        return str(dest)


def printer_for(settings: LabelSettings) -> LabelPrinter:
    if settings.route == "cups":
        return CupsPrinter(settings.printer, settings.lp_command)
    if settings.route in ("primera_jrq", "epson_jdf"):
        if settings.watch_dir is None:
            raise PrintError(f"label route {settings.route} needs watch_dir")
        return WatchFolderPrinter(settings.watch_dir, settings.route)
    return NoPrinter()
