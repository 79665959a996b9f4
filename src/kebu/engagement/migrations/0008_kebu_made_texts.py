"""Texts Kebu made, shown in each reader's language (``kebu.engagement.titles``).

The at-risk follow-ups made before keep their parts from here on: each carries the key ``at_risk:…``
and was titled by one fixed sentence, in English or in Chinese, so a row with that key and exactly that
title is Kebu's sentence, not a person's words, and reads in each reader's language. Any other title is
left as it is. The seeded plans' names need no rewriting: a name equal to its default, in either
language, is recognised when shown. Backwards, the parts are dropped and the stored titles stay."""

from django.db import migrations, models

AT_RISK_PREFIX = "at_risk:"
# The title, as the insights service wrote it in each language (msgid and its zh-Hans translation).
AT_RISK_TITLES = {"Valuable customer at risk of leaving: get in touch", "高价值客户有流失风险：请尽快联系"}
AT_RISK_PARTS = {"kind": "at_risk"}


def forwards(apps, schema_editor):
    FollowUp = apps.get_model("engagement", "FollowUp")
    rows = FollowUp.objects.filter(key__startswith=AT_RISK_PREFIX, title__in=AT_RISK_TITLES)
    for pk, parts in rows.values_list("pk", "title_parts").iterator():
        if not parts:
            FollowUp.objects.filter(pk=pk).update(title_parts=AT_RISK_PARTS)


def backwards(apps, schema_editor):
    FollowUp = apps.get_model("engagement", "FollowUp")
    rows = FollowUp.objects.filter(key__startswith=AT_RISK_PREFIX)
    for pk, parts in rows.values_list("pk", "title_parts").iterator():
        if parts == AT_RISK_PARTS:
            FollowUp.objects.filter(pk=pk).update(title_parts={})


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0007_followup_title_parts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="followupplan",
            name="name",
            field=models.CharField(
                help_text=(
                    "A plan Kebu made is shown by its name in each reader's language until you rename it; "
                    "then as you wrote it."
                ),
                max_length=80,
                verbose_name="name",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
