"""The sales summary (销售汇总): the merchant's sheet of SUMs by month, by channel and by top category.

What is summed, and when it counts:

- counted orders only (``COUNTED_STATUSES``: paid, or taken on credit, and not cancelled; an order
  refunded in full stays, with nothing left of it);
- each order in the month it was ordered, in the shop's time zone (``settings.TIME_ZONE``), and its
  refunds in that same month, whenever they were paid out: a month's figures are what that month's
  orders came to, and they move when a later refund lands (said on the page);
- gross sales are what was paid, refunds what was refunded, net sales the difference, the average
  order net sales ÷ orders (rounded half up to the fen, as the customers' figures are);
- by top category: the order lines' amounts net of their refunds (a refund that names no line is shared
  by the order's lines, ``aftersales._spread``), per top-level category copied on the line at order
  time. Lines carry neither shipping nor the order's discounts, so these add up to the goods sold, not
  to net sales (also said on the page).

Everything a user sums goes through ``order_visible_queryset``: a sales clerk sees the sums of the orders
of the customers they may see, and nothing without ``orders.view_order``. Months are grouped by the
database (``TruncMonth`` with the shop's zone: ``AT TIME ZONE`` on PostgreSQL, Django's own function on
SQLite), one query per table, however many orders there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, DecimalField, F, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kebu.orders.models import COUNTED_STATUSES, Category, Order, OrderLine, Platform, Store
from kebu.orders.selectors import order_visible_queryset

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MAX_MONTHS = 120
CHANNELS = ("store", "platform")
MONEY = DecimalField(max_digits=20, decimal_places=2)


def _money(value: Any) -> Decimal:
    # SQLite sums decimals as binary floating point; a sum of cents rounded to the cent is exact again.
    return ZERO if value is None else Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class SalesFigures:
    orders: int = 0
    customers: int = 0
    gross_cny: Decimal = ZERO
    refunds_cny: Decimal = ZERO

    @property
    def net_cny(self) -> Decimal:
        return self.gross_cny - self.refunds_cny

    @property
    def avg_order_cny(self) -> Decimal | None:
        if not self.orders:
            return None
        return (self.net_cny / self.orders).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CategoryFigures:
    orders: int = 0
    quantity: int = 0  # units sold, net of units returned
    net_cny: Decimal = ZERO


@dataclass(frozen=True)
class Column:
    """One channel or category of a breakdown: its key in the cells, and its name."""

    key: Any
    label: str


@dataclass
class SalesSummary:
    date_from: date
    date_to: date
    months: list[date]  # the first day of each month, oldest first
    by_month: dict[date, SalesFigures]
    total: SalesFigures
    channel: str  # "store" or "platform"
    channels: list[Column]
    by_channel: dict[tuple[date, Any], SalesFigures]
    channel_totals: dict[Any, SalesFigures]
    categories: list[Column]
    by_category: dict[tuple[date, Any], CategoryFigures]
    category_totals: dict[Any, CategoryFigures]
    category_month_totals: dict[date, CategoryFigures] = field(default_factory=dict)
    category_total: CategoryFigures = field(default_factory=CategoryFigures)


def shop_zone() -> Any:
    return timezone.get_default_timezone()


def month_start(day: date) -> date:
    return day.replace(day=1)


def months_between(first: date, last: date) -> list[date]:
    """The first day of every month from ``first``'s to ``last``'s, both included."""
    months, month = [], month_start(first)
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def default_range(*, today: date | None = None) -> tuple[date, date]:
    """The last 12 months, this one included: from the 1st of the month 11 months ago until today."""
    today = today or timezone.localdate(timezone=shop_zone())
    first = today.replace(day=1)
    for _month in range(11):
        first = (first - timedelta(days=1)).replace(day=1)
    return first, today


def _moment(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=shop_zone())


def sales_orders(*, user: Any, date_from: date, date_to: date) -> QuerySet[Order]:
    """The counted orders ``user`` may see, ordered from ``date_from`` to ``date_to`` (whole days in the
    shop's time zone, both included)."""
    return order_visible_queryset(user=user).filter(
        status__in=COUNTED_STATUSES,
        ordered_at__gte=_moment(date_from),
        ordered_at__lt=_moment(date_to + timedelta(days=1)),
    )


def _month() -> TruncMonth:
    return TruncMonth("ordered_at", tzinfo=shop_zone())


def _order_sums() -> dict[str, Any]:
    return {
        "n_orders": Count("id"),
        "n_customers": Count("customer_id", distinct=True),
        "gross": Sum("paid_cny", output_field=MONEY),
        "refunds": Sum("refunded_cny", output_field=MONEY),
    }


def _figures(row: Mapping[str, Any]) -> SalesFigures:
    return SalesFigures(
        orders=row["n_orders"] or 0,
        customers=row["n_customers"] or 0,
        gross_cny=_money(row["gross"]),
        refunds_cny=_money(row["refunds"]),
    )


def _month_of(value: datetime) -> date:
    return (
        timezone.localtime(value, shop_zone()).date().replace(day=1)
        if timezone.is_aware(value)
        else value.date()
    )


def sales_summary(*, user: Any, date_from: date, date_to: date, channel: str = "store") -> SalesSummary:
    """The sales summary of the orders ``user`` may see from ``date_from`` to ``date_to``: by month, by
    channel (each store, or each platform when ``channel == "platform"``) and by top category."""
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}")
    orders = sales_orders(user=user, date_from=date_from, date_to=date_to).order_by()
    months = months_between(date_from, date_to)

    by_month = {
        _month_of(row["month"]): _figures(row)
        for row in orders.annotate(month=_month()).values("month").annotate(**_order_sums())
    }
    total = _figures(orders.aggregate(**_order_sums()))

    column = "store_id" if channel == "store" else "store__platform"
    by_channel = {
        (_month_of(row["month"]), row[column]): _figures(row)
        for row in orders.annotate(month=_month()).values("month", column).annotate(**_order_sums())
    }
    channel_totals = {row[column]: _figures(row) for row in orders.values(column).annotate(**_order_sums())}
    channels = _channel_columns(channel, channel_totals)

    lines = (
        OrderLine.objects.filter(order__in=orders.values("pk"))
        .annotate(month=TruncMonth("order__ordered_at", tzinfo=shop_zone()))
        .order_by()
    )
    line_sums = {
        "n_orders": Count("order_id", distinct=True),
        "quantity": Sum(F("quantity") - F("returned_quantity")),
        "net": Sum(F("amount_cny") - F("refunded_cny"), output_field=MONEY),
    }
    by_category = {
        (_month_of(row["month"]), row["root_category_id"]): _category_figures(row)
        for row in lines.values("month", "root_category_id").annotate(**line_sums)
    }
    category_totals = {
        row["root_category_id"]: _category_figures(row)
        for row in lines.values("root_category_id").annotate(**line_sums)
    }
    category_month_totals = {
        _month_of(row["month"]): _category_figures(row) for row in lines.values("month").annotate(**line_sums)
    }
    category_total = _category_figures(lines.aggregate(**line_sums))
    return SalesSummary(
        date_from=date_from,
        date_to=date_to,
        months=months,
        by_month=by_month,
        total=total,
        channel=channel,
        channels=channels,
        by_channel=by_channel,
        channel_totals=channel_totals,
        categories=_category_columns(category_totals),
        by_category=by_category,
        category_totals=category_totals,
        category_month_totals=category_month_totals,
        category_total=category_total,
    )


