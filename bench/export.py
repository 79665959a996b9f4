"""Customer export benchmark: `kebu export customers` of a demo shop to .xlsx and CSV.

    .venv/bin/python bench/export.py [--customers 1000000] [--seed 1] [--no-baseline]

Builds (once, cached by size and seed under ``$KEBU_DATA_DIR/bench/export`` or ``/tmp/kebu-bench/export``)
a migrated SQLite database with ``kebu demo --customers N`` (names, phones, addresses, WeChat and other
accounts, tags, notes: every personal field encrypted as in a real shop). Then, each in a child process
of its own so that its wall time and peak RSS are its own (``os.wait4``):

- ``kebu export customers -o customers.xlsx``: the whole command (start-up included), every column, as
  the shell's operator; large enough that a child process writes the workbook's XML;
- the same export with the workbook written in the one process (``xlsx_write(..., in_child=False)``);
- baseline (peer library): the same rows, read the same way, written cell by cell with xlsxwriter in
  constant-memory mode, as Kebu did before ``transfer/workbook.py``;
- ``kebu export customers -o customers.csv``.

Target (issue 6, printed PASS/MISS, never asserted): 1,000,000 customers to .xlsx in 60 s. The result
goes to ``bench/results/export-<UTC time>.json``. Peak RSS includes SQLite's page cache and memory map
(64 + 256 MB at most, see settings).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
KEBU = [sys.executable, "-m", "kebu.cli"]
TARGET_SECONDS = 60

# The baseline: Kebu's rows (export_build and its columns) written cell by cell with xlsxwriter.
_XLSXWRITER = """
import os, sys
import django
django.setup()
from datetime import datetime, date, time
from decimal import Decimal
import xlsxwriter
from kebu.transfer.cells import safe_cell
from kebu.transfer.exports import export_build, xlsx_write

export = export_build("customers", user=None)
if sys.argv[1] == "ours":
    print(xlsx_write(export, sys.argv[2], in_child=False))
    sys.exit()
book = xlsxwriter.Workbook(sys.argv[2], {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_numbers": False, "strings_to_urls": False})
sheet = book.add_worksheet()
formats = {k: book.add_format({"num_format": f}) for k, f in
           (("day", "yyyy-mm-dd"), ("moment", "yyyy-mm-dd hh:mm"), ("money", "#,##0.00"), ("count", "0"))}
getters = [c.value for c in export.columns]
kinds = [c.kind for c in export.columns]
for col, c in enumerate(export.columns):
    sheet.write_string(0, col, str(c.label))
rows = 0
for row in export.rows:
    rows += 1
    for col, get in enumerate(getters):
        value = get(row)
        if value is None or value == "":
            continue
        if kinds[col] in ("money", "count"):
            sheet.write_number(rows, col, float(value), formats[kinds[col]])
        elif isinstance(value, datetime):
            sheet.write_datetime(rows, col, value, formats["moment"])
        elif isinstance(value, date):
            sheet.write_datetime(rows, col, datetime.combine(value, time.min), formats["day"])
        else:
            sheet.write_string(rows, col, safe_cell(value))
sheet.autofilter(0, 0, rows, len(getters) - 1)
book.close()
print(rows)
"""


def _env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "KEBU_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "kebu.settings"}
    env.pop("DATABASE_URL", None)
    return env


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run ``command``; its wall seconds, peak RSS in MB (of it and its own children: the caller is a
    fresh process that runs nothing else) and what it printed last."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
    out, err = child.communicate()
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return seconds, peak, out.decode().strip().splitlines()[-1]


def _build(data_dir: Path, customers: int, seed: int) -> None:
    marker = data_dir / "built"
    if marker.exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _env(data_dir)
    subprocess.run([*KEBU, "migrate", "-v0"], env=env, check=True)  # noqa: S603
    print(f"building {customers:,} demo customers in {data_dir} …", flush=True)
    subprocess.run(  # noqa: S603
        [*KEBU, "demo", "--customers", str(customers), "--seed", str(seed)], env=env, check=True
    )
    marker.write_text("ok")


def _one(kind: str, data_dir: Path, out: Path) -> None:
    """Run one measurement in this (fresh) process and print it as JSON: ru_maxrss of RUSAGE_CHILDREN
    is then the peak of that one command and its own children."""
    env = _env(data_dir)
    if kind == "xlsx":
        command = [*KEBU, "export", "customers", "-o", str(out / "customers.xlsx")]
    elif kind == "csv":
        command = [*KEBU, "export", "customers", "-o", str(out / "customers.csv")]
    else:  # "ours": the workbook in one process; "xlsxwriter": the peer
        command = [sys.executable, "-c", _XLSXWRITER, kind, str(out / f"customers-{kind}.xlsx")]
    seconds, peak, said = _timed(command, env)
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "said": said}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-process and xlsxwriter runs")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "DATA_DIR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one[0], Path(args.one[1]), Path(args.one[2]))
        return

    base = Path(os.environ.get("KEBU_DATA_DIR", Path(tempfile.gettempdir()) / "kebu-bench"))
    data_dir = base / "bench" / "export" / f"customers-{args.customers}-seed{args.seed}"
    _build(data_dir, args.customers, args.seed)
    kinds = ["xlsx", "csv"] + ([] if args.no_baseline else ["ours", "xlsxwriter"])
    labels = {
        "xlsx": "kebu export customers -o customers.xlsx",
        "csv": "kebu export customers -o customers.csv",
        "ours": "the same .xlsx, workbook written in the one process",
        "xlsxwriter": "baseline: the same rows, xlsxwriter constant_memory",
    }
    results = {}
    with tempfile.TemporaryDirectory(prefix="kebu-export-") as out:
        for kind in kinds:
            done = subprocess.run(  # noqa: S603
                [sys.executable, __file__, "--one", kind, str(data_dir), out],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            file = Path(out) / {"xlsx": "customers.xlsx", "csv": "customers.csv"}.get(
                kind, f"customers-{kind}.xlsx"
            )
            result["file_mb"] = round(file.stat().st_size / 2**20, 1)
            result["load"] = round(os.getloadavg()[0], 2)
            results[kind] = result
            rows = args.customers
            print(
                f"{labels[kind]:<56} {result['seconds']:7.1f} s  {rows / result['seconds']:9,.0f} rows/s  "
                f"peak RSS {result['peak_mb']:5} MB  file {result['file_mb']:6.1f} MB  "
                f"(load {result['load']})",
                flush=True,
            )
    seconds = results["xlsx"]["seconds"] * 1_000_000 / args.customers
    verdict = "PASS" if seconds <= TARGET_SECONDS else "MISS"
    print(
        f"target: 1,000,000 customers to .xlsx in {TARGET_SECONDS} s: {seconds:.1f} s at this rate: {verdict}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"export-{stamp}.json").write_text(
        json.dumps({"customers": args.customers, "seed": args.seed, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
