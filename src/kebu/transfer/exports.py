"""Customers, orders and products out to a spreadsheet: the list a user sees (the list page's own
selector, so its filters and the user's visibility apply), masked as they see it, as .xlsx or as CSV.

- .xlsx is written as a stream by ``workbook.workbook_write`` (a row at a time, whatever the size), with a
  frozen header, an autofilter, dates, moments and money as typed values in their formats, and the
  choice columns (type, stage, source …) offering their values as a dropdown.
- CSV is UTF-8 with a byte order mark, which is what makes Excel read the Chinese; digits Excel would
  take for a number and change (a 19-digit order number, a leading zero) are written as ="…".
- A customer export's headers are words the import reads back (``headers.CUSTOMER_HEADERS``), in either
  language, so exporting and importing the same file changes nothing.
- A text cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR, NUL, also
  after spaces) gets a quote in front, by ``safe_cell``, the one function both formats use; the import
  takes it off again (``cells.unquoted``). In .xlsx the cell is also written as a string, never a
  formula.

Every export is audited with its row count, its filters and whether it was masked."""

from __future__ import annotations

import csv
import os
import re
import uuid
from collections import defaultdict, namedtuple
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kebu.audit.services import audit_record
from kebu.core.errors import Forbidden, ValidationFailed
from kebu.core.jobs import JobRun, job_create, job_runner
from kebu.core.models import Job, JobStatus
from kebu.core.templatetags.kebu import phone_display
from kebu.customers import access
from kebu.customers.models import (
    Address,
    Customer,
    CustomerType,
    CustomField,
    CustomFieldType,
    Gender,
    SocialAccount,
    SocialKind,
    SourceChannel,
    Stage,
)
from kebu.customers.privacy import EMAIL, PHONE, SOCIAL, TEXT, ContactPolicy, contact_policy
from kebu.customers.selectors import customer_list, purchases_visible
from kebu.transfer import workbook
from kebu.transfer.cells import safe_cell
from kebu.transfer.customers import SHARED_POOL
from kebu.transfer.workbook import CODE, COUNT, DAY, MOMENT, MONEY, SheetColumn, workbook_write

BOM = "\ufeff"
CHUNK_ROWS = 1000
CHILD_ROWS = 20_000  # from this many rows a child process writes the .xlsx (starting it takes ~0.5 s)
FORMATS = ("xlsx", "csv")
KINDS = ("customers", "orders", "products")

TEXT_CELL = workbook.TEXT  # a column's kind: how its values are written (privacy's TEXT is another)


@dataclass(frozen=True)
class Column:
    key: str
    label: str | Promise
    value: Callable[[Any], Any]
    kind: str = TEXT_CELL
    choices: tuple[str, ...] = ()  # a dropdown of these in .xlsx
    width: int = 14
    example: Any = ""  # the template's example row


@dataclass
class Export:
    """What an export writes: its columns and rows (objects each column reads a value from)."""

    kind: str
    columns: list[Column]
    rows: Iterable[Any]
    audit: dict[str, Any] = field(default_factory=dict)
    is_template: bool = False  # a blank template holds nobody's data and is not audited
    count: Callable[[], int] = lambda: 0  # how many rows there will be (for progress), one query


# --- customers ---------------------------------------------------------------------------------------


def _labels(choices: Any) -> tuple[str, ...]:
    """Every label the column's cells may hold, the blank value's too (a gender not known is exported as
    未知): a dropdown that left it out would flag the file's own rows in Excel."""
    return tuple(str(label) for _value, label in choices.choices)


def _local(moment: datetime | None) -> datetime | None:
    return timezone.localtime(moment).replace(tzinfo=None) if moment else None


# What a customer export reads of each customer, as plain values (decrypted by their fields): building
# model instances cost more than the rest of a large export.
_CUSTOMER_FIELDS = (
    "id",
    "customer_no",
    "name",
    "primary_phone",
    "gender",
    "birthday",
    "email",
    "customer_type",
    "stage",
    "source_id",
    "owner_id",
    "notes",
    "custom",
    "total_spent_cny",
    "order_count",
    "avg_order_cny",
    "first_order_at",
    "last_order_at",
    "refund_count",
    "created_at",
    "archived_at",
)
CustomerValues = namedtuple("CustomerValues", _CUSTOMER_FIELDS)  # type: ignore[misc]
AddressValues = namedtuple("AddressValues", ("province", "city", "district", "detail"))


@dataclass(slots=True)
class CustomerRow:
    """A customer's values with what its columns read from related rows: the default address (else the
    first), the first account of each kind, the tags, the source's and the owner's names (the shared
    pool's for nobody)."""

    customer: Any  # CustomerValues
    address: AddressValues | None = None
    socials: dict[str, str] = field(default_factory=dict)
    tags: str = ""
    source: str = ""
    owner: str = ""


