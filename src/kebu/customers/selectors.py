"""Every read of customers that a view, the API or an export shares. Visibility is applied first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from math import ceil
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects
from django.http import QueryDict
from django.utils.translation import gettext as _

from kebu.core.errors import NotFound
from kebu.core.models import ShopSettings
from kebu.core.pagination import COUNT_CAP, ListPage, paginate
from kebu.customers import access
from kebu.customers.events import OWNER_EVENT_KINDS
from kebu.customers.filters import CustomerFilterSet, sort_segments
from kebu.customers.models import Customer, CustomerEvent, CustomerPhone, SavedView, Tag
from kebu.customers.privacy import contact_policy


def customer_visible_queryset(*, user: Any) -> QuerySet[Customer]:
    """The customers ``user`` may see. Every read starts here, so the rule lives in one place:

    - nobody logged out, inactive or without ``view_customer`` sees any;
    - a superuser, or someone with ``view_all_customers`` (admins, analysts, read-only), sees all;
    - anyone else sees the customers they own, their team's if they have ``view_team_customers``
      (managers), and the shared pool (customers without an owner) when the shop has it switched on.

    Permissions are read, never a role's name, so an admin who edits a role changes what it sees."""
    if not access.can(user, access.VIEW):
        return Customer.objects.none()
    if user.is_superuser or user.has_perm(access.VIEW_ALL):
        return Customer.objects.all()
    visible = Q(owner=user)
    if user.team_id is not None and user.has_perm(access.VIEW_TEAM):
        # A subquery, not a join: the list keeps its own ordering and indexes.
        team = get_user_model()._default_manager.filter(team_id=user.team_id).values("pk")
        visible |= Q(owner__in=team)
    if shared_pool_enabled():
        visible |= Q(owner__isnull=True)
    return Customer.objects.filter(visible)


def shared_pool_enabled() -> bool:
    """Whether customers without an owner form a shared pool (公海) that sales staff see and claim."""
    return ShopSettings.read().shared_pool_enabled


def customer_list(
    *, user: Any, filters: dict[str, Any] | None = None
) -> tuple[QuerySet[Customer], CustomerFilterSet]:
    """The customer list for ``user`` with ``filters`` (a query dict) applied, ready to paginate.

    Empty parameters (``?stage=&tag=``, as a form sends them) mean "any". A filter that is still invalid
    (an unknown tag id) gives no rows and ``filterset.errors`` says why: never a silently unfiltered list."""
    filterset = CustomerFilterSet(_without_blanks(filters), queryset=customer_visible_queryset(user=user))
    filterset.search_by_contact = contact_policy(user).can_see
    filterset.figures_allowed = purchases_visible(user=user)
    qs = filterset.qs if filterset.is_valid() else Customer.objects.none()
    qs = qs.select_related("owner", "source", "top_category").prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("name")),
    )
    return qs, filterset


def purchases_visible(*, user: Any) -> bool:
    """Whether ``user`` may see what customers bought: their orders, and the figures computed from them
    (total spent, last order, …) in lists, filters and the API."""
    return bool(
        getattr(user, "is_authenticated", False) and user.is_active and user.has_perm("orders.view_order")
    )


