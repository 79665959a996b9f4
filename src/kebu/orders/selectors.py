"""Every read of orders, after-sales, products and credit that a view, the API or an export shares.

An order is visible exactly when its customer is (``customer_visible_queryset``): the rule stays in one
place, and an id someone may not see answers ``NotFound``, like a missing one."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, IntegerField, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from kebu.core.errors import NotFound
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_visible_queryset
from kebu.engagement.models import Preference
from kebu.orders.models import (
    CATEGORY_SEPARATOR,
    COUNTED_STATUSES,
    OPEN_AFTERSALE_STATUSES,
    AfterSale,
    AfterSaleStatus,
    Category,
    CreditPayment,
    CustomerCategorySpend,
    Order,
    OrderLine,
    Product,
    Sku,
    Store,
)


def order_visible_queryset(*, user: Any) -> QuerySet[Order]:
    """The orders of the customers ``user`` may see; nothing without ``orders.view_order``."""
    if not (
        getattr(user, "is_authenticated", False) and user.is_active and user.has_perm("orders.view_order")
    ):
        return Order.objects.none()
    if user.is_superuser or user.has_perm("customers.view_all_customers"):
        return Order.objects.all()
    return Order.objects.filter(customer__in=customer_visible_queryset(user=user).values("pk"))


# Sort keys of the order list -> the columns behind them; each has an index and ends on id.
# The order list's pseudo-status for every status that counts as sales (paid, not cancelled), and its
# owner value for the shared pool's customers: what the dashboard's charts link with.
COUNTED = "counted"
POOL = "null"

ORDER_SORTS: dict[str, tuple[str, ...]] = {
    "-time": ("-ordered_at", "-id"),
    "time": ("ordered_at", "id"),
    "-amount": ("-total_cny", "-id"),
    "amount": ("total_cny", "id"),
}


def order_list(*, user: Any, filters: dict[str, Any]) -> QuerySet[Order]:
    """The orders ``user`` may see, filtered by ``filters`` (the list form's cleaned data: ``q`` an order
    number or the customers' search box, ``customer`` an id, ``status`` (or :data:`COUNTED`, the
    statuses that count as sales), ``store``, ``platform``, ``owner`` (the customer's: an id, or
    :data:`POOL`), ``date_from``/``date_to`` as dates in the shop's time zone, ``sort`` a key of
    :data:`ORDER_SORTS`)."""
    from kebu.customers.filters import customer_search
    from kebu.customers.privacy import contact_policy

    qs = order_visible_queryset(user=user).select_related("customer", "store")
    query = (filters.get("q") or "").strip()
    if query:
        # The same restriction as the customers' box for people who see contact details masked.
        customers = customer_search(
            Customer.objects.order_by(), query, by_contact=contact_policy(user).can_see
        )
        qs = qs.filter(Q(order_no=query) | Q(customer__in=customers.values("pk")))
    if filters.get("customer"):
        qs = qs.filter(customer_id=filters["customer"])
    if filters.get("status") == COUNTED:
        qs = qs.filter(status__in=COUNTED_STATUSES)
    elif filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("store") is not None:
        qs = qs.filter(store=filters["store"])
    if filters.get("platform"):
        qs = qs.filter(store__platform=filters["platform"])
    if filters.get("owner") == POOL:
        qs = qs.filter(customer__owner__isnull=True)
    elif filters.get("owner"):
        qs = qs.filter(customer__owner_id=filters["owner"])
    if filters.get("date_from"):
        qs = qs.filter(ordered_at__gte=_day_start(filters["date_from"]))
    if filters.get("date_to"):
        qs = qs.filter(ordered_at__lt=_day_start(filters["date_to"] + timedelta(days=1)))
    return qs.order_by(*ORDER_SORTS.get(filters.get("sort") or "-time", ORDER_SORTS["-time"]))


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def order_get_for_actor(*, actor: Any, order_id: Any) -> Order:
    try:
        return (
            order_visible_queryset(user=actor)
            .select_related("customer", "store", "created_by")
            .prefetch_related("lines")
            .get(pk=int(order_id))
        )
    except (Order.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc


def aftersale_visible_queryset(*, user: Any) -> QuerySet[AfterSale]:
    if not (
        getattr(user, "is_authenticated", False) and user.is_active and user.has_perm("orders.view_aftersale")
    ):
        return AfterSale.objects.none()
    if user.is_superuser or user.has_perm("customers.view_all_customers"):
        return AfterSale.objects.all()
    return AfterSale.objects.filter(customer__in=customer_visible_queryset(user=user).values("pk"))


def order_open_aftersales(*, actor: Any, order: Order) -> list[AfterSale]:
    """The after-sales of ``order`` still in progress (requested, approved, received) that ``actor`` may
    see, oldest first: what a complaint opened about the order is told of and may be linked to."""
    return list(
        aftersale_visible_queryset(user=actor)
        .filter(order=order, status__in=OPEN_AFTERSALE_STATUSES)
        .order_by("requested_at", "id")
    )


def aftersale_list(*, user: Any, filters: dict[str, Any] | None) -> QuerySet[AfterSale]:
    """The after-sales list: open requests by default (the oldest waiting longest first), ``all``, or
    one status, then the settled ones newest first; ``kind`` narrows it. ``None`` (an invalid filter)
    gives nothing rather than everything."""
    if filters is None:
        return AfterSale.objects.none()
    # The SKU a completed exchange sent, shown beside it.
    qs = aftersale_visible_queryset(user=user).select_related("order", "customer", "replacement_sku")
    status = filters.get("status") or ""
    if not status:
        qs = qs.filter(status__in=OPEN_AFTERSALE_STATUSES)
    elif status != "all":
        qs = qs.filter(status=status)
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if status in ("", *OPEN_AFTERSALE_STATUSES):
        return qs.order_by("requested_at", "id")
    return qs.order_by("-requested_at", "-id")


def aftersale_refund_totals(aftersales: QuerySet[AfterSale]) -> dict[str, Decimal]:
    """What ``aftersales`` (a filtered list) come to, in one query: ``refunded``, by those completed,
    and ``awaiting``, asked by those still open. A rejected or withdrawn request refunds nothing."""
    totals = aftersales.order_by().aggregate(
        refunded=Sum("amount_cny", filter=Q(status=AfterSaleStatus.COMPLETED)),
        awaiting=Sum("amount_cny", filter=Q(status__in=OPEN_AFTERSALE_STATUSES)),
    )
    return {key: value or Decimal("0.00") for key, value in totals.items()}


def aftersale_get_for_actor(*, actor: Any, aftersale_id: Any) -> AfterSale:
    try:
        return (
            aftersale_visible_queryset(user=actor)
            .select_related("order", "customer", "created_by", "replacement_sku")
            .prefetch_related("lines__line")
            .get(pk=int(aftersale_id))
        )
    except (AfterSale.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc


def customer_orders(*, actor: Any, customer: Customer) -> QuerySet[Order]:
    """One customer's orders, newest first (the customer page's purchase history)."""
    return (
        order_visible_queryset(user=actor)
        .filter(customer=customer)
        .select_related("store")
        .prefetch_related("lines")
        .order_by("-ordered_at", "-id")
    )


def customer_purchase_totals(*, customer: Customer) -> dict[str, Any]:
    """Totals of the counted orders of one customer, straight from the orders (the page shows them beside
    the kept figures)."""
    return Order.objects.filter(customer=customer, status__in=COUNTED_STATUSES).aggregate(
        orders=Count("id"),
        paid=Sum("paid_cny"),
        refunded=Sum("refunded_cny"),
        first=Min("ordered_at"),
        last=Max("ordered_at"),
    )


def store_list(*, user: Any) -> QuerySet[Store]:
    """Every store, in the shop's order (position, name), each with ``order_count``: the orders in it
    that ``user`` may see, so a sales clerk's page counts their own customers' orders, not the shop's."""
    counts = (
        order_visible_queryset(user=user)
        .filter(store=OuterRef("pk"))
        .order_by()
        .values("store")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Store.objects.annotate(
        order_count=Coalesce(Subquery(counts, output_field=IntegerField()), 0)
    ).order_by("position", "name")


def category_list() -> QuerySet[Category]:
    """The category tree in path order, each with ``in_use``: whether a subcategory, a product, an order
    line, a customer's spend or a customer's favourites name it. The page offers to delete only those not
    in use; ``category_delete`` checks again, the customers' top category too (not asked here: it has
    no index, and it only ever names a category the customer has spend in)."""
    category = OuterRef("pk")
    return Category.objects.annotate(
        in_use=Exists(Category.objects.filter(parent=category))
        | Exists(Product.objects.filter(category=category))
        | Exists(OrderLine.objects.filter(root_category=category))
        | Exists(CustomerCategorySpend.objects.filter(category=category))
        | Exists(Preference.categories.through.objects.filter(category=category))
    ).order_by("path")


def product_list(*, active_only: bool = False) -> QuerySet[Product]:
    qs = Product.objects.select_related("category", "brand").prefetch_related("skus").order_by("name", "id")
    return qs.filter(is_active=True) if active_only else qs


def product_search(*, filters: dict[str, Any]) -> QuerySet[Product]:
    """The catalogue as the products page filters it (``ProductFilterForm``'s cleaned data): ``q`` a name
    or the start of a SKU code, ``category`` with everything under it, ``active`` "yes" or "no"."""
    qs = product_list()
    query = (filters.get("q") or "").strip()
    if query:
        qs = qs.filter(
            Q(name__icontains=query)
            | Q(pk__in=Sku.objects.filter(code__istartswith=query).values("product_id"))
        )
    if (category := filters.get("category")) is not None:
        qs = qs.filter(
            Q(category=category) | Q(category__path__startswith=category.path + CATEGORY_SEPARATOR)
        )
    if filters.get("active"):
        qs = qs.filter(is_active=filters["active"] == "yes")
    return qs


def sku_search(*, query: str, limit: int = 20) -> list[Sku]:
    """SKUs on sale whose code or product name starts with ``query``, for the order form."""
    query = query.strip()
    if not query:
        return []
    return list(
        Sku.objects.filter(is_active=True)
        .filter(Q(code__istartswith=query) | Q(product__name__icontains=query))
        .select_related("product")
        .order_by("code")[:limit]
    )


def credit_overdue_list(*, user: Any, today: date | None = None) -> list[dict[str, Any]]:
    """Customers with credit orders past their due date: how much is overdue, since when, and the
    number of days; most days overdue first. Only customers ``user`` may see."""
    today = today or timezone.localdate()
    grouped = (
        order_visible_queryset(user=user)
        .filter(credit_outstanding_cny__gt=0, credit_due_date__lt=today)
        .values("customer_id")
        .annotate(
            overdue=Sum("credit_outstanding_cny"), oldest_due=Min("credit_due_date"), orders=Count("id")
        )
        .order_by("oldest_due", "customer_id")
    )
    rows = list(grouped)
    # With their owner: whose customer to chase is the first thing the list is read for.
    customers = Customer.objects.select_related("owner").in_bulk([r["customer_id"] for r in rows])
    return [
        {
            "customer": customers[r["customer_id"]],
            "overdue_cny": Decimal(r["overdue"]).quantize(Decimal("0.01")),
            "oldest_due": r["oldest_due"],
            "days_overdue": (today - r["oldest_due"]).days,
            "orders": r["orders"],
        }
        for r in rows
    ]


def credit_payments(*, actor: Any, customer: Customer) -> QuerySet[CreditPayment]:
    if not actor.has_perm("orders.view_creditpayment"):
        return CreditPayment.objects.none()
    return CreditPayment.objects.filter(customer=customer).select_related("created_by")
