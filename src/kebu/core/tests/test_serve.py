"""``kebu serve`` stops what it started when it is told to stop: a worker left running after the server
went would go on taking jobs with the code from before an upgrade."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from kebu.core.tests.copies import shop_copy

pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc"),
    # What is tested is processes, not the database: once is enough, on a copy of the migrated test
    # database (a fresh migrate is most of a minute on a busy machine).
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the same on PostgreSQL; run on SQLite"),
]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.django_db(transaction=True)
def test_serve_stopped_by_sigterm_stops_its_worker_and_web_server(tmp_path):
    env = shop_copy(tmp_path / "data")
    kebu = [sys.executable, "-m", "kebu.cli"]
    port = _free_port()
    serve = subprocess.Popen(
        [*kebu, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _listening(port) or len(_children(serve.pid)) < 2:
            assert time.monotonic() < deadline and serve.poll() is None, "kebu serve did not come up"
            time.sleep(0.5)
        started = _children(serve.pid)  # gunicorn and the worker

        serve.send_signal(signal.SIGTERM)

        assert serve.wait(timeout=30) is not None
        deadline = time.monotonic() + 15
        while left := {pid for pid in started if _running(pid)}:
            assert time.monotonic() < deadline, f"still running after kebu serve stopped: {left}"
            time.sleep(0.2)
    finally:
        if serve.poll() is None:
            serve.kill()
