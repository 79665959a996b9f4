"""An import whose process is killed (kill -9) half-way resumes with no row lost or doubled.

This runs ``kebu`` as a real separate process, on a database of its own (SQLite in the data directory, or
a PostgreSQL database made for the test when the suite runs on PostgreSQL), kills it between commits,
and resumes it with ``kebu import --resume``."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROWS = 4000
BATCH = 50


@pytest.fixture
def kebu_env(tmp_path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "KEBU_DATA_DIR": str(tmp_path / "data"),
        "KEBU_IMPORT_BATCH_ROWS": str(BATCH),
        "KEBU_IMPORT_INDEXES_ASIDE_ROWS": str(ROWS // 2),  # a bulk import (on SQLite): indexes set aside
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    url = os.environ.get("DATABASE_URL", "")
    database = ""
    if url.startswith("postgres"):
        import psycopg

        database = f"kebu_resume_{uuid.uuid4().hex[:8]}"
        url = urlunsplit(urlsplit(url)._replace(path="/postgres"))
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        env["DATABASE_URL"] = urlunsplit(urlsplit(url)._replace(path="/" + database))
    else:
        env.pop("DATABASE_URL", None)
    kebu(env, "migrate", "-v0")
    yield env
    if database:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def kebu(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kebu.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def query(env: dict[str, str], sql: str) -> list[tuple]:
    if "DATABASE_URL" in env:
        import psycopg

        with psycopg.connect(env["DATABASE_URL"]) as db:
            return db.execute(sql).fetchall()
    with sqlite3.connect(Path(env["KEBU_DATA_DIR"]) / "kebu.sqlite3", timeout=30) as db:
        return db.execute(sql).fetchall()


def indexes(env: dict[str, str]) -> list[tuple]:
    if "DATABASE_URL" in env:
        return query(env, "SELECT indexname, indexdef FROM pg_indexes ORDER BY 1")
    return query(env, "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")


def test_a_killed_import_resumes_where_its_last_batch_ended(kebu_env, tmp_path):
    schema = indexes(kebu_env)
    sheet = tmp_path / "客户.csv"
    sheet.write_text(
        "姓名,手机\n" + "".join(f"客户{i},138{i:08d}\n" for i in range(ROWS)), encoding="gb18030"
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "kebu.cli", "import", str(sheet)],
        env=kebu_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            rows = query(kebu_env, "SELECT next_row FROM transfer_import") if worker.poll() is None else []
            if rows and rows[0][0] > 10 * BATCH:
                break
            if worker.poll() is not None:
                pytest.fail("the import ended before it could be killed: " + worker.stderr.read().decode())
            time.sleep(0.02)
        else:
            pytest.fail("the import did not get going")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()

    [(next_row, created)] = query(kebu_env, "SELECT next_row, created FROM transfer_import")
    [(status,)] = query(kebu_env, "SELECT status FROM core_job")
    [(customers,)] = query(kebu_env, "SELECT count(*) FROM customers_customer")
    assert status == "running" and next_row < ROWS + 1, "killed half-way, by the rows it had committed"
    # What is in the database is exactly the committed batches: the header is row 1, data from row 2.
    assert customers == created == next_row - 2 and created % BATCH == 0
    # The customer list's indexes, set aside for the import, are still away, and on record.
    [(aside,)] = query(kebu_env, "SELECT count(*) FROM core_setasideindex")
    assert (aside > 20 and indexes(kebu_env) != schema) if "DATABASE_URL" not in kebu_env else aside == 0

    out = kebu(kebu_env, "import", "--resume", "1", "--take-over")

    assert f"{ROWS} created, 0 updated, 0 unchanged, 0 rejected" in out  # the import's, both runs
    [(created, next_row)] = query(kebu_env, "SELECT created, next_row FROM transfer_import")
    assert (created, next_row) == (ROWS, ROWS + 2)
    assert query(kebu_env, "SELECT count(*), count(DISTINCT name) FROM customers_customer") == [(ROWS, ROWS)]
    assert query(kebu_env, "SELECT count(DISTINCT number_lookup) FROM customers_customerphone") == [(ROWS,)]
    assert query(kebu_env, "SELECT count(*), count(DISTINCT row) FROM transfer_importrow") == [(ROWS, ROWS)]
    assert query(kebu_env, "SELECT status, attempts FROM core_job") == [("done", 2)]
    assert indexes(kebu_env) == schema
    assert query(kebu_env, "SELECT count(*) FROM core_setasideindex") == [(0,)]
