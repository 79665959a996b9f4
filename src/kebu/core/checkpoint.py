"""SQLite's checkpoints, moved off the request path.

In WAL mode every commit appends the pages it changed to the ``-wal`` file, and from time to time a
checkpoint copies them back into the database file. By default the connection that commits when the
log passes 1,000 pages does that copy, and syncs the file, before its commit returns: an order that is
saved in 5 ms every other time then takes 10 to 40 ms (bench/orders.py), one order in sixteen.

``kebu serve`` runs a :class:`Checkpointer` beside the web server: a thread with its own connection that
checkpoints four times a second without blocking anyone (``PASSIVE``). The web and worker connections keep
SQLite's own automatic checkpoint, at a threshold high enough (``AUTOCHECKPOINT_PAGES``, settings.py)
that they only reach it when the thread is not running (a command, a test) or cannot keep up. This is
the arrangement SQLite's documentation suggests (https://sqlite.org/wal.html#automatic_checkpoint).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

# What a connection of Kebu's checkpoints by itself, in pages of 4 KiB (40 MB): ten times SQLite's own.
AUTOCHECKPOINT_PAGES = 10_000
INTERVAL_SECONDS = 0.25


class Checkpointer(threading.Thread):
    """Checkpoint the SQLite database at ``path`` every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, path: Path | str, *, interval: float = INTERVAL_SECONDS) -> None:
        super().__init__(name="kebu-sqlite-checkpoint", daemon=True)
        self.path = str(path)
        self.interval = interval
        self.checkpoints = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        # Not Django's connection: this thread must never hold the write lock or a transaction open.
        connection = sqlite3.connect(self.path, timeout=1, isolation_level=None, check_same_thread=False)
        try:
            while not self._stopping.wait(self.interval):
                try:
                    # (busy, frames in the log, frames copied back); PASSIVE copies what it can
                    # without waiting for readers or writers, and never blocks them.
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # a locked or busy file now is not a reason to stop
                    logger.warning("SQLite checkpoint failed: %s", exc)
        finally:
            connection.close()

    def stop(self, timeout: float | None = 5) -> None:
        self._stopping.set()
        self.join(timeout)


def checkpointer_start(database: dict[str, object]) -> Checkpointer | None:
    """Start a :class:`Checkpointer` for Django's ``database`` settings; None unless it is SQLite on
    disk."""
    if database.get("ENGINE") not in {"kebu.core.sqlite", "django.db.backends.sqlite3"}:
        return None
    name = str(database.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    checkpointer = Checkpointer(name)
    checkpointer.start()
    return checkpointer
