"""Importing is the admin role's (added, never removed: an admin's own changes to a role stay)."""

from django.db import migrations

from kebu.accounts.roles import role_permissions_grant


def forwards(apps, schema_editor):
    role_permissions_grant(apps=apps, key="admin", permissions=["transfer.*"])


class Migration(migrations.Migration):
    dependencies = [
        ("transfer", "0001_initial"),
        ("accounts", "0003_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
