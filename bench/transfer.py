"""Customer sheet import benchmark: how fast ``kebu import`` takes a Chinese customer sheet, beside a
floor (raw ``sqlite3.executemany``) and a peer (django-import-export), on the same rows.

    .venv/bin/python bench/transfer.py [--rows 100000] [--peer-rows 100000] [--seed 1]
                                       [--batch-rows N] [--profile 20000] [--no-peer] [--no-xlsx]
                                       [--no-again] [--edited-rows 100000]

1. The sheet: ``--rows`` rows under 客户编号/姓名/手机号/微信号/省份/城市/详细地址/客户类型/标签/备注,
   from the product's demo generator (``bench/_transfer_sheet.py``): realistic names, distinct valid mobiles,
   blanks where a merchant leaves them. Written once as a UTF-8-BOM CSV and as an .xlsx (xlsxwriter,
   constant memory) under ``$KEBU_DATA_DIR/bench/transfer`` (or /tmp/kebu-bench/transfer), keyed by size
   and seed; generating is not timed.
2. Kebu, each run a child process of its own so that its peak RSS (``ru_maxrss`` from ``os.wait4``) is
   its own: ``kebu import`` of the CSV into an empty database (a copy of one migrated once), the same for
   the .xlsx, then the CSV again into the database the first run filled (every row unchanged), then its
   first ``--edited-rows`` rows edited as a merchant edits a sheet they exported (every 姓名 and 备注
   changed: each row updates its customer); and a 10-row import first, for what the command costs
   before any row.
   rows/s is the sheet's rows over the whole command (interpreter and Django start-up included: what a
   merchant waits for); the job's own time (claim to finish) is shown beside it.
3. The floor, in a child process on the same CSV: read with the ``csv`` module, then ``executemany`` of
   the same rows Kebu writes, plaintext and with nothing derived, committed every batch as Kebu does:
   into plain tables (each with only its integer primary key) with as many columns as Kebu's; into a
   customer and a phone table alone; and into Kebu's own tables, indexes and constraints.
4. The peer, in a child process: django-import-export importing the first ``--peer-rows`` rows of the
   same CSV into plain tables of the same shape (``bench/_transfer_peer.py`` says how), as documented
   and tuned.

The targets are printed with PASS or MISS beside them (nothing is asserted): Kebu at least 20 times the
peer's rows/s, at least 25% of the floor's, and a peak RSS under 300 MB. ``--profile N`` also runs a
Kebu import of the sheet's first N rows under cProfile, then its re-import, and prints the top functions.
The whole result goes to ``bench/results/transfer-<UTC time>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import customers_list as shared

ROOT = shared.ROOT
RESULTS = shared.RESULTS
KEBU = shared.KEBU
SHEET_VERSION = 2  # bump when _transfer_sheet.py changes what it writes
ORDER_SHEET_VERSION = 1  # the same for its order export
TARGET_PEER_TIMES = 20.0
TARGET_FLOOR_SHARE = 0.25
TARGET_RSS_MB = 300.0
STARTUP_ROWS = 10
# The order export's store, and what its import writes.
ORDER_STORE = "淘宝旗舰店"
ORDER_STORE_MAKE = (
    f"from kebu.orders.models import Store; Store.objects.create(name='{ORDER_STORE}', platform='taobao')"
)
ORDER_TABLES = ("orders_order", "orders_orderline", "customers_customer", "transfer_importrow")
DEFAULT_BATCH_ROWS = 500  # settings.KEBU["IMPORT_BATCH_ROWS"] when KEBU_IMPORT_BATCH_ROWS is unset
# The tables Kebu writes for a new customer from a sheet, in the order the floor fills them.
KEBU_TABLES = (
    "customers_customer",
    "customers_customerphone",
    "customers_address",
    "customers_socialaccount",
    "customers_customerevent",
    "transfer_importrow",
)
FLOOR_VARIANTS = {
    "plain": "6 plain tables, Kebu's rows and columns",
    "plain2": "customer + phone tables only",
    "schema": "Kebu's own tables, indexes, constraints",
}
SQLITE_PRAGMAS = (
    # Kebu's connection settings (kebu/settings.py), so that the floor's database behaves as Kebu's.
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-65536",
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
)


# --- the scratch directory: one migrated database, the sheets -------------------------------------------


def _work_dir() -> Path:
    data_root = os.environ.get("KEBU_DATA_DIR")
    base = Path(data_root) / "bench" if data_root else Path(tempfile.gettempdir()) / "kebu-bench"
    return base / "transfer"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, "KEBU_DATA_DIR": str(data_dir), **extra}


def _template(work: Path) -> Path:
    """An empty Kebu data directory, migrated once per schema; every run starts from a copy of it."""
    template = work / "template"
    done = template / "bench-complete"
    if done.exists() and json.loads(done.read_text()).get("schema") == shared._schema():
        return template
    if template.exists():
        shutil.rmtree(template)
    template.mkdir(parents=True)
    print(f"Migrating an empty database in {template} …", flush=True)
    # Fixed argv of the project's own command; no shell.
    subprocess.run([KEBU, "migrate", "--skip-checks", "-v0"], env=_env(template), check=True)  # noqa: S603
    done.write_text(json.dumps({"schema": shared._schema()}))
    return template


def _fresh_copy(template: Path, target: Path) -> Path:
    """A copy of the migrated template (its keys and secret too): the database through SQLite's backup
    API, never by copying the file."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for item in template.iterdir():
        if item.name.startswith("kebu.sqlite3") or item.name in {"imports", "bench-complete"}:
            continue
        if item.is_dir():
            shutil.copytree(item, target / item.name)
        else:
            shutil.copy2(item, target / item.name)
    source, copy = sqlite3.connect(template / "kebu.sqlite3"), sqlite3.connect(target / "kebu.sqlite3")
    with copy:
        source.backup(copy)
    source.close()
    copy.close()
    return target