def _customer_rows(customers: QuerySet[Customer]) -> Iterator[CustomerRow]:
    """The customers a chunk at a time, each chunk's addresses, accounts and tags read in one query
    each and grouped by hand: Django's prefetch sets up a queryset per customer, which at a million
    customers costs more than everything else together."""
    from kebu.accounts.models import User

    sources = dict(SourceChannel.objects.values_list("id", "name"))
    # Nobody's is said (公海), not left blank: the import reads a blank owner as no change, and gives a
    # new customer its own owner, so a pool customer would not come back as one into another shop.
    owners: dict[int | None, str] = {None: str(SHARED_POOL)}
    values = customers.prefetch_related(None).values_list(*_CUSTOMER_FIELDS)
    found = values.iterator(chunk_size=CHUNK_ROWS)
    while chunk := [CustomerRow(CustomerValues._make(v)) for v in islice(found, CHUNK_ROWS)]:
        by_id = {row.customer.id: row for row in chunk}
        chosen = _customers_in(chunk[0].customer.id, chunk[-1].customer.id, by_id)
        addresses = Address.objects.filter(chosen).order_by("-is_default", "id")
        for customer_id, *parts in addresses.values_list("customer_id", *AddressValues._fields):
            if (row := by_id.get(customer_id)) is not None:
                row.address = row.address or AddressValues._make(parts)
        accounts = SocialAccount.objects.filter(chosen).order_by("id")
        for customer_id, kind, handle in accounts.values_list("customer_id", "kind", "handle"):
            if (row := by_id.get(customer_id)) is not None:
                row.socials.setdefault(kind, handle)
        tags: dict[int, list[str]] = defaultdict(list)
        links = Customer.tags.through.objects.filter(chosen).order_by("tag__name")
        for customer_id, name in links.values_list("customer_id", "tag__name"):
            tags[customer_id].append(name)
        missing = {row.customer.owner_id for row in chunk} - owners.keys() - {None}
        owners.update((user.pk, str(user)) for user in User.objects.filter(pk__in=missing))
        for row in chunk:
            row.tags = "、".join(tags.get(row.customer.id, ()))
            row.source = sources.get(row.customer.source_id, "")
            row.owner = owners.get(row.customer.owner_id, "")
        yield from chunk


def _customers_in(first: int, last: int, by_id: dict[int, Any]) -> Q:
    """Related rows of the customers ``by_id`` (ids ``first`` to ``last``, ascending): by the id range
    where the chunk is dense (a whole list, or most of it), which the database reads off its index
    without a thousand parameters, else by the ids themselves. Rows of customers in the range but not
    in the chunk are skipped by the caller."""
    if last - first < 2 * len(by_id):
        return Q(customer_id__gte=first, customer_id__lte=last)
    return Q(customer_id__in=by_id)


def _custom_getter(definition: CustomField) -> Callable[[CustomerRow], Any]:
    return lambda r: _custom_value(definition, (r.customer.custom or {}).get(definition.key))


def _custom_value(definition: CustomField, value: Any) -> Any:
    if value in (None, "", []):
        return None
    if definition.field_type == CustomFieldType.MULTI and isinstance(value, list):
        return "、".join(str(v) for v in value)
    if definition.field_type == CustomFieldType.DATE:
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if definition.field_type == CustomFieldType.BOOL:
        return _("Yes") if value else _("No")
    return value


def _custom_choices(definition: CustomField) -> tuple[str, ...]:
    """A custom field's dropdown: a choice's values, a yes/no's 是 and 否 (as the export writes them)."""
    if definition.field_type == CustomFieldType.CHOICE:
        return tuple(str(v) for v in definition.choices)
    if definition.field_type == CustomFieldType.BOOL:
        return (str(_("Yes")), str(_("No")))
    return ()


