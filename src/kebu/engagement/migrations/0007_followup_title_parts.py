"""What a reminder's title is made of, so that it is written in each reader's language when shown
(``kebu.engagement.titles``). Reminders made before keep the title they were stored with: an empty
``title_parts`` shows ``title`` as it is."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0006_ticket_first_due"),
    ]

    operations = [
        migrations.AddField(
            model_name="followup",
            name="title_parts",
            field=models.JSONField(
                blank=True,
                default=dict,
                editable=False,
                help_text="What a reminder's title is written from, so it reads in each reader's language. Empty for a follow-up a person wrote.",
                verbose_name="title, as made by a plan",
            ),
        ),
    ]
