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


def import_killed_half_way(env: dict[str, str], *args: str) -> None:
    """``kebu import *args`` in a process of its own, killed (kill -9) once ten batches are committed."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "kebu.cli", "import", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            found = query(env, "SELECT next_row FROM transfer_import") if worker.poll() is None else []
            if found and found[0][0] > 10 * BATCH:
                break
            if worker.poll() is not None:
                pytest.fail("the import ended before it could be killed: " + worker.stderr.read().decode())
            time.sleep(0.02)
        else:
            pytest.fail("the import did not get going")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()


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
    import_killed_half_way(kebu_env, str(sheet))

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


def test_an_all_or_nothing_import_killed_half_way_then_refused_when_resumed_leaves_nothing(
    kebu_env, tmp_path
):
    # given: a customer with nine phones, and a sheet of new customers whose last row gives her a tenth
    kebu(
        kebu_env,
        "shell",
        "-c",
        "from kebu.customers.services import CustomerInput, PhoneInput, customer_create\n"
        "phones = [PhoneInput(number=f'139000001{i:02d}') for i in range(9)]\n"
        "customer_create(actor=None, data=CustomerInput(name='多号', phones=phones))\n",
    )
    [(number,)] = query(kebu_env, "SELECT customer_no FROM customers_customer")
    sheet = tmp_path / "客户.csv"
    rows = "".join(f",客户{i},138{i:08d}\n" for i in range(ROWS - 1)) + f"{number},多号,13999999999\n"
    sheet.write_text("客户编号,姓名,手机\n" + rows, encoding="gb18030")
    import_killed_half_way(kebu_env, str(sheet), "--all-or-nothing")
    # killed while writing, once the whole file had passed the check
    [(checked, refused, created)] = query(kebu_env, "SELECT checked, refused, created FROM transfer_import")
    assert (bool(checked), bool(refused)) == (True, False) and 0 < created < ROWS - 1
    # meanwhile, someone gives her a tenth phone: the sheet's last row would now be her eleventh
    kebu(
        kebu_env,
        "shell",
        "-c",
        "from kebu.customers.models import Customer\n"
        "from kebu.customers.services import PhoneInput, customer_input_from, customer_update\n"
        f"customer = Customer.objects.get(customer_no='{number}')\n"
        "data = customer_input_from(customer)\n"
        "data.phones = [*data.phones, PhoneInput(number='13900000199')]\n"
        "customer_update(actor=None, customer=customer, data=data, expected_version=customer.version)\n",
    )

    # when
    out = kebu(kebu_env, "import", "--resume", "1", "--take-over")

    # then: refused on that row, and nothing of the file left, from either run
    assert "0 created, 0 updated, 0 unchanged, 1 rejected" in out and "nothing imported" in out, out
    assert query(kebu_env, "SELECT count(*) FROM customers_customer") == [(1,)]
    assert query(kebu_env, "SELECT count(*) FROM customers_customerphone") == [(10,)]
    assert query(kebu_env, "SELECT row, action FROM transfer_importrow") == [(ROWS + 1, "rejected")]
    [(refused,)] = query(kebu_env, "SELECT refused FROM transfer_import")
    taken_back = query(kebu_env, "SELECT count(*) FROM audit_auditentry WHERE action = 'import.undo'")
    assert (bool(refused), taken_back) == (True, [(1,)])
    assert query(kebu_env, "SELECT status, attempts FROM core_job") == [("done", 2)]
    assert query(kebu_env, "SELECT count(*) FROM core_setasideindex") == [(0,)]