def customer_columns(policy: ContactPolicy, *, figures: bool, retired_sources: bool = True) -> list[Column]:
    """The customer export's columns. Each label is a header the import reads back as its field.
    ``retired_sources``: the source dropdown lists the sources an admin turned off too, after the others,
    as the customers who came from one still say so (a blank template, which holds nobody, leaves them
    out)."""

    def shown(kind: str, get: Callable[[CustomerRow], str]) -> Callable[[CustomerRow], str]:
        return lambda r: policy.show(kind, get(r))

    def phone(r: CustomerRow) -> str:
        number = r.customer.primary_phone
        return phone_display(number) if policy.can_see else policy.show(PHONE, number)

    def part(attribute: str) -> Callable[[CustomerRow], str]:
        return lambda r: getattr(r.address, attribute) if r.address else ""

    def social(kind: str) -> Callable[[CustomerRow], str]:
        return shown(SOCIAL, lambda r: r.socials.get(kind, ""))

    def label(choices: Any, attribute: str) -> Callable[[CustomerRow], str]:
        labels = {value: str(text) for value, text in choices.choices}  # translated once, not per row
        return lambda r: labels.get(getattr(r.customer, attribute), "")

    columns = [
        # No example number: C000123 is a number Kebu gives, and the template imported with its example
        # row left in would overwrite that customer of the shop. Left blank, Kebu numbers the new one.
        Column("customer_no", gettext_lazy("Customer number"), lambda r: r.customer.customer_no, CODE),
        Column("name", gettext_lazy("Name"), lambda r: r.customer.name, example="王小明", width=12),
        Column("phone", gettext_lazy("Phone"), phone, CODE, example="138 1234 5678", width=16),
        Column(
            "gender",
            gettext_lazy("Gender"),
            label(Gender, "gender"),
            choices=_labels(Gender),
            example=str(Gender.MALE.label),
            width=8,
        ),
        Column(
            "birthday",
            gettext_lazy("Birthday"),
            lambda r: r.customer.birthday,
            DAY,
            example=date(1990, 5, 20),
        ),
        Column(
            "email",
            gettext_lazy("Email"),
            shown(EMAIL, lambda r: r.customer.email),
            example="xiaoming@example.com",
            width=22,
        ),
        Column(
            "wechat",
            gettext_lazy("WeChat ID"),
            social(SocialKind.WECHAT),
            CODE,
            example="wxid_xiaoming",
        ),
        Column("qq", "QQ", social(SocialKind.QQ), CODE),
        Column("wangwang", gettext_lazy("Wangwang"), social(SocialKind.TAOBAO), CODE),
        Column("douyin", gettext_lazy("Douyin ID"), social(SocialKind.DOUYIN), CODE),
        Column(
            "xiaohongshu",
            gettext_lazy("Xiaohongshu ID"),
            social(SocialKind.XIAOHONGSHU),
            CODE,
        ),
        Column(
            "customer_type",
            gettext_lazy("Customer type"),
            label(CustomerType, "customer_type"),
            choices=_labels(CustomerType),
            example=str(CustomerType.INDIVIDUAL.label),
        ),
        Column(
            "stage",
            gettext_lazy("Stage"),
            label(Stage, "stage"),
            choices=_labels(Stage),
            example=str(Stage.LEAD.label),
        ),
        Column(
            "source",
            gettext_lazy("Source"),
            lambda r: r.source,
            choices=_source_names(retired=retired_sources),
        ),
        Column("tags", gettext_lazy("Tags"), lambda r: r.tags, width=20),
        Column("owner", gettext_lazy("Owner"), lambda r: r.owner),
        Column("province", gettext_lazy("Province"), part("province"), example="浙江省", width=10),
        Column("city", gettext_lazy("City"), part("city"), example="杭州市", width=10),
        Column("district", gettext_lazy("District"), part("district"), example="西湖区", width=10),
        Column(
            "address", gettext_lazy("Address"), shown(TEXT, part("detail")), example="文三路 100 号", width=30
        ),
        Column("notes", gettext_lazy("Notes"), shown(TEXT, lambda r: r.customer.notes), width=30),
    ]
    for definition in CustomField.objects.filter(is_active=True):
        columns.append(
            Column(
                "cf_" + definition.key,
                definition.label,
                _custom_getter(definition),
                DAY if definition.field_type == CustomFieldType.DATE else TEXT_CELL,
                choices=_custom_choices(definition),
            )
        )
    if figures:
        columns += [
            Column("total_spent", gettext_lazy("Total spent"), lambda r: r.customer.total_spent_cny, MONEY),
            Column("order_count", gettext_lazy("Orders"), lambda r: r.customer.order_count, COUNT, width=8),
            Column("avg_order", gettext_lazy("Average order"), lambda r: r.customer.avg_order_cny, MONEY),
            Column(
                "first_order_at",
                gettext_lazy("First order"),
                lambda r: _local(r.customer.first_order_at),
                MOMENT,
                width=17,
            ),
            Column(
                "last_order_at",
                gettext_lazy("Last order"),
                lambda r: _local(r.customer.last_order_at),
                MOMENT,
                width=17,
            ),
            Column(
                "refund_count", gettext_lazy("Refunds"), lambda r: r.customer.refund_count, COUNT, width=8
            ),
        ]
    columns += [
        Column(
            "created_at", gettext_lazy("Created"), lambda r: _local(r.customer.created_at), MOMENT, width=17
        ),
        Column(
            "archived_at",
            gettext_lazy("Archived"),
            lambda r: _local(r.customer.archived_at),
            MOMENT,
            width=17,
        ),
    ]
    return columns


def _source_names(*, retired: bool) -> tuple[str, ...]:
    """The shop's sources in their order, those turned off after the others (``retired``) or not at all:
    a dropdown without the source a row holds would flag the file's own rows in Excel."""
    sources = SourceChannel.objects.order_by("-is_active", "position", "name")
    return tuple((sources if retired else sources.filter(is_active=True)).values_list("name", flat=True))


