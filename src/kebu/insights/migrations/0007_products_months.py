"""Month arrays of products (``DashboardProductSalesMonth``): each month's product arrays summed, one
entry per product, which the dashboard's top products read for the whole months of a range. They are
filled here from the day arrays already stored, so an upgraded shop reads the same figures at once,
with no rebuild. The entry layout (``services.dashboard.PRODUCT`` when this migration was made) is
written out here. Stop the web and worker processes while it runs: code from before it would go on
writing day arrays and never their months, which would stay stale until the next rebuild."""

from datetime import timedelta

import django.db.models.deletion
import numpy as np
from django.conf import settings
from django.db import migrations, models

PRODUCT = np.dtype([("product", "<u4"), ("units", "<i8"), ("net_fen", "<i8"), ("orders", "<u4")])


def _summed(blobs: list) -> np.ndarray:
    entries = np.concatenate([np.frombuffer(blob, dtype=PRODUCT) for blob in blobs])
    entries = entries[np.argsort(entries["product"], kind="stable")]
    starts = np.flatnonzero(np.diff(entries["product"], prepend=np.int64(-1)))
    summed = np.zeros(len(starts), dtype=PRODUCT)
    if len(entries):
        summed["product"] = entries["product"][starts]
        for name in ("units", "net_fen", "orders"):
            summed[name] = np.add.reduceat(entries[name], starts)
    return summed


def months_from_days(apps, schema_editor):
    days = apps.get_model("insights", "DashboardProductSales")
    months = apps.get_model("insights", "DashboardProductSalesMonth")
    firsts = sorted({day.replace(day=1) for day in days.objects.values_list("day", flat=True).distinct()})
    for month in firsts:
        following = (month + timedelta(days=32)).replace(day=1)
        arrays: dict = {}
        rows = days.objects.filter(day__gte=month, day__lt=following).values_list(
            "store_id", "owner_id", "entries"
        )
        for store_id, owner_id, blob in rows:
            arrays.setdefault((store_id, owner_id), []).append(bytes(blob))
        made = []
        for (store_id, owner_id), blobs in arrays.items():
            summed = _summed(blobs)
            made.append(
                months(
                    month=month,
                    store_id=store_id,
                    owner_id=owner_id,
                    products=len(summed),
                    entries=summed.tobytes(),
                )
            )
        months.objects.bulk_create(made)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0006_buyers_months"),
        ("orders", "0008_delivered_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DashboardProductSalesMonth",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField(verbose_name="month")),
                ("products", models.PositiveIntegerField(default=0, verbose_name="products")),
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
                "verbose_name": "dashboard products month",
                "verbose_name_plural": "dashboard products months",
                "constraints": [
                    models.UniqueConstraint(fields=("month", "store", "owner"), name="dash_products_month_key")
                ],
            },
        ),
        # Back: the table goes, and with it what this wrote.
        migrations.RunPython(months_from_days, migrations.RunPython.noop),
    ]