def _sheets(work: Path, template: Path, rows: int, seed: int) -> Path:
    """The sheet as CSV and xlsx, generated once per size and seed (in a child process: the generator is
    the product's, and needs Django)."""
    folder = work / f"sheet-{rows}-seed{seed}"
    done = folder / "bench-complete"
    if done.exists() and json.loads(done.read_text()).get("version") == SHEET_VERSION:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    print(f"Generating the {rows:,}-row sheet in {folder} (not timed) …", flush=True)
    started = time.perf_counter()
    argv = [sys.executable, __file__, "--child", "generate", "--rows", str(rows), "--seed", str(seed)]
    subprocess.run([*argv, "--out", str(folder)], env=_env(template), check=True)  # noqa: S603
    done.write_text(json.dumps({"version": SHEET_VERSION, "seconds": round(time.perf_counter() - started)}))
    return folder


def _order_sheet(work: Path, template: Path, lines: int, seed: int) -> Path:
    """The order export (``_transfer_sheet.orders_generate``) as a CSV, generated once per size and seed."""
    folder = work / f"orders-{lines}-seed{seed}"
    done = folder / "bench-complete"
    if done.exists() and json.loads(done.read_text()).get("version") == ORDER_SHEET_VERSION:
        return folder / "orders.csv"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    print(f"Generating the {lines:,}-line order export in {folder} (not timed) …", flush=True)
    argv = [sys.executable, __file__, "--child", "generate-orders", "--rows", str(lines), "--seed", str(seed)]
    subprocess.run([*argv, "--out", str(folder)], env=_env(template), check=True)  # noqa: S603
    done.write_text(json.dumps({"version": ORDER_SHEET_VERSION}))
    return folder / "orders.csv"


