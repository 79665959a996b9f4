"""The customer list as a CSV file: the list's own selector (so its filters and the user's visibility
apply), masked by the same policy as the pages, streamed so a large shop's list never sits in memory.

The spreadsheet work adds xlsx beside it; ``safe_cell`` is the one function both must use."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.templatetags.kebu import phone_display
from kebu.customers.models import Customer
from kebu.customers.privacy import EMAIL, PHONE, TEXT, ContactPolicy, contact_policy
from kebu.customers.selectors import customer_list

BOM = "\ufeff"
CHUNK_ROWS = 500

# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(…), =cmd|…), also
# after leading spaces, which is how some sanitisers were bypassed. A quote in front makes it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
# A value of digits, spaces and one leading sign (a phone such as +86 138 1234 5678, an amount) can
# run nothing, and is written as it is.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9 .]*")


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    head = text.lstrip(" \u3000")
    if head.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(head):
        return "'" + text
    return text


def _phone(policy: ContactPolicy, value: str) -> str:
    return phone_display(value) if policy.can_see else policy.show(PHONE, value)


def _local(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _columns(policy: ContactPolicy) -> list[tuple[str, Callable[[Customer], Any]]]:
    return [
        (_("Customer no."), lambda c: c.customer_no),
        (_("Name"), lambda c: c.name),
        (_("Phone"), lambda c: _phone(policy, c.primary_phone)),
        (_("Email"), lambda c: policy.show(EMAIL, c.email)),
        (_("Type"), lambda c: c.get_customer_type_display()),
        (_("Stage"), lambda c: c.get_stage_display()),
        (_("Source"), lambda c: c.source or ""),
        (_("Tags"), lambda c: "、".join(t.name for t in c.tags.all())),
        (_("Owner"), lambda c: c.owner or ""),
        (_("Province"), lambda c: c.province),
        (_("City"), lambda c: c.city),
        (_("Birthday"), lambda c: c.birthday.isoformat() if c.birthday else ""),
        (_("Notes"), lambda c: policy.show(TEXT, c.notes)),
        (_("Created"), lambda c: _local(c.created_at)),
        (_("Archived"), lambda c: _local(c.archived_at)),
    ]


class _Line:
    """A file-like object that hands back what csv.writer writes, one line at a time."""

    def write(self, value: str) -> str:
        return value


def customer_csv(*, user: Any, filters: Any) -> Iterator[bytes]:
    """The rows of the customer list ``user`` sees with ``filters``, as UTF-8 CSV with a BOM.

    The export is audited (``customer.export``, with the row count) when the last row has gone, or when
    the download stops early, with the rows sent so far."""
    policy = contact_policy(user)
    columns = _columns(policy)
    queryset, filterset = customer_list(user=user, filters=filters)
    writer = csv.writer(_Line())
    rows = 0
    try:
        yield (BOM + writer.writerow([safe_cell(label) for label, _get in columns])).encode("utf-8")
        for customer in queryset.iterator(chunk_size=CHUNK_ROWS):
            yield writer.writerow([safe_cell(get(customer)) for _label, get in columns]).encode("utf-8")
            rows += 1
    finally:
        audit_record(
            action="customer.export",
            actor=user,
            data={
                "rows": rows,
                "masked": policy.masked,
                # What was searched for may be a phone number: the log keeps that a search was made.
                "filters": {k: v for k, v in filterset.data.lists() if k != "q"},
                "searched": bool(filterset.data.get("q")),
                "format": "csv",
            },
        )
