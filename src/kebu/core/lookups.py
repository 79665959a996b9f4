"""A ``prefix`` lookup that an index can serve on both databases.

Django's ``startswith`` becomes ``LIKE 'x%' ESCAPE '\\'`` on SQLite, which SQLite cannot answer from a
BINARY index (its LIKE is case-insensitive), so it scans. Here SQLite gets the equivalent half-open
range, which it answers from any index on the column; PostgreSQL gets ``LIKE`` served by a
``varchar_pattern_ops`` index: Django's own beside a unique column (``customer_no``), the ones the
customers migrations add on PostgreSQL only for the names."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Lookup


@CharField.register_lookup
class Prefix(Lookup):
    lookup_name = "prefix"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        value = str(self.rhs)
        if connection.vendor == "postgresql":
            escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f"{lhs} LIKE %s", [*lhs_params, escaped + "%"]
        upper = _successor(value)
        if upper is None:
            return f"{lhs} >= %s", [*lhs_params, value]
        return f"({lhs} >= %s AND {lhs} < %s)", [*lhs_params, value, *lhs_params, upper]


def _successor(prefix: str) -> str | None:
    """The first string after every string that starts with ``prefix``, in code point order (which is
    SQLite's BINARY order for UTF-8), or None when there is none (the prefix is all U+10FFFF)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = 0xE000 if 0xD800 <= last + 1 <= 0xDFFF else last + 1  # skip surrogates
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None
