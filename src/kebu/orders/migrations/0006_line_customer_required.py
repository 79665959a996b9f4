"""The order line's customer, filled by 0005, required from now on and indexed for the spend rebuild."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0005_line_customer")]

    operations = [
        migrations.AlterField(
            model_name="orderline",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="customers.customer",
            ),
        ),
        migrations.AddIndex(
            model_name="orderline",
            index=models.Index(
                fields=["customer", "root_category", "counted", "amount_cny", "refunded_cny"],
                name="line_customer_spend",
            ),
        ),
    ]
