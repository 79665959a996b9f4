"""What of a refund cleared what was still owed on its order on credit (AfterSale.credit_cleared_cny), so
that the order page can say what of it is to be paid back to the customer. Refunds completed before it
start at nought: what each cancelled was not kept, and reading it back from what is owed now would guess."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0014_order_credit_taken")]

    operations = [
        migrations.AddField(
            model_name="aftersale",
            name="credit_cleared_cny",
            field=models.DecimalField(
                decimal_places=2,
                default=0,
                editable=False,
                help_text="What of the refund cancelled what was still owed on the order (credit).",
                max_digits=14,
                verbose_name="cleared what was owed",
            ),
        ),
        migrations.AddConstraint(
            model_name="aftersale",
            constraint=models.CheckConstraint(
                condition=models.Q(("credit_cleared_cny__gte", 0))
                & models.Q(("credit_cleared_cny__lte", models.F("amount_cny"))),
                name="aftersale_credit_cleared_within_amount",
            ),
        ),
    ]
