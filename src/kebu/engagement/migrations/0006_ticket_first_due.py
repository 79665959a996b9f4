"""The resolution due time a ticket was opened with, kept apart from ``due_at`` (which a reopen moves), so
that the SLA figures measure a reopened ticket against the time it was first due. Existing tickets take
their ``due_at``: for one never reopened that is the time it was opened with."""

from django.db import migrations, models
from django.db.models import F


def first_due_fill(apps, schema_editor):
    Ticket = apps.get_model("engagement", "Ticket")
    Ticket.objects.filter(first_due_at__isnull=True).update(first_due_at=F("due_at"))


class Migration(migrations.Migration):
    dependencies = [("engagement", "0005_tickets_feedback_indexes")]

    operations = [
        migrations.AddField(
            model_name="ticket",
            name="first_due_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="original resolution due"
            ),
        ),
        migrations.RunPython(first_due_fill, migrations.RunPython.noop, elidable=True),
    ]
