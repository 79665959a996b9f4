"""``kebu keys``: the encryption keys of personal data (status, rotate)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management import BaseCommand, CommandError

from kebu.core import crypto
from kebu.core.keys import keys_pending, keys_rotate, keys_usage
from kebu.core.models import EncryptionKey


class Command(BaseCommand):
    help = "Show the encryption keys, or rotate them: re-encrypt every value under a new key, resumably."
    requires_system_checks: list[str] = []  # must run when the keyring check fails, to say why

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="Where the keyring is, which key is active, values under each key.")
        rotate = sub.add_parser(
            "rotate", help="Make a new key active and re-encrypt everything (or resume an unfinished run)."
        )
        rotate.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "status":
                self._status()
            else:
                self._rotate(options["batch_size"])
        except crypto.KeyringError as exc:
            raise CommandError(str(exc)) from exc

    def _status(self) -> None:
        ring = crypto.keyring()
        self.stdout.write(f"keyring: {ring.source}")
        self.stdout.write(f"active key: {ring.active}")
        known = {k.key_id: k for k in EncryptionKey.objects.all()}
        usage = keys_usage()
        for key_id in sorted(set(ring.data_keys) | set(usage)):
            state = (
                "active"
                if key_id == ring.active
                else ("retired" if known.get(key_id) and known[key_id].retired_at else "")
            )
            present = "in keyring" if key_id in ring.data_keys else "MISSING from keyring"
            self.stdout.write(f"  {key_id}: {usage.get(key_id, 0)} values, {present} {state}".rstrip())
        crypto.keyring_check(register=False)
        self.stdout.write(self.style.SUCCESS("keyring matches this database"))

    def _rotate(self, batch_size: int) -> None:
        def progress(table: str, done: int) -> None:
            self.stdout.write(f"  {table}: {done} re-encrypted", ending="\r")

        result = keys_rotate(batch_size=batch_size, progress=progress)
        self.stdout.write("")
        if result.started_new_key:
            self.stdout.write(f"new active key {result.key_id}")
        else:
            self.stdout.write(f"resumed the rotation to {result.key_id}")
        # Servers re-read the keyring within seconds; values they wrote under the old key meanwhile
        # are picked up by another pass.
        for _attempt in range(3):
            if result.finished:
                break
            time.sleep(crypto.RELOAD_EVERY_SECONDS + 1)
            result = keys_rotate(batch_size=batch_size, progress=progress)
        if not result.finished:
            raise CommandError(f"{keys_pending()} values still under an old key: run kebu keys rotate again.")
        self.stdout.write(
            self.style.SUCCESS(
                f"done: every value is under {result.key_id}. Keep the old keys in the keyring for "
                "backups taken before today."
            )
        )
