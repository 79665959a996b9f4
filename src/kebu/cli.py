"""The ``kebu`` command: the one entry point for operators.

It runs Django's management commands (``kebu migrate``, ``kebu createsuperuser``, …) and Kebu's own
(``kebu serve``, ``kebu demo``, ``kebu setup``, …), with the settings module already chosen."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kebu.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["kebu", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
