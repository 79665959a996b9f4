"""A shop of its own for a test that runs ``kebu`` in another process, made in a moment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.db import connection


def shop_copy(data: Path) -> dict[str, str]:
    """A data directory holding a copy of the SQLite test database (migrated already) and its keys, and
    the environment a ``kebu`` process needs to use it: a fresh ``migrate`` takes 10-20 s on a busy
    machine. Needs the database (``django_db(transaction=True)``, so that the copy is not taken inside
    the test's transaction)."""
    data.mkdir()
    shutil.copytree(Path(settings.DATA_DIR) / "keys", data / "keys")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(data / "kebu.sqlite3")])
    env = {**os.environ, "KEBU_DATA_DIR": str(data)}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env
