"""Managers keep the shop's stores, as they keep its catalogue: adding a store (a new marketplace shop) or
renaming one and taking it out of use is setting the shop up, not selling. The admin role holds
``orders.*`` already (0002). Added, never removed, like every later grant."""

from django.db import migrations

from kebu.accounts.roles import role_permissions_grant


def forwards(apps, schema_editor):
    # Written out, not read from roles.STORE_SETUP: a migration grants what it granted when it was written.
    role_permissions_grant(
        apps=apps,
        key="manager",
        permissions=["orders.view_store", "orders.add_store", "orders.change_store"],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0009_figures_index_counted_orders"),
        ("accounts", "0003_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
