"""SQLite's writers take turns (``kebu.core.sqlite``): a clerk's save gets in between the batches of a bulk
writer, which SQLite's busy handler alone almost never lets happen."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from django.db.utils import ConnectionHandler

from kebu.core.sqlite import base
from kebu.core.sqlite.base import WriterTurns, writer_turns_open
from kebu.core.tests.copies import shop_copy

ALIAS = "turns"


@pytest.fixture
def database(tmp_path, django_db_blocker) -> Iterator[Path]:
    """An SQLite file of its own under ``ALIAS``, through Kebu's backend, as settings.py opens the shop's."""
    path = tmp_path / "kebu.sqlite3"
    sqlite = {
        "ENGINE": "kebu.core.sqlite",
        "NAME": str(path),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 5},
    }
    handler = ConnectionHandler({"default": sqlite, ALIAS: sqlite})
    connections[ALIAS] = handler[ALIAS]
    with django_db_blocker.unblock():
        connections[ALIAS].cursor().execute("CREATE TABLE t (x INTEGER)")
        try:
            yield path
        finally:
            connections[ALIAS].close()
            del connections[ALIAS]


def _someone_writing(path: Path) -> bool:
    """Whether a connection to ``path`` other than the asker's is waiting to write or writing."""
    probe = WriterTurns(f"{path}-writers")
    try:
        return not probe.others_wait(patience=0)
    finally:
        probe.close()


def test_a_transaction_holds_its_turn_until_it_commits_or_rolls_back(database):
    with transaction.atomic(using=ALIAS):
        connections[ALIAS].cursor().execute("INSERT INTO t VALUES (1)")
        assert _someone_writing(database)
    assert not _someone_writing(database)

    with pytest.raises(ZeroDivisionError), transaction.atomic(using=ALIAS):
        assert _someone_writing(database)
        _ = 1 / 0
    assert not _someone_writing(database)


def test_a_write_outside_a_transaction_holds_its_turn_while_it_runs_and_a_read_takes_none(database):
    cursor = connections[ALIAS].cursor()
    # Asked from inside the statement, by a function SQLite calls for each row.
    connections[ALIAS].connection.create_function("someone_writing", 0, lambda: _someone_writing(database))

    cursor.execute("INSERT INTO t SELECT someone_writing()")
    cursor.execute("SELECT someone_writing()")

    assert cursor.fetchone() == (0,)
    assert cursor.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert not _someone_writing(database)


def _write() -> None:
    with transaction.atomic(using=ALIAS):
        connections[ALIAS].cursor().execute("INSERT INTO t VALUES (1)")


def test_only_a_write_right_after_the_last_lets_a_writer_waiting_go_first(database, monkeypatch):
    monkeypatch.setattr(base, "AGAIN_SECONDS", 0.2)
    _write()
    clerk = WriterTurns(f"{database}-writers")
    clerk.take(after_others=False)  # waiting for SQLite's lock, or writing
    done: list[float] = []

    def clerk_done() -> None:
        done.append(time.monotonic())
        clerk.give_back()

    threading.Timer(0.3, clerk_done).start()
    with transaction.atomic(using=ALIAS):
        began = time.monotonic()
    assert done and began >= done[0]

    # A write a while after the last (a web request's) goes on beside a writer waiting.
    time.sleep(0.3)
    clerk.take(after_others=False)
    started = time.monotonic()
    _write()
    assert time.monotonic() - started < 1  # not the 2 s a writer waiting may hold a bulk writer up
    clerk.close()


def test_writers_that_keep_coming_hold_a_bulk_writer_up_only_so_long(database, monkeypatch):
    monkeypatch.setattr(base, "PATIENCE_SECONDS", 0.3)
    _write()
    clerk = WriterTurns(f"{database}-writers")
    clerk.take(after_others=False)  # and never done
    started = time.monotonic()

    _write()

    assert 0.3 <= time.monotonic() - started < 2
    clerk.close()