def _category_figures(row: Mapping[str, Any]) -> CategoryFigures:
    return CategoryFigures(
        orders=row["n_orders"] or 0, quantity=row["quantity"] or 0, net_cny=_money(row["net"])
    )


def _channel_columns(channel: str, totals: dict[Any, SalesFigures]) -> list[Column]:
    """The channels that sold anything in the range, biggest net sales first."""
    keys = sorted(totals, key=lambda k: (-totals[k].net_cny, str(k)))
    if channel == "platform":
        return [Column(key, str(Platform(key).label) if key in Platform.values else key) for key in keys]
    stores = Store.objects.in_bulk(keys)
    return [Column(key, stores[key].name) for key in keys if key in stores]


def _category_columns(totals: dict[Any, CategoryFigures]) -> list[Column]:
    """The top categories sold in the range, biggest first; lines without a category last."""
    keys = sorted((k for k in totals if k is not None), key=lambda k: (-totals[k].net_cny, k))
    names = Category.objects.in_bulk(keys)
    columns = [Column(key, names[key].name) for key in keys if key in names]
    if None in totals:
        columns.append(Column(None, str(_("Uncategorised"))))
    return columns


def month_labels(months: Iterable[date]) -> list[str]:
    return [month.strftime("%Y-%m") for month in months]
