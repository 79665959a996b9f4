"""A customer's preferences, in two parts that are never mixed: what they told the shop (``Preference``,
:func:`preference_for_actor`) and what their orders suggest (:func:`preferences_inferred`, computed on
each read from the orders that count, never stored)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import F, Prefetch, Sum
from django.utils import timezone

from kebu.customers.models import Customer
from kebu.engagement.access import of_visible_customers
from kebu.engagement.models import Preference, PriceBand
from kebu.orders.models import COUNTED_STATUSES, Brand, Category, Order, OrderLine, Sku

VIEW_PREFERENCE = "engagement.view_preference"
# Below this many orders a "favourite" is one purchase: the card says so instead of guessing.
MIN_ORDERS = 2
TOP = 3
# The latest orders and lines read for the times and the price band; a wholesaler's thousandth order
# says nothing new about when they buy.
ORDERS_READ = 500
LINES_READ = 2000


def preference_for_actor(*, actor: Any, customer: Customer) -> Preference | None:
    """What ``customer`` told the shop, if anything and if ``actor`` may read preferences of this
    customer (``view_preference`` and the customer visible); None otherwise."""
    if not (
        getattr(actor, "is_authenticated", False) and actor.is_active and actor.has_perm(VIEW_PREFERENCE)
    ):
        return None
    return (
        of_visible_customers(Preference.objects.all(), user=actor)
        .filter(customer=customer)
        .select_related("updated_by")
        .prefetch_related(
            Prefetch("categories", queryset=Category.objects.order_by("path")),
            Prefetch("brands", queryset=Brand.objects.order_by("name")),
        )
        .first()
    )


@dataclass(frozen=True)
class Ranked:
    label: str
    amount: Decimal | int  # spend (¥) for categories and brands, pieces for colours and sizes


@dataclass(frozen=True)
class InferredPreferences:
    order_count: int
    enough: bool  # at least MIN_ORDERS: otherwise nothing below is filled in
    categories: list[Ranked] = field(default_factory=list)
    brands: list[Ranked] = field(default_factory=list)
    colours: list[Ranked] = field(default_factory=list)
    sizes: list[Ranked] = field(default_factory=list)
    price_band: str = ""  # a PriceBand value, "" when the catalogue has no prices to compare with
    typical_unit_price: Decimal | None = None
    usual_hour: int | None = None  # 0–23, shop time
    usual_hour_orders: int = 0
    usual_weekday: int | None = None  # 0 Monday … 6 Sunday, shop time
    usual_weekday_orders: int = 0

    @property
    def price_band_label(self) -> str:
        return str(PriceBand(self.price_band).label) if self.price_band else ""


def _top_spend(lines: Any, key: str, model: Any) -> list[Ranked]:
    rows = (
        lines.exclude(**{key: None})
        .values(key)
        .annotate(spend=Sum(F("amount_cny") - F("refunded_cny")))
        .filter(spend__gt=0)
        .order_by("-spend", key)[:TOP]
    )
    spend = {row[key]: row["spend"] for row in rows}
    names = {obj.pk: str(obj) for obj in model.objects.filter(pk__in=spend)}
    return [
        Ranked(names[pk], Decimal(amount).quantize(Decimal("0.01")))
        for pk, amount in spend.items()
        if pk in names
    ]


def _top_pieces(lines: Any, key: str) -> list[Ranked]:
    rows = (
        lines.exclude(**{key: ""})
        .exclude(**{key: None})
        .values(key)
        .annotate(pieces=Sum(F("quantity") - F("returned_quantity")))
        .filter(pieces__gt=0)
        .order_by("-pieces", key)[:TOP]
    )
    return [Ranked(row[key], int(row["pieces"])) for row in rows]


def _median(values: list[tuple[Decimal, int]]) -> Decimal | None:
    """The quantity-weighted median of (price, quantity)."""
    total = sum(q for _p, q in values)
    if not total:
        return None
    seen = 0
    for price, quantity in sorted(values):
        seen += quantity
        if seen * 2 >= total:
            return price
    return None  # pragma: no cover  (the loop always reaches half)


def catalogue_price_bounds() -> tuple[Decimal, Decimal] | None:
    """Where the shop's SKUs on sale split into thirds by price: below the first bound is this shop's
    budget third, above the second its premium third (of three SKUs, the cheapest is budget and the
    dearest premium). None with fewer than three priced SKUs."""
    skus = Sku.objects.filter(is_active=True, price_cny__gt=0).order_by("price_cny")
    count = skus.count()
    if count < 3:
        return None
    prices = skus.values_list("price_cny", flat=True)
    return prices[-(-count // 3)], prices[-(-2 * count // 3) - 1]


def _band(price: Decimal | None) -> str:
    if price is None:
        return ""
    bounds = catalogue_price_bounds()
    if bounds is None:
        return ""
    low, high = bounds
    if price < low:
        return PriceBand.BUDGET
    if price > high:
        return PriceBand.PREMIUM
    return PriceBand.MID


def _mode(values: list[int]) -> tuple[int | None, int]:
    if not values:
        return None, 0
    # Ties go to the earlier hour or day, so the answer does not change between two page loads.
    value, count = min(Counter(values).items(), key=lambda item: (-item[1], item[0]))
    return (value, count) if count >= MIN_ORDERS else (None, 0)


def preferences_inferred(*, customer: Customer) -> InferredPreferences:
    """What the customer's counted orders (paid, not cancelled) suggest they like: top categories and
    brands by spend net of refunds, top colours and sizes by pieces kept (from the SKUs they bought),
    their price band (the quantity-weighted median unit price they paid, against the thirds of the
    shop's SKU prices), and the hour and weekday they usually order at (shop time). With fewer than
    two counted orders, only the count. The caller checks that the customer may be seen."""
    orders = Order.objects.filter(customer=customer, status__in=COUNTED_STATUSES)
    times = list(orders.order_by("-ordered_at").values_list("ordered_at", flat=True)[:ORDERS_READ])
    count = len(times) if len(times) < ORDERS_READ else orders.count()
    if count < MIN_ORDERS:
        return InferredPreferences(order_count=count, enough=False)
    lines = OrderLine.objects.filter(customer=customer, counted=True)
    prices = [
        (price, quantity)
        for price, quantity in lines.exclude(sku=None)
        .order_by("-id")
        .values_list("unit_price_cny", "quantity")[:LINES_READ]
    ]
    typical = _median(prices)
    local = [timezone.localtime(moment) for moment in times]
    hour, hour_orders = _mode([moment.hour for moment in local])
    weekday, weekday_orders = _mode([moment.weekday() for moment in local])
    return InferredPreferences(
        order_count=count,
        enough=True,
        categories=_top_spend(lines, "product__category", Category),
        brands=_top_spend(lines, "product__brand", Brand),
        colours=_top_pieces(lines, "sku__color"),
        sizes=_top_pieces(lines, "sku__size"),
        price_band=_band(typical),
        typical_unit_price=typical,
        usual_hour=hour,
        usual_hour_orders=hour_orders,
        usual_weekday=weekday,
        usual_weekday_orders=weekday_orders,
    )
