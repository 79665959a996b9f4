"""``kebu setup``: everything ``make run`` needs before serving, safe to run again and again."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, call_command
from django.db import transaction

from kebu.core.crypto import keyring, keyring_check
from kebu.customers.models import Customer


class Command(BaseCommand):
    help = "Migrate, collect static files, create the admin account and load demo data on an empty database."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--demo-customers", type=int, default=5000, help="Demo customers for an empty database."
        )
        parser.add_argument("--demo-orders", type=int, default=40000, help="Demo orders for those customers.")
        parser.add_argument("--no-demo", action="store_true", help="Never load demo data.")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("✓ database up to date")
        keyring_check()
        self.stdout.write(
            f"✓ encryption keys in {keyring().source}: back this up with the database, separately from it"
        )
        call_command("collectstatic", interactive=False, verbosity=0)
        self._admin()
        if not options["no_demo"] and not Customer.objects.exists():
            call_command(
                "demo", customers=options["demo_customers"], orders=options["demo_orders"], service=True
            )
            # The demo writes orders in bulk, past the services: the analyses start from them at once
            # rather than at the first night.
            call_command("insights", "compute")

    def _admin(self) -> None:
        User = get_user_model()
        username = os.environ.get("KEBU_ADMIN_USERNAME", "admin")
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"✓ admin account “{username}” exists")
            return
        password = os.environ.get("KEBU_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        with transaction.atomic():
            User.objects.create_superuser(
                username=username, password=password, email="", display_name="管理员"
            )
        if os.environ.get("KEBU_ADMIN_PASSWORD"):
            self.stdout.write(f"✓ admin account “{username}” created with KEBU_ADMIN_PASSWORD")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"✓ admin account “{username}” created. One-time password: {password}\n"
                    "  Write it down now; it is not stored anywhere in clear. Change it after logging in."
                )
            )
