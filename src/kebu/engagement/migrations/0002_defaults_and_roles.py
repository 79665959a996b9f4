"""A shop starts with service levels per ticket category and the usual follow-up plans (both editable),
and the roles get the service permissions (added, never removed: an admin's own changes to a role stay)."""

from django.db import migrations

from kebu.accounts.roles import SERVICE_LEAD, SERVICE_READ, SERVICE_WORK, role_permissions_grant

# (category, first response hours, resolution hours): a rude answer is the most urgent to put right.
SLA = [
    ("quality", 4, 48),
    ("logistics", 4, 48),
    ("attitude", 2, 24),
    ("price", 8, 72),
    ("aftersale", 4, 48),
    ("other", 8, 72),
]
# (kind, name, days): plans are the shop's data, named in its language (a shop edits or renames them).
PLANS = [
    ("after_delivery", "签收后回访", 3),
    ("repurchase", "复购提醒", 3),
    ("birthday", "生日关怀", 3),
    ("credit_due", "赊账到期提醒", 3),
]


def forwards(apps, schema_editor):
    SlaPolicy = apps.get_model("engagement", "SlaPolicy")
    FollowUpPlan = apps.get_model("engagement", "FollowUpPlan")
    for category, first, resolve in SLA:
        SlaPolicy.objects.get_or_create(
            category=category, defaults={"first_response_hours": first, "resolution_hours": resolve}
        )
    for kind, name, days in PLANS:
        FollowUpPlan.objects.get_or_create(kind=kind, name=name, defaults={"days": days})
    role_permissions_grant(apps=apps, key="admin", permissions=["engagement.*"])
    role_permissions_grant(apps=apps, key="manager", permissions=[*SERVICE_WORK, *SERVICE_LEAD])
    role_permissions_grant(apps=apps, key="sales", permissions=list(SERVICE_WORK))
    role_permissions_grant(apps=apps, key="analyst", permissions=[*SERVICE_READ, "engagement.view_all_tickets"])
    role_permissions_grant(apps=apps, key="readonly", permissions=list(SERVICE_READ))


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0001_initial"),
        ("accounts", "0003_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
