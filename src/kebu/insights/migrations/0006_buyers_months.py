"""Month sets (``DashboardBuyersMonth``): each month's buyers sets merged, one entry per customer, which
the dashboard reads for the whole months of a range. They are filled here from the day sets already
stored, so an upgraded shop reads the same figures at once, with no rebuild. The stored layout (as
``services.dashboard.buyers_bytes`` wrote it when this migration was made) is written out here: customer
ids, flags (bit 1 = first order among these, bit 2 = another order too), amounts in fen, order counts.
Stop the web and worker processes while it runs: code from before it would go on writing day sets and
never their months, which would stay stale until the next rebuild."""

from datetime import timedelta

import django.db.models.deletion
import numpy as np
from django.conf import settings
from django.db import migrations, models

COLUMNS = (("customer", "<u4"), ("flags", "u1"), ("net_fen", "<i8"), ("orders", "<u2"))
ENTRY = sum(np.dtype(kind).itemsize for _name, kind in COLUMNS)


def _columns(blob: bytes) -> dict:
    size, at, columns = len(blob) // ENTRY, 0, {}
    for name, kind in COLUMNS:
        columns[name] = np.frombuffer(blob, kind, size, at)
        at += np.dtype(kind).itemsize * size
    return columns


def _merged(blobs: list) -> tuple[int, bytes]:
    """One set of the customers in ``blobs`` (of one store and owner): amounts and orders summed, flags
    or-ed (a customer in two day sets bought again in one of them, whose flag says so already)."""
    parts = [_columns(blob) for blob in blobs]
    column = {name: np.concatenate([part[name] for part in parts]) for name, _kind in COLUMNS}
    order = np.argsort(column["customer"], kind="stable")
    column = {name: values[order] for name, values in column.items()}
    starts = np.flatnonzero(np.diff(column["customer"], prepend=np.int64(-1)))
    if not len(starts):
        return 0, b""
    merged = {
        "customer": column["customer"][starts],
        "flags": np.bitwise_or.reduceat(column["flags"], starts),
        "net_fen": np.add.reduceat(column["net_fen"], starts),
        "orders": np.minimum(np.add.reduceat(column["orders"].astype(np.int64), starts), 65535),
    }
    return len(starts), b"".join(merged[name].astype(kind).tobytes() for name, kind in COLUMNS)


def months_from_days(apps, schema_editor):
    days = apps.get_model("insights", "DashboardBuyers")
    months = apps.get_model("insights", "DashboardBuyersMonth")
    firsts = sorted({day.replace(day=1) for day in days.objects.values_list("day", flat=True).distinct()})
    for month in firsts:
        following = (month + timedelta(days=32)).replace(day=1)
        sets: dict = {}
        rows = days.objects.filter(day__gte=month, day__lt=following).values_list(
            "store_id", "owner_id", "entries"
        )
        for store_id, owner_id, blob in rows:
            sets.setdefault((store_id, owner_id), []).append(bytes(blob))
        made = []
        for (store_id, owner_id), blobs in sets.items():
            size, entries = _merged(blobs)
            made.append(
                months(month=month, store_id=store_id, owner_id=owner_id, buyers=size, entries=entries)
            )
        months.objects.bulk_create(made)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0005_buyers_by_column"),
        ("orders", "0008_delivered_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DashboardBuyersMonth",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField(verbose_name="month")),
                ("buyers", models.PositiveIntegerField(default=0, verbose_name="customers")),
                ("entries", models.BinaryField(verbose_name="entries")),
                (
                    "owner",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="owner",
                    ),
                ),
                (
                    "store",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="orders.store",
                        verbose_name="store",
                    ),
                ),
            ],
            options={
                "verbose_name": "dashboard buyers month",
                "verbose_name_plural": "dashboard buyers months",
                "constraints": [
                    models.UniqueConstraint(fields=("month", "store", "owner"), name="dash_buyers_month_key")
                ],
            },
        ),
        # Back: the table goes, and with it what this wrote.
        migrations.RunPython(months_from_days, migrations.RunPython.noop),
    ]
