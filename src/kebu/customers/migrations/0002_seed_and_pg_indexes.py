"""Seed the default source channels, and add the PostgreSQL-only prefix-search indexes.

``varchar_pattern_ops`` indexes let PostgreSQL answer ``LIKE 'zs%'`` under any database collation
(see ``kebu.core.lookups.Prefix``). SQLite answers the same searches from the plain indexes, so
these are created on PostgreSQL only."""

from django.db import migrations

DEFAULT_SOURCES = ["淘宝", "天猫", "京东", "拼多多", "抖音", "微信", "小红书", "线下", "转介绍", "官网", "其他"]
PATTERN_INDEXES = {
    "cust_name_prefix": "name",
    "cust_pinyin_prefix": "name_pinyin",
    "cust_initials_prefix": "name_initials",
    "cust_no_prefix": "customer_no",
}


def seed_sources(apps, schema_editor):
    SourceChannel = apps.get_model("customers", "SourceChannel")
    for position, name in enumerate(DEFAULT_SOURCES):
        SourceChannel.objects.get_or_create(name=name, defaults={"position": position})


def pattern_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for index, column in PATTERN_INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{index}" ON "customers_customer" ("{column}" varchar_pattern_ops)'
        )


def drop_pattern_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for index in PATTERN_INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{index}"')


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [
        migrations.RunPython(seed_sources, migrations.RunPython.noop),
        migrations.RunPython(pattern_indexes, drop_pattern_indexes),
    ]