def _edited(sheet: Path, rows: int) -> Path:
    """The first ``rows`` rows of the CSV with every 姓名 and 备注 changed: importing it after the sheet
    updates each of those customers (their name and note; the rest of the row is as Kebu has it)."""
    target = sheet.with_name(f"edited-{rows}.csv")
    if not target.exists():
        with sheet.open(encoding="utf-8-sig", newline="") as source:
            table = csv.reader(source)
            headers = next(table)
            name, notes = headers.index("姓名"), headers.index("备注")
            with target.open("w", encoding="utf-8-sig", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(headers)
                for _, row in zip(range(rows), table, strict=False):
                    row[name] += "改"
                    row[notes] = f"{row[notes]} 已回访".strip()
                    writer.writerow(row)
    return target


def _head(sheet: Path, rows: int) -> Path:
    """The first ``rows`` rows of the CSV (no cell holds a line break, so a row is a line)."""
    target = sheet.with_name(f"head-{rows}.csv")
    if not target.exists():
        with sheet.open("rb") as source, target.open("wb") as out:
            for _ in range(rows + 1):
                line = source.readline()
                if not line:
                    break
                out.write(line)
    return target


# --- children: each measured from outside ----------------------------------------------------------------


def _child(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``argv`` to its end: wall time, peak RSS of that process alone, exit code and output."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=err, text=True)  # noqa: S603
        # os.wait4, not Popen.wait: it gives this child's own rusage. RUSAGE_CHILDREN would give the
        # largest of every child reaped so far.
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = {
            "seconds": seconds,
            # The machine may be shared: what else ran shows in the load average at the end.
            "load_after": round(os.getloadavg()[0], 2),
            "peak_rss_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
            "returncode": process.returncode,
            "stdout": out.read(),
            "stderr": err.read()[-4000:],
        }
    if result["returncode"] != 0:
        print(result["stdout"][-2000:], result["stderr"], sep="\n", file=sys.stderr)
        raise SystemExit(f"{' '.join(argv[:4])} … exited with {result['returncode']}")
    return result


def _child_result(run: dict[str, Any]) -> dict[str, Any]:
    lines = [line for line in run["stdout"].splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1].removeprefix("RESULT ")) if lines else {}


def _kebu_import(
    data_dir: Path,
    sheet: Path,
    rows: int,
    batch_rows: int | None,
    *,
    options: tuple[str, ...] = (),
    tables: tuple[str, ...] = (*KEBU_TABLES, "customers_customer_tags"),
) -> dict[str, Any]:
    """``kebu import sheet`` into ``data_dir``: the command's time and RSS, the job's time, what it wrote."""
    extra = {"KEBU_IMPORT_BATCH_ROWS": str(batch_rows)} if batch_rows else {}
    run = _child([KEBU, "import", str(sheet), *options], _env(data_dir, **extra))
    summary = next((line for line in run["stdout"].splitlines() if " created, " in line), "")
    db = sqlite3.connect(data_dir / "kebu.sqlite3")
    started_at, finished_at = db.execute(
        "SELECT started_at, finished_at FROM core_job ORDER BY id DESC LIMIT 1"
    ).fetchone()
    job_seconds = (datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)).total_seconds()
    counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    db.close()
    return {
        "rows": rows,
        "seconds": run["seconds"],
        "rows_per_second": rows / run["seconds"],
        "job_seconds": job_seconds,
        "job_rows_per_second": rows / job_seconds if job_seconds else None,
        "peak_rss_mb": run["peak_rss_mb"],
        "load_after": run["load_after"],
        "summary": summary.strip(),
        "tables": counts,
    }


# --- the floor: raw executemany, in its own process --------------------------------------------------------