def _customers(user: Any, filters: QueryDict | None) -> Export:
    if user is not None and not access.can(user, access.EXPORT):
        raise Forbidden(_("You may not export customers."))
    policy = contact_policy(user) if user is not None else ContactPolicy(can_see=True, can_reveal=True)
    qs, filterset = customer_list(user=user or access.ShellOperator(), filters=filters)
    _unknown_filters_refuse(filters, known=filterset.filters, page=("page", "cols"))
    if filterset.errors:
        raise ValidationFailed(
            _("The filters are not valid: %(errors)s") % {"errors": _errors(filterset.errors)}
        )
    qs = qs.order_by("id")
    figures = user is None or purchases_visible(user=user)
    return Export(
        kind="customers",
        columns=customer_columns(policy, figures=figures),
        rows=_customer_rows(qs),
        count=qs.order_by().count,
        audit={
            "masked": policy.masked,
            # What was searched for may be a phone number: the log keeps that a search was made.
            "filters": {k: v for k, v in filterset.data.lists() if k != "q"},
            "searched": bool(filterset.data.get("q")),
        },
    )


def _unknown_filters_refuse(filters: QueryDict | None, *, known: Iterable[str], page: Iterable[str]) -> None:
    """Refuse a filter the list does not have (``stag=lead``): left out, it would export every record
    where the merchant asked for a few. ``page`` are what the list page's query string holds besides
    its filters (the page number, the columns shown): they say nothing to an export, and pass."""
    allowed = {*known, *page}
    unknown = sorted(key for key in (filters or {}) if key not in allowed)
    if unknown:
        raise ValidationFailed(
            _("Unknown filter(s): %(unknown)s. Filters: %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(known)}
        )


def _errors(errors: Any) -> str:
    return "; ".join(f"{name}: {' '.join(str(m) for m in messages)}" for name, messages in errors.items())


def _whole(get: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A column of the whole (an order, a product) on a row that is one of its parts."""
    return lambda pair: get(pair[0])


def _part(get: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A column of the part (an order line, a SKU); blank on the row of a whole without parts."""
    return lambda pair: get(pair[1]) if pair[1] is not None else None


# --- orders ------------------------------------------------------------------------------------------


def order_columns(policy: ContactPolicy) -> list[Column]:
    """One row per order line, the order's own fields repeated on each, as the marketplaces export."""
    from kebu.orders.models import DeliveryMethod, OrderStatus, PaymentMethod

    order, line = _whole, _part

    def receiver_phone(o: Any) -> str:
        return phone_display(o.receiver_phone) if policy.can_see else policy.show(PHONE, o.receiver_phone)

    return [
        Column("store", gettext_lazy("Store"), order(lambda o: o.store.name if o.store else "")),
        Column("order_no", gettext_lazy("Order number"), order(lambda o: o.order_no), CODE, width=22),
        Column("customer_no", gettext_lazy("Customer number"), order(lambda o: o.customer.customer_no), CODE),
        Column("customer_name", gettext_lazy("Customer"), order(lambda o: o.customer.name), width=12),
        Column(
            "status",
            gettext_lazy("Order status"),
            order(lambda o: o.get_status_display()),
            choices=_labels(OrderStatus),
            width=10,
        ),
        Column(
            "ordered_at", gettext_lazy("Order time"), order(lambda o: _local(o.ordered_at)), MOMENT, width=17
        ),
        Column("paid_at", gettext_lazy("Paid at"), order(lambda o: _local(o.paid_at)), MOMENT, width=17),
        Column(
            "shipped_at", gettext_lazy("Shipped at"), order(lambda o: _local(o.shipped_at)), MOMENT, width=17
        ),
        Column(
            "delivered_at",
            gettext_lazy("Delivered at"),
            order(lambda o: _local(o.delivered_at)),
            MOMENT,
            width=17,
        ),
        Column(
            "completed_at",
            gettext_lazy("Completed at"),
            order(lambda o: _local(o.completed_at)),
            MOMENT,
            width=17,
        ),
        Column("sku_code", gettext_lazy("SKU code"), line(lambda ln: ln.sku_code), CODE),
        Column("title", gettext_lazy("Item"), line(lambda ln: ln.title), width=30),
        Column("variant", gettext_lazy("Variant"), line(lambda ln: ln.variant)),
        Column("quantity", gettext_lazy("Quantity"), line(lambda ln: ln.quantity), COUNT, width=8),
        Column("unit_price", gettext_lazy("Unit price"), line(lambda ln: ln.unit_price_cny), MONEY),
        Column("line_discount", gettext_lazy("Line discount"), line(lambda ln: ln.discount_cny), MONEY),
        Column("line_amount", gettext_lazy("Line amount"), line(lambda ln: ln.amount_cny), MONEY),
        # Read back by the import, so that a refund of one line comes back on that line (transfer.orders).
        Column("line_refunded", gettext_lazy("Line refunded"), line(lambda ln: ln.refunded_cny), MONEY),
        # Read back too: the units that came back are out of the quantities sold (transfer.orders).
        Column("line_returned", gettext_lazy("Line returned"), line(lambda ln: ln.returned_quantity), COUNT),
        Column("shipping", gettext_lazy("Shipping fee"), order(lambda o: o.shipping_cny), MONEY),
        Column("discount", gettext_lazy("Order discount"), order(lambda o: o.discount_cny), MONEY),
        Column("coupon", gettext_lazy("Coupon amount"), order(lambda o: o.coupon_cny), MONEY),
        Column("total", gettext_lazy("Order total"), order(lambda o: o.total_cny), MONEY),
        Column("paid", gettext_lazy("Amount paid"), order(lambda o: o.paid_cny), MONEY),
        Column("refunded", gettext_lazy("Refunded"), order(lambda o: o.refunded_cny), MONEY),
        # On credit (赊账), what of the amount paid went on the customer's account and what of it is still
        # owed: the bookkeeper's receivables. Not read back: what is owed moves with the payments the
        # customer makes, which no sheet holds; an import takes an order on credit as order_create does.
        Column("credit_taken", gettext_lazy("Taken on credit"), order(lambda o: o.credit_taken_cny), MONEY),
        Column(
            "credit_owed",
            gettext_lazy("Still owed (credit)"),
            order(lambda o: o.credit_outstanding_cny),
            MONEY,
        ),
        Column(
            "payment_method",
            gettext_lazy("Payment method"),
            order(lambda o: o.get_payment_method_display() if o.payment_method else ""),
            choices=_labels(PaymentMethod),
        ),
        Column(
            "delivery_method",
            gettext_lazy("Delivery method"),
            order(lambda o: o.get_delivery_method_display() if o.delivery_method else ""),
            choices=_labels(DeliveryMethod),
        ),
        Column("carrier", gettext_lazy("Carrier"), order(lambda o: o.carrier)),
        Column(
            "tracking_no", gettext_lazy("Tracking number"), order(lambda o: o.tracking_no), CODE, width=18
        ),
        Column("receiver", gettext_lazy("Receiver"), order(lambda o: o.receiver_name)),
        Column("receiver_phone", gettext_lazy("Receiver phone"), order(receiver_phone), CODE, width=16),
        Column("province", gettext_lazy("Province"), order(lambda o: o.ship_province), width=10),
        Column("city", gettext_lazy("City"), order(lambda o: o.ship_city), width=10),
        Column("district", gettext_lazy("District"), order(lambda o: o.ship_district), width=10),
        Column(
            "address", gettext_lazy("Address"), order(lambda o: policy.show(TEXT, o.ship_address)), width=30
        ),
        Column(
            "buyer_message",
            gettext_lazy("Buyer message"),
            order(lambda o: policy.show(TEXT, o.buyer_message)),
            width=24,
        ),
        Column(
            "seller_notes",
            gettext_lazy("Seller notes"),
            order(lambda o: policy.show(TEXT, o.seller_notes)),
            width=24,
        ),
    ]


def _order_lines(orders: Any) -> Iterator[tuple[Any, Any]]:
    for order in orders.iterator(chunk_size=CHUNK_ROWS):
        lines = list(order.lines.all())
        if not lines:
            yield order, None
        for line in lines:
            yield order, line


def _orders(user: Any, filters: QueryDict | None) -> Export:
    from kebu.orders.forms import OrderFilterForm
    from kebu.orders.models import OrderLine
    from kebu.orders.selectors import order_list

    if user is not None and not (access.can(user, access.EXPORT) and purchases_visible(user=user)):
        raise Forbidden(_("You may not export orders."))
    form = OrderFilterForm(filters or QueryDict(), user=user)
    _unknown_filters_refuse(filters, known=form.fields, page=("page",))
    if not form.is_valid():
        raise ValidationFailed(_("The filters are not valid: %(errors)s") % {"errors": _errors(form.errors)})
    policy = contact_policy(user) if user is not None else ContactPolicy(can_see=True, can_reveal=True)
    qs = order_list(user=user or access.ShellOperator(), filters=form.cleaned_data)
    qs = qs.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("position", "id")))
    return Export(
        kind="orders",
        columns=order_columns(policy),
        rows=_order_lines(qs),
        count=OrderLine.objects.filter(order__in=qs.order_by().values("pk")).count,
        audit={
            "masked": policy.masked,
            "filters": {k: v for k, v in (filters or QueryDict()).lists() if k != "q"},
            "searched": bool(filters is not None and filters.get("q")),
        },
    )


