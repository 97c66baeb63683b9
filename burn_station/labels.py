"""Disc labels: a PDF the size of a printable disc face, Chinese text and a QR code."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote
from uuid import UUID

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from burn_station.settings import LabelSettings
from contract.payloads.burn import LabelSpec, ProjectRef

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)
CID_FALLBACK = "STSong-Light"
ROLE_ZH = {"archive": "归档", "offsite": "异地备份"}


@dataclass(frozen=True)
class LabelData:
    centre_name: str
    project_name: str
    project_number: str
    opening_date: date
    disc_index: int
    disc_count: int
    copy_role: str
    copy_number: int
    burn_date: date
    volume_id: str
    qr_data: str
    """What the QR code holds: the disc's archive record (:func:`qr_data`)."""
    lines: tuple[str, ...] = ()


ARCHIVE_REF = "prtc-archive:{centre}/{project_number}/{disc_id}"
"""The QR code's content when no console URL is configured: a scan still names the disc's
record. A URI: centre id and project number are percent-encoded (UTF-8), so the code is
plain ASCII (scanners guess the charset of other bytes, often wrongly) and a ``/`` in a
project number cannot be mistaken for a separator."""


def qr_data(archive_url: str, centre: str, project_number: str, disc_id: UUID) -> str:
    """The console URL of the disc's record (``archive_url`` with ``{disc_id}`` filled in), or
    :data:`ARCHIVE_REF` when there is none: every label carries a QR code."""
    if archive_url:
        return archive_url.replace("{disc_id}", str(disc_id))
    return ARCHIVE_REF.format(
        centre=quote(centre, safe=""),
        project_number=quote(project_number, safe=""),
        disc_id=disc_id,
    )


@dataclass(frozen=True)
class DiscFace:
    """Which disc of a project's set a label is for."""

    disc_id: UUID
    index: int
    count: int
    copy_role: str
    copy_number: int
    volume_id: str
    burn_date: date


def label_data(centre: str, project: ProjectRef, spec: LabelSpec, disc: DiscFace) -> LabelData:
    """The label of one disc: the project's fields, the job's label settings, the disc."""
    return LabelData(
        centre_name=spec.centre_name,
        project_name=project.name,
        project_number=project.number,
        opening_date=project.opening_date,
        disc_index=disc.index,
        disc_count=disc.count,
        copy_role=disc.copy_role,
        copy_number=disc.copy_number,
        burn_date=disc.burn_date,
        volume_id=disc.volume_id,
        qr_data=qr_data(spec.archive_url, centre, project.number, disc.disc_id),
        lines=tuple(spec.lines),
    )


@functools.cache
def font_name(path: Path | None = None) -> str:
    """Register a CJK font: the given TTF/TTC, a known system one, else the CID font
    STSong-Light (not embedded: the printer's PDF renderer supplies the glyphs)."""
    for candidate in ([path] if path else []) + list(FONT_CANDIDATES):
        if candidate is not None and candidate.exists():
            name = f"CJK-{candidate.stem}"
            if candidate.suffix.lower() == ".ttc":
                pdfmetrics.registerFont(TTFont(name, str(candidate), subfontIndex=0))
            else:
                pdfmetrics.registerFont(TTFont(name, str(candidate)))
            return name
    pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
    return CID_FALLBACK


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    lines, line = [], ""
    for ch in text:
        if pdfmetrics.stringWidth(line + ch, font, size) > width and line:
            lines.append(line)
            line = ch
        else:
            line += ch
    return [*lines, line] if line else lines


def render(
    label: LabelData, dest: Path, *, diameter_mm: float = 116.0, font_path: Path | None = None
) -> Path:
    """Write the label PDF: one page, a disc face of ``diameter_mm`` with its hub hole."""
    font = font_name(font_path)
    side = diameter_mm * mm
    c = Canvas(str(dest), pagesize=(side, side))
    c.setTitle(f"{label.project_number} {label.disc_index}/{label.disc_count}")
    cx = cy = side / 2
    c.setLineWidth(0.3)
    c.circle(cx, cy, side / 2 - 0.5, stroke=1, fill=0)
    c.circle(cx, cy, 11 * mm, stroke=1, fill=0)  # hub: nothing printed inside
    top = side - 14 * mm
    c.setFont(font, 8)
    if label.centre_name:
        c.drawCentredString(cx, top, label.centre_name)
    c.setFont(font, 10)
    y = top - 6 * mm
    for line in _wrap(label.project_name, font, 10, side * 0.62)[:3]:
        c.drawCentredString(cx, y, line)
        y -= 4.6 * mm
    c.setFont(font, 7.5)
    c.drawCentredString(cx, y - 1 * mm, f"项目编号：{label.project_number}")
    # lower half: fields on the left, QR code on the right, clear of the hub
    fields = [
        f"开标日期：{label.opening_date.isoformat()}",
        f"第 {label.disc_index} 张 / 共 {label.disc_count} 张",
        f"{ROLE_ZH.get(label.copy_role, label.copy_role)} 第 {label.copy_number} 份",
        f"刻录日期：{label.burn_date.isoformat()}",
        f"卷标：{label.volume_id}",
        *label.lines,
    ]
    y = cy - 14 * mm
    for text in fields:
        c.drawString(cx - 36 * mm, y, text)
        y -= 3.8 * mm
    if not label.qr_data:
        raise ValueError("a label needs its QR code content")
    qr = QrCodeWidget(label.qr_data)
    x0, y0, x1, y1 = qr.getBounds()
    size = 24 * mm
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(qr)
    renderPDF.draw(drawing, c, cx + 10 * mm, cy - 36 * mm)
    c.showPage()
    c.save()
    return dest


def render_disc(
    settings: LabelSettings,
    centre: str,
    project: ProjectRef,
    spec: LabelSpec,
    face: DiscFace,
    dest: Path,
) -> Path:
    """The label PDF of one disc, at the station's label size and font."""
    return render(
        label_data(centre, project, spec, face),
        dest,
        diameter_mm=settings.size_mm,
        font_path=settings.font_path,
    )