def customer_list_page(qs: QuerySet[Customer], *, sort: str, page: Any, per_page: int) -> ListPage:
    """One page of the customer list in ``sort`` (a key of filters.ORDERINGS), read segment by segment
    (``filters.sort_segments``) so that each read walks an index: the customers with a value in the
    sorted column, then those without. Counted and numbered like ``core.pagination.paginate``."""
    segments = sort_segments(sort)
    if len(segments) == 1:
        return paginate(qs, page=page, per_page=per_page)
    try:
        number = max(1, int(page))
    except (TypeError, ValueError):
        number = 1
    counted = qs.order_by()[: COUNT_CAP + 1].count()
    exact = counted <= COUNT_CAP
    if exact:
        number = min(number, max(1, ceil(counted / per_page)))
    number = min(number, 2**31 // per_page)  # an offset any database takes
    want = per_page + 1
    skip = (number - 1) * per_page
    rows: list[Customer] = []
    # Related rows are fetched once for the whole page, not once per segment.
    lookups = getattr(qs, "_prefetch_related_lookups", ())
    for segment in segments:
        part = qs.prefetch_related(None).filter(segment.condition).order_by(*segment.ordering)
        got = list(part[skip : skip + want - len(rows)])
        if got:
            rows.extend(got)
            skip = 0
        elif skip:
            # The page starts beyond this segment: skip what it holds (at most the offset, counted).
            skip = max(0, skip - part.order_by().count())
        if len(rows) >= want:
            break
    prefetch_related_objects(rows[:per_page], *lookups)
    return ListPage(
        object_list=rows[:per_page],
        number=number,
        per_page=per_page,
        has_next=len(rows) > per_page,
        total=counted if exact else COUNT_CAP,
        total_is_exact=exact,
    )


def _without_blanks(filters: Any) -> QueryDict:
    data = QueryDict(mutable=True)
    if filters is None:
        return data
    pairs = filters.lists() if isinstance(filters, QueryDict) else filters.items()
    for key, values in pairs:
        kept = [v for v in (values if isinstance(values, list | tuple) else [values]) if v not in ("", None)]
        if kept:
            data.setlist(key, kept)
    return data


def customer_get_for_actor(*, actor: Any, customer_id: Any) -> Customer:
    """One customer with its profile parts, or ``NotFound`` whether it is missing or not visible."""
    try:
        return (
            customer_visible_queryset(user=actor)
            .select_related("owner", "source", "referrer", "created_by", "updated_by", "top_category")
            .prefetch_related(
                Prefetch("phones", queryset=CustomerPhone.objects.order_by("position", "id")),
                "addresses",
                "socials",
                "consents",
                Prefetch("tags", queryset=Tag.objects.order_by("name")),
            )
            .get(pk=int(customer_id))
        )
    except (Customer.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc


def customer_is_visible(*, user: Any, customer: Customer | None) -> bool:
    """Whether ``user`` may see ``customer`` (one query): for links to other customers, such as a
    referrer, which are shown only to those who could open them."""
    if customer is None:
        return False
    return customer_visible_queryset(user=user).filter(pk=customer.pk).exists()


def customer_by_number_for_actor(*, actor: Any, customer_no: str) -> Customer:
    """The customer with this number among those ``actor`` may see, or ``NotFound``."""
    customer = customer_visible_queryset(user=actor).filter(customer_no=customer_no.strip().upper()).first()
    if customer is None:
        raise NotFound()
    return customer


def customer_ownership_history(*, actor: Any, customer: Customer, limit: int = 20) -> list[CustomerEvent]:
    """Claims, releases and transfers of ``customer``, newest first; owner changes written by older
    bulk assignments (a "customer.updated" event that changed the owner) are included."""
    owner_changes = Q(kind__in=OWNER_EVENT_KINDS) | Q(kind="customer.updated", data__changes__has_key="owner")
    return list(
        customer.events.filter(owner_changes).select_related("actor").order_by("-created_at", "-id")[:limit]
    )


@dataclass
class PhoneOwners:
    """Who already has a phone number, split by whether the asking user may see them: the hidden ones
    are only counted, so a duplicate warning never names a colleague's customer."""

    visible: list[Customer] = field(default_factory=list)
    hidden: int = 0


def phone_owners_for(
    *, user: Any, e164_numbers: Iterable[str], exclude_customer_id: int | None = None
) -> PhoneOwners:
    from kebu.customers.services import phone_owners

    owners = phone_owners(e164_numbers=list(e164_numbers), exclude_customer_id=exclude_customer_id)
    if not owners:
        return PhoneOwners()
    seen = set(
        customer_visible_queryset(user=user)
        .filter(pk__in=[c.pk for c in owners])
        .values_list("pk", flat=True)
    )
    return PhoneOwners(
        visible=[c for c in owners if c.pk in seen], hidden=sum(1 for c in owners if c.pk not in seen)
    )


def assignable_users() -> QuerySet[Any]:
    """Active colleagues who can work with customers: those a customer may be transferred to. Working
    with them means changing them: an analyst or a read-only colleague sees customers but could not
    edit, claim or release one given to them."""
    return (
        get_user_model()
        ._default_manager.with_perm(
            access.CHANGE,
            is_active=True,
            include_superusers=True,
            backend="django.contrib.auth.backends.ModelBackend",
        )
        .order_by("username")
    )


def owner_filter_choices(*, user: Any) -> list[tuple[str, str]]:
    """The owners ``user`` may filter customers (and their orders) by, as (id, name): first the current
    colleagues, those who work with customers (``assignable_users``) or still own one ``user`` sees; then
    the former ones, switched off, who still own customers ``user`` sees, named as such
    (``owner_label``). Their customers are real, and are found through them to be handed over; a former
    colleague who owns none, or none ``user`` may see, would only be a filter that shows nothing. Each
    side by username; one indexed look-up per colleague, and a shop has tens of them."""
    owns = Exists(customer_visible_queryset(user=user).filter(owner_id=OuterRef("pk")))
    current = Q(is_active=True) & (Q(pk__in=assignable_users().values("pk")) | owns)
    members = get_user_model()._default_manager.filter(current | (Q(is_active=False) & owns))
    return [(str(m.pk), owner_label(m)) for m in members.order_by("-is_active", "username")]


def owner_label(member: Any) -> str:
    """A colleague's name where owners are offered to pick from; one who is switched off says so, so a
    merchant does not take them for someone to work with."""
    if member.is_active:
        return str(member)
    return _("%(name)s (deactivated)") % {"name": member}


def saved_view_list(*, user: Any) -> QuerySet[SavedView]:
    """The user's own saved views and those colleagues shared. A view is a query: opening it runs
    the list, which applies the user's own visibility, so sharing one shares no customers."""
    return SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner").order_by("name")


def customer_custom_fields(*, customer: Customer) -> list[tuple[str, str]]:
    """(label, key) of each active custom field, in the admin's order, for display."""
    from kebu.customers.models import CustomField

    return [(d.label, d.key) for d in CustomField.objects.filter(is_active=True)]
