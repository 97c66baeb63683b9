"""A disc's label printed again from the archive record the command carries."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from burn_station.plugin import BurnerPlugin

from .conftest import FakeContext
from .helpers import pdftotext, settings


def test_print_label_renders_the_record_and_sends_it_to_the_printer(
    tmp_path: Path, lp_args: Path
) -> None:
    label = {"route": "cups", "printer": "EPSON_XP_970", "lp_options": ["InputSlot=CD"]}
    drives = [{"id": "d1", "device": f"stdio:{tmp_path / 'd1.iso'}"}]
    ctx = FakeContext(settings(tmp_path, drives, label=label))
    plugin = BurnerPlugin(ctx)
    disc_id = uuid4()
    result = ctx.call("print_label", {
        "disc_id": str(disc_id), "centre": "c1",
        "project": {"number": "ZFCG-2026-050", "name": "办公家具采购",
                    "opening_date": "2026-11-20"},
        "disc_index": 2, "disc_count": 3, "copy_role": "offsite", "copy_number": 1,
        "volume_id": "ZFCG2026050_O2", "burn_date": "2026-11-21",
        "label": {"centre_name": "开平市公共资源交易中心", "lines": ["保存期限：永久"]},
    })  # fmt: skip
    pdf = Path(result.label)
    assert pdf.is_file() and result.printed.startswith("request id is disc-7")
    assert lp_args.read_text().splitlines()[-2:] == ["ZFCG2026050_O2", str(pdf)]
    text = pdftotext(pdf)
    for shown in (
        "办公家具采购",
        "ZFCG-2026-050",
        "第2张/共3张",
        "异地备份第1份",
        "保存期限：永久",
    ):
        assert shown in text.replace(" ", ""), shown
    assert plugin.store.all() == []  # no job was made for it
