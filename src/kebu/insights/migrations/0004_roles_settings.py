"""Permissions of the tables made in 0003 (the score settings) for the roles that run the shop's analyses."""

from django.db import migrations

from kebu.accounts.roles import INSIGHTS_SETTINGS, role_permissions_grant


def forwards(apps, schema_editor):
    role_permissions_grant(apps=apps, key="admin", permissions=["insights.*"])
    role_permissions_grant(
        apps=apps, key="manager", permissions=list(INSIGHTS_SETTINGS)
    )
    role_permissions_grant(apps=apps, key="analyst", permissions=["insights.view_scoresettings"])


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0003_tables"),
        ("accounts", "0003_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
