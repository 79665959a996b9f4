import django.db.models.deletion
from django.db import migrations, models

# The top category's own index, dropped by name: AlterField would have SQLite copy the whole customer
# table to drop one index.
INDEX = "customers_customer_top_category_id_c41eab57"


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0008_lunar_birthday_solar"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="customer",
                    name="top_category",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="orders.category",
                        verbose_name="top category",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX "{INDEX}" ON "customers_customer" ("top_category_id")',
                ),
            ],
        ),
    ]