# --- products ----------------------------------------------------------------------------------------


def product_columns(*, with_cost: bool = True) -> list[Column]:
    """One row per SKU, its product's fields repeated on each."""

    product, sku = _whole, _part
    yes_no = (str(_("Yes")), str(_("No")))
    return [
        Column("product", gettext_lazy("Product"), product(lambda p: p.name), width=24, example="玻尿酸面霜"),
        Column(
            "category",
            gettext_lazy("Category"),
            product(lambda p: p.category.path if p.category else ""),
            width=18,
            example="护肤 › 面霜",
        ),
        Column(
            "brand", gettext_lazy("Brand"), product(lambda p: p.brand.name if p.brand else ""), example="自有"
        ),
        Column(
            "usage_cycle_days",
            gettext_lazy("Usage cycle (days)"),
            product(lambda p: p.usage_cycle_days),
            COUNT,
            example=30,
        ),
        Column("sku_code", gettext_lazy("SKU code"), sku(lambda s: s.code), CODE, example="MS-50ML"),
        Column("color", gettext_lazy("Colour"), sku(lambda s: s.color)),
        Column("size", gettext_lazy("Size"), sku(lambda s: s.size)),
        Column("spec", gettext_lazy("Specification"), sku(lambda s: s.spec), example="50ml"),
        Column("price", gettext_lazy("Price"), sku(lambda s: s.price_cny), MONEY, example=Decimal("129.00")),
        # Cost is the shop's margin: only for those who may change products, as the API shows it.
        *(
            [Column("cost", gettext_lazy("Cost"), sku(lambda s: s.cost_cny), MONEY, example=Decimal("45.00"))]
            if with_cost
            else []
        ),
        Column(
            "on_sale",
            gettext_lazy("On sale"),
            sku(lambda s: yes_no[0] if s.is_active and s.product.is_active else yes_no[1]),
            choices=yes_no,
            width=8,
            example=yes_no[0],
        ),
    ]


