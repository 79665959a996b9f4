"""What an exchange sent back to the customer (models.py, AfterSale.replacement_*): added blank, nothing
to fill in, as no after-sale recorded it before."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0011_order_numbers_as_excel_shows_them'),
    ]

    operations = [
        migrations.AddField(
            model_name='aftersale',
            name='replacement_carrier',
            field=models.CharField(blank=True, max_length=30, verbose_name='replacement carrier'),
        ),
        migrations.AddField(
            model_name='aftersale',
            name='replacement_item',
            field=models.CharField(blank=True, help_text='What was sent in exchange: the product and its variant.', max_length=200, verbose_name='replacement item'),
        ),
        migrations.AddField(
            model_name='aftersale',
            name='replacement_sku',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='orders.sku', verbose_name='replacement SKU'),
        ),
        migrations.AddField(
            model_name='aftersale',
            name='replacement_tracking_no',
            field=models.CharField(blank=True, max_length=40, verbose_name='replacement tracking number'),
        ),
    ]
