"""Timeline entries written before encryption kept contact details in the clear; mask them."""

from django.db import migrations

BATCH = 500


def _mask_change(name, value):
    from kebu.core.masking import mask_email, mask_phone, mask_text

    if not value or "*" in value or value == "…":
        return value  # empty, or written masked already
    if name == "phones":
        return ", ".join(mask_phone(n) for n in value.split(", ") if n)
    if name == "email":
        return mask_email(value)
    if name == "notes":
        return "…"
    if name == "addresses":
        return "; ".join("****" for a in value.split("; ") if a)
    if name == "socials":
        parts = []
        for item in value.split(", "):
            kind, sep, handle = item.partition(": ")
            parts.append(f"{kind}: {mask_text(handle)}" if sep else mask_text(item))
        return ", ".join(parts)
    return value


SENSITIVE = {"phones", "email", "notes", "addresses", "socials"}


def mask_events(apps, schema_editor):
    CustomerEvent = apps.get_model("customers", "CustomerEvent")
    events = CustomerEvent.objects.filter(kind="customer.updated").order_by("pk")
    last = 0
    while True:
        batch = list(events.filter(pk__gt=last)[:BATCH])
        if not batch:
            break
        for event in batch:
            last = event.pk
            changes = (event.data or {}).get("changes") or {}
            masked = {
                name: [_mask_change(name, v) for v in values] if name in SENSITIVE else values
                for name, values in changes.items()
            }
            if masked != changes:
                event.data = {**event.data, "changes": masked}
                event.save(update_fields=["data"])


class Migration(migrations.Migration):
    dependencies = [("customers", "0004_encrypt_personal_data")]

    operations = [migrations.RunPython(mask_events, migrations.RunPython.noop)]
