"""The files every disc carries besides the data: MANIFEST.json, SHA256SUMS and index.html."""

from __future__ import annotations

import hashlib
import html
import os
import shutil
from pathlib import Path

from contract.payloads.burn import DiscManifest

META_FILES = ("MANIFEST.json", "SHA256SUMS", "index.html")
ROLE_ZH = {"archive": "归档", "offsite": "异地"}


def populate(
    disc_dir: Path, stage_dir: Path, sources: dict[str, str], manifest: DiscManifest
) -> None:
    """Build the disc's tree: data files hard-linked from staging (copied across file systems)
    and the three meta files. ``sources`` maps disc path → path relative to ``stage_dir``."""
    if disc_dir.exists():
        shutil.rmtree(disc_dir)
    disc_dir.mkdir(parents=True)
    for disc_path, rel in sources.items():
        dest = disc_dir / disc_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        link_or_copy(stage_dir / rel, dest)
    manifest_bytes = manifest.model_dump_json(indent=2).encode()
    index_bytes = render_index(manifest).encode()
    (disc_dir / "MANIFEST.json").write_bytes(manifest_bytes)
    (disc_dir / "index.html").write_bytes(index_bytes)
    sums = [(f.sha256, f.path) for f in manifest.files]
    sums += [(hashlib.sha256(manifest_bytes).hexdigest(), "MANIFEST.json")]
    sums += [(hashlib.sha256(index_bytes).hexdigest(), "index.html")]
    (disc_dir / "SHA256SUMS").write_text(
        "".join(f"{digest}  {path}\n" for digest, path in sums), encoding="utf-8"
    )


def link_or_copy(src: Path, dest: Path) -> None:
    """A hard link (no copy on the same file system), else a copy; a partial copy is removed."""
    try:
        os.link(src, dest)
        return
    except OSError:
        pass
    try:
        shutil.copyfile(src, dest)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def parse_sha256sums(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        digest, sep, path = line.partition("  ")
        if sep:
            out[path.lstrip("*")] = digest
    return out


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def render_index(m: DiscManifest) -> str:
    """A self-contained page (no scripts from anywhere) that any PC's browser opens."""
    e = html.escape
    p = m.project
    rows, players = [], []
    for f in m.files:
        href = e(f.path, quote=True)
        rows.append(
            f'<tr><td><a href="{href}">{e(f.path)}</a></td><td>{_size(f.size)}</td>'
            f"<td>{_duration(f.duration_s)}</td><td>{e(f.codec)}</td>"
            f"<td><code>{f.sha256}</code></td></tr>"
        )
        if f.media == "video":
            players.append(
                f"<figure><figcaption>{e(f.path)}</figcaption>"
                f'<video controls preload="metadata" width="640" src="{href}"></video></figure>'
            )
    warnings = "".join(f"<p><strong>不完整 Incomplete:</strong> {e(w)}</p>\n" for w in m.warnings)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{e(p.number)} {e(p.name)} — 第 {m.disc_index} / {m.disc_count} 张</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px;
font-size:13px}}table{{border-collapse:collapse}}code{{font-size:11px}}</style></head>
<body>
<h1>{e(p.name)}</h1>
<table>
<tr><th>项目编号</th><td>{e(p.number)}</td></tr>
<tr><th>项目类别</th><td>{e(p.category)}</td></tr>
<tr><th>开标日期</th><td>{p.opening_date.isoformat()}</td></tr>
<tr><th>场地</th><td>{e("、".join(p.rooms))}</td></tr>
<tr><th>光盘</th><td>第 {m.disc_index} / {m.disc_count} 张（{ROLE_ZH.get(m.copy_role, m.copy_role)}
 第 {m.copy_number} 份）卷标 {e(m.volume_id)}</td></tr>
<tr><th>制作时间</th><td>{m.created_at.isoformat(timespec="seconds")}</td></tr>
</table>
{warnings}<h2>文件 Files</h2>
<table><tr><th>文件</th><th>大小</th><th>时长</th><th>编码</th><th>SHA-256</th></tr>
{chr(10).join(rows)}
</table>
<h2>视频 Video</h2>
{chr(10).join(players) or "<p>本盘无视频。</p>"}
<p>校验：SHA256SUMS 列出每个文件的 SHA-256；MANIFEST.json 为机器可读清单。</p>
</body></html>
"""
