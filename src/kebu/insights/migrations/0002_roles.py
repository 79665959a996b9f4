"""The roles get the insights permissions (added, never removed: an admin's own changes to a role stay)."""

from django.db import migrations

from kebu.accounts.roles import INSIGHTS_SHOP, INSIGHTS_VIEW, role_permissions_grant


def forwards(apps, schema_editor):
    role_permissions_grant(apps=apps, key="admin", permissions=["insights.*"])
    role_permissions_grant(apps=apps, key="manager", permissions=[*INSIGHTS_VIEW, *INSIGHTS_SHOP])
    role_permissions_grant(apps=apps, key="sales", permissions=list(INSIGHTS_VIEW))
    role_permissions_grant(apps=apps, key="analyst", permissions=[*INSIGHTS_VIEW, *INSIGHTS_SHOP])
    role_permissions_grant(apps=apps, key="readonly", permissions=list(INSIGHTS_VIEW))


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_initial"),
        ("accounts", "0003_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
