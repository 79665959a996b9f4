"""A first store to put manual orders in, and the orders permissions for the roles (added, never removed:
an admin's own changes to a role stay)."""

from django.db import migrations

from kebu.accounts.roles import role_permissions_grant

GRANTS = {
    "admin": ["orders.*"],
    "manager": [
        "orders.view_order",
        "orders.add_order",
        "orders.change_order",
        "orders.view_aftersale",
        "orders.add_aftersale",
        "orders.change_aftersale",
        "orders.view_product",
        "orders.add_product",
        "orders.change_product",
        "orders.view_creditpayment",
        "orders.add_creditpayment",
        "orders.manage_credit",
    ],
    "sales": [
        "orders.view_order",
        "orders.add_order",
        "orders.change_order",
        "orders.view_aftersale",
        "orders.add_aftersale",
        "orders.change_aftersale",
        "orders.view_product",
        "orders.view_creditpayment",
    ],
    "analyst": ["orders.view_order", "orders.view_aftersale", "orders.view_product", "orders.view_creditpayment"],
    "readonly": ["orders.view_order", "orders.view_aftersale", "orders.view_product"],
}


def forwards(apps, schema_editor):
    Store = apps.get_model("orders", "Store")
    if not Store.objects.exists():
        Store.objects.create(name="默认店铺", platform="other")
    for key, permissions in GRANTS.items():
        role_permissions_grant(apps=apps, key=key, permissions=permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("accounts", "0003_roles"),
        ("customers", "0007_top_category_and_figure_indexes"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
