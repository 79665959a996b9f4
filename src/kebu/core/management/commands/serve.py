"""``kebu serve``: the web server (gunicorn) and, unless told otherwise, one background worker beside it;
on SQLite also the thread that checkpoints the database off the request path (``core/checkpoint.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import BaseCommand

from kebu.core.checkpoint import checkpointer_start


class Command(BaseCommand):
    help = "Serve Kebu with gunicorn; also start a background worker unless --no-worker."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("KEBU_BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("KEBU_WEB_WORKERS", "2")))
        parser.add_argument("--no-worker", action="store_true", help="Run background jobs elsewhere.")

    def handle(self, *args: Any, **options: Any) -> None:
        worker = None
        checkpointer = checkpointer_start(settings.DATABASES["default"])
        if not options["no_worker"]:
            worker = subprocess.Popen([sys.executable, "-m", "kebu.cli", "worker", "--workers", "1"])
        self.stdout.write(f"Kebu is at http://{options['bind']}/  (Ctrl-C stops it)")
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "kebu.wsgi:application",
            "--bind",
            options["bind"],
            "--workers",
            str(options["workers"]),
            "--access-logfile",
            "-",
            # Path without the query string: searches and the phone check carry phone numbers in it.
            "--access-logformat",
            '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss',
            "--graceful-timeout",
            "10",
            # Kebu keeps everything it writes in the data dir, not in the user's home.
            "--control-socket",
            str(settings.DATA_DIR / "gunicorn.ctl"),
        ]
        # Told to stop (a service manager's or kill's SIGTERM, as much as Ctrl-C), stop what it started:
        # a worker left behind would go on taking jobs with the code of before an upgrade.
        signal.signal(signal.SIGTERM, _stop)
        web = subprocess.Popen(command)  # noqa: S603
        try:
            web.wait()
        except KeyboardInterrupt:
            pass
        finally:
            for child in (web, worker):
                if child is not None and child.poll() is None:
                    child.terminate()
            for child in (web, worker):
                if child is not None:
                    child.wait(timeout=15)
            if checkpointer is not None:
                checkpointer.stop()


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
