"""Every read of tickets that the pages, the API and the figures share. Visibility comes first: a ticket
is seen when its customer is, by its assignee, and by everyone with ``engagement.view_all_tickets``
(``engagement.access``); nothing without ``engagement.view_ticket``. One ticket is fetched with
``ticket_get_for_actor``, which answers ``NotFound`` alike for a missing and an unseen ticket."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from math import ceil
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from kebu.core.errors import NotFound
from kebu.customers.models import Customer
from kebu.engagement.access import VIEW_ALL_TICKETS, of_visible_customers_or_assigned
from kebu.engagement.models import (
    OPEN_TICKET_STATUSES,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketStatus,
)
from kebu.orders.models import (
    COUNTED_STATUSES,
    AfterSale,
    AfterSaleKind,
    AfterSaleReason,
    Order,
    OrderLine,
    Product,
)

VIEW_TICKET = "engagement.view_ticket"
WORK_TICKETS = "engagement.change_ticket"

# The queue tabs of the ticket list, each read off an index: the open ones off the partial indexes on
# open tickets (ticket_queue: assignee then due time; ticket_open_due: due time), "all" off ticket_opened.
TABS = ("mine", "unassigned", "open", "overdue", "all")
# A figures range is at most a year: the durations are read as rows (see ``ticket_figures``).
FIGURES_MAX_DAYS = 366


def _can(user: Any, perm: str) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.has_perm(perm))


def ticket_visible_queryset(*, user: Any) -> QuerySet[Ticket]:
    """The tickets ``user`` may see."""
    if not _can(user, VIEW_TICKET):
        return Ticket.objects.none()
    if user.is_superuser or user.has_perm(VIEW_ALL_TICKETS):
        return Ticket.objects.all()
    return of_visible_customers_or_assigned(Ticket.objects.all(), user=user)


def ticket_get_for_actor(*, actor: Any, ticket_id: Any) -> Ticket:
    """One ticket with its customer, order, lines and after-sales, or ``NotFound``."""
    try:
        return (
            ticket_visible_queryset(user=actor)
            .select_related("customer", "customer__owner", "assignee", "order", "order__store", "created_by")
            .prefetch_related("lines", Prefetch("aftersales", queryset=AfterSale.objects.order_by("id")))
            .get(pk=int(ticket_id))
        )
    except (Ticket.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc


def ticket_history(*, ticket: Ticket) -> list[TicketEvent]:
    """The ticket's events, oldest first; a status step carries its statuses' names as ``from_label``
    and ``to_label``."""
    events = list(
        TicketEvent.objects.filter(ticket=ticket).select_related("actor").order_by("created_at", "id")
    )
    names = dict(TicketStatus.choices)
    for event in events:
        setattr(event, "from_label", names.get(event.from_value, event.from_value))  # noqa: B010
        setattr(event, "to_label", names.get(event.to_value, event.to_value))  # noqa: B010
    return events


def ticket_list(
    *, user: Any, tab: str, filters: dict[str, Any] | None = None, now: datetime | None = None
) -> QuerySet[Ticket]:
    """The tickets of one tab, filtered by ``filters`` (``status``, ``category``, ``priority``, an
    ``assignee`` user or id, ``customer`` id, ``order`` id):

    - ``mine``: open and assigned to ``user``, the soonest due first;
    - ``unassigned``: open and assigned to nobody, the soonest due first;
    - ``open``: every open ticket, the soonest due first;
    - ``overdue``: open and past the resolution due time, the longest overdue first;
    - ``all``: every ticket, the newest first.
    """
    filters = filters or {}
    now = now or timezone.now()
    qs = ticket_visible_queryset(user=user).select_related("customer", "assignee", "order")
    if tab != "all":
        qs = qs.filter(status__in=OPEN_TICKET_STATUSES)
    if tab == "mine":
        qs = qs.filter(assignee=user)
    elif tab == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif tab == "overdue":
        qs = qs.filter(due_at__lt=now)
    for key in ("status", "category", "priority", "kind"):
        if filters.get(key):
            qs = qs.filter(**{key: filters[key]})
    if filters.get("assignee"):
        qs = qs.filter(assignee=filters["assignee"])
    if filters.get("customer"):
        qs = qs.filter(customer_id=filters["customer"])
    if filters.get("order"):
        qs = qs.filter(order_id=filters["order"])
    if tab == "all":
        return qs.order_by("-opened_at", "-id")
    return qs.order_by("due_at", "id")


def ticket_tab_counts(*, user: Any, now: datetime | None = None) -> dict[str, int]:
    """How many open tickets each queue tab holds (one query over the open tickets' partial index)."""
    now = now or timezone.now()
    counts = (
        ticket_visible_queryset(user=user)
        .filter(status__in=OPEN_TICKET_STATUSES)
        .aggregate(
            open=Count("id"),
            mine=Count("id", filter=Q(assignee=user) if getattr(user, "pk", None) else Q(pk__in=[])),
            unassigned=Count("id", filter=Q(assignee__isnull=True)),
            overdue=Count("id", filter=Q(due_at__lt=now)),
        )
    )
    return {key: value or 0 for key, value in counts.items()}


def customer_tickets(*, actor: Any, customer: Customer, recent: int = 5) -> dict[str, list[Ticket]]:
    """A customer's open tickets (all of them, the soonest due first) and the latest closed ones."""
    qs = ticket_visible_queryset(user=actor).filter(customer=customer).select_related("assignee", "order")
    return {
        "open": list(qs.filter(status__in=OPEN_TICKET_STATUSES).order_by("due_at", "id")[:50]),
        "recent": list(qs.exclude(status__in=OPEN_TICKET_STATUSES).order_by("-opened_at", "-id")[:recent]),
    }


def ticket_assignees() -> QuerySet[Any]:
    """Active colleagues who may work tickets: those a ticket may be assigned to."""
    return (
        get_user_model()
        ._default_manager.with_perm(
            WORK_TICKETS,
            is_active=True,
            include_superusers=True,
            backend="django.contrib.auth.backends.ModelBackend",
        )
        .order_by("username")
    )


def ticket_for_aftersale(*, actor: Any, ticket_id: Any, order: Order) -> Ticket | None:
    """The ticket an after-sale is raised from (``?ticket=<id>`` on the after-sale form): ``None`` when
    none is named; ``NotFound`` when it is not visible or not about ``order``."""
    if ticket_id in (None, ""):
        return None
    ticket = ticket_get_for_actor(actor=actor, ticket_id=ticket_id)
    if ticket.order_id != order.pk:
        raise NotFound()
    return ticket


# A complaint's category → the after-sale reason it most likely is; the clerk may change it.
_AFTERSALE_REASONS = {
    "quality": AfterSaleReason.QUALITY,
    "logistics": AfterSaleReason.DAMAGED,
    "price": AfterSaleReason.PRICE,
}


def ticket_aftersale_initial(*, ticket: Ticket) -> dict[str, Any]:
    """What the after-sale form starts with when raised from ``ticket``: its lines (all of each line),
    a reason from its category and its subject as the details."""
    initial: dict[str, Any] = {
        "kind": AfterSaleKind.RETURN if ticket.lines.all() else AfterSaleKind.REFUND,
        "reason": _AFTERSALE_REASONS.get(ticket.category, AfterSaleReason.OTHER),
        "reason_detail": f"{ticket.number} {ticket.subject}"[:500],
    }
    for line in ticket.lines.all():
        initial[f"line_{line.pk}_quantity"] = line.quantity - line.returned_quantity
    return initial


# --- figures ---------------------------------------------------------------------------------------------


@dataclass
class DurationStats:
    """Durations in hours: how many, the median and the 90th percentile (nearest rank)."""

    count: int = 0
    median_hours: Decimal | None = None
    p90_hours: Decimal | None = None


@dataclass
class SlaShare:
    """Of the tickets whose due time has come (or that were answered or resolved already), how many
    made it in time."""

    within: int = 0
    due: int = 0

    @property
    def percent(self) -> Decimal | None:
        if not self.due:
            return None
        return (Decimal(100 * self.within) / self.due).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class RateRow:
    key: Any
    label: str
    orders: int
    complaints: int

    @property
    def percent(self) -> Decimal:
        return (Decimal(100 * self.complaints) / self.orders).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class TicketFigures:
    date_from: date
    date_to: date
    min_orders: int
    opened: int = 0
    first_response: DurationStats = field(default_factory=DurationStats)
    resolution: DurationStats = field(default_factory=DurationStats)
    first_response_sla: SlaShare = field(default_factory=SlaShare)
    resolution_sla: SlaShare = field(default_factory=SlaShare)
    per_assignee: list[dict[str, Any]] = field(default_factory=list)
    per_product: list[RateRow] = field(default_factory=list)
    per_carrier: list[RateRow] = field(default_factory=list)


def percentile(sorted_values: list[Decimal], fraction: Decimal) -> Decimal | None:
    """The nearest-rank percentile: the value at rank ⌈fraction·n⌉ (so the median of 1, 2, 3, 4 is 2).
    It is always one of the values, which makes the figures checkable by hand."""
    if not sorted_values:
        return None
    rank = max(1, ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _hours(delta: timedelta) -> Decimal:
    return (Decimal(delta.total_seconds()) / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _stats(durations: list[Decimal]) -> DurationStats:
    durations.sort()
    return DurationStats(
        count=len(durations),
        median_hours=percentile(durations, Decimal("0.5")),
        p90_hours=percentile(durations, Decimal("0.9")),
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def ticket_figures(
    *, date_from: date, date_to: date, min_orders: int = 10, now: datetime | None = None, top: int = 20
) -> TicketFigures:
    """The service figures for the tickets opened (and the orders placed) from ``date_from`` to
    ``date_to``, both days included, in the shop's time zone. For those who see every ticket.

    - First-response and resolution times (median, p90): the range's tickets are read as five timestamps
      each and the percentiles taken in Python. SQLite has no ``percentile_cont``, and a year of a shop's
      tickets is thousands of rows, so one bounded query (the range is at most a year, read off the
      ``ticket_opened`` index) is both portable and fast. Resolution time runs to the latest resolution.
    - Answered or resolved within the SLA: of the tickets answered/resolved or past their due time. The
      resolution is measured against the due time the ticket was opened with (``first_due_at``), as its
      resolution time runs from ``opened_at``: a reopen moves the queue's ``due_at``, not the SLA.
    - Open and overdue tickets per assignee: now, whatever the range.
    - Complaint rate per product: of the paid orders placed in the range that contain the product, those
      with a complaint about the product: one naming a line of it, or one naming no line at all (then it
      is about every product of its order). Per carrier: of the orders placed in the range and shipped by
      the carrier, those with a complaint. Both count orders, not tickets, so two complaints about one
      order count once and a rate never passes 100 %. Counted in SQL; only products and carriers with at
      least ``min_orders`` orders are ranked, so one order with one complaint does not top the list."""
    now = now or timezone.now()
    if date_to < date_from:
        date_from, date_to = date_to, date_from
    date_from = max(date_from, date_to - timedelta(days=FIGURES_MAX_DAYS - 1))
    start, end = _day_start(date_from), _day_start(date_to + timedelta(days=1))
    figures = TicketFigures(date_from=date_from, date_to=date_to, min_orders=min_orders)

    rows = Ticket.objects.filter(opened_at__gte=start, opened_at__lt=end).values_list(
        "opened_at", "first_responded_at", "first_response_due_at", "resolved_at", "first_due_at", "due_at"
    )
    first: list[Decimal] = []
    resolved: list[Decimal] = []
    for opened_at, responded_at, response_due, resolved_at, first_due_at, due_at in rows:
        figures.opened += 1
        if responded_at is not None:
            first.append(_hours(responded_at - opened_at))
        if responded_at is not None or response_due <= now:
            figures.first_response_sla.due += 1
            figures.first_response_sla.within += int(
                responded_at is not None and responded_at <= response_due
            )
        if resolved_at is not None:
            resolved.append(_hours(resolved_at - opened_at))
        sla_due = first_due_at or due_at  # rows inserted without it (the demo) were never reopened
        if resolved_at is not None or sla_due <= now:
            figures.resolution_sla.due += 1
            figures.resolution_sla.within += int(resolved_at is not None and resolved_at <= sla_due)
    figures.first_response = _stats(first)
    figures.resolution = _stats(resolved)

    per_assignee = list(
        Ticket.objects.filter(status__in=OPEN_TICKET_STATUSES)
        .values("assignee")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)))
        .order_by("-overdue", "-open", "assignee")
    )
    people = get_user_model()._default_manager.in_bulk([r["assignee"] for r in per_assignee if r["assignee"]])
    figures.per_assignee = [{**row, "user": people.get(row["assignee"])} for row in per_assignee]

    orders = Order.objects.filter(ordered_at__gte=start, ordered_at__lt=end, status__in=COUNTED_STATUSES)
    product_orders = dict(
        OrderLine.objects.filter(order__in=orders.values("pk"), product__isnull=False)
        .values("product")
        .annotate(n=Count("order", distinct=True))
        .filter(n__gte=min_orders)
        .values_list("product", "n")
    )
    complaints = Ticket.objects.filter(kind=TicketKind.COMPLAINT)
    about_line = complaints.filter(lines=OuterRef("pk"))
    about_whole_order = complaints.filter(order=OuterRef("order"), lines__isnull=True)
    product_complaints = dict(
        OrderLine.objects.filter(order__in=orders.values("pk"), product__in=list(product_orders))
        .filter(Exists(about_line) | Exists(about_whole_order))
        .values("product")
        .annotate(n=Count("order", distinct=True))
        .values_list("product", "n")
    )
    names = dict(Product.objects.filter(pk__in=list(product_orders)).values_list("pk", "name"))
    figures.per_product = _ranked(
        [
            RateRow(pk, names.get(pk, str(pk)), n, product_complaints.get(pk, 0))
            for pk, n in product_orders.items()
        ],
        top,
    )

    shipped = orders.filter(shipped_at__isnull=False).exclude(carrier="")
    carrier_orders = dict(
        shipped.values("carrier")
        .annotate(n=Count("id"))
        .filter(n__gte=min_orders)
        .values_list("carrier", "n")
    )
    carrier_complaints = dict(
        Ticket.objects.filter(kind=TicketKind.COMPLAINT, order__in=shipped.values("pk"))
        .values("order__carrier")
        .annotate(n=Count("order", distinct=True))
        .values_list("order__carrier", "n")
    )
    figures.per_carrier = _ranked(
        [RateRow(name, name, n, carrier_complaints.get(name, 0)) for name, n in carrier_orders.items()], top
    )
    return figures


def _ranked(rows: list[RateRow], top: int) -> list[RateRow]:
    rows.sort(key=lambda r: (-r.complaints / r.orders, -r.complaints, -r.orders, str(r.label)))
    return rows[:top]
