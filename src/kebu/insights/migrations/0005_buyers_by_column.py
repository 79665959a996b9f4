"""The buyers sets are now stored column by column (``services.dashboard.buyers_bytes``). The sets written
entry by entry before cannot be read that way: they are emptied, and the dashboard marked as never built,
so that the next refresh (every five minutes in the worker, or opening the page of a small shop) rebuilds
every table from the orders. Nothing is lost: the tables are derived from the orders."""

from django.db import migrations


def sets_clear(apps, schema_editor):
    apps.get_model("insights", "DashboardBuyers").objects.all().delete()
    apps.get_model("insights", "DashboardState").objects.update(rebuilt_at=None)


class Migration(migrations.Migration):
    dependencies = [("insights", "0004_roles_settings")]

    operations = [migrations.RunPython(sets_clear, migrations.RunPython.noop)]
