"""The staff contact list (/contacts/) reads everyone's records newest first and filters them by channel:
an index for each, so neither sorts the whole table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("engagement", "0002_defaults_and_roles")]

    operations = [
        migrations.AddIndex(
            model_name="contactrecord",
            index=models.Index(fields=["-occurred_at", "-id"], name="contact_recent"),
        ),
        migrations.AddIndex(
            model_name="contactrecord",
            index=models.Index(fields=["channel", "-occurred_at"], name="contact_channel"),
        ),
    ]
