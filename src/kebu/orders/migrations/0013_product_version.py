"""A version on each product (models.py, Product.version), as customers and orders have, so that two
people editing one product, or a stale API write, no longer overwrite each other. Every existing product
starts at 1 from the column's default: on PostgreSQL adding it rewrites nothing, and nothing is filled in
row by row."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0012_aftersale_replacement")]

    operations = [
        migrations.AddField(
            model_name="product",
            name="version",
            field=models.PositiveIntegerField(default=1, editable=False, verbose_name="version"),
        ),
        migrations.AddConstraint(
            model_name="product",
            constraint=models.CheckConstraint(
                condition=models.Q(("version__gte", 1)), name="product_version_positive"
            ),
        ),
    ]
