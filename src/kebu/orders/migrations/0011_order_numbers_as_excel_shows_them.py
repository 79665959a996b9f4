"""Order and tracking numbers an import took from a marketplace CSV as ``="3871234567890123456"`` (Taobao
writes long numbers that way so that Excel keeps every digit) become the number itself, as the import now
reads them: saved with the ``="…"``, an order could not be found by its number, and the same export
imported again would add it a second time. An order whose plain number its store already has (imported
once each way) keeps its stored number: two orders must not share one."""

from django.db import migrations
from django.db.models import Q

PREFIX, SUFFIX = '="', '"'


def _plain(value: str) -> str | None:
    """``="…"`` as Excel shows it (a quote inside is doubled), or None for any other value."""
    if not (value.startswith(PREFIX) and value.endswith(SUFFIX)) or len(value) < 3:
        return None
    inner = value[2:-1]
    if '"' in inner.replace('""', ""):
        return None  # a formula of another kind
    return inner.replace('""', '"')


def forwards(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    marked = Q(order_no__startswith=PREFIX) | Q(tracking_no__startswith=PREFIX)
    for order in Order.objects.filter(marked).only("pk", "store_id", "order_no", "tracking_no").iterator():
        changed = []
        if (number := _plain(order.order_no)) and not Order.objects.filter(
            store_id=order.store_id, order_no=number
        ).exists():
            order.order_no = number
            changed.append("order_no")
        if tracking := _plain(order.tracking_no):
            order.tracking_no = tracking
            changed.append("tracking_no")
        if changed:
            order.save(update_fields=changed)


class Migration(migrations.Migration):
    dependencies = [("orders", "0010_store_roles")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
