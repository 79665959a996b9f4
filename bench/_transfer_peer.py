"""The peer of bench/transfer.py: django-import-export importing the same customer sheet, in a child
process of its own with a scratch Django (``settings.configure``, no Kebu code, no migrations).

Its tables are shaped like what Kebu writes for a row, in plaintext: a customer table with the same
columns as ``customers_customer`` (the phone on it as ``primary_phone``, indexed, since that is the
column rows are matched by), and a phone, an address and a WeChat account row under it. The resource is
the documented one: a ``ModelResource`` whose fields name the sheet's columns, ``import_id_fields`` the
phone (so a second import of the same file updates instead of adding everyone again), the child rows made
in ``after_save_instance``. It is run the way the admin's confirm step runs it, ``import_data`` with
``dry_run=False`` in a transaction, and without the dry run the admin does first (which reads and
matches every row once more): the peer's best case.

``tuned`` adds what the documentation suggests for speed that this shape allows: ``skip_diff`` (no copy
and comparison of each instance) and the ``CachedInstanceLoader`` (one query for all the phones rather
than one per row). ``use_bulk`` is not an option here: bulk-created instances have no id yet when the
child rows are made."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.apps import AppConfig

SQLITE_INIT = (
    # Kebu's own connection settings (kebu/settings.py), so the database behaves the same for both.
    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;PRAGMA busy_timeout=20000;"
    "PRAGMA cache_size=-65536;PRAGMA mmap_size=268435456;PRAGMA temp_store=MEMORY;"
)


class PeerConfig(AppConfig):
    """The scratch app the peer's tables belong to (this module, installed by its dotted path)."""

    name = "_transfer_peer"
    label = "bench_peer"
    path = str(Path(__file__).resolve().parent)


