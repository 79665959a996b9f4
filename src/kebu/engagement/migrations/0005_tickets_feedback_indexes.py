"""Indexes behind the ticket list's filters over every ticket (status, category, priority, assignee;
newest first) and behind the plain feedback list (newest first)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("engagement", "0004_followups_digest")]

    operations = [
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["status", "-opened_at", "-id"], name="ticket_status"),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["category", "-opened_at", "-id"], name="ticket_category"),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["priority", "-opened_at", "-id"], name="ticket_priority"),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["assignee", "-opened_at", "-id"], name="ticket_assignee"),
        ),
        migrations.AddIndex(
            model_name="feedback",
            index=models.Index(fields=["-reviewed_at", "-id"], name="feedback_reviewed"),
        ),
    ]
