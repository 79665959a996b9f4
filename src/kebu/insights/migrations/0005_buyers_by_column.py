"""The buyers sets are now stored column by column (``services.dashboard.buyers_bytes``): every customer
id, then every entry's flags, then the amounts, then the order counts. Each stored set is rewritten in
place, exactly (the same entries, laid out anew), so the dashboard reads the same figures right after the
upgrade, with no rebuild. Both layouts are written out here, as they were when this migration was made."""

import numpy as np
from django.db import migrations

# Before: one 15-byte record per entry.
RECORD = np.dtype([("customer", "<u4"), ("net_fen", "<i8"), ("orders", "<u2"), ("first", "u1")])
# After: the columns one after the other; flags bit 1 = first order among these, bit 2 = bought again.
FIRST, AGAIN = 1, 2


def _by_column(blob: bytes) -> bytes:
    entries = np.frombuffer(blob, dtype=RECORD)
    flags = entries["first"] * FIRST | np.where(entries["orders"] > entries["first"], AGAIN, 0)
    return b"".join(
        (
            entries["customer"].astype("<u4").tobytes(),
            flags.astype("u1").tobytes(),
            entries["net_fen"].astype("<i8").tobytes(),
            entries["orders"].astype("<u2").tobytes(),
        )
    )


def sets_by_column(apps, schema_editor):
    buyers = apps.get_model("insights", "DashboardBuyers")
    batch = []
    for pk, blob in buyers.objects.order_by("pk").values_list("pk", "entries").iterator(chunk_size=2000):
        batch.append(buyers(pk=pk, entries=_by_column(bytes(blob))))
        if len(batch) == 2000:
            buyers.objects.bulk_update(batch, ["entries"])
            batch = []
    buyers.objects.bulk_update(batch, ["entries"])


class Migration(migrations.Migration):
    dependencies = [("insights", "0004_roles_settings")]

    operations = [migrations.RunPython(sets_by_column, migrations.RunPython.noop)]