def peer_import(db_path: Path, csv_path: Path, variant: str) -> dict[str, Any]:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="Asia/Shanghai",
        SECRET_KEY="bench-peer",  # noqa: S106 - a throwaway process with no users or sessions
        INSTALLED_APPS=["django.contrib.contenttypes", "import_export", "_transfer_peer.PeerConfig"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(db_path),
                "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": SQLITE_INIT},
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
    from django.db import connection, models
    from import_export import resources
    from import_export.fields import Field
    from import_export.instance_loaders import CachedInstanceLoader, ModelInstanceLoader

    class PeerCustomer(models.Model):  # noqa: DJ008 - scratch tables, never shown
        # The columns of Kebu's customers_customer, by name and type; the foreign keys as plain ids.
        customer_no = models.CharField(max_length=20, blank=True)
        name = models.CharField(max_length=100, blank=True)
        name_pinyin = models.CharField(max_length=200, blank=True)
        name_initials = models.CharField(max_length=50, blank=True)
        gender = models.CharField(max_length=1, blank=True, default="")
        birthday = models.DateField(null=True, blank=True)
        birthday_is_lunar = models.BooleanField(default=False)
        email = models.TextField(blank=True)
        email_lookup = models.CharField(max_length=254, blank=True)
        customer_type = models.CharField(max_length=20, blank=True, default="")
        stage = models.CharField(max_length=20, default="lead")
        notes = models.TextField(blank=True)
        custom = models.JSONField(default=dict, blank=True)
        province = models.CharField(max_length=30, blank=True)
        city = models.CharField(max_length=30, blank=True)
        primary_phone = models.CharField(max_length=32, blank=True, db_index=True)
        archived_at = models.DateTimeField(null=True, blank=True)
        version = models.PositiveIntegerField(default=1)
        created_at = models.DateTimeField(auto_now_add=True)
        updated_at = models.DateTimeField(auto_now=True)
        created_by_id = models.BigIntegerField(null=True)
        owner_id = models.BigIntegerField(null=True)
        updated_by_id = models.BigIntegerField(null=True)
        source_id = models.BigIntegerField(null=True)
        avg_order_cny = models.DecimalField(max_digits=14, decimal_places=2, null=True)
        credit_limit_cny = models.DecimalField(max_digits=14, decimal_places=2, null=True)
        first_order_at = models.DateTimeField(null=True)
        last_order_at = models.DateTimeField(null=True)
        order_count = models.PositiveIntegerField(default=0)
        payment_terms_days = models.PositiveSmallIntegerField(default=30)
        purchase_interval_days = models.DecimalField(max_digits=7, decimal_places=1, null=True)
        receivable_cny = models.DecimalField(max_digits=14, decimal_places=2, default=0)
        refund_count = models.PositiveIntegerField(default=0)
        refund_rate = models.DecimalField(max_digits=5, decimal_places=4, null=True)
        top_category_id = models.BigIntegerField(null=True)
        total_spent_cny = models.DecimalField(max_digits=14, decimal_places=2, default=0)
        referrer_id = models.BigIntegerField(null=True)

        class Meta:
            app_label = "bench_peer"

    class PeerPhone(models.Model):  # noqa: DJ008 - scratch tables, never shown
        customer = models.ForeignKey(PeerCustomer, on_delete=models.CASCADE, related_name="phones")
        number = models.TextField()
        number_lookup = models.CharField(max_length=64)
        last4_lookup = models.CharField(max_length=64)
        label = models.CharField(max_length=10, default="mobile")
        position = models.PositiveSmallIntegerField(default=0)

        class Meta:
            app_label = "bench_peer"

    class PeerAddress(models.Model):  # noqa: DJ008 - scratch tables, never shown
        customer = models.ForeignKey(PeerCustomer, on_delete=models.CASCADE, related_name="addresses")
        province = models.CharField(max_length=30)
        city = models.CharField(max_length=30, blank=True)
        district = models.CharField(max_length=30, blank=True)
        detail = models.TextField()
        receiver = models.CharField(max_length=50, blank=True)
        is_default = models.BooleanField(default=False)
        receiver_phone = models.TextField(blank=True)

        class Meta:
            app_label = "bench_peer"

    class PeerSocial(models.Model):  # noqa: DJ008 - scratch tables, never shown
        customer = models.ForeignKey(PeerCustomer, on_delete=models.CASCADE, related_name="socials")
        kind = models.CharField(max_length=20)
        kind_label = models.CharField(max_length=30, blank=True)
        handle = models.TextField()
        handle_lookup = models.CharField(max_length=128)

        class Meta:
            app_label = "bench_peer"

    tuned = variant == "tuned"

    class CustomerResource(resources.ModelResource):
        customer_no = Field(attribute="customer_no", column_name="客户编号")
        name = Field(attribute="name", column_name="姓名")
        primary_phone = Field(attribute="primary_phone", column_name="手机号")
        province = Field(attribute="province", column_name="省份")
        city = Field(attribute="city", column_name="城市")
        customer_type = Field(attribute="customer_type", column_name="客户类型")
        notes = Field(attribute="notes", column_name="备注")

        class Meta:
            model = PeerCustomer
            fields = ("customer_no", "name", "primary_phone", "province", "city", "customer_type", "notes")
            import_id_fields = ("primary_phone",)
            skip_unchanged = True
            report_skipped = False
            skip_diff = tuned
            instance_loader_class = CachedInstanceLoader if tuned else ModelInstanceLoader

        def get_instance(self, instance_loader: Any, row: Any) -> Any:
            # A row without a phone is a new customer (the phone is the only key this resource has).
            return super().get_instance(instance_loader, row) if row.get("手机号") else None

        def before_save_instance(self, instance: Any, row: Any, **kwargs: Any) -> None:
            instance.bench_is_new = instance.pk is None

        def after_save_instance(self, instance: Any, row: Any, **kwargs: Any) -> None:
            if not instance.bench_is_new:
                return  # an updated customer keeps the rows it has
            phone = row.get("手机号") or ""
            if phone:
                PeerPhone.objects.create(
                    customer=instance, number=phone, number_lookup=phone, last4_lookup=phone[-4:]
                )
            if row.get("详细地址"):
                PeerAddress.objects.create(
                    customer=instance,
                    province=row.get("省份") or "",
                    city=row.get("城市") or "",
                    detail=row["详细地址"],
                    receiver=instance.name[:50],
                    is_default=True,
                )
            if row.get("微信号"):
                PeerSocial.objects.create(
                    customer=instance, kind="wechat", handle=row["微信号"], handle_lookup=row["微信号"]
                )

    with connection.schema_editor() as editor:
        for model in (PeerCustomer, PeerPhone, PeerAddress, PeerSocial):
            editor.create_model(model)

    import tablib

    started = time.perf_counter()
    # As the admin reads an upload: the whole file into a tablib Dataset.
    dataset = tablib.Dataset().load(csv_path.read_text(encoding="utf-8-sig"), format="csv")
    read_seconds = time.perf_counter() - started
    result = CustomerResource().import_data(dataset, dry_run=False, raise_errors=False, use_transactions=True)
    seconds = time.perf_counter() - started
    totals = {str(k): v for k, v in result.totals.items()}
    return {
        "variant": variant,
        "rows": len(dataset),
        "seconds": seconds,
        "read_seconds": read_seconds,
        "totals": totals,
        "errors": len(result.row_errors()),
        "invalid": len(result.invalid_rows),
        "customers": PeerCustomer.objects.count(),
        "phones": PeerPhone.objects.count(),
        "addresses": PeerAddress.objects.count(),
        "socials": PeerSocial.objects.count(),
    }
