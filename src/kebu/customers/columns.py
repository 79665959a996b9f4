"""The columns a user may show in the customer list, with the sort key behind each (if any)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from kebu.customers.models import CustomField


@dataclass(frozen=True)
class Column:
    key: str
    label: str | Promise
    sort: str = ""  # a key of filters.ORDERINGS, or "" when the column cannot be sorted


BUILTIN_COLUMNS = [
    Column("customer_no", _("Customer no."), "customer_no"),
    Column("name", _("Name"), "name"),
    Column("phone", _("Phone")),
    Column("customer_type", _("Type"), "customer_type"),
    Column("stage", _("Stage"), "stage"),
    Column("source", _("Source"), "source"),
    Column("tags", _("Tags")),
    Column("owner", _("Owner"), "owner"),
    Column("region", _("Region"), "city"),
    Column("email", _("Email")),
    Column("birthday", _("Birthday"), "birthday"),
    Column("age", _("Age")),
    Column("created_at", _("Created"), "created_at"),
    Column("updated_at", _("Updated"), "updated_at"),
]
DEFAULT_COLUMNS = ["customer_no", "name", "phone", "stage", "source", "tags", "owner", "region", "created_at"]


def columns_for(custom_fields: list[CustomField]) -> list[Column]:
    return BUILTIN_COLUMNS + [Column(f"cf_{d.key}", d.label) for d in custom_fields]


def resolve_columns(raw: str, *, custom_fields: list[CustomField]) -> list[Column]:
    """The columns named in ``raw`` (comma-separated keys), in that order; the defaults if none is valid."""
    available = {c.key: c for c in columns_for(custom_fields)}
    chosen = [available[k] for k in dict.fromkeys(raw.split(",")) if k in available]
    return chosen or [available[k] for k in DEFAULT_COLUMNS]
