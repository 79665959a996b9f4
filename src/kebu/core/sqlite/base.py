"""Django's SQLite backend, with writers that take turns across processes.

SQLite lets one connection write at a time. Another that wants to write meanwhile waits in its busy
handler, which sleeps and tries again, in steps growing to 100 ms, until the busy timeout (20 s,
settings.py). A bulk writer (an import's batches, a dry run's stretches, indexes built again, a key
rotation) commits and begins its next transaction a moment later, so the lock is free only in gaps that
the sleeping writer almost never wakes up in: a clerk saving a customer during a 5,000-row product import
was told "database is locked" after 22 s.

So writers announce themselves outside SQLite, on a lock file beside the database
(``kebu.sqlite3-writers``): each write, from its transaction's ``BEGIN`` (or a writing statement outside
a transaction) to its end, holds a shared ``flock`` on that file, its wait for SQLite's lock included. A
connection that begins a write within ``AGAIN_SECONDS`` of the end of its last one first takes the file's
lock exclusively for an instant, which it gets only once no other connection, of any process, is waiting
to write or writing: the writers that were waiting go first, at the bulk writer's batch boundary. When
others keep coming it goes on after ``PATIENCE_SECONDS``, into SQLite's own wait. A write pays two
``flock`` calls; a bulk writer also the time the writers it lets in take.

Not for an in-memory database, nor where the lock file cannot be opened: there writes go as Django makes
them. PostgreSQL locks rows, not the database, and needs none of this."""

from __future__ import annotations

import logging
import math
import os
import re
import time
import weakref
from typing import Any

from django.db.backends.sqlite3 import base

try:
    import fcntl
except ImportError:  # Windows: no flock; writers wait as SQLite makes them
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

# A write begun this soon after the connection's last one ended comes from a loop, and lets others in first:
# anything longer is a gap that a writer waiting, which tries again every 100 ms at most, gets in by.
AGAIN_SECONDS = 0.5
# How long such a write waits for the others at most, when they keep coming, before it queues as they do.
PATIENCE_SECONDS = 2.0
POLL_SECONDS = 0.001

# A statement that begins a transaction, or takes SQLite's write lock when run outside one.
_WRITES = re.compile(r"\s*(?:BEGIN|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)


class WriterTurns:
    """One connection's place among the database's writers. The lock file is opened for the connection
    alone: ``flock`` locks belong to an open file, so the connections of one process take turns with
    each other as they do with other processes'."""

    def __init__(self, path: str) -> None:
        # Read-only is enough to lock, and lets processes of other users (a terminal's `kebu`) open it.
        self._fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        # A connection dropped without being closed (a thread's, at its end) must not keep the file, nor a
        # lock on it that every bulk writer would then wait out: closed when these turns are collected.
        self._closing = weakref.finalize(self, os.close, self._fd)
        self.held = False
        self._ended = -math.inf  # when this connection's last write ended (time.monotonic)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def take(self, *, after_others: bool = True) -> None:
        """Announce a write, before it waits for SQLite's lock. Right after a write of its own (and
        ``after_others``), first let the writers waiting go."""
        if after_others and time.monotonic() - self._ended < AGAIN_SECONDS:
            self.others_wait()
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        self.held = True

    def give_back(self) -> None:
        """The write has ended (committed or rolled back)."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self.held = False
        self._ended = time.monotonic()

    def others_wait(self, *, patience: float | None = None) -> bool:
        """Wait until no other connection is waiting to write or writing, for ``patience`` seconds at
        most (``PATIENCE_SECONDS``); whether that moment came. Never while this one holds its turn: it
        would give it up."""
        if self.held:
            return False
        patience = PATIENCE_SECONDS if patience is None else patience
        deadline = None
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + patience
                elif now >= deadline:
                    return False
                time.sleep(POLL_SECONDS)
            else:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                return True

    def close(self) -> None:
        self._closing()  # closes the file once; a lock still held goes with it
        self.held = False
        self._fd = -1  # a cursor left over must not lock whatever file gets the number next


def writer_turns_open(database: Any) -> WriterTurns | None:
    """The turns of a connection to the SQLite ``database`` (its file name): None for a database in
    memory or named by URI, or when the lock file cannot be opened (a read-only directory)."""
    name = str(database)
    if fcntl is None or not name or name == ":memory:" or name.startswith("file:"):
        return None
    try:
        return WriterTurns(f"{name}-writers")
    except OSError as exc:
        logger.warning("SQLite writers will not take turns (%s): %s", name, exc)
        return None


class SQLiteCursorWrapper(base.SQLiteCursorWrapper):
    """Django's cursor, taking its connection's turn for a write (``WriterTurns``)."""

    turns: WriterTurns | None = None

    def execute(self, query: str, params: Any = None) -> Any:
        self._turn_take(query)
        try:
            return super().execute(query, params)
        finally:
            self._turn_end()

    def executemany(self, query: str, param_list: Any) -> Any:
        self._turn_take(query)
        try:
            return super().executemany(query, param_list)
        finally:
            self._turn_end()

    def _turn_take(self, query: str) -> None:
        turns = self.turns
        if turns is not None and not turns.held and not turns.closed and _WRITES.match(query):
            # Inside a transaction already (never one Kebu opens), waiting for others could be waiting
            # for oneself: SQLite's lock may be held.
            turns.take(after_others=not self.connection.in_transaction)

    def _turn_end(self) -> None:
        turns = self.turns
        if turns is not None and turns.held and not self.connection.in_transaction:
            turns.give_back()


class DatabaseWrapper(base.DatabaseWrapper):
    turns: WriterTurns | None = None

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if self.turns is not None:  # of a connection lost without being closed
            self.turns.close()
        self.turns = writer_turns_open(conn_params["database"])
        return connection

    def create_cursor(self, name: str | None = None) -> Any:
        cursor = self.connection.cursor(factory=SQLiteCursorWrapper)
        cursor.turns = self.turns
        return cursor

    def _commit(self) -> Any:
        try:
            return super()._commit()
        finally:
            self._turn_end()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()
        finally:
            self._turn_end()

    def _close(self) -> Any:
        try:
            return super()._close()
        finally:
            if self.turns is not None:
                self.turns.close()
                self.turns = None

    def _turn_end(self) -> None:
        # A commit that failed leaves the transaction open: the turn ends with its rollback.
        if (
            self.turns is not None
            and self.turns.held
            and not (self.connection and self.connection.in_transaction)
        ):
            self.turns.give_back()
