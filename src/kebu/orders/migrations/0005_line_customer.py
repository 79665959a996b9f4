"""Each order line carries its order's customer and whether the order counts (models.py, OrderLine):
added empty and filled from the orders in one statement; 0006 makes it required and indexes it (in a
transaction of its own: PostgreSQL alters no table with the fill's foreign-key checks pending)."""

import django.db.models.deletion
from django.db import migrations, models

# The statuses that count for the figures, as they were when this migration was written.
COUNTED = ("paid", "shipped", "delivered", "completed", "closed")


def lines_fill(apps, schema_editor):
    counted = ", ".join(f"'{status}'" for status in COUNTED)
    schema_editor.execute(
        f"UPDATE orders_orderline SET customer_id = o.customer_id, counted = (o.status IN ({counted})) "  # noqa: S608
        f"FROM orders_order o WHERE o.id = orders_orderline.order_id"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_top_category_and_figure_indexes"),
        ("orders", "0004_figures_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="orderline",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="customers.customer",
            ),
        ),
        migrations.AddField(
            model_name="orderline",
            name="counted",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(lines_fill, migrations.RunPython.noop, elidable=True),
    ]
