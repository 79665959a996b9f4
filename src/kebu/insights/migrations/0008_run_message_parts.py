"""What a run's message is made of, so that it is written in each reader's language when shown
(``kebu.insights.messages``). Runs made before keep the message they were stored with: an empty
``message_parts`` shows ``message`` as it is. They are not rewritten: a page shows only the latest run of
its kind, and the next nightly run replaces it with one that keeps its parts."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0007_products_months"),
    ]

    operations = [
        migrations.AddField(
            model_name="insightrun",
            name="message_parts",
            field=models.JSONField(
                blank=True,
                default=dict,
                editable=False,
                help_text="What the message is written from, so it reads in each reader's language. Empty for a run made before runs kept it.",
                verbose_name="message, as made by the run",
            ),
        ),
    ]
