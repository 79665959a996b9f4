"""Orders: create with lines, pay (or take on credit), ship, deliver, complete, cancel.

Each public service owns one transaction, changes the order with a version check (a conditional
UPDATE, the same on SQLite and PostgreSQL), moves the customer's figures in that transaction and
writes the audit entry last. Bad input raises ``ValidationFailed`` naming the field before anything is
written."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kebu.audit.models import AuditEntry
from kebu.audit.services import audit_record, audit_records
from kebu.core import divisions
from kebu.core.bulk import objects_insert
from kebu.core.crypto import keyring
from kebu.core.errors import Conflict, KebuError, ValidationFailed
from kebu.core.forms import EARLIEST_DATE, LATEST_DATE
from kebu.core.models import ShopSettings
from kebu.core.phone import parse_phone, phone_as_kept
from kebu.core.services import idempotent, sequence_next
from kebu.customers.columns import grouped
from kebu.customers.events import customer_stage_changed_unsaved
from kebu.customers.models import Address, Customer, CustomerEvent
from kebu.customers.privacy import contact_policy
from kebu.orders.models import (
    COUNTED_STATUSES,
    DeliveryMethod,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Sku,
    Store,
)
from kebu.orders.services.metrics import (
    FiguresBatch,
    FiguresChange,
    customer_figures_apply,
    customer_lock,
    customers_lock,
    line_category_spend,
)
from kebu.orders.services.stores import store_closed_message

ZERO = Decimal("0.00")
# One amount, line or order at most ¥100 million: far above any shop's order, and far enough below the
# columns' 14 digits that a customer's lifetime total cannot overflow them either.
MAX_MONEY = Decimal("99999999.99")
MAX_LINES = 500
# A clock a few minutes fast (a phone, a marketplace export) is not "the future".
CLOCK_TOLERANCE = timedelta(minutes=5)
ORDER_NO_SEQUENCE = "order_no"
# The statuses an order may be entered with (a marketplace's export holds every one of them); a closed
# order comes from refunds, never from input.
ENTERED_STATUSES = (
    OrderStatus.PENDING,
    OrderStatus.PAID,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
    OrderStatus.CANCELLED,
)


class CreditLimitExceeded(KebuError):
    """An order on credit would take the customer past their limit; the shop's setting says whether
    this is a warning to confirm (``allow_over_credit_limit=True``) or a refusal."""

    code = "credit_limit"

    def __init__(self, message: Any = "", *, blocking: bool, field_errors: Any = None) -> None:
        super().__init__(message, field_errors=field_errors)
        self.blocking = blocking


@dataclass
class LineInput:
    """One line: a SKU by its code, or ``title`` for something not in the catalogue."""

    sku_code: str = ""
    title: str = ""
    quantity: Any = 1
    unit_price_cny: Any = None  # the SKU's price when left out
    discount_cny: Any = ZERO


@dataclass
class OrderInput:
    customer: Customer
    store: Store
    lines: Sequence[LineInput]
    order_no: str = ""  # blank: Kebu numbers it
    ordered_at: datetime | None = None  # blank: now
    status: str = OrderStatus.PENDING
    shipping_cny: Any = ZERO
    discount_cny: Any = ZERO
    coupon_code: str = ""
    coupon_cny: Any = ZERO
    paid_cny: Any = None  # for a paid order: the amount due when left out
    # On credit: what the customer paid at the time (部分付款); the rest of ``paid_cny`` goes on their
    # account. Nothing (the whole order on credit) when left out.
    paid_now_cny: Any = None
    paid_at: datetime | None = None
    payment_method: str = ""
    delivery_method: str = DeliveryMethod.EXPRESS
    carrier: str = ""
    tracking_no: str = ""
    # When it was shipped, signed for and completed, for an order entered at that status (a sheet's
    # 发货时间, 签收时间, 确认收货时间); blank: the step before's time.
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    completed_at: datetime | None = None
    # The shipping address; all blank takes the customer's default address, unless ``address_as_given``.
    receiver_name: str = ""
    receiver_phone: str = ""
    ship_province: str = ""
    ship_city: str = ""
    ship_district: str = ""
    ship_address: str = ""
    buyer_message: str = ""
    seller_notes: str = ""
    extra_errors: dict[str, list[Any]] = field(default_factory=dict)
    # The address as given, all blank too: an import's sheet says where the parcel went, and one that
    # names no one, no phone and no address (an order the customer took away) is kept so, as exported.
    address_as_given: bool = False


def _errors_add(errors: dict[str, list[Any]], key: str, message: Any) -> None:
    errors.setdefault(key, []).append(message)


def money_parse(value: Any, *, errors: dict[str, list[Any]], key: str, allow_none: bool = False) -> Any:
    """``value`` as yuan with two places, or an error on ``key``: negative, over a trillion, more than two
    decimal places or not a number."""
    if value is None or value == "":
        if allow_none:
            return None
        value = ZERO
    try:
        amount = Decimal(str(value).strip().replace(",", "").lstrip("¥￥"))
    except (InvalidOperation, ValueError):
        _errors_add(errors, key, _("Enter an amount such as 99.00."))
        return ZERO
    if not amount.is_finite():
        _errors_add(errors, key, _("Enter an amount such as 99.00."))
        return ZERO
    if amount < 0:
        _errors_add(errors, key, _("The amount cannot be negative."))
        return ZERO
    if amount > MAX_MONEY:
        _errors_add(errors, key, _("The amount is too large."))
        return ZERO
    if amount != amount.quantize(Decimal("0.01")):
        _errors_add(errors, key, _("Use at most two decimal places (fen)."))
        return ZERO
    return amount.quantize(Decimal("0.01"))


def _quantity(value: Any, *, errors: dict[str, list[Any]], key: str) -> int:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        number = Decimal(0)
        _errors_add(errors, key, _("Enter a whole number of items."))
        return 0
    if not number.is_finite() or number != number.to_integral_value():
        _errors_add(errors, key, _("Enter a whole number of items."))
        return 0
    if number <= 0:
        _errors_add(errors, key, _("The quantity must be at least 1."))
        return 0
    if number > 1_000_000:
        _errors_add(errors, key, _("The quantity is too large."))
        return 0
    return int(number)


def _moment(value: datetime | None, *, errors: dict[str, list[Any]], key: str, now: datetime) -> datetime:
    """An aware time to the whole second (the figures are computed in seconds), not in the future."""
    moment = value or now
    if not EARLIEST_DATE <= moment.date() <= LATEST_DATE:
        _errors_add(errors, key, _("Enter a date after 1900."))
        return now.replace(microsecond=0)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment > now + CLOCK_TOLERANCE:
        _errors_add(errors, key, _("This time is in the future."))
    return moment.replace(microsecond=0)


# What each step of an order's journey may not come before, in the words of its error.
_TOO_EARLY = {
    "shipped_at": gettext_lazy("Shipping cannot come before the payment."),
    "delivered_at": gettext_lazy("Signing for it cannot come before the shipping."),
    "completed_at": gettext_lazy("Completion cannot come before the shipping or signing for it."),
}


def _moment_after(
    value: datetime | None, earliest: datetime, *, errors: dict[str, list[Any]], key: str, now: datetime
) -> datetime:
    """The time of an order's step ``key`` (``earliest``, the step before's, when not given): as
    ``_moment``, and not before ``earliest``."""
    if value is None:
        return earliest.replace(microsecond=0)
    moment = _moment(value, errors=errors, key=key, now=now)
    if moment < earliest.replace(microsecond=0):
        _errors_add(errors, key, _TOO_EARLY[key])
    return moment


@dataclass
class _CleanLine:
    sku: Sku | None
    title: str
    quantity: int
    unit_price_cny: Decimal
    discount_cny: Decimal

    @property
    def amount_cny(self) -> Decimal:
        return self.quantity * self.unit_price_cny - self.discount_cny


def _lines_clean(
    lines: Sequence[LineInput], errors: dict[str, list[Any]], *, skus: dict[str, Sku] | None = None
) -> list[_CleanLine]:
    if not lines:
        _errors_add(errors, "lines", _("An order needs at least one line."))
        return []
    if len(lines) > MAX_LINES:
        _errors_add(errors, "lines", _("An order can have at most %(n)d lines.") % {"n": MAX_LINES})
        return []
    if skus is None:
        skus = skus_load(line.sku_code.strip() for line in lines)
    clean: list[_CleanLine] = []
    for index, line in enumerate(lines):
        prefix = f"lines.{index}."
        code = line.sku_code.strip()
        sku = skus.get(code) if code else None
        if code and sku is None:
            _errors_add(errors, prefix + "sku_code", _("Unknown SKU code “%(code)s”.") % {"code": code[:64]})
        title = line.title.strip()[:200] or (sku.product.name if sku else "")
        if not code and not title:
            _errors_add(errors, prefix + "title", _("Choose a SKU or describe the item."))
        quantity = _quantity(line.quantity, errors=errors, key=prefix + "quantity")
        price = money_parse(
            line.unit_price_cny, errors=errors, key=prefix + "unit_price_cny", allow_none=True
        )
        if price is None:
            price = sku.price_cny if sku else ZERO
            if sku is None and code == "":
                _errors_add(errors, prefix + "unit_price_cny", _("Enter the unit price."))
        discount = money_parse(line.discount_cny, errors=errors, key=prefix + "discount_cny")
        if quantity and discount > quantity * price:
            _errors_add(errors, prefix + "discount_cny", _("The discount is more than the line is worth."))
        elif quantity * price - discount > MAX_MONEY:
            _errors_add(errors, prefix + "quantity", _("The line's amount is too large."))
        clean.append(_CleanLine(sku, title, quantity, price, discount))
    return clean


def skus_load(codes: Iterable[str]) -> dict[str, Sku]:
    """Code -> SKU, with its product and category (what a line takes from them)."""
    codes = set(codes) - {""}
    if not codes:
        # A marketplace's lines are often titles alone, and Django builds the whole joined query before
        # it finds an empty IN needs no database (a tenth of an order import).
        return {}
    found = Sku.objects.filter(code__in=codes).select_related("product", "product__category")
    return {sku.code: sku for sku in found}


def order_no_next() -> str:
    return f"KB{sequence_next(name=ORDER_NO_SEQUENCE):08d}"


def ship_to_address(customer: Customer) -> Address | None:
    """Where an order left without an address goes: the customer's default address, unless it is a
    region alone (no street) and another of theirs has a street, which a parcel needs (a sheet's 广东省
    深圳市 made the default, then a marketplace export brought the full address beside it). Sorted here
    rather than by the database, so that a customer read with its addresses (``customer_get_for_actor``)
    is not read again."""
    addresses = sorted(customer.addresses.all(), key=lambda a: (not a.is_default, a.pk))
    return next((a for a in addresses if a.detail.strip()), addresses[0] if addresses else None)


def _address_defaults(data: OrderInput) -> dict[str, str]:
    fields = {
        "receiver_name": data.receiver_name.strip()[:50],
        "receiver_phone": phone_as_kept(data.receiver_phone)[:32],
        "ship_province": data.ship_province.strip()[:30],
        "ship_city": data.ship_city.strip()[:30],
        "ship_district": data.ship_district.strip()[:30],
        "ship_address": data.ship_address.strip()[:200],
    }
    if data.address_as_given or any(fields.values()) or data.customer.pk is None:
        # A customer not saved yet (an import's new buyer, checked before it is made) has no address to
        # default to; an import's order takes none either, so that it is the same checked before or after
        # its buyer is made, whichever row made them.
        return fields
    address = ship_to_address(data.customer)
    if address is None:
        return fields
    return {
        "receiver_name": address.receiver or data.customer.name,
        "receiver_phone": address.receiver_phone,
        "ship_province": address.province,
        "ship_city": address.city,
        "ship_district": address.district,
        "ship_address": address.detail,
    }


def credit_check(
    *, customer: Customer, owed_cny: Decimal, amount_cny: Decimal, allow_over_limit: bool
) -> None:
    """Refuse or warn (per the shop's setting) when ``amount_cny`` more on credit, on top of ``owed_cny``
    (read under the customer's lock: two orders on credit at once cannot both pass), passes the limit."""
    if customer.credit_limit_cny is None:
        raise ValidationFailed(
            _("This customer has no credit line."),
            field_errors={
                "payment_method": [_("This customer has no credit line: set a credit limit first.")]
            },
        )
    if owed_cny + amount_cny <= customer.credit_limit_cny:
        return
    blocking = ShopSettings.read().credit_over_limit == "block"
    if allow_over_limit and not blocking:
        return
    message = _(
        "On credit this order would bring what %(name)s owes to ¥%(owed)s, beyond the limit of ¥%(limit)s."
    ) % {
        "name": customer.display_name,
        "owed": grouped(owed_cny + amount_cny),
        "limit": grouped(customer.credit_limit_cny),
    }
    raise CreditLimitExceeded(message, blocking=blocking, field_errors={"payment_method": [message]})


def _paid_now_check(
    value: Any, *, amount: Decimal, payment_method: str, errors: dict[str, list[Any]]
) -> Decimal:
    """What of ``amount`` (what the order counts as paid) the customer paid at the time, the rest going on
    their account: only on credit, and less than ``amount``, or nothing would be on credit. Another
    method's payment is what came in (below the amount due, the rest let off at the till, 抹零)."""
    paid_now = money_parse(value, errors=errors, key="paid_now_cny", allow_none=True)
    if not paid_now:
        return ZERO
    if payment_method != PaymentMethod.CREDIT:
        _errors_add(
            errors,
            "paid_now_cny",
            _("Only an order on credit is paid in part now: choose on credit, or enter the amount paid."),
        )
    elif paid_now >= amount and "paid_cny" not in errors:
        _errors_add(
            errors,
            "paid_now_cny",
            _("¥%(now)s paid now leaves nothing on credit: choose how it was paid instead.")
            % {"now": grouped(paid_now)},
        )
    return paid_now


def _credit_terms(order: Order, customer: Customer, *, paid_now_cny: Decimal = ZERO) -> None:
    """On credit: the order's due date from the customer's terms, and what goes on their account (what the
    order counts as paid, less what was paid at the time)."""
    if order.payment_method == PaymentMethod.CREDIT:
        paid_on: date = timezone.localdate(order.paid_at)
        order.credit_due_date = paid_on + timedelta(days=customer.payment_terms_days)
        order.credit_taken_cny = order.paid_cny - paid_now_cny
        order.credit_outstanding_cny = order.credit_taken_cny


def _counting_change(order: Order, lines: Sequence[OrderLine]) -> FiguresChange:
    """What an order that starts counting adds to its customer's figures."""
    return FiguresChange(
        spent_cny=order.paid_cny - order.refunded_cny,
        orders=1,
        order_time=order.ordered_at,
        refunded_orders=int(order.refunded_cny > 0),
        receivable_cny=order.credit_outstanding_cny,
        categories=line_category_spend(lines),
    )


@transaction.atomic
def order_create(
    *,
    actor: Any,
    data: OrderInput,
    allow_over_credit_limit: bool = False,
    idempotency_key: str | None = None,
) -> Order:
    """Create an order with its lines, in any status a marketplace reports, all or nothing.

    A paid (or later) order counts at once: the customer's figures move in this transaction. Raises
    ``ValidationFailed`` naming each bad field, ``CreditLimitExceeded`` for credit beyond the limit.
    The same ``idempotency_key`` from the same actor creates one order (a retried API call)."""
    return idempotent(
        key=idempotency_key,
        scope="order_create",
        actor=actor,
        model=Order,
        create=lambda: _order_create(actor=actor, data=data, allow_over_credit_limit=allow_over_credit_limit),
        # Keyed: the fingerprint is stored in the clear and the input holds the receiver's phone.
        fingerprint=keyring().mac("idempotency", repr(data).encode()).hex() if idempotency_key else "",
    )


def _order_create(*, actor: Any, data: OrderInput, allow_over_credit_limit: bool) -> Order:
    checked = order_check(actor=actor, data=data)
    locked = customer_lock(customer_id=data.customer.pk)
    if checked.counted and data.payment_method == PaymentMethod.CREDIT:
        credit_check(
            customer=data.customer,
            owed_cny=locked.receivable_cny,
            amount_cny=checked.order.credit_taken_cny,
            allow_over_limit=allow_over_credit_limit,
        )
    order = checked.order
    order.order_no = order.order_no or order_no_next()
    try:
        order.save()
    except IntegrityError as exc:
        # Two people saving the same order number at once: the unique constraint decides. No savepoint of
        # its own: the error leaves this function, and its atomic (a savepoint when nested) rolls back.
        raise ValidationFailed(
            _("Order number %(no)s already exists in %(store)s.")
            % {"no": order.order_no, "store": data.store},
            field_errors={"order_no": [_("This order number already exists in this store.")]},
        ) from exc
    rows = OrderLine.objects.bulk_create(checked.lines_unsaved())
    if checked.counted:
        customer_figures_apply(
            customer_id=order.customer_id, change=_counting_change(order, rows), actor=actor, locked=locked
        )
    audit_record(**checked.audit(actor))
    return order


@transaction.atomic
def orders_create_checked(*, actor: Any, checked: Sequence[CheckedOrder]) -> list[tuple[Order, int]]:
    """Write orders that passed :func:`order_check` (their customers saved) as :func:`order_create`
    writes them one after another in this order: the same rows, figures, stages, timeline events and
    audit entries, in a few statements for them all, all or nothing. For an import's
    batch; a test holds the two ways equal. Returns each order with its customer's version as that
    order left it.

    Not for orders on credit, whose limit check depends on the orders before them (``ValueError``).
    Two orders with one store and number, or one saved meanwhile by someone else, raise
    ``IntegrityError``: the caller's savepoint rolls them all back."""
    if any(c.counted and c.order.payment_method == PaymentMethod.CREDIT for c in checked):
        raise ValueError("Orders on credit are created one at a time (order_create).")
    if not checked:
        return []
    locked = customers_lock(customer_ids=[c.order.customer_id for c in checked])
    orders = [c.order for c in checked]
    for order in orders:
        order.order_no = order.order_no or order_no_next()
    objects_insert(Order, orders)
    lines = [c.lines_unsaved() for c in checked]
    objects_insert(OrderLine, [line for order_lines in lines for line in order_lines])
    figures = FiguresBatch(locked)
    events: list[CustomerEvent] = []
    audits: list[dict[str, Any]] = []
    versions: list[int] = []
    for one, order_lines in zip(checked, lines, strict=True):
        customer_id = one.order.customer_id
        if one.counted and (moved := figures.apply(customer_id, _counting_change(one.order, order_lines))):
            event, audit = customer_stage_changed_unsaved(
                customer=locked[customer_id], actor=actor, before=moved[0], after=moved[1]
            )
            events.append(event)
            audits.append(audit)
        audits.append(one.audit(actor))
        versions.append(locked[customer_id].version)
    figures.write()
    objects_insert(CustomerEvent, events)
    audit_records(audits)
    return list(zip(orders, versions, strict=True))


@dataclass
class CheckedOrder:
    """An order that passed :func:`order_check`: not saved, its lines cleaned."""

    order: Order
    lines: list[_CleanLine]
    counted: bool

    def lines_unsaved(self) -> list[OrderLine]:
        order = self.order
        return [
            OrderLine(
                order=order,
                customer_id=order.customer_id,
                counted=self.counted,
                sku=line.sku,
                product=line.sku.product if line.sku else None,
                root_category_id=_root_category_id(line.sku),
                title=line.title,
                sku_code=line.sku.code if line.sku else "",
                variant=line.sku.variant if line.sku else "",
                quantity=line.quantity,
                unit_price_cny=line.unit_price_cny,
                discount_cny=line.discount_cny,
                amount_cny=line.amount_cny,
                position=index,
            )
            for index, line in enumerate(self.lines)
        ]

    def audit(self, actor: Any) -> dict[str, Any]:
        """Its ``order.create`` audit record, as ``audit_record``'s arguments."""
        order = self.order
        data = {"customer": order.customer.customer_no, "status": order.status, "total": str(order.total_cny)}
        if order.on_credit and order.credit_taken_cny < order.paid_cny:
            data["paid_now"] = str(order.paid_now_cny)
        return {"action": "order.create", "actor": actor, "target": order, "data": data}


def order_check(
    *,
    actor: Any,
    data: OrderInput,
    now: datetime | None = None,
    numbers_taken: set[tuple[int, str]] | None = None,
    skus: dict[str, Sku] | None = None,
) -> CheckedOrder:
    """Every check of :func:`order_create` that needs no lock, and the order it would save: raises
    ``ValidationFailed`` naming each bad field. Reads, never writes. A caller checking many orders
    passes ``numbers_taken`` ((store id, order number) already used) and ``skus`` (code -> SKU, its
    product and category) read once for all, instead of a query or two for each."""
    errors: dict[str, list[Any]] = {k: list(v) for k, v in data.extra_errors.items()}
    now = now or timezone.now()
    customer = data.customer
    if customer.archived_at is not None:
        _errors_add(errors, "customer", _("This customer is archived: restore them before adding orders."))
    if not data.store.is_active:
        _errors_add(errors, "store", store_closed_message(data.store))
    if data.status not in ENTERED_STATUSES:
        _errors_add(errors, "status", _("Choose a valid status."))
    if data.payment_method and data.payment_method not in PaymentMethod.values:
        _errors_add(errors, "payment_method", _("Choose a valid payment method."))
    if data.delivery_method not in DeliveryMethod.values:
        _errors_add(errors, "delivery_method", _("Choose a valid delivery method."))
    ordered_at = _moment(data.ordered_at, errors=errors, key="ordered_at", now=now)
    lines = _lines_clean(data.lines, errors, skus=skus)
    shipping = money_parse(data.shipping_cny, errors=errors, key="shipping_cny")
    discount = money_parse(data.discount_cny, errors=errors, key="discount_cny")
    coupon = money_parse(data.coupon_cny, errors=errors, key="coupon_cny")
    goods = sum((line.amount_cny for line in lines), ZERO)
    total = goods - discount - coupon + shipping
    if total < 0 and not any(k.startswith("lines.") for k in errors):
        _errors_add(errors, "discount_cny", _("Discount and coupon are more than the order is worth."))
    if max(goods, total) > MAX_MONEY:
        _errors_add(errors, "lines", _("The order's amount is too large."))
    counted = data.status in COUNTED_STATUSES
    paid = money_parse(data.paid_cny, errors=errors, key="paid_cny", allow_none=True)
    paid_at = None
    if counted:
        paid = max(total, ZERO) if paid is None else paid
        # A line refused (no price, a bad quantity) leaves the amount due unknown: its error is the one.
        if paid > max(total, ZERO) and not any(k.startswith("lines.") for k in errors):
            _errors_add(
                errors,
                "paid_cny",
                _("More than the amount due (¥%(due)s).") % {"due": grouped(max(total, ZERO))},
            )
        # No payment time given: the order's, already checked above; checked again it would repeat the
        # order time's error under a field the person never filled in.
        paid_at = ordered_at
        if data.paid_at is not None:
            paid_at = _moment(data.paid_at, errors=errors, key="paid_at", now=now)
        if paid_at < ordered_at:
            _errors_add(errors, "paid_at", _("Payment cannot come before the order."))
        paid_now = _paid_now_check(
            data.paid_now_cny, amount=paid, payment_method=data.payment_method, errors=errors
        )
    else:
        paid_now = money_parse(data.paid_now_cny, errors=errors, key="paid_now_cny", allow_none=True)
        for key, amount in (("paid_cny", paid), ("paid_now_cny", paid_now)):
            if amount:
                _errors_add(errors, key, _("An order awaiting payment or cancelled has nothing paid."))
    order_no = data.order_no.strip()[:64]
    if numbers_taken is not None:
        taken = (data.store.pk, order_no) in numbers_taken
    else:
        taken = bool(order_no) and Order.objects.filter(store=data.store, order_no=order_no).exists()
    if order_no and taken:
        _errors_add(
            errors,
            "order_no",
            _("Order number %(no)s already exists in %(store)s.") % {"no": order_no, "store": data.store},
        )
    steps = _steps_checked(data, paid_at or ordered_at, errors=errors, now=now)
    if errors:
        raise ValidationFailed(_("The order was not saved; correct the marked fields."), field_errors=errors)
    order = Order(
        order_no=order_no,  # blank: numbered when written
        store=data.store,
        customer=customer,
        status=data.status,
        ordered_at=ordered_at,
        paid_at=paid_at,
        goods_cny=goods,
        shipping_cny=shipping,
        discount_cny=discount,
        coupon_code=data.coupon_code.strip()[:40],
        coupon_cny=coupon,
        total_cny=total,
        paid_cny=paid or ZERO,
        payment_method=data.payment_method,
        delivery_method=data.delivery_method,
        carrier=data.carrier.strip()[:30],
        tracking_no=data.tracking_no.strip()[:40],
        buyer_message=data.buyer_message.strip()[:1000],
        seller_notes=data.seller_notes.strip()[:2000],
        created_by=actor,
        created_at=now,
        updated_at=now,
        **_address_defaults(data),
    )
    order.shipped_at, order.delivered_at, order.completed_at = steps
    if data.status == OrderStatus.CANCELLED:
        order.cancelled_at = ordered_at
    if counted:
        _credit_terms(order, customer, paid_now_cny=paid_now)
    return CheckedOrder(order=order, lines=lines, counted=counted)


def _steps_checked(
    data: OrderInput, paid_at: datetime, *, errors: dict[str, list[Any]], now: datetime
) -> tuple[datetime | None, datetime | None, datetime | None]:
    """When an order entered as shipped, signed for or completed took each of those steps (shipped,
    delivered, completed; None for a step it has not taken): the times given, each not before the step
    before it; a time not given is the step before's (the payment's, for the shipping)."""
    shipped = delivered = completed = None
    if data.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED):
        shipped = _moment_after(data.shipped_at, paid_at, errors=errors, key="shipped_at", now=now)
    if shipped is not None and data.status in (OrderStatus.DELIVERED, OrderStatus.COMPLETED):
        delivered = _moment_after(data.delivered_at, shipped, errors=errors, key="delivered_at", now=now)
    if delivered is not None and data.status == OrderStatus.COMPLETED:
        completed = _moment_after(data.completed_at, delivered, errors=errors, key="completed_at", now=now)
    return shipped, delivered, completed


def _root_category_id(sku: Sku | None) -> int | None:
    category = sku.product.category if sku else None
    return None if category is None else category.root_id or category.pk


def _claim(order: Order, *, expected_version: int | None, **values: Any) -> Order:
    """Write ``values`` to the order if nobody changed it since it was read (its version), and return
    it fresh. ``Conflict`` otherwise."""
    version = order.version if expected_version is None else expected_version
    now = timezone.now()
    updated = Order.objects.filter(pk=order.pk, version=version).update(
        version=F("version") + 1, updated_at=now, **values
    )
    if not updated:
        raise Conflict(_("Someone else changed this order just now. Reload it and try again."))
    return Order.objects.select_related("customer", "store").get(pk=order.pk)


def _require_status(order: Order, allowed: Sequence[str], message: Any, key: str = "status") -> None:
    if order.status not in allowed:
        raise ValidationFailed(message, field_errors={key: [message]})


def _nothing_paid_message(order: Order, payment_method: str) -> str:
    """Why ¥0 is no payment of ``order``, which has something due (``order_pay``)."""
    due = grouped(order.total_cny)
    if payment_method == PaymentMethod.CREDIT:
        return _(
            "On credit the amount is what the customer owes for this order: it cannot be ¥0 when ¥%(due)s "
            "is due. Enter what they owe (empty: the amount due)."
        ) % {"due": due}
    return _(
        "¥0 paid on an order of ¥%(due)s: enter the amount received (empty: the amount due). An order "
        "given away is entered with a discount that brings it to ¥0."
    ) % {"due": due}


@transaction.atomic
def order_pay(
    *,
    actor: Any,
    order: Order,
    payment_method: str,
    paid_cny: Any = None,
    paid_now_cny: Any = None,
    paid_at: datetime | None = None,
    expected_version: int | None = None,
    allow_over_credit_limit: bool = False,
) -> Order:
    """Record the payment of an order awaiting it, or take it on credit (``PaymentMethod.CREDIT``). The
    order starts counting for the customer's figures.

    ``paid_cny``: what the customer paid, the amount due when left out; on credit, what they owe for
    the order (``credit_outstanding_cny``), which counts as spent as a payment does. Less than the amount
    due is recorded as it is (the odd yuan let off at the till, 抹零; a marketplace's partial payment):
    the order counts with what was paid, and Kebu keeps no balance of the rest. ¥0 of an amount due
    above ¥0 is refused on ``paid_cny`` whatever the method: the order would count as bought with
    nothing spent and, on credit, nothing owed, which is a slip of the keyboard, not a sale. An order
    due ¥0 (a free sample) is paid with ¥0.

    ``paid_now_cny``: on credit, what the customer paid there and then (¥5,000 of ¥12,000 at the
    counter): only the rest goes on their account, is checked against their limit and falls due. The
    order counts ``paid_cny`` as spent all the same."""
    if order.status == OrderStatus.CANCELLED:
        message = _("This order was cancelled; it cannot be paid. Create a new order instead.")
        raise ValidationFailed(message, field_errors={"status": [message]})
    _require_status(order, [OrderStatus.PENDING], _("This order is already paid."))
    errors: dict[str, list[Any]] = {}
    if payment_method not in PaymentMethod.values:
        _errors_add(errors, "payment_method", _("Choose a valid payment method."))
    amount = money_parse(paid_cny, errors=errors, key="paid_cny", allow_none=True)
    amount = order.total_cny if amount is None else amount
    if amount > order.total_cny:
        _errors_add(
            errors, "paid_cny", _("More than the amount due (¥%(due)s).") % {"due": grouped(order.total_cny)}
        )
    elif amount == 0 and order.total_cny > 0 and "paid_cny" not in errors:
        _errors_add(errors, "paid_cny", _nothing_paid_message(order, payment_method))
    paid_now = _paid_now_check(paid_now_cny, amount=amount, payment_method=payment_method, errors=errors)
    now = timezone.now()
    moment = _moment(paid_at, errors=errors, key="paid_at", now=now)
    if moment < order.ordered_at:
        _errors_add(errors, "paid_at", _("Payment cannot come before the order."))
    if errors:
        raise ValidationFailed(_("The payment was not recorded."), field_errors=errors)
    locked = customer_lock(customer_id=order.customer_id)
    customer = order.customer
    if payment_method == PaymentMethod.CREDIT:
        credit_check(
            customer=customer,
            owed_cny=locked.receivable_cny,
            amount_cny=amount - paid_now,
            allow_over_limit=allow_over_credit_limit,
        )
    draft = Order(paid_cny=amount, paid_at=moment, payment_method=payment_method)
    _credit_terms(draft, customer, paid_now_cny=paid_now)
    order = _claim(
        order,
        expected_version=expected_version,
        status=OrderStatus.PAID,
        paid_cny=amount,
        paid_at=moment,
        payment_method=payment_method,
        credit_due_date=draft.credit_due_date,
        credit_taken_cny=draft.credit_taken_cny,
        credit_outstanding_cny=draft.credit_outstanding_cny,
    )
    OrderLine.objects.filter(order=order).update(counted=True)
    customer_figures_apply(
        customer_id=order.customer_id,
        change=_counting_change(order, list(order.lines.all())),
        actor=actor,
        locked=locked,
    )
    data = {"amount": str(amount), "method": payment_method}
    if paid_now:
        data["paid_now"] = str(paid_now)
    audit_record(action="order.pay", actor=actor, target=order, data=data)
    return order


@transaction.atomic
def order_ship(
    *,
    actor: Any,
    order: Order,
    carrier: str = "",
    tracking_no: str = "",
    shipped_at: datetime | None = None,
    expected_version: int | None = None,
    reported: bool = False,
) -> Order:
    """Mark a paid order shipped, with the carrier and tracking number when it goes by parcel. A shipment
    ``reported`` by a marketplace's export (an import moving the order on) is taken with the carrier and
    tracking number the export has, if any: it went, whatever the sheet left out, as an order imported
    shipped is made without them."""
    _require_status(order, [OrderStatus.PAID], _("Only a paid order can be shipped."))
    errors: dict[str, list[Any]] = {}
    carrier, tracking_no = carrier.strip()[:30], tracking_no.strip()[:40]
    if not reported and order.delivery_method in (DeliveryMethod.EXPRESS, DeliveryMethod.FREIGHT):
        if not carrier:
            _errors_add(errors, "carrier", _("Enter the carrier."))
        if not tracking_no:
            _errors_add(errors, "tracking_no", _("Enter the tracking number."))
    moment = _step_moment(order, shipped_at, key="shipped_at", errors=errors)
    if errors:
        raise ValidationFailed(_("The order was not marked shipped."), field_errors=errors)
    order = _claim(
        order,
        expected_version=expected_version,
        status=OrderStatus.SHIPPED,
        shipped_at=moment,
        carrier=carrier,
        tracking_no=tracking_no,
    )
    audit_record(action="order.ship", actor=actor, target=order, data={"carrier": carrier})
    return order


@transaction.atomic
def order_deliver(
    *, actor: Any, order: Order, delivered_at: datetime | None = None, expected_version: int | None = None
) -> Order:
    """The customer signed for the parcel (已签收), now or at ``delivered_at`` (a marketplace's 签收时间)."""
    _require_status(order, [OrderStatus.SHIPPED], _("Only a shipped order can be delivered."))
    errors: dict[str, list[Any]] = {}
    moment = _step_moment(order, delivered_at, key="delivered_at", errors=errors)
    if errors:
        raise ValidationFailed(_("The order was not marked delivered."), field_errors=errors)
    order = _claim(
        order, expected_version=expected_version, status=OrderStatus.DELIVERED, delivered_at=moment
    )
    audit_record(action="order.deliver", actor=actor, target=order)
    return order


@transaction.atomic
def order_complete(
    *, actor: Any, order: Order, completed_at: datetime | None = None, expected_version: int | None = None
) -> Order:
    """Close the sale (已完成): delivered, or shipped and never confirmed; now or at ``completed_at`` (a
    marketplace's 确认收货时间)."""
    _require_status(
        order,
        [OrderStatus.SHIPPED, OrderStatus.DELIVERED],
        _("Only a shipped or delivered order can complete."),
    )
    errors: dict[str, list[Any]] = {}
    moment = _step_moment(order, completed_at, key="completed_at", errors=errors)
    if errors:
        raise ValidationFailed(_("The order was not completed."), field_errors=errors)
    order = _claim(
        order,
        expected_version=expected_version,
        status=OrderStatus.COMPLETED,
        completed_at=moment,
        delivered_at=order.delivered_at or moment,
    )
    audit_record(action="order.complete", actor=actor, target=order)
    return order


def _step_moment(order: Order, value: datetime | None, *, key: str, errors: dict[str, list[Any]]) -> datetime:
    """When ``order`` takes step ``key`` (shipped_at, delivered_at, completed_at): now, or ``value`` (a
    marketplace's time), which may not be in the future nor before the step it follows."""
    now = timezone.now()
    if value is None:
        return _moment(None, errors=errors, key=key, now=now)
    earliest = order.delivered_at or order.shipped_at or order.paid_at or order.ordered_at
    return _moment_after(value, earliest, errors=errors, key=key, now=now)


@transaction.atomic
def order_cancel(*, actor: Any, order: Order, reason: str = "", expected_version: int | None = None) -> Order:
    """Cancel an order awaiting payment. A paid order is not cancelled but refunded (an after-sale),
    so that the money trail stays whole; refunded in full, it closes."""
    if order.status in COUNTED_STATUSES:
        message = _("This order is paid: refund it instead (after-sales); refunded in full, it closes.")
        raise ValidationFailed(message, field_errors={"status": [message]})
    _require_status(order, [OrderStatus.PENDING], _("This order is already cancelled."))
    order = _claim(
        order, expected_version=expected_version, status=OrderStatus.CANCELLED, cancelled_at=timezone.now()
    )
    audit_record(action="order.cancel", actor=actor, target=order, data={"reason": reason[:200]})
    return order


@transaction.atomic
def order_notes_update(
    *, actor: Any, order: Order, seller_notes: str, expected_version: int | None = None
) -> Order:
    """Change the seller's private notes on an order."""
    notes = seller_notes.strip()
    if len(notes) > 2000:
        raise ValidationFailed(
            _("Notes are too long."), field_errors={"seller_notes": [_("At most 2000 characters.")]}
        )
    order = _claim(order, expected_version=expected_version, seller_notes=notes)
    audit_record(action="order.update", actor=actor, target=order, data={"fields": ["seller_notes"]})
    return order


# What may change on an order once it is placed, besides its status: how it is described, how and where
# it goes and how it was paid. Not its lines nor its amounts, which the customer's figures are made of:
# those change through the after-sales services (a refund), never by overwriting them.
ORDER_DETAIL_FIELDS = (
    "seller_notes",
    "buyer_message",
    "payment_method",
    "delivery_method",
    "carrier",
    "tracking_no",
    "receiver_name",
    "receiver_phone",
    "ship_province",
    "ship_city",
    "ship_district",
    "ship_address",
)
# The details someone without ``customers.view_contact`` sees masked (the phone, the street address, the
# buyer's words and the notes), and the province, city and district, which are one address with the
# street they cannot see.
ORDER_CONTACT_DETAIL_FIELDS = (
    "seller_notes",
    "buyer_message",
    "receiver_phone",
    "ship_province",
    "ship_city",
    "ship_district",
    "ship_address",
)
_DIVISION_FIELDS = ("ship_province", "ship_city", "ship_district")
_ADDRESS_FIELDS = (*_DIVISION_FIELDS, "ship_address")


_NOTES_LENGTH = {"buyer_message": 1000, "seller_notes": 2000}


def order_detail_fields_for(*, actor: Any) -> tuple[str, ...]:
    """The details ``actor`` may change, by hand (a page, the API) or by importing a sheet: every one to
    someone who sees contact details, the others only to someone who sees them masked, since a form of
    masked values would either show them or overwrite them blindly, and a sheet's value would overwrite
    one they cannot see. Whether the actor may change orders at all is ``orders.change_order``."""
    if contact_policy(actor).can_see:
        return ORDER_DETAIL_FIELDS
    return tuple(name for name in ORDER_DETAIL_FIELDS if name not in ORDER_CONTACT_DETAIL_FIELDS)


def _detail_clean(order: Order, values: dict[str, str]) -> dict[str, str]:
    """``values`` as they would be stored (trimmed, one kind of line break, a receiver phone normalised
    when it parses, a municipality's city as the division list names it), less those that are what the
    order already has. The address is one: when a part of it changes, every part given goes with it."""
    clean = {name: value.replace("\r\n", "\n").strip() for name, value in values.items()}
    if clean.get("receiver_phone"):
        # Stored normalised when it is a number, so the same number typed another way is no change.
        clean["receiver_phone"] = phone_as_kept(clean["receiver_phone"])
    if clean.get("ship_city", order.ship_city) != order.ship_city:
        province = clean.get("ship_province", order.ship_province)
        clean["ship_city"] = divisions.city_as_listed(province, clean["ship_city"])
    changed = {name: value for name, value in clean.items() if value != _detail_stored(order, name)}
    if set(_ADDRESS_FIELDS) & set(changed):
        changed.update({name: clean[name] for name in _ADDRESS_FIELDS if name in clean})
    return changed


def _detail_stored(order: Order, name: str) -> str:
    """A detail of ``order`` as ``_detail_clean`` compares it: a receiver phone stored before phones were
    normalised (as a sheet wrote it) is the number it is, so sending it back unchanged changes nothing."""
    value = getattr(order, name)
    return phone_as_kept(value) if name == "receiver_phone" else value


def _address_check(order: Order, changed: dict[str, str], errors: dict[str, list[Any]]) -> None:
    """A changed province, city or district must be one of the division list's, each under the one
    before it (or the three left blank: no address). Only a change to one of them is checked: the parts
    of an address go together (``_detail_clean``), and an order's division from before the list (an API
    or import of old) does not stop its street from being corrected."""
    if not any(changed.get(name, getattr(order, name)) != getattr(order, name) for name in _DIVISION_FIELDS):
        return
    province, city, district = (changed.get(name, getattr(order, name)) for name in _DIVISION_FIELDS)
    if not (province or city or district) or divisions.is_valid(province, city, district):
        return
    if not divisions.is_valid(province):
        _errors_add(errors, "ship_province", _("Choose a province from the list."))
    elif not divisions.is_valid(province, city):
        _errors_add(
            errors, "ship_city", _("Choose a city of %(province)s from the list.") % {"province": province}
        )
    else:
        _errors_add(
            errors, "ship_district", _("Choose a district of %(city)s from the list.") % {"city": city}
        )


@transaction.atomic
def order_details_update(
    *,
    actor: Any,
    order: Order,
    changes: dict[str, str],
    expected_version: int | None = None,
    import_id: int | None = None,
) -> Order:
    """Change an order's details (``ORDER_DETAIL_FIELDS``: notes, buyer message, delivery method, carrier
    and tracking number, the shipping address, the payment method of a paid order) to ``changes``, all or
    none. The customer's figures do not depend on them, with one exception refused here: taking a paid
    order on credit or off it would change what the customer owes. A changed receiver phone must be a
    phone number, stored normalised (``phone_as_kept``), a changed province, city or district one of the
    division list's, a changed delivery method one of ``DeliveryMethod``'s. Only what differs from the
    order is written and named in the audit entry; with nothing different, nothing is written. Raises
    ``ValidationFailed`` naming each bad field; ``Conflict`` when the order changed since it was read.
    ``import_id``: the import that brings the change, kept in the audit entry, so that a later import can
    tell a correction made by hand from its own (``order_fields_edited_by_hand``)."""
    unknown = set(changes) - set(ORDER_DETAIL_FIELDS)
    if unknown:
        raise ValueError(f"Not an order detail: {', '.join(sorted(unknown))}")
    errors: dict[str, list[Any]] = {}
    values = _detail_clean(order, changes)
    for name, value in values.items():
        # The notes and message are text fields, held to their length by a validator, not the column.
        limit = getattr(Order._meta.get_field(name), "max_length", None) or _NOTES_LENGTH[name]
        if len(value) > limit:
            _errors_add(errors, name, _("At most %(max)d characters.") % {"max": limit})
    if values.get("receiver_phone"):
        try:
            parse_phone(values["receiver_phone"])
        except ValidationFailed as exc:
            _errors_add(errors, "receiver_phone", exc.message)
    _address_check(order, values, errors)
    if values.get("delivery_method", order.delivery_method) not in DeliveryMethod.values:
        _errors_add(errors, "delivery_method", _("Choose a valid delivery method."))
    method = values.get("payment_method", order.payment_method)
    if method != order.payment_method:
        if order.status not in COUNTED_STATUSES:
            _errors_add(errors, "payment_method", _("An order is given its payment method when it is paid."))
        elif method not in PaymentMethod.values:
            _errors_add(errors, "payment_method", _("Choose a valid payment method."))
        elif PaymentMethod.CREDIT in (method, order.payment_method):
            _errors_add(
                errors,
                "payment_method",
                _(
                    "A paid order is not taken on credit or off it afterwards: what the customer owes "
                    "would change."
                ),
            )
    if errors:
        raise ValidationFailed(
            _("The order was not changed; correct the marked fields."), field_errors=errors
        )
    if not values:
        return order
    order = _claim(order, expected_version=expected_version, **values)
    # The field names only: the values are contact details and the buyer's words.
    data: dict[str, Any] = {"fields": sorted(values)}
    if import_id is not None:
        data["import"] = import_id
    audit_record(action="order.update", actor=actor, target=order, data=data)
    return order


def order_fields_edited_by_hand(order: Order) -> set[str]:
    """The details of ``order`` changed in Kebu (its page, the API, the notes) since an import last
    changed any: what a later import of an older export must not put back. Read from the order's audit
    entries, newest first, up to the first that an import made."""
    entries = AuditEntry.objects.filter(
        action="order.update", target_type="orders.order", target_id=str(order.pk)
    ).order_by("-seq")
    edited: set[str] = set()
    for data in entries.values_list("data", flat=True).iterator():
        if (data or {}).get("import") is not None:
            break
        edited.update((data or {}).get("fields", ()))
    return edited