def test_a_database_in_memory_has_no_turns(tmp_path):
    assert writer_turns_open(":memory:") is None
    assert writer_turns_open("file:memorydb_default?mode=memory&cache=shared") is None
    turns = writer_turns_open(tmp_path / "kebu.sqlite3")
    assert turns is not None and (tmp_path / "kebu.sqlite3-writers").exists()
    turns.close()


def _files_open(path: Path) -> int:
    return sum(1 for fd in Path("/proc/self/fd").iterdir() if os.path.realpath(fd) == str(path))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc")
def test_turns_dropped_without_being_closed_let_go_of_their_file_and_their_turn(database):
    """As a thread's connection's are when the thread ends without closing it: its lock file and its turn
    go with them, or every bulk writer would wait out its patience at each batch until the process ends."""
    writers = Path(f"{database}-writers")
    before = _files_open(writers)
    dropped = writer_turns_open(database)
    assert dropped is not None
    dropped.take()  # a write begun, never ended
    assert _someone_writing(database) and _files_open(writers) == before + 1

    del dropped
    gc.collect()

    assert _files_open(writers) == before
    assert not _someone_writing(database)


# --- with real processes -------------------------------------------------------------------------------

ROWS = 40_000
BATCH = 1000
SAVES = 6
# What the clerk's connection waits for SQLite's lock, at most, instead of settings.py's 20 s.
CLERK_TIMEOUT_MS = 2000

# The clerk: once the import is under way, a save at a time, each as a web request makes it.
CLERK = f"""
import json, time
from django.db import connection
from kebu.customers.services import CustomerInput, customer_create
from kebu.transfer.models import Import
deadline = time.monotonic() + 60
while not Import.objects.filter(next_row__gt={2 * BATCH}).exists():
    assert time.monotonic() < deadline, "the import did not get going"
    time.sleep(0.05)
connection.close()
waits = []
for i in range({SAVES}):
    connection.ensure_connection()
    connection.cursor().execute("PRAGMA busy_timeout={CLERK_TIMEOUT_MS}")
    started = time.monotonic()
    try:
        customer_create(actor=None, data=CustomerInput(name=f"店员存的{{i}}"))
    except Exception as exc:
        print("CLERK " + json.dumps({{"waits": waits, "failed": str(exc)}}))
        raise SystemExit(0)
    waits.append(round(time.monotonic() - started, 3))
    connection.close()  # as at the end of a web request
    time.sleep(0.1)
print("CLERK " + json.dumps({{"waits": waits, "failed": ""}}))
"""


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL locks rows, not the database")
@pytest.mark.django_db(transaction=True)
def test_a_clerk_saves_customers_while_an_import_writes_batch_after_batch(tmp_path):
    # given: an import of many batches, in a process of its own
    env = {**shop_copy(tmp_path / "data"), "KEBU_IMPORT_BATCH_ROWS": str(BATCH)}
    sheet = tmp_path / "客户.csv"
    sheet.write_text("姓名,手机\n" + "".join(f"客户{i},138{i:08d}\n" for i in range(ROWS)), encoding="utf-8")
    importer = subprocess.Popen(
        [sys.executable, "-m", "kebu.cli", "import", str(sheet)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # when: a clerk saves customers meanwhile, in another process, waiting 2 s at most for the lock
        clerk = subprocess.run(
            [sys.executable, "-m", "kebu.cli", "shell", "-c", CLERK],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        still_importing = importer.poll() is None
    finally:
        importer.kill()
        importer.wait()

    # then: every save got in, between two of the import's batches
    assert clerk.returncode == 0, clerk.stderr
    [line] = [line for line in clerk.stdout.splitlines() if line.startswith("CLERK ")]
    found = json.loads(line.removeprefix("CLERK "))
    assert found["failed"] == "" and len(found["waits"]) == SAVES, found
    assert still_importing, "the import ended before the clerk was done: the test saw no contention"