def _columns(db: sqlite3.Connection, table: str) -> list[tuple[str, str, bool]]:
    """(name, declared type, NOT NULL) of each column but the id; the type is "json" for a JSON field."""
    (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()
    return [
        (name, "json" if f'JSON_VALID("{name}")' in sql else kind.lower(), bool(notnull))
        for _cid, name, kind, notnull, _default, _pk in db.execute(f"PRAGMA table_info({table})")
        if name != "id"
    ]


def _filler(kind: str, notnull: bool, now: str) -> Any:
    """A value for a column the sheet says nothing about, as the services would leave it."""
    if not notnull:
        return None
    if kind.startswith(("integer", "bigint", "smallint", "bool", "decimal")):
        return 0
    if kind == "datetime":
        return now
    return "{}" if kind == "json" else ""


def floor_insert(variant: str, db_path: Path, sheet: Path, template: Path, batch_rows: int) -> dict[str, Any]:
    """Read the CSV and insert the rows Kebu writes for it with executemany; returns what was written."""
    reference = sqlite3.connect(template / "kebu.sqlite3")
    tables = KEBU_TABLES[:2] if variant == "plain2" else KEBU_TABLES
    shapes = {t: _columns(reference, t) for t in tables}
    reference.close()
    if variant == "schema":
        shutil.copy2(template / "kebu.sqlite3", db_path)  # a closed, checkpointed file: safe to copy
    db = sqlite3.connect(db_path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        db.execute(pragma)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if variant == "schema":
        # The import's own job and run rows, which the journal rows point at.
        db.execute("PRAGMA foreign_keys=OFF")
        for table in ("core_job", "transfer_import"):
            shape = _columns(db, table)
            values = [_filler(kind, notnull, now) for _name, kind, notnull in shape]
            names = ", ".join(f'"{name}"' for name, _k, _n in shape)
            db.execute(f"INSERT INTO {table} (id, {names}) VALUES (1, {', '.join('?' * len(shape))})", values)
        db.execute("PRAGMA foreign_keys=ON")
    else:
        for table, shape in shapes.items():
            db.execute(
                f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {', '.join(n for n, _k, _x in shape)})"
            )
    statements = {
        table: f"INSERT INTO {table} (id, {', '.join(n for n, _k, _x in shape)}) "
        f"VALUES ({', '.join('?' * (len(shape) + 1))})"
        for table, shape in shapes.items()
    }
    defaults = {t: {n: _filler(k, x, now) for n, k, x in shape} for t, shape in shapes.items()}

    def row_of(table: str, key: int, **values: Any) -> tuple[Any, ...]:
        base = defaults[table]
        return (key, *(values.get(name, base[name]) for name, _k, _x in shapes[table]))

    written = dict.fromkeys(tables, 0)
    started = time.perf_counter()
    pending: dict[str, list[tuple[Any, ...]]] = {t: [] for t in tables}

    def flush() -> None:
        db.execute("BEGIN IMMEDIATE")
        for table, rows in pending.items():
            if rows:
                db.executemany(statements[table], rows)
                written[table] += len(rows)
                rows.clear()
        db.execute("COMMIT")

    with sheet.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for key, (number, name, phone, wechat, province, city, detail, kind, _tags, notes) in enumerate(
            reader, start=1
        ):
            pending["customers_customer"].append(
                row_of(
                    "customers_customer",
                    key,
                    customer_no=number or f"C{key:06d}",
                    name=name,
                    name_pinyin=name,
                    customer_type=kind,
                    stage="lead",
                    notes=notes,
                    province=province,
                    city=city,
                    primary_phone=phone,
                    version=1,
                    payment_terms_days=30,
                )
            )
            if phone:
                pending["customers_customerphone"].append(
                    row_of(
                        "customers_customerphone",
                        key,
                        customer_id=key,
                        number=phone,
                        number_lookup=phone,
                        last4_lookup=phone[-4:],
                        label="mobile",
                    )
                )
            if variant != "plain2":
                if detail:
                    pending["customers_address"].append(
                        row_of(
                            "customers_address",
                            key,
                            customer_id=key,
                            province=province,
                            city=city,
                            detail=detail,
                            receiver=name[:50],
                            is_default=1,
                        )
                    )
                if wechat:
                    pending["customers_socialaccount"].append(
                        row_of(
                            "customers_socialaccount",
                            key,
                            customer_id=key,
                            kind="wechat",
                            handle=wechat,
                            handle_lookup=wechat,
                        )
                    )
                pending["customers_customerevent"].append(
                    row_of(
                        "customers_customerevent",
                        key,
                        customer_id=key,
                        kind="customer.imported",
                        data='{"import": 1}',
                        actor_id=None,
                    )
                )
                pending["transfer_importrow"].append(
                    row_of(
                        "transfer_importrow",
                        key,
                        customer_id=key,
                        run_id=1,
                        row=key + 1,
                        action="created",
                        version=1,
                        detail="",
                    )
                )
            if key % batch_rows == 0:
                flush()
    flush()
    seconds = time.perf_counter() - started
    db.close()
    return {
        "variant": variant,
        "seconds": seconds,
        "rows": written["customers_customer"],
        "tables": written,
        "columns": {t: len(shape) + 1 for t, shape in shapes.items()},
    }


# --- the profile --------------------------------------------------------------------------------------


def profile_import(data_dir: Path, sheet: Path, out: Path, again: bool = False) -> None:
    """One ``kebu import`` in this process under cProfile (and with ``again`` a second one of the same
    sheet, every row then unchanged); prints the top functions both ways and keeps the stats files."""
    import cProfile
    import pstats

    os.environ["KEBU_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kebu.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    for name, target in (("import", out), ("again", out.with_name(out.stem + "-again.prof")))[: 1 + again]:
        profiler = cProfile.Profile()
        profiler.runcall(call_command, "import", str(sheet))
        profiler.dump_stats(str(target))
        for order in ("cumulative", "tottime"):
            print(f"\n--- {name}: top 15 by {order} ---")
            pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(order).print_stats(15)


# --- reporting --------------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _report(result: dict[str, Any]) -> str:
    rows, machine = result["rows"], result["machine"]
    out = [
        f"\nCustomer sheet import: {rows:,} rows (seed {result['seed']}), SQLite {machine['sqlite']}, "
        f"{result['batch_rows']} rows a batch, {machine['cpus']} cores; load = 1-minute load "
        "average when the run ended (other work on the machine)",
        f"{'':66} {'rows/s':>8} {'seconds':>8} {'peak RSS MB':>11} {'load':>5}",
    ]
    if code := result.get("code"):
        out.insert(1, f"code: {code['commit'][:10]}, {code['src_files_changed']} files under src/ changed")

    def line(
        label: str, rate: float | None, seconds: float, rss: float | None = None, load: Any = ""
    ) -> None:
        shown_rate = f"{rate:8,.0f}" if rate is not None else f"{'':8}"
        shown_rss = f"{rss:11.0f}" if rss is not None else f"{'':11}"
        out.append(f"{label[:66]:66} {shown_rate} {seconds:8.1f} {shown_rss} {load:>5}")

    kebu = result["kebu"]
    if "startup" in kebu:
        run = kebu["startup"]
        line(f"kebu import of {run['rows']} rows (what the command costs anyway)", None, run["seconds"],
             run["peak_rss_mb"], run["load_after"])  # fmt: skip
    for key, label in (
        ("csv", "kebu import sheet.csv, empty database"),
        ("xlsx", "kebu import sheet.xlsx, empty database"),
        ("csv_again", "kebu import sheet.csv again, every row unchanged"),
        ("csv_edited", "kebu import of the sheet's first rows edited: each row an update"),
        ("orders", "kebu import orders.csv --kind orders (lines/s), empty database"),
        ("orders_again", "kebu import orders.csv again, every order already in"),
    ):
        run = kebu.get(key)
        if run:
            line(label, run["rows_per_second"], run["seconds"], run["peak_rss_mb"], run["load_after"])
            line("  of which the job, claim to finish", run["job_rows_per_second"], run["job_seconds"])
            # An order run also says what it made (the customer runs' tables are listed below).
            written = (
                "; " + ", ".join(f"{t} {n:,}" for t, n in run["tables"].items()) if "orders" in key else ""
            )
            out.append(f"  {run['summary']}{written}")
    for variant, run in result["floor"].items():
        line(f"floor: executemany, {FLOOR_VARIANTS[variant]}", run["rows"] / run["seconds"],
             run["seconds"], run["peak_rss_mb"], run["load_after"])  # fmt: skip
    for variant, run in result.get("peer", {}).items():
        line(
            f"peer: django-import-export {result['peer_version']}, {variant}, {run['rows']:,} rows",
            run["rows"] / run["seconds"],
            run["seconds"],
            run["peak_rss_mb"],
            run["load_after"],
        )
    csv_run = kebu["csv"]
    counts = csv_run["tables"]
    out += [
        "",
        "What each writes for the CSV (rows per table):",
        "  Kebu: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()),
    ]
    if counts.get("customers_customer_tags") == 0:
        out.append("    (the 标签 column is matched but not imported: customers_customer_tags stays empty)")
    else:
        out.append("    (Kebu also links the 标签 tags; the floor and the peer write no tag rows)")
    for variant, run in result["floor"].items():
        out.append(
            f"  floor {variant}: "
            + ", ".join(f"{t} {n:,} × {run['columns'][t]} columns" for t, n in run["tables"].items())
        )
    out.append(
        "    (plaintext, nothing derived: no encryption, blind index, pinyin, phone parsing or validation; "
        "ids given by the loader; one transaction per batch, Kebu's PRAGMAs; reading the CSV included)"
    )
    for variant, run in result.get("peer", {}).items():
        out.append(
            f"  peer {variant}: customers {run['customers']:,}, phones {run['phones']:,}, "
            f"addresses {run['addresses']:,}, WeChat {run['socials']:,}; totals {run['totals']}"
        )

    rate = csv_run["rows_per_second"]
    out += ["", "Targets (rows/s of the whole `kebu import` of the CSV into an empty database):"]
    peer = result.get("peer", {})
    if "default" in peer:
        times = rate / (peer["default"]["rows"] / peer["default"]["seconds"])
        out.append(
            f"  Kebu ≥ {TARGET_PEER_TIMES:.0f}× django-import-export (as documented): "
            f"{times:5.1f}×  {_verdict(times >= TARGET_PEER_TIMES)}"
        )
    if "tuned" in peer:
        times = rate / (peer["tuned"]["rows"] / peer["tuned"]["seconds"])
        out.append(f"    (against the tuned peer: {times:.1f}×)")
    plain = result["floor"]["plain"]
    share = rate / (plain["rows"] / plain["seconds"])
    out.append(
        f"  Kebu ≥ {TARGET_FLOOR_SHARE:.0%} of raw executemany (same rows and columns, plain tables): "
        f"{share:6.1%}  {_verdict(share >= TARGET_FLOOR_SHARE)}"
    )
    for variant in ("plain2", "schema"):
        if variant in result["floor"]:
            run = result["floor"][variant]
            share = rate / (run["rows"] / run["seconds"])
            out.append(f"    (of the floor into {FLOOR_VARIANTS[variant]}: {share:.1%})")
    for key in ("csv", "xlsx", "csv_again", "csv_edited", "orders", "orders_again"):
        if key in kebu:
            rss = kebu[key]["peak_rss_mb"]
            out.append(
                f"  peak RSS < {TARGET_RSS_MB:.0f} MB, kebu import {key}: {rss:6.0f} MB  "
                f"{_verdict(rss < TARGET_RSS_MB)}"
            )
    return "\n".join(out)


def _code_state() -> dict[str, Any]:
    """The commit measured, and how many files under src/ differed from it (others may be editing)."""

    def git(*argv: str) -> str:
        found = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603, S607
        return found.stdout.strip()

    changed = git("status", "--short", "--", "src")
    return {"commit": git("rev-parse", "HEAD"), "src_files_changed": len(changed.splitlines())}


# --- main -------------------------------------------------------------------------------------------------


def _child_main(args: argparse.Namespace) -> None:
    if args.child == "generate":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kebu.settings")
        sys.path.insert(0, str(ROOT / "src"))
        import django

        django.setup()
        import _transfer_sheet as sheet

        out = Path(args.out)
        rows = sheet.rows_generate(args.rows, args.seed)
        sheet.csv_write(out / "sheet.csv", rows)
        sheet.xlsx_write(out / "sheet.xlsx", rows)
    elif args.child == "generate-orders":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kebu.settings")
        sys.path.insert(0, str(ROOT / "src"))
        import django

        django.setup()
        import _transfer_sheet as sheet

        lines = sheet.orders_generate(args.rows, args.seed)
        sheet.csv_write(Path(args.out) / "orders.csv", lines, sheet.ORDER_HEADERS)
    elif args.child == "floor":
        found = floor_insert(
            args.variant, Path(args.db), Path(args.sheet), Path(args.template), args.batch_rows
        )
        print("RESULT " + json.dumps(found))
    elif args.child == "peer":
        import _transfer_peer

        print(
            "RESULT " + json.dumps(_transfer_peer.peer_import(Path(args.db), Path(args.sheet), args.variant))
        )
    elif args.child == "profile":
        profile_import(Path(args.data_dir), Path(args.sheet), Path(args.out), again=args.again)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--peer-rows", type=int, default=100_000, help="rows the peer imports (at most --rows)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--batch-rows", type=int, help=f"KEBU_IMPORT_BATCH_ROWS for the import (default {DEFAULT_BATCH_ROWS})"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="also profile an import of N rows"
    )
    parser.add_argument(
        "--order-lines",
        type=int,
        default=0,
        metavar="N",
        help="also import an N-line marketplace order export (Taobao's layout), and again",
    )
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-xlsx", action="store_true")
    parser.add_argument("--no-again", action="store_true", help="skip the re-imports")
    parser.add_argument(
        "--edited-rows",
        type=int,
        default=100_000,
        metavar="N",
        help="re-import the sheet's first N rows with every name and note changed (0: skip)",
    )
    parser.add_argument("--no-floor-schema", action="store_true", help=argparse.SUPPRESS)
    # The children's entry points.
    parser.add_argument(
        "--child", choices=["generate", "generate-orders", "floor", "peer", "profile"], help=argparse.SUPPRESS
    )
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--sheet", help=argparse.SUPPRESS)
    parser.add_argument("--template", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--again", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.batch_rows is None:
            args.batch_rows = DEFAULT_BATCH_ROWS
        _child_main(args)
        return

    batch_rows = args.batch_rows or int(os.environ.get("KEBU_IMPORT_BATCH_ROWS", DEFAULT_BATCH_ROWS))
    work = _work_dir()
    template = _template(work)
    sheets = _sheets(work, template, args.rows, args.seed)
    csv_sheet, xlsx_sheet = sheets / "sheet.csv", sheets / "sheet.xlsx"
    runs = work / "runs"
    result: dict[str, Any] = {
        "rows": args.rows,
        "seed": args.seed,
        "batch_rows": batch_rows,
        "files_mb": {p.name: round(p.stat().st_size / 2**20, 1) for p in (csv_sheet, xlsx_sheet)},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        },
        "code": _code_state(),
        "kebu": {},
        "floor": {},
    }

    def show(label: str, run: dict[str, Any]) -> None:
        print(
            f"  {label}: {json.dumps({k: v for k, v in run.items() if k != 'tables'}, default=str)}",
            flush=True,
        )

    print(f"Kebu: kebu import of {args.rows:,} rows …", flush=True)
    # What the command holds before any row: Django, Kebu, the phone and pinyin data.
    startup_dir = _fresh_copy(template, runs / "kebu-startup")
    result["kebu"]["startup"] = _kebu_import(startup_dir, _head(csv_sheet, STARTUP_ROWS), STARTUP_ROWS, None)
    show(f"{STARTUP_ROWS} rows", result["kebu"]["startup"])
    shutil.rmtree(startup_dir)
    csv_dir = _fresh_copy(template, runs / "kebu-csv")
    result["kebu"]["csv"] = _kebu_import(csv_dir, csv_sheet, args.rows, args.batch_rows)
    show("CSV", result["kebu"]["csv"])
    if not args.no_xlsx:
        xlsx_dir = _fresh_copy(template, runs / "kebu-xlsx")
        result["kebu"]["xlsx"] = _kebu_import(xlsx_dir, xlsx_sheet, args.rows, args.batch_rows)
        show("xlsx", result["kebu"]["xlsx"])
        shutil.rmtree(xlsx_dir)
    if not args.no_again:
        result["kebu"]["csv_again"] = _kebu_import(csv_dir, csv_sheet, args.rows, args.batch_rows)
        show("CSV again", result["kebu"]["csv_again"])
        if edited_rows := min(args.edited_rows, args.rows):
            edited = _edited(csv_sheet, edited_rows)
            result["kebu"]["csv_edited"] = _kebu_import(csv_dir, edited, edited_rows, args.batch_rows)
            show("CSV edited", result["kebu"]["csv_edited"])

    if args.order_lines:
        order_sheet = _order_sheet(work, template, args.order_lines, args.seed)
        print(f"Kebu: kebu import of a {args.order_lines:,}-line order export …", flush=True)
        orders_dir = _fresh_copy(template, runs / "kebu-orders")
        # The shop's store, made before the clock starts: the export names none of its own.
        subprocess.run(  # noqa: S603
            [KEBU, "shell", "-c", ORDER_STORE_MAKE], env=_env(orders_dir), check=True, capture_output=True
        )
        options = ("--kind", "orders", "--store", ORDER_STORE)
        for key in ("orders", "orders_again")[: 1 + (not args.no_again)]:
            result["kebu"][key] = _kebu_import(
                orders_dir,
                order_sheet,
                args.order_lines,
                args.batch_rows,
                options=options,
                tables=ORDER_TABLES,
            )
            show(key, result["kebu"][key])
        shutil.rmtree(orders_dir)

    print("Floor: executemany …", flush=True)
    variants = [v for v in FLOOR_VARIANTS if not (v == "schema" and args.no_floor_schema)]
    for variant in variants:
        floor_dir = runs / f"floor-{variant}"
        shutil.rmtree(floor_dir, ignore_errors=True)
        floor_dir.mkdir(parents=True)
        argv = [sys.executable, __file__, "--child", "floor", "--variant", variant, "--db",
                str(floor_dir / "floor.sqlite3"), "--sheet", str(csv_sheet), "--template", str(template),
                "--batch-rows", str(batch_rows)]  # fmt: skip
        run = _child(argv, _env(floor_dir))
        found = _child_result(run)
        # rows/s over the whole child process, as for kebu import; the insert loop alone is kept too.
        found.update(
            loop_seconds=found["seconds"],
            seconds=run["seconds"],
            peak_rss_mb=run["peak_rss_mb"],
            load_after=run["load_after"],
        )
        result["floor"][variant] = found
        show(variant, found)
        shutil.rmtree(floor_dir)

    if not args.no_peer:
        import import_export

        result["peer_version"] = import_export.__version__
        peer_rows = min(args.peer_rows, args.rows)
        peer_sheet = csv_sheet if peer_rows == args.rows else _head(csv_sheet, peer_rows)
        result["peer"] = {}
        for variant in ("default", "tuned"):
            print(f"Peer: django-import-export ({variant}), {peer_rows:,} rows …", flush=True)
            peer_dir = runs / f"peer-{variant}"
            shutil.rmtree(peer_dir, ignore_errors=True)
            peer_dir.mkdir(parents=True)
            argv = [sys.executable, __file__, "--child", "peer", "--variant", variant, "--db",
                    str(peer_dir / "peer.sqlite3"), "--sheet", str(peer_sheet)]  # fmt: skip
            run = _child(argv, _env(peer_dir))
            found = _child_result(run)
            found.update(
                import_seconds=found["seconds"],
                seconds=run["seconds"],
                peak_rss_mb=run["peak_rss_mb"],
                load_after=run["load_after"],
            )
            result["peer"][variant] = found
            show(variant, found)
            shutil.rmtree(peer_dir)
    shutil.rmtree(csv_dir)

    if args.profile:
        rows = min(args.profile, args.rows)
        print(f"Profile: kebu import of {rows:,} rows under cProfile, then again …", flush=True)
        profile_dir = _fresh_copy(template, runs / "profile")
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"transfer-profile-{rows}.prof"
        argv = [sys.executable, __file__, "--child", "profile", "--data-dir", str(profile_dir), "--sheet",
                str(_head(csv_sheet, rows)), "--out", str(out), "--again"]  # fmt: skip
        run = _child(argv, _env(profile_dir, **({"KEBU_IMPORT_BATCH_ROWS": str(batch_rows)})))
        profile_text = run["stdout"][run["stdout"].find("--- import: top 15") :]
        print(profile_text)
        result["profile"] = {
            "rows": rows,
            "seconds": run["seconds"],
            "stats_file": str(out),
            "top": profile_text,
        }
        shutil.rmtree(profile_dir)

    print(_report(result), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"transfer-{stamp}.json"
    path.write_text(
        json.dumps({"benchmark": "transfer", "when": stamp, **result}, ensure_ascii=False, indent=2)
    )
    print(f"\nWritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
