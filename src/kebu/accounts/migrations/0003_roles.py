"""The five starting roles as groups: admin, manager, sales, analyst, read-only (kebu.accounts.roles)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from kebu.accounts.roles import roles_sync

    roles_sync(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_team"),
        # So that the admin role gets the audit log's permission (audit.view_auditentry).
        ("audit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0002_keys_and_shop_settings"),
        ("customers", "0003_roles_permissions"),
    ]

    # Reversing keeps the groups: they may have members and an admin's edits by then.
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
