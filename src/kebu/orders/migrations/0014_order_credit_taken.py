"""What of an order went on the customer's account (Order.credit_taken_cny), so that an order paid in part
at the counter with the rest on credit (部分付款，余款挂账) says both. Until now an order on credit was all
of it on credit: each one's is what it counted as paid. Filled in before the constraint that holds what is
still owed within it is added.

The column is added by ``ALTER TABLE … ADD COLUMN``: Django's AddField would have SQLite copy the whole
order table for a column with a default (it cannot drop the default afterwards), and the constraint
copies it once more anyway, without the default then. One copy of a shop's orders, not two."""

from django.db import migrations, models
from django.db.models import F, Q

COLUMN = '"orders_order" ADD COLUMN "credit_taken_cny"'


def credit_taken_add(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"ALTER TABLE {COLUMN} decimal NOT NULL DEFAULT 0")
    else:  # as AddField does on PostgreSQL: no rewrite for a constant default, which is dropped then
        schema_editor.execute(f"ALTER TABLE {COLUMN} numeric(14, 2) DEFAULT 0 NOT NULL")
        schema_editor.execute('ALTER TABLE "orders_order" ALTER COLUMN "credit_taken_cny" DROP DEFAULT')


def credit_taken_drop(apps, schema_editor):
    schema_editor.execute('ALTER TABLE "orders_order" DROP COLUMN "credit_taken_cny"')


def credit_taken_fill(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Order.objects.filter(Q(payment_method="credit") | Q(credit_outstanding_cny__gt=0)).update(
        credit_taken_cny=F("paid_cny")
    )


class Migration(migrations.Migration):
    dependencies = [("orders", "0013_product_version")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="order",
                    name="credit_taken_cny",
                    field=models.DecimalField(
                        decimal_places=2,
                        default=0,
                        editable=False,
                        help_text="What of the order went on the customer's account; the rest was paid at the time.",
                        max_digits=14,
                        verbose_name="taken on credit",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(credit_taken_add, credit_taken_drop)],
        ),
        migrations.RunPython(credit_taken_fill, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(("credit_outstanding_cny__lte", models.F("credit_taken_cny")))
                & models.Q(("credit_taken_cny__lte", models.F("paid_cny"))),
                name="order_credit_within_taken",
            ),
        ),
    ]
