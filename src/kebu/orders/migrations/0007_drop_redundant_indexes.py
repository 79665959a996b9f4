"""Indexes that others already cover: the order's customer and store keys (order_customer and order_store
lead with them) and a second index on the line's SKU. Each was one more write for every order saved.

The foreign keys' own indexes are dropped by their columns, not remade: on SQLite, Django alters a field
by copying its whole table, which at 10M orders takes many minutes for what is one DROP INDEX."""

import django.db.models.deletion
from django.db import migrations, models

FOREIGN_KEYS = (("orders_order", "customer_id"), ("orders_order", "store_id"))


def _plain_index(schema_editor, table, column):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
    for name, info in constraints.items():
        if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == [column]:
            return name
    return None


def foreign_key_indexes_drop(apps, schema_editor):
    for table, column in FOREIGN_KEYS:
        name = _plain_index(schema_editor, table, column)
        if name:
            schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def foreign_key_indexes_create(apps, schema_editor):
    for table, column in FOREIGN_KEYS:
        if not _plain_index(schema_editor, table, column):
            name = schema_editor.quote_name(f"{table}_{column}_idx")
            schema_editor.execute(f"CREATE INDEX {name} ON {table} ({schema_editor.quote_name(column)})")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_top_category_and_figure_indexes"),
        ("orders", "0006_line_customer_required"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="orderline", name="orderline_sku"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="order",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="orders",
                        to="customers.customer",
                        verbose_name="customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="order",
                    name="store",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="orders",
                        to="orders.store",
                        verbose_name="store",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(foreign_key_indexes_drop, foreign_key_indexes_create)],
        ),
    ]
