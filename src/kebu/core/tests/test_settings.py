"""The settings promise: everything from the environment, SQLite tuned, secrets never in the repo."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[4]


def _run_settings(tmp_path: Path, code: str, **env: str) -> dict:
    """Import the settings in a fresh interpreter with only the given environment, report as JSON."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KEBU_", "DATABASE_URL", "REDIS_URL"))}
    clean.update({"KEBU_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "kebu.settings", **env})
    script = f"import django, json; django.setup()\n{code}"
    out = subprocess.run(
        [sys.executable, "-c", script], env=clean, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_secret_key_is_generated_once_into_the_data_dir(tmp_path):
    code = "from django.conf import settings; print(json.dumps({'key': settings.SECRET_KEY}))"
    first = _run_settings(tmp_path, code)["key"]
    second = _run_settings(tmp_path, code)["key"]
    assert len(first) >= 50
    assert first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_passwords_are_hashed_with_argon2id(tmp_path):
    code = (
        "from django.contrib.auth.hashers import make_password\n"
        "print(json.dumps(make_password('correct horse battery staple')))"
    )
    assert _run_settings(tmp_path, code).startswith("argon2$argon2id$")


def test_database_url_switches_to_postgresql(tmp_path):
    code = "from django.conf import settings; print(json.dumps(settings.DATABASES['default']['ENGINE']))"
    engine = _run_settings(tmp_path, code, DATABASE_URL="postgres://u@db.example:5432/shop")
    assert engine == "django.db.backends.postgresql"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite pragmas")
@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout():
    with connection.cursor() as cursor:
        pragmas = {}
        for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
            cursor.execute(f"PRAGMA {name}")
            pragmas[name] = cursor.fetchone()[0]
    # (the in-memory test database has no journal to put in WAL: the next test checks a file database)
    assert pragmas["synchronous"] == 1  # NORMAL
    assert pragmas["foreign_keys"] == 1
    assert pragmas["busy_timeout"] == 20000


def test_the_file_database_is_in_wal_mode(tmp_path):
    code = (
        "from django.db import connection\n"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(json.dumps(c.fetchone()[0]))"
    )
    assert _run_settings(tmp_path, code) == "wal"
    assert (tmp_path / "kebu.sqlite3").exists()


def _redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), 1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(
    not _redis_answers() and not os.environ.get("KEBU_REQUIRE_REDIS"), reason="no Redis on 127.0.0.1:6379"
)
def test_redis_url_moves_cache_and_jobs_to_a_real_redis(tmp_path):
    # A job goes through the Redis queue: enqueued, taken off by a consumer's calls, run, result stored.
    code = (
        "from django.core.cache import cache\n"
        "from huey.contrib.djhuey import HUEY\n"
        "HUEY.flush()\n"
        "@HUEY.task()\n"
        "def add(a, b):\n"
        "    return a + b\n"
        "result = add(2, 3)\n"
        "queued = HUEY.pending_count()\n"
        "HUEY.execute(HUEY.dequeue())\n"
        "cache.set('kebu-test-key', 'ok', 30)\n"
        "print(json.dumps({'cache': cache.get('kebu-test-key'), 'huey': type(HUEY).__name__,\n"
        "                  'queued': queued, 'result': result.get()}))"
    )
    # A Redis database of each run's own: make test runs the SQLite and PostgreSQL suites side by side,
    # and this one empties its queue.
    database = 15 if connection.vendor == "sqlite" else 14
    result = _run_settings(tmp_path, code, REDIS_URL=f"redis://127.0.0.1:6379/{database}")
    assert result == {"cache": "ok", "huey": "RedisHuey", "queued": 1, "result": 5}


@pytest.mark.django_db
def test_healthz_answers_with_the_database_vendor(client):
    response = client.get("/healthz")
    assert response.json() == {"status": "ok", "database": connection.vendor}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_numbers_are_grouped_by_thousands_in_both_languages_and_dates_stay_the_locales(language):
    from datetime import date
    from decimal import Decimal

    from django.template import Context, Template
    from django.utils import translation

    page = Template(
        "{% load humanize %}{{ n|intcomma }} ¥{{ m|floatformat:'2g' }} {{ d|date:'DATE_FORMAT' }}"
    )
    with translation.override(language):
        shown = page.render(Context({"n": 60000, "m": Decimal("123456.5"), "d": date(2024, 1, 5)}))

    assert shown == ("60,000 ¥123,456.50 " + ("2024年1月5日" if language == "zh-hans" else "Jan. 5, 2024"))
