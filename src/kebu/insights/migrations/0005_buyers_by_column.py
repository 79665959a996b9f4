"""The buyers sets are now stored column by column (``services.dashboard.buyers_bytes``): every customer
id, then every entry's flags, then the amounts, then the order counts. Each stored set is rewritten in
place, exactly (the same entries, laid out anew), so the dashboard reads the same figures right after the
upgrade, with no rebuild; migrating back rewrites them as records again. Both layouts are written out
here, as they were when this migration was made. Stop the web and worker processes while it runs: code
of the other layout writing sets meanwhile would leave sets this cannot tell apart (both are 15 bytes an
entry)."""

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


def _by_record(blob: bytes) -> bytes:
    size = len(blob) // RECORD.itemsize
    entries = np.zeros(size, dtype=RECORD)
    entries["customer"] = np.frombuffer(blob, "<u4", size, 0)
    entries["first"] = np.frombuffer(blob, "u1", size, 4 * size) & FIRST
    entries["net_fen"] = np.frombuffer(blob, "<i8", size, 5 * size)
    entries["orders"] = np.frombuffer(blob, "<u2", size, 13 * size)
    return entries.tobytes()


def _rewrite(apps, convert) -> None:
    """Every stored set through ``convert``, a page of rows at a time (read by primary key after the
    last one, so the rows being updated are never the ones being read)."""
    buyers = apps.get_model("insights", "DashboardBuyers")
    last = 0
    while page := list(buyers.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "entries")[:2000]):
        buyers.objects.bulk_update(
            [buyers(pk=pk, entries=convert(bytes(blob))) for pk, blob in page], ["entries"]
        )
        last = page[-1][0]


def sets_by_column(apps, schema_editor):
    _rewrite(apps, _by_column)


def sets_by_record(apps, schema_editor):
    """Back to 0004's layout, for a shop that migrates back (the code of then reads records)."""
    _rewrite(apps, _by_record)


class Migration(migrations.Migration):
    dependencies = [("insights", "0004_roles_settings")]

    operations = [migrations.RunPython(sets_by_column, sets_by_record)]