def _product_skus(products: Any) -> Iterator[tuple[Any, Any]]:
    for product in products.iterator(chunk_size=CHUNK_ROWS):
        skus = sorted(product.skus.all(), key=lambda s: s.code)
        if not skus:
            yield product, None
        for sku in skus:
            sku.product = product
            yield product, sku


def _products(user: Any, filters: QueryDict | None) -> Export:
    from kebu.orders.forms import ProductFilterForm
    from kebu.orders.models import Sku
    from kebu.orders.selectors import product_search

    if user is not None and not (access.can(user, access.EXPORT) and user.has_perm("orders.view_product")):
        raise Forbidden(_("You may not export products."))
    form = ProductFilterForm(filters or QueryDict())
    _unknown_filters_refuse(filters, known=form.fields, page=("page",))
    if not form.is_valid():
        raise ValidationFailed(_("The filters are not valid: %(errors)s") % {"errors": _errors(form.errors)})
    products = product_search(filters=form.cleaned_data)
    return Export(
        kind="products",
        columns=product_columns(with_cost=user is None or user.has_perm("orders.change_product")),
        rows=_product_skus(products),
        count=lambda: Sku.objects.filter(product__in=products.order_by().values("pk")).count(),
        audit={"filters": {k: v for k, v in (filters or QueryDict()).lists()}},
    )


_BUILDERS: dict[str, Callable[[Any, QueryDict | None], Export]] = {
    "customers": _customers,
    "orders": _orders,
    "products": _products,
}
_AUDIT_ACTIONS = {"customers": "customer.export", "orders": "order.export", "products": "product.export"}


def export_build(
    kind: str, *, user: Any, filters: QueryDict | None = None, columns: Sequence[str] = ()
) -> Export:
    """The export of ``kind`` as ``user`` sees it (``None``: the shell's operator, who sees everything)
    with the list page's ``filters``; ``columns`` (keys) chooses and orders the columns, all by default.
    Raises ``PermissionDenied`` or ``ValidationFailed`` (an unknown column, a bad filter)."""
    if kind not in _BUILDERS:
        raise ValidationFailed(_("Unknown export “%(kind)s”.") % {"kind": kind})
    export = _BUILDERS[kind](user, filters)
    if columns:
        by_key = {c.key: c for c in export.columns}
        unknown = [key for key in columns if key not in by_key]
        if unknown:
            raise ValidationFailed(
                _("Unknown column(s): %(unknown)s. Columns: %(known)s.")
                % {"unknown": ", ".join(unknown), "known": ", ".join(by_key)}
            )
        export.columns = [by_key[key] for key in columns]
    return export


def template_build(kind: str) -> Export:
    """A blank import template for ``kind``: the header, the dropdowns and one example row."""
    policy = ContactPolicy(can_see=True, can_reveal=True)
    columns = {
        "customers": lambda: [
            c
            for c in customer_columns(policy, figures=False, retired_sources=False)
            if c.key not in _NOT_IMPORTED
        ],
        "orders": lambda: _order_template_columns(policy),
        "products": product_columns,
    }[kind]()
    return Export(kind=kind, columns=columns, rows=[_EXAMPLE], is_template=True)


# Columns of an export that an import does not read, left out of the templates.
_NOT_IMPORTED = {"created_at", "archived_at", "credit_taken", "credit_owed"}


