"""The SQLite checkpointer: commits leave their pages in the WAL, the thread copies them back."""

from __future__ import annotations

import sqlite3
import time

from kebu.core.checkpoint import Checkpointer, checkpointer_start


def _wal_database(path):
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")  # nobody but the thread checkpoints
    connection.execute("CREATE TABLE t (x TEXT)")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return connection


def test_the_thread_copies_committed_pages_into_the_database_file_while_the_writer_goes_on(tmp_path):
    path = tmp_path / "kebu.sqlite3"
    writer = _wal_database(path)
    empty = path.stat().st_size
    writer.executemany("INSERT INTO t VALUES (?)", [("客" * 500,) for _ in range(2000)])
    assert path.stat().st_size == empty  # committed, but only in the WAL

    checkpointer = Checkpointer(path, interval=0.02)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 10
        # Until every page is in: the file grows while a checkpoint copies them (on a busy machine a
        # look in between saw it part-way, 1.9 of 3 MB).
        while path.stat().st_size <= empty + 2000 * 1500 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size > empty + 2000 * 1500
        # The writer was never blocked: it goes on committing while the thread runs.
        writer.execute("INSERT INTO t VALUES ('after')")
    finally:
        checkpointer.stop()
    assert not checkpointer.is_alive()
    assert checkpointer.checkpoints >= 1
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM t").fetchone() == (2001,)


def test_only_an_sqlite_file_gets_a_checkpointer(tmp_path):
    assert checkpointer_start({"ENGINE": "django.db.backends.postgresql", "NAME": "kebu"}) is None
    assert checkpointer_start({"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}) is None
    assert checkpointer_start({"ENGINE": "django.db.backends.sqlite3", "NAME": "file:t?mode=memory"}) is None
    _wal_database(tmp_path / "kebu.sqlite3")
    checkpointer = checkpointer_start(
        {"ENGINE": "django.db.backends.sqlite3", "NAME": tmp_path / "kebu.sqlite3"}
    )
    assert checkpointer is not None and checkpointer.is_alive()
    checkpointer.stop()


def test_the_shops_own_sqlite_backend_gets_a_checkpointer_too(tmp_path):
    _wal_database(tmp_path / "kebu.sqlite3")
    checkpointer = checkpointer_start({"ENGINE": "kebu.core.sqlite", "NAME": tmp_path / "kebu.sqlite3"})
    assert checkpointer is not None and checkpointer.is_alive()
    checkpointer.stop()
