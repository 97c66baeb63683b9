"""Templates and static files of the console (served by the collector; no CDN, ever)."""

from pathlib import Path

ROOT = Path(__file__).parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