def _order_template_columns(policy: ContactPolicy) -> list[Column]:
    example = _order_example()
    columns = [c for c in order_columns(policy) if c.key not in _NOT_IMPORTED]
    return [replace(c, example=example.get(c.key, "")) for c in columns]


def _order_example() -> dict[str, Any]:
    """The order template's example row: a paid order of one line, for a new buyer, in the shop's first
    store, so that the template as downloaded imports as it is."""
    from kebu.orders.models import DeliveryMethod, OrderStatus, PaymentMethod, Store

    store = Store.objects.filter(is_active=True).first()
    ordered = datetime(2024, 11, 11, 0, 12)
    return {
        "store": store.name if store else "",
        "order_no": "4028123456789012345",
        "customer_name": "王小明",
        "status": str(OrderStatus.PAID.label),
        "ordered_at": ordered,
        "paid_at": ordered + timedelta(minutes=1),
        "title": "玻尿酸面霜 50ml",
        "quantity": 2,
        "unit_price": Decimal("199.00"),
        "line_amount": Decimal("398.00"),
        "line_refunded": Decimal("0.00"),
        "line_returned": 0,
        "shipping": Decimal("0.00"),
        "total": Decimal("398.00"),
        "paid": Decimal("398.00"),
        "refunded": Decimal("0.00"),
        "payment_method": str(PaymentMethod.ALIPAY.label),
        "delivery_method": str(DeliveryMethod.EXPRESS.label),
        "receiver": "王小明",
        "receiver_phone": "138 1234 5678",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "address": "文三路 100 号",
        "buyer_message": "请尽快发货",
    }


_EXAMPLE = object()


# --- writing -----------------------------------------------------------------------------------------


def _value(column: Column, row: Any) -> Any:
    return column.example if row is _EXAMPLE else column.value(row)


def csv_write(export: Export, out: IO[str], *, on_row: Callable[[int], None] | None = None) -> int:
    """Write ``export`` as CSV (with a BOM) to the text stream ``out``; return the rows written."""
    writer = csv.writer(out)
    out.write(BOM)
    writer.writerow([safe_cell(str(c.label)) for c in export.columns])
    rows = 0
    for row in export.rows:
        writer.writerow([_csv_cell(c, _value(c, row)) for c in export.columns])
        rows += 1
        if on_row is not None and rows % CHUNK_ROWS == 0:
            on_row(rows)
    return rows


def csv_lines(export: Export) -> Iterator[str]:
    """The CSV a line at a time, for a streamed download."""
    line = _Line()
    writer = csv.writer(line)
    yield BOM + writer.writerow([safe_cell(str(c.label)) for c in export.columns])
    for row in export.rows:
        yield writer.writerow([_csv_cell(c, _value(c, row)) for c in export.columns])


class _Line:
    """A file-like object that hands back what csv.writer writes, one line at a time."""

    def write(self, value: str) -> str:
        return value


# Digits that Excel and WPS, opening a CSV, would take for a number and change: a leading zero dropped
# (会员卡号 0012345), more than 11 shown as 7.81E+14 (a 中通 tracking number), more than 15 rounded (a
# 19-digit order number loses its last digits, and is saved back so).
_EXCEL_CHANGES = re.compile(r"0\d+|\d{12,}", re.ASCII)


def _csv_cell(column: Column, value: Any) -> str:
    """A CSV cell: neutralised as any text cell (``safe_cell``), and digits Excel would change written
    as ="…", as Taobao writes its order numbers, which Excel and WPS show as the text itself and the
    import reads back as it (``readers._excel_text``)."""
    if isinstance(value, str) and _EXCEL_CHANGES.fullmatch(value):
        return f'="{value}"'
    return safe_cell(_csv_text(column, value))


