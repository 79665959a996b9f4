"""Two PostgreSQL-only indexes on the customer table that did nothing another index does not: every
customer written adds an entry to each, which a rebuild of the figures pays 860k times.

- ``cust_no_prefix`` (0002): Django already gives the unique ``customer_no`` its own
  ``varchar_pattern_ops`` index, which serves the same prefix searches.
- The ``varchar_pattern_ops`` index Django adds beside ``email_lookup``'s: a blind index is only ever
  compared whole, which the plain index serves."""

from django.db import migrations


def _email_like_index(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'customers_customer' "
            "AND indexdef LIKE %s",
            ["%(email_lookup varchar_pattern_ops)%"],
        )
        return [row[0] for row in cursor.fetchall()]


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute('DROP INDEX IF EXISTS "cust_no_prefix"')
    for name in _email_like_index(schema_editor):
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        'CREATE INDEX IF NOT EXISTS "cust_no_prefix" ON "customers_customer" '
        '("customer_no" varchar_pattern_ops)'
    )
    if not _email_like_index(schema_editor):
        schema_editor.execute(
            'CREATE INDEX "customers_customer_email_lookup_1186c6fb_like" ON "customers_customer" '
            '("email_lookup" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [("customers", "0009_top_category_unindexed")]

    operations = [migrations.RunPython(drop, create)]
