"""The columns a user may show in the customer list, with the sort key behind each (if any), and how the
purchase figures read on a page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from kebu.customers.models import CustomField


@dataclass(frozen=True)
class Column:
    key: str
    label: str | Promise
    sort: str = ""  # a key of filters.ORDERINGS, or "" when the column cannot be sorted
    # The column reads the other way round from its sort key: "days since last order" goes up as the
    # last order goes back.
    inverted: bool = False
    # Amounts and counts are looked at biggest first: the first click sorts them downwards.
    biggest_first: bool = False
    figure: bool = False  # a purchase figure: shown to those who may see orders
    numeric: bool = False  # right-aligned

    @property
    def sort_up(self) -> str:
        """The sort key that shows this column's values going up."""
        if not self.sort:
            return ""
        return "-" + self.sort if self.inverted else self.sort

    @property
    def sort_down(self) -> str:
        if not self.sort:
            return ""
        return self.sort if self.inverted else "-" + self.sort

    @property
    def sort_first(self) -> str:
        """The sort a click on an unsorted column header chooses."""
        return self.sort_down if self.biggest_first else self.sort_up


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
FIGURE_COLUMNS = [
    Column(
        "total_spent_cny", _("Total spent"), "total_spent_cny", biggest_first=True, figure=True, numeric=True
    ),
    Column("order_count", _("Orders"), "order_count", biggest_first=True, figure=True, numeric=True),
    Column(
        "avg_order_cny", _("Average order"), "avg_order_cny", biggest_first=True, figure=True, numeric=True
    ),
    Column("first_order_at", _("First order"), "first_order_at", figure=True),
    Column("last_order_at", _("Last order"), "last_order_at", biggest_first=True, figure=True),
    Column(
        "days_since_last_order",
        _("Days since last order"),
        "last_order_at",
        inverted=True,
        biggest_first=True,
        figure=True,
        numeric=True,
    ),
    Column(
        "purchase_interval_days",
        _("Days between orders"),
        "purchase_interval_days",
        figure=True,
        numeric=True,
    ),
    Column(
        "refund_count", _("Refunded orders"), "refund_count", biggest_first=True, figure=True, numeric=True
    ),
    Column("refund_rate", _("Refund rate"), "refund_rate", biggest_first=True, figure=True, numeric=True),
    Column("top_category", _("Top category"), "top_category", figure=True),
    Column("receivable_cny", _("Owed"), "receivable_cny", biggest_first=True, figure=True, numeric=True),
    Column("credit_limit_cny", _("Credit limit"), figure=True, numeric=True),
]
DEFAULT_COLUMNS = ["customer_no", "name", "phone", "stage", "source", "tags", "owner", "region", "created_at"]


def columns_for(custom_fields: list[CustomField], *, figures: bool = True) -> list[Column]:
    """Every column on offer: the built-in ones, the purchase figures (to those who may see orders) and
    the custom fields."""
    return (
        BUILTIN_COLUMNS
        + (FIGURE_COLUMNS if figures else [])
        + [Column(f"cf_{d.key}", d.label) for d in custom_fields]
    )


def resolve_columns(raw: str, *, custom_fields: list[CustomField], figures: bool = True) -> list[Column]:
    """The columns named in ``raw`` (comma-separated keys), in that order; the defaults if none is valid."""
    available = {c.key: c for c in columns_for(custom_fields, figures=figures)}
    chosen = [available[k] for k in dict.fromkeys(raw.split(",")) if k in available]
    return chosen or [available[k] for k in DEFAULT_COLUMNS]


# --- figures as they read --------------------------------------------------------------------------------


def yuan(amount: Decimal | None) -> str:
    """¥2,000.00: grouped by thousands, two places. Not the locale's number format: Django's zh-Hans
    formats group by nothing, and a merchant's sheet reads ¥2,000.00."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{grouped(abs(amount))}"


def grouped(amount: Decimal) -> str:
    """2,000.00: an amount as ``yuan`` writes it, without the sign ¥, for a message that has its own."""
    return f"{amount:,.2f}"


def percent(rate: Decimal | None) -> str:
    """A rate kept as a fraction (0.1250) as a percentage with one place (12.5%)."""
    if rate is None:
        return ""
    return f"{(rate * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def days_since(moment: datetime | None, *, today: date | None = None) -> int | None:
    """Whole days from ``moment`` to today, both taken as dates in the shop's time zone (an order at
    23:50 was yesterday by 00:10), as the "no order for N days" filter counts them."""
    if moment is None:
        return None
    tz = timezone.get_default_timezone()
    today = today or timezone.localdate(timezone=tz)
    return (today - timezone.localtime(moment, tz).date()).days


def local_time(moment: datetime | None, fmt: str = "%Y-%m-%d") -> str:
    if moment is None:
        return ""
    return timezone.localtime(moment, timezone.get_default_timezone()).strftime(fmt)


def figure_cells(customer: Any, *, today: date) -> dict[str, str]:
    """Each purchase figure of ``customer`` as the list shows it."""
    days = days_since(customer.last_order_at, today=today)
    interval = customer.purchase_interval_days
    return {
        "total_spent_cny": yuan(customer.total_spent_cny),
        "order_count": str(customer.order_count),
        "avg_order_cny": yuan(customer.avg_order_cny),
        "first_order_at": local_time(customer.first_order_at),
        "last_order_at": local_time(customer.last_order_at),
        "days_since_last_order": "" if days is None else str(days),
        "purchase_interval_days": "" if interval is None else f"{interval:.1f}",
        "refund_count": str(customer.refund_count),
        "refund_rate": percent(customer.refund_rate),
        "top_category": str(customer.top_category) if customer.top_category_id else "",
        "receivable_cny": yuan(customer.receivable_cny) if customer.receivable_cny else "",
        "credit_limit_cny": yuan(customer.credit_limit_cny),
    }