def _csv_text(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == MOMENT and isinstance(value, datetime):
        # To the second when it has one (a marketplace's order times do), as the import reads it back.
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def xlsx_write(
    export: Export,
    target: str | IO[bytes],
    *,
    on_row: Callable[[int], None] | None = None,
    in_child: bool = False,
) -> int:
    """Write ``export`` as a workbook to ``target`` (a path or a binary stream), a row at a time;
    ``on_row(rows)`` is called every ``CHUNK_ROWS`` rows. Return the rows written. Text cells are
    neutralised as in CSV, so that the sheet saved again as CSV, or pasted elsewhere, runs nothing.
    ``in_child`` (``target`` a path): a child process makes the workbook's XML and writes it while this
    one reads the rows, which takes a million customers from ~80 s to under a minute on two cores."""
    getters = [column.value for column in export.columns]
    examples = [column.example for column in export.columns]
    rows = (examples if row is _EXAMPLE else [get(row) for get in getters] for row in export.rows)
    return workbook_write(
        target,
        sheet_name=_SHEET_NAMES[export.kind](),
        lists_name=str(_("Lists")),
        columns=[SheetColumn(str(c.label), c.kind, c.width, c.choices) for c in export.columns],
        rows=rows,
        error_message=str(_("Not one of the listed values.")),
        as_text=safe_cell,
        on_row=on_row,
        every=CHUNK_ROWS,
        in_child=in_child,
    )


_SHEET_NAMES: dict[str, Callable[[], str]] = {
    "customers": lambda: str(_("Customers")),
    "orders": lambda: str(_("Order lines")),
    "products": lambda: str(_("Products")),
}


# --- running -----------------------------------------------------------------------------------------


def export_audit(export: Export, *, user: Any, rows: int, file_format: str) -> None:
    audit_record(
        action=_AUDIT_ACTIONS[export.kind],
        actor=user,
        data={
            **export.audit,
            "rows": rows,
            "format": file_format,
            "columns": [c.key for c in export.columns],
        },
    )


def export_write(
    export: Export,
    path: Path,
    *,
    file_format: str,
    user: Any,
    on_row: Callable[[int], None] | None = None,
) -> int:
    """Write ``export`` to ``path`` whole or not at all: into a file beside it, renamed over ``path`` when
    complete, so a crash never leaves half an export where a finished one is expected. Audited with the
    rows written (a template is not). Returns that count."""
    if file_format not in FORMATS:
        raise ValidationFailed(_("Unknown format “%(format)s”: xlsx or csv.") % {"format": file_format})
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        if file_format == "xlsx":
            large = not export.is_template and export.count() >= CHILD_ROWS
            rows = xlsx_write(export, str(partial), on_row=on_row, in_child=large)
        else:
            with partial.open("w", encoding="utf-8", newline="") as out:
                rows = csv_write(export, out, on_row=on_row)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    if not export.is_template:
        export_audit(export, user=user, rows=rows, file_format=file_format)
    return rows


def export_stream(export: Export, *, user: Any) -> Iterator[bytes]:
    """The CSV for a streamed download, audited (with the rows sent) when the last row has gone, or when
    the download stops early."""
    rows = -1  # the header is not a row
    try:
        for line in csv_lines(export):
            yield line.encode("utf-8")
            rows += 1
    finally:
        export_audit(export, user=user, rows=max(rows, 0), file_format="csv")


# --- as a job ----------------------------------------------------------------------------------------

JOB_KIND = "transfer.export"


def exports_dir() -> Path:
    path = Path(settings.DATA_DIR) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_start(
    *, user: Any, kind: str, filters: QueryDict, columns: Sequence[str], file_format: str
) -> Job:
    """An export too large to wait for, as a job: checked now (permission, filters, columns) so that a
    mistake is told at once, written by the worker to a file only ``user`` may download."""
    export = export_build(kind, user=user, filters=filters, columns=columns)
    if file_format not in FORMATS:
        raise ValidationFailed(_("Unknown format “%(format)s”: xlsx or csv.") % {"format": file_format})
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    payload = {
        "kind": kind,
        "filters": filters.urlencode(),
        "columns": [c.key for c in export.columns],
        "format": file_format,
        "stored_as": f"{uuid.uuid4().hex}.{file_format}",
        "file_name": f"{kind}-{stamp}.{file_format}",
        "language": translation.get_language(),  # the headers and labels are in the asker's language
    }
    return job_create(kind=JOB_KIND, actor=user, payload=payload)


def export_file(job: Job) -> Path | None:
    """Where a finished export job's file is, or None (not an export, not done, or cleared away)."""
    if job.kind != JOB_KIND or job.status != JobStatus.DONE:
        return None
    path = exports_dir() / job.payload["stored_as"]
    return path if path.is_file() else None


@job_runner(JOB_KIND)
def export_run(run: JobRun) -> None:
    """Write the export. A worker killed half-way leaves no file (``export_write`` renames a finished
    one into place); the job claimed again writes it from the start."""
    job, payload = run.job, run.job.payload
    filters = QueryDict(payload["filters"])
    with translation.override(payload.get("language")):
        export = export_build(
            payload["kind"], user=job.created_by, filters=filters, columns=payload["columns"]
        )
        run.beat(done=0, total=export.count())

        def progress(rows: int) -> None:
            run.stop_if_cancelled()
            run.beat(done=rows)

        path = exports_dir() / payload["stored_as"]
        rows = export_write(export, path, file_format=payload["format"], user=job.created_by, on_row=progress)
    run.beat(done=rows, total=rows)
    # What was searched for may be a phone number: not kept in the job once the file is written.
    kept = {**payload, "filters": QueryDict(payload["filters"], mutable=True)}
    kept["filters"].pop("q", None)
    kept["filters"] = kept["filters"].urlencode()
    Job.objects.filter(pk=job.pk, claim=job.claim).update(payload=kept)


def exports_purge(*, older_than: timedelta) -> int:
    """Delete export files older than ``older_than`` (they hold personal data); return how many."""
    cutoff = (timezone.now() - older_than).timestamp()
    removed = 0
    for path in exports_dir().iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
