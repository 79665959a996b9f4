"""After-sales (售后): refund only, return and refund, exchange.

Flow: requested → (approved → received, for goods coming back) → completed, or rejected / withdrawn
while open. The money is reserved on the order when the request is made and paid out when it
completes, so that no set of refunds, however they interleave, passes what was paid: the order's
``refund_reserved_cny`` is raised with a version-checked UPDATE, and a second request racing the first
re-reads the order and is measured against what is left (``tests/test_concurrency.py`` runs two at
once on PostgreSQL). The customer's figures move when the money does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kebu.audit.services import audit_record
from kebu.core.crypto import keyring
from kebu.core.errors import Conflict, ValidationFailed
from kebu.core.services import idempotent
from kebu.customers.columns import grouped
from kebu.orders.models import (
    COUNTED_STATUSES,
    OPEN_AFTERSALE_STATUSES,
    AfterSale,
    AfterSaleKind,
    AfterSaleLine,
    AfterSaleReason,
    AfterSaleStatus,
    Order,
    OrderLine,
    OrderStatus,
    Sku,
)
from kebu.orders.services.metrics import FiguresChange, customer_figures_apply, customer_lock
from kebu.orders.services.orders import _errors_add, _moment, money_parse

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
# Two requests on one order at the same moment: the loser re-reads and tries again this many times.
RESERVE_ATTEMPTS = 5
# The after-sales that send goods back, which an order whose goods never went out cannot have: before
# shipping the marketplaces offer refund only (Taobao's and Pinduoduo's 未发货仅退款, JD's 取消订单退款).
GOODS_BACK_KINDS = (AfterSaleKind.RETURN, AfterSaleKind.EXCHANGE)
# The steps at which the goods have gone out to the customer.
SENT_STATUSES = (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED)
NOT_SHIPPED_MESSAGE = gettext_lazy(
    "This order has not been shipped: only a refund without return is possible. If it went out, mark it "
    "shipped first."
)


def order_goods_sent(order: Order) -> bool:
    """Whether ``order``'s goods went out: it was shipped, signed for or completed, or has a time of
    shipping (an order closed after it was shipped keeps it). A tracking number alone is not a shipment:
    a waybill (电子面单) is printed before the parcel is handed over, and a marketplace export reports an
    order awaiting shipment (等待卖家发货) with one."""
    return order.status in SENT_STATUSES or order.shipped_at is not None


def aftersale_kinds_for(order: Order) -> list[str]:
    """The kinds of after-sale ``order`` may have now (``AfterSaleKind`` values): refund only before its
    goods went out (``order_goods_sent``), return and refund and exchange too once they did."""
    if order_goods_sent(order):
        return list(AfterSaleKind.values)
    return [AfterSaleKind.REFUND]


@dataclass(frozen=True)
class ReplacementInput:
    """What an exchange sent back to the customer, each part optional: the SKU by its code, the item as
    the customer will know it (left out with a SKU: the SKU's product and variant), the carrier and the
    tracking number."""

    sku_code: str = ""
    item: str = ""
    carrier: str = ""
    tracking_no: str = ""


@dataclass
class AfterSaleLineInput:
    line_id: int
    quantity: Any = 1
    amount_cny: Any = None  # left out: the units' share of what was paid (``line_refund_bases``)


def _open_quantities(order: Order) -> dict[int, int]:
    """Per order line, the units that cannot come back again: those in returns and refunds open or
    completed, and in exchanges still open (on their way back). A completed exchange took none for good:
    the customer holds its replacement, which may come back as the unit it replaced could."""
    return _units_in_aftersales(order, open_exchanges=True)


def _priced_quantities(order: Order) -> dict[int, int]:
    """Per order line, the units returns and refunds open or completed have priced (``LineRefundBasis``):
    an exchange refunds nothing, so it prices none."""
    return _units_in_aftersales(order, open_exchanges=False)


def _units_in_aftersales(order: Order, *, open_exchanges: bool) -> dict[int, int]:
    """Per line of ``order``, the units in its returns and refunds that are not rejected or withdrawn,
    and (``open_exchanges``) in its exchanges still open."""
    rows = AfterSaleLine.objects.filter(aftersale__order=order).exclude(
        aftersale__status__in=[AfterSaleStatus.REJECTED, AfterSaleStatus.CANCELLED]
    )
    exchange = Q(aftersale__kind=AfterSaleKind.EXCHANGE)
    rows = rows.exclude(
        exchange & Q(aftersale__status=AfterSaleStatus.COMPLETED) if open_exchanges else exchange
    )
    return dict(rows.values("line_id").annotate(quantity=Sum("quantity")).values_list("line_id", "quantity"))


def _open_line_amounts(order: Order) -> dict[int, Decimal]:
    """Per order line, the money open after-sales hold of it; what was paid out is the line's own
    ``refunded_cny`` (which also holds its share of refunds that named no line)."""
    rows = (
        AfterSaleLine.objects.filter(aftersale__order=order, aftersale__status__in=OPEN_AFTERSALE_STATUSES)
        .values("line_id")
        .annotate(amount=Sum("amount_cny"))
    )
    return {row["line_id"]: Decimal(row["amount"]).quantize(CENT) for row in rows}


@dataclass(frozen=True)
class LineRefundBasis:
    """What the default refund of a line's units is worked out from (``line_refund_bases``)."""

    bought: int  # the line's quantity
    paid_cny: Decimal  # its share of what was paid for the goods
    priced: int  # its units that returns and refunds have already priced (``_priced_quantities``)
    left_cny: Decimal  # its amount less what was paid out of it and what open after-sales hold

    def default(self, quantity: int) -> Decimal:
        """The refund of ``quantity`` more of the line's units, after the ``priced`` ones: the worth of
        the first ``priced + quantity`` units less that of the first ``priced`` (the first n are worth
        ⌊share × n / bought⌋ fen), at most what is left of the line."""
        fen = int(self.paid_cny * 100)
        upto = min(self.priced + quantity, self.bought)
        worth = fen * upto // self.bought - fen * self.priced // self.bought
        return min(Decimal(worth).scaleb(-2), max(self.left_cny, ZERO)).quantize(CENT)


def line_refund_bases(order: Order) -> dict[int, LineRefundBasis]:
    """Per line of ``order``, what the refund of its units is when none is given: their share of what the
    customer actually paid for the goods. The after-sale services fill in a line's refund left out with
    it (``_lines_clean``), the after-sale form's preview (``static/kebu/orders.js``) and an order import
    that says only how many units came back (``transfer.orders._refunded``) show and record the same.

    - What was paid for the goods is what was paid less the shipping, never below nought nor above the
      goods' amount (the lines' amounts): the order's discount and coupon come off the goods, never off
      the shipping. On credit what was paid is the amount due, owed or settled: an order taken on
      credit records it as paid and what is owed beside it (``credit_outstanding_cny``, which a refund
      cancels first), so the share is the same however much of it is settled yet.
    - It is spread over the lines in proportion to their amounts (each already less its own discount),
      in whole fen, the odd fen to the largest remainders, ties to the first line (``fen_shares``): the
      lines' shares add up to it exactly.
    - A line's share is spread over its units in the order they come back: its first n units are worth
      ⌊share × n / bought⌋ fen, so the odd fen fall on the last units, and the units of a line returned
      in any number of after-sales add up to its share. Returning every unit of every line, at once or
      in turns, thus defaults to exactly what was paid less the shipping. The units already priced are
      those in returns and refunds open or completed (an exchange refunds nothing).
    - Never more than is left of the line: its own amount less what was paid out of it (a refund naming
      no line took its part: ``_spread``) and what open after-sales hold of it, the same bound a refund
      typed by hand has. That bound stays the line's own amount, before the order's discount and coupon,
      as the spend per category counts the line.
    - The shipping is in no line's share: the after-sale's own amount may add it (``aftersale_request``).

    For 961.00 of goods (a line of 3 units at 364.00 among them), a 30.00 order discount, a 10.00 coupon
    and 12.00 shipping, 933.00 paid: the goods were paid 921.00, the line's share is 348.85, and one of
    its units comes to 116.28, where its undiscounted price would be 121.33."""
    lines = list(order.lines.order_by("position", "pk"))
    amounts = [int(line.amount_cny * 100) for line in lines]
    goods_paid = min(max(int((order.paid_cny - order.shipping_cny) * 100), 0), sum(amounts))
    shares = fen_shares(goods_paid, amounts)
    priced = _priced_quantities(order)
    held = _open_line_amounts(order)
    return {
        line.pk: LineRefundBasis(
            bought=line.quantity,
            paid_cny=Decimal(share).scaleb(-2).quantize(CENT),
            priced=priced.get(line.pk, 0),
            left_cny=line.amount_cny - line.refunded_cny - held.get(line.pk, ZERO),
        )
        for line, share in zip(lines, shares, strict=True)
    }


def _lines_clean(
    order: Order, kind: str, lines: Sequence[AfterSaleLineInput], errors: dict[str, list[Any]]
) -> list[tuple[OrderLine, int, Decimal]]:
    by_id = {line.pk: line for line in order.lines.all()}
    taken = _open_quantities(order)
    bases = line_refund_bases(order)
    clean: list[tuple[OrderLine, int, Decimal]] = []
    seen: set[int] = set()
    for index, item in enumerate(lines):
        prefix = f"lines.{index}."
        line = by_id.get(int(item.line_id)) if str(item.line_id).isdigit() else None
        if line is None or line.pk in seen:
            _errors_add(errors, prefix + "line_id", _("Choose a line of this order (each once)."))
            continue
        seen.add(line.pk)
        try:
            quantity = int(item.quantity)
        except (TypeError, ValueError):
            quantity = 0
        left = line.quantity - taken.get(line.pk, 0)
        if quantity <= 0:
            _errors_add(errors, prefix + "quantity", _("The quantity must be at least 1."))
            continue
        if quantity > left:
            _errors_add(
                errors,
                prefix + "quantity",
                _("Only %(left)d of this line can still be returned or refunded.") % {"left": max(left, 0)},
            )
            continue
        basis = bases[line.pk]
        amount = ZERO
        if kind == AfterSaleKind.EXCHANGE:
            # Said, not dropped: a line's refund typed on an exchange would otherwise vanish unseen.
            typed = money_parse(item.amount_cny, errors=errors, key=prefix + "amount_cny", allow_none=True)
            if typed:
                _errors_add(
                    errors, prefix + "amount_cny", _("An exchange refunds nothing; use a refund for money.")
                )
        else:
            amount = money_parse(item.amount_cny, errors=errors, key=prefix + "amount_cny", allow_none=True)
            if amount is None:
                amount = basis.default(quantity)
            elif amount > basis.left_cny:
                _errors_add(
                    errors,
                    prefix + "amount_cny",
                    _("At most ¥%(left)s of this line is left to refund.")
                    % {"left": grouped(max(basis.left_cny, ZERO))},
                )
        clean.append((line, quantity, amount))
    return clean


@transaction.atomic
def aftersale_request(
    *,
    actor: Any,
    order: Order,
    kind: str,
    reason: str,
    reason_detail: str = "",
    amount_cny: Any = None,
    lines: Sequence[AfterSaleLineInput] = (),
    idempotency_key: str | None = None,
) -> AfterSale:
    """Open an after-sale on a paid order and reserve its refund. Before its goods went out an order has
    refund only (``aftersale_kinds_for``): a return or an exchange is refused on ``kind``; one awaiting
    payment, cancelled or closed (refunded in full) has none, refused on ``order``.

    ``amount_cny`` may include shipping, so it may pass the lines' refunds; left out, it is their sum. A
    line's refund left out is its units' share of what was paid for the goods (``line_refund_bases``).
    Never more than is refundable: what was paid less every refund completed or in progress. The same
    ``idempotency_key`` from the same actor opens one after-sale (a retried API call)."""
    # Keyed below: the fingerprint is stored in the clear and the details are the customer's words.
    asked = repr((order.pk, kind, reason, reason_detail, amount_cny, list(lines)))
    return idempotent(
        key=idempotency_key,
        scope="aftersale_request",
        actor=actor,
        model=AfterSale,
        create=lambda: _aftersale_request(
            actor=actor,
            order=order,
            kind=kind,
            reason=reason,
            reason_detail=reason_detail,
            amount_cny=amount_cny,
            lines=lines,
        ),
        fingerprint=keyring().mac("idempotency", asked.encode()).hex() if idempotency_key else "",
    )


def _aftersale_request(
    *,
    actor: Any,
    order: Order,
    kind: str,
    reason: str,
    reason_detail: str,
    amount_cny: Any,
    lines: Sequence[AfterSaleLineInput],
    requested_at: datetime | None = None,
    over: bool = False,
) -> AfterSale:
    """``over``: a return already over when it is recorded (``order_refund``'s ``returned``), whose goods
    came back, so went out, whatever step the order was recorded at (an import's order closed in the
    marketplace, whose sheet gives no time of shipping): it is not refused as an order never shipped."""
    # Two requests on one order at once queue here, so each counts what the other already took of a line.
    customer_lock(customer_id=order.customer_id)
    order = Order.objects.get(pk=order.pk)
    errors: dict[str, list[Any]] = {}
    if kind not in AfterSaleKind.values:
        _errors_add(errors, "kind", _("Choose refund only, return and refund, or exchange."))
    if reason not in AfterSaleReason.values:
        _errors_add(errors, "reason", _("Choose a reason."))
    if refused := _order_refusal(order):
        _errors_add(errors, "order", refused)
    elif kind in GOODS_BACK_KINDS and not over and kind not in aftersale_kinds_for(order):
        _errors_add(errors, "kind", NOT_SHIPPED_MESSAGE)
    if kind in GOODS_BACK_KINDS and not lines and "kind" not in errors:
        _errors_add(errors, "lines", _("Choose the lines and quantities that come back."))
    clean = _lines_clean(order, kind, lines, errors)
    line_total = sum((amount for _line, _qty, amount in clean), ZERO)
    if kind == AfterSaleKind.EXCHANGE:
        amount = ZERO
        if amount_cny not in (None, "", 0, "0", ZERO):
            _errors_add(errors, "amount_cny", _("An exchange refunds nothing; use a refund for money."))
    else:
        amount = money_parse(amount_cny, errors=errors, key="amount_cny", allow_none=True)
        amount = line_total if amount is None else amount
        # Left empty, the amount is the lines' share: when a line is wrong or none is chosen, that is
        # what to correct, not the amount.
        lines_wrong = any(k == "lines" or k.startswith("lines.") for k in errors)
        if amount <= 0 and "amount_cny" not in errors and not lines_wrong:
            _errors_add(errors, "amount_cny", _("Enter the amount to refund."))
        if amount < line_total and "amount_cny" not in errors:
            _errors_add(errors, "amount_cny", _("The amount is less than the lines' refunds add up to."))
    if errors:
        raise ValidationFailed(
            _("The after-sale was not saved; correct the marked fields."), field_errors=errors
        )

    if amount > 0:
        order = _reserve(order, amount)
    aftersale = AfterSale.objects.create(
        order=order,
        customer_id=order.customer_id,
        kind=kind,
        reason=reason,
        reason_detail=reason_detail.strip()[:500],
        amount_cny=amount,
        requested_at=requested_at or timezone.now(),
        created_by=actor,
    )
    AfterSaleLine.objects.bulk_create(
        AfterSaleLine(aftersale=aftersale, line=line, quantity=quantity, amount_cny=line_amount)
        for line, quantity, line_amount in clean
    )
    audit_record(
        action="aftersale.request",
        actor=actor,
        target=aftersale,
        data={"order": order.order_no, "kind": kind, "amount": str(amount)},
    )
    return aftersale


def _order_refusal(order: Order) -> str | None:
    """Why ``order`` can have no after-sale: nothing was paid, or everything paid was refunded."""
    if order.status == OrderStatus.CLOSED:
        return _("This order was refunded in full and is closed: nothing is left to refund.")
    if order.status == OrderStatus.CANCELLED:
        return _("This order was cancelled: nothing was paid, so nothing can be refunded.")
    if order.status not in COUNTED_STATUSES:
        return _("This order is awaiting payment: nothing was paid, so nothing can be refunded.")
    return None


def _reserve(order: Order, amount: Decimal) -> Order:
    """Raise the order's reserved refunds by ``amount`` if that stays within what was paid."""
    for _attempt in range(RESERVE_ATTEMPTS):
        fresh = Order.objects.get(pk=order.pk)
        left = fresh.paid_cny - fresh.refund_reserved_cny
        if amount > left:
            message = _("At most ¥%(left)s of this order can still be refunded.") % {
                "left": grouped(max(left, ZERO))
            }
            raise ValidationFailed(message, field_errors={"amount_cny": [message]})
        if Order.objects.filter(pk=fresh.pk, version=fresh.version).update(
            refund_reserved_cny=fresh.refund_reserved_cny + amount, version=F("version") + 1
        ):
            return Order.objects.get(pk=order.pk)
    raise Conflict(_("This order is being changed by someone else. Try again."))


def _transition(
    aftersale: AfterSale, *, allowed: Sequence[str], expected_version: int | None, **values: Any
) -> AfterSale:
    if aftersale.status not in allowed:
        message = _("This after-sale is %(status)s; that step is not possible now.") % {
            "status": aftersale.get_status_display()
        }
        raise ValidationFailed(message, field_errors={"status": [message]})
    version = aftersale.version if expected_version is None else expected_version
    updated = AfterSale.objects.filter(pk=aftersale.pk, version=version, status__in=allowed).update(
        version=F("version") + 1, **values
    )
    if not updated:
        raise Conflict(_("Someone else changed this after-sale just now. Reload it and try again."))
    return AfterSale.objects.select_related("order", "customer").get(pk=aftersale.pk)


@transaction.atomic
def aftersale_approve(*, actor: Any, aftersale: AfterSale, expected_version: int | None = None) -> AfterSale:
    """Agree to a return or exchange: the customer sends the goods back."""
    if aftersale.kind == AfterSaleKind.REFUND:
        message = _("A refund without a return is completed directly.")
        raise ValidationFailed(message, field_errors={"status": [message]})
    aftersale = _transition(
        aftersale,
        allowed=[AfterSaleStatus.REQUESTED],
        expected_version=expected_version,
        status=AfterSaleStatus.APPROVED,
    )
    audit_record(action="aftersale.approve", actor=actor, target=aftersale)
    return aftersale


@transaction.atomic
def aftersale_receive(
    *, actor: Any, aftersale: AfterSale, return_tracking_no: str = "", expected_version: int | None = None
) -> AfterSale:
    """The returned goods arrived."""
    aftersale = _transition(
        aftersale,
        allowed=[AfterSaleStatus.APPROVED],
        expected_version=expected_version,
        status=AfterSaleStatus.RECEIVED,
        return_tracking_no=return_tracking_no.strip()[:40] or aftersale.return_tracking_no,
    )
    audit_record(action="aftersale.receive", actor=actor, target=aftersale)
    return aftersale


@transaction.atomic
def aftersale_complete(
    *,
    actor: Any,
    aftersale: AfterSale,
    resolution_note: str = "",
    replacement: ReplacementInput | None = None,
    expected_version: int | None = None,
) -> AfterSale:
    """Pay the refund out (or send the exchange): the order's refunded amount, its lines, what a credit
    customer owes and the customer's figures move together. Refunded in full, the order closes.

    ``replacement``: what an exchange sent back (``ReplacementInput``), recorded with its completion and
    named in its audit entry; the flow has no shipping step, as the replacement goes out when the
    exchange is done. Given for a refund or a return, or naming a SKU that does not exist, it is refused
    (``ValidationFailed``) and nothing moves."""
    return _aftersale_complete(
        actor=actor,
        aftersale=aftersale,
        resolution_note=resolution_note,
        expected_version=expected_version,
        replacement=replacement,
    )


def _replacement_values(aftersale: AfterSale, replacement: ReplacementInput | None) -> dict[str, Any]:
    """The ``AfterSale.replacement_*`` columns ``replacement`` fills, or ``ValidationFailed``."""
    if replacement is None:
        return {}
    given: dict[str, Any] = {
        "replacement_sku_code": replacement.sku_code.strip(),
        "replacement_item": replacement.item.strip()[:200],
        "replacement_carrier": replacement.carrier.strip()[:30],
        "replacement_tracking_no": replacement.tracking_no.strip()[:40],
    }
    given = {name: value for name, value in given.items() if value}
    if not given:
        return {}
    errors: dict[str, list[Any]] = {}
    if aftersale.kind != AfterSaleKind.EXCHANGE:
        for name in given:
            _errors_add(errors, name, _("Only an exchange sends a replacement."))
    sku = None
    if code := given.pop("replacement_sku_code", ""):
        sku = _replacement_sku(code, errors)
    if errors:
        raise ValidationFailed(_("The after-sale was not completed."), field_errors=errors)
    if sku is not None:
        given["replacement_sku"] = sku
        given.setdefault("replacement_item", _sku_item(sku))
    return given


def _replacement_sku(code: str, errors: dict[str, list[Any]]) -> Sku | None:
    """The SKU whose code is ``code``, or None with the error on ``replacement_sku_code``."""
    sku = Sku.objects.select_related("product").filter(code=code).first()
    if sku is None:
        _errors_add(errors, "replacement_sku_code", _("No SKU has the code %(code)s.") % {"code": code})
    return sku


def _sku_item(sku: Sku) -> str:
    """A replacement's item left out with its SKU: the SKU's product and variant, as an order line's."""
    return f"{sku.product.name} {sku.variant}".strip()[:200]


# What a correction of a completed exchange's replacement may change, each by its length at most.
REPLACEMENT_FIELDS = {"sku_code": 64, "item": 200, "carrier": 30, "tracking_no": 40}


@transaction.atomic
def aftersale_replacement_update(
    *,
    actor: Any,
    aftersale: AfterSale,
    changes: Mapping[str, str],
    expected_version: int | None = None,
) -> AfterSale:
    """Correct what a completed exchange sent back (a mistyped tracking number, the wrong carrier or
    SKU): ``changes`` keyed by ``REPLACEMENT_FIELDS`` (the SKU by its code, the item, the carrier, the
    tracking number), a field left out kept, one given empty cleared. Nothing about money moves.

    Checked as the completion checks it: only an exchange sends a replacement, and a SKU's code must be
    one's (``ValidationFailed`` naming the field). Only a completed exchange is corrected: an open one
    records its replacement as it completes. With a SKU, an item given empty is the SKU's product and
    variant, as at the completion; so is the item left as it was when the SKU changes and that item was
    the old SKU's own name (it named that SKU, so it follows the new one), while an item typed by hand
    stays. Only what differs is written and named in the audit entry (the SKU's code, the item and the
    carrier before and after; the tracking number by name only, as the completion's entry has it); with
    nothing different, nothing is written. ``Conflict`` when the after-sale changed since it was read."""
    unknown = set(changes) - set(REPLACEMENT_FIELDS)
    if unknown:
        raise ValueError(f"Not a replacement field: {', '.join(sorted(unknown))}")
    if aftersale.kind != AfterSaleKind.EXCHANGE:
        message = _("Only an exchange sends a replacement.")
        raise ValidationFailed(message, field_errors={"kind": [message]})
    if aftersale.status != AfterSaleStatus.COMPLETED:
        message = _(
            "Only a completed exchange's replacement is corrected; an open one records it as it completes."
        )
        raise ValidationFailed(message, field_errors={"status": [message]})
    given = {name: value.strip()[: REPLACEMENT_FIELDS[name]] for name, value in changes.items()}
    old_sku = aftersale.replacement_sku
    errors: dict[str, list[Any]] = {}
    values: dict[str, Any] = {}
    sku = old_sku
    if "sku_code" in given and given["sku_code"] != (old_sku.code if old_sku else ""):
        sku = _replacement_sku(given["sku_code"], errors) if given["sku_code"] else None
        values["replacement_sku"] = sku
    if errors:
        raise ValidationFailed(
            _("The replacement was not changed; correct the marked fields."), field_errors=errors
        )
    item = given.get("item", aftersale.replacement_item)
    followed_old_sku = old_sku is not None and item == aftersale.replacement_item == _sku_item(old_sku)
    if sku is not None and (not item or ("replacement_sku" in values and followed_old_sku)):
        item = _sku_item(sku)
    wanted = {
        "replacement_item": item,
        "replacement_carrier": given.get("carrier", aftersale.replacement_carrier),
        "replacement_tracking_no": given.get("tracking_no", aftersale.replacement_tracking_no),
    }
    values.update({name: value for name, value in wanted.items() if value != getattr(aftersale, name)})
    if not values:
        return aftersale
    before = aftersale
    aftersale = _transition(
        aftersale, allowed=[AfterSaleStatus.COMPLETED], expected_version=expected_version, **values
    )
    changed: dict[str, list[str]] = {}
    if "replacement_sku" in values:
        changed["sku"] = [old_sku.code if old_sku else "", sku.code if sku else ""]
    for name in ("replacement_item", "replacement_carrier"):
        if name in values:
            changed[name.removeprefix("replacement_")] = [getattr(before, name), values[name]]
    audit_record(
        action="aftersale.replacement",
        actor=actor,
        target=aftersale,
        changes=changed,
        # The tracking number by name only: it leads to the customer's address at the carrier.
        data={
            "order": aftersale.order.order_no,
            "fields": sorted(n.removeprefix("replacement_") for n in values),
        },
    )
    return aftersale


def _aftersale_complete(
    *,
    actor: Any,
    aftersale: AfterSale,
    resolution_note: str = "",
    expected_version: int | None = None,
    resolved_at: datetime | None = None,
    shares: Mapping[int, Decimal] | None = None,
    at_once: bool = False,
    replacement: ReplacementInput | None = None,
) -> AfterSale:
    """``at_once``: the after-sale was requested in the same transaction by a service that records one
    already over (``order_refund``): a return completes from requested, without the steps in between."""
    goods_back = aftersale.kind != AfterSaleKind.REFUND and not at_once
    allowed = [AfterSaleStatus.RECEIVED] if goods_back else [AfterSaleStatus.REQUESTED]
    sent = _replacement_values(aftersale, replacement)
    customer_lock(customer_id=aftersale.customer_id)
    aftersale = _transition(
        aftersale,
        allowed=allowed,
        expected_version=expected_version,
        status=AfterSaleStatus.COMPLETED,
        resolved_at=resolved_at or timezone.now(),
        resolution_note=resolution_note.strip()[:500],
        **sent,
    )
    if aftersale.kind != AfterSaleKind.EXCHANGE:
        _refund_pay_out(aftersale, actor, shares=shares)
    data: dict[str, Any] = {"order": aftersale.order.order_no, "amount": str(aftersale.amount_cny)}
    if sent:
        # What was sent, by the fields' names and the SKU's code: the tracking number leads to the
        # customer's address at the carrier, so it stays on the after-sale, as an order's does.
        data["replacement"] = sorted(name.removeprefix("replacement_") for name in sent)
        if aftersale.replacement_sku is not None:
            data["replacement_sku"] = aftersale.replacement_sku.code
    audit_record(action="aftersale.complete", actor=actor, target=aftersale, data=data)
    return aftersale


def _refund_pay_out(aftersale: AfterSale, actor: Any, *, shares: Mapping[int, Decimal] | None = None) -> None:
    """Pay ``aftersale``'s refund out: what it names of each line, and, given ``shares``
    (``order_refund``), what they say of the lines it does not name; one that names no line and has no
    shares is spread over the order's lines (``_spread``)."""
    order = Order.objects.get(pk=aftersale.order_id)
    amount = aftersale.amount_cny
    categories: dict[int, Decimal] = {}
    items = [
        (item.line, item.quantity if aftersale.kind == AfterSaleKind.RETURN else 0, item.amount_cny)
        for item in aftersale.lines.select_related("line")
    ]
    if shares is not None:
        named = {line.pk for line, _returned, _amount in items}
        lines = order.lines.order_by("position", "pk")
        items += [
            (line, 0, shares[line.pk]) for line in lines if shares.get(line.pk) and line.pk not in named
        ]
    elif not items:
        items = [(line, 0, share) for line, share in _spread(order, amount)]
    for line, returned, line_amount in items:
        OrderLine.objects.filter(pk=line.pk).update(
            returned_quantity=line.returned_quantity + returned,
            refunded_cny=line.refunded_cny + line_amount,
        )
        if line.root_category_id is not None and line_amount:
            categories[line.root_category_id] = categories.get(line.root_category_id, ZERO) - line_amount
    refunded = order.refunded_cny + amount
    owed_less, _paid_back = refund_credit_split(order=order, amount_cny=amount)
    AfterSale.objects.filter(pk=aftersale.pk).update(credit_cleared_cny=owed_less)
    aftersale.credit_cleared_cny = owed_less
    values: dict[str, Any] = {
        "refunded_cny": refunded,
        "credit_outstanding_cny": order.credit_outstanding_cny - owed_less,
        "version": F("version") + 1,
        "updated_at": timezone.now(),
    }
    if refunded == order.paid_cny:
        values.update(status=OrderStatus.CLOSED, closed_at=aftersale.resolved_at)
    if not Order.objects.filter(pk=order.pk, version=order.version).update(**values):
        raise Conflict(_("This order is being changed by someone else. Try again."))
    customer_figures_apply(
        customer_id=order.customer_id,
        change=FiguresChange(
            spent_cny=-amount,
            refunded_orders=int(order.refunded_cny == 0),
            receivable_cny=-owed_less,
            categories=categories,
        ),
        actor=actor,
    )


def refund_credit_split(*, order: Order, amount_cny: Decimal) -> tuple[Decimal, Decimal]:
    """What a refund of ``amount_cny`` on ``order`` does with the money, as it would complete now: what
    of it clears what is still owed on the order (on credit a refund cancels that first), and what is to
    be paid back to the customer (all of it on an order owing nothing). ¥20,000.00 refunded of an order
    still owing ¥15,942.90: (15,942.90, 4,057.10)."""
    [split] = refunds_credit_split(order=order, amounts_cny=[amount_cny])
    return split


def refunds_credit_split(*, order: Order, amounts_cny: Sequence[Decimal]) -> list[tuple[Decimal, Decimal]]:
    """``refund_credit_split`` of refunds completed one after the other, in the order given: each clears
    what those before it left owed. Two ¥100.00 refunds of an order owing ¥150.00: (100.00, 0.00) and
    (50.00, 50.00), not both (100.00, 0.00)."""
    owed = order.credit_outstanding_cny
    splits = []
    for amount in amounts_cny:
        cleared = min(owed, amount)
        splits.append((cleared, amount - cleared))
        owed -= cleared
    return splits


def _spread(order: Order, amount: Decimal) -> list[tuple[OrderLine, Decimal]]:
    """A refund that names no line (仅退款 of part of the price, 差价补偿) as shares of the order's lines,
    in proportion to what each has left to refund (its amount less what was paid out of it and what open
    after-sales hold). So the spend per category, the top category and the sales by category move with
    the refund as the total spent does. What passes the lines' money (the shipping) stays with the
    order."""
    held = _open_line_amounts(order)
    lines = [
        (line, int((line.amount_cny - line.refunded_cny - held.get(line.pk, ZERO)) * 100))
        for line in order.lines.order_by("position", "pk")
    ]
    lines = [(line, left) for line, left in lines if left > 0]
    lefts = [left for _line, left in lines]
    shares = fen_shares(min(int(amount * 100), sum(lefts)), lefts)
    paired = zip(lines, shares, strict=True)
    return [(line, Decimal(share).scaleb(-2)) for (line, _left), share in paired if share]


def _shares_check(aftersale: AfterSale, shares: Mapping[int, Decimal]) -> None:
    """``ValidationFailed`` unless ``shares`` (order line id -> yuan) are lines of the after-sale's order,
    each at most what is left of its line to refund, together with what the after-sale names of its own
    lines at most the refund. A share's error is keyed ``shares.<line id>``."""
    errors: dict[str, list[Any]] = {}
    lines = {line.pk: line for line in aftersale.order.lines.all()}
    held = _open_line_amounts(aftersale.order)
    for line_id, share in shares.items():
        # Keyed by the line the share is of: ``lines.{i}.…`` are the after-sale's own named lines.
        key = f"shares.{line_id}"
        line = lines.get(line_id)
        if line is None:
            _errors_add(errors, key, _("Choose a line of this order (each once)."))
            continue
        left = max(line.amount_cny - line.refunded_cny - held.get(line.pk, ZERO), ZERO)
        if share < 0 or share > left:
            _errors_add(
                errors, key, _("At most ¥%(left)s of this line is left to refund.") % {"left": grouped(left)}
            )
    named = aftersale.lines.aggregate(total=Sum("amount_cny"))["total"] or ZERO
    if sum(shares.values(), named) > aftersale.amount_cny:
        _errors_add(errors, "amount_cny", _("The amount is less than the lines' refunds add up to."))
    if errors:
        raise ValidationFailed(_("The refund was not recorded."), field_errors=errors)


def fen_shares(fen: int, weights: Sequence[int]) -> list[int]:
    """``fen`` (at most the weights' sum) in whole fen, in proportion to ``weights``, the odd fen to the
    largest remainders (ties: the first): never more than a weight. The demo loader shares its price-drop
    refunds with it as ``_spread`` does."""
    total = sum(weights)
    if not total:
        return [0] * len(weights)
    shares = [fen * weight // total for weight in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: fen * weights[i] % total, reverse=True)
    for i in by_remainder[: fen - sum(shares)]:
        shares[i] += 1  # its exact share was not whole, so its ceiling is still within its weight
    return shares


def _release(aftersale: AfterSale) -> None:
    if aftersale.amount_cny <= 0:
        return
    for _attempt in range(RESERVE_ATTEMPTS):
        order = Order.objects.get(pk=aftersale.order_id)
        if Order.objects.filter(pk=order.pk, version=order.version).update(
            refund_reserved_cny=order.refund_reserved_cny - aftersale.amount_cny, version=F("version") + 1
        ):
            return
    raise Conflict(_("This order is being changed by someone else. Try again."))


@transaction.atomic
def aftersale_reject(
    *, actor: Any, aftersale: AfterSale, resolution_note: str, expected_version: int | None = None
) -> AfterSale:
    """Refuse an open after-sale, with the reason the customer will be told."""
    if not resolution_note.strip():
        raise ValidationFailed(
            _("Say why the request is rejected."), field_errors={"resolution_note": [_("Enter a reason.")]}
        )
    aftersale = _transition(
        aftersale,
        allowed=list(OPEN_AFTERSALE_STATUSES),
        expected_version=expected_version,
        status=AfterSaleStatus.REJECTED,
        resolved_at=timezone.now(),
        resolution_note=resolution_note.strip()[:500],
    )
    _release(aftersale)
    audit_record(action="aftersale.reject", actor=actor, target=aftersale)
    return aftersale


@transaction.atomic
def aftersale_cancel(*, actor: Any, aftersale: AfterSale, expected_version: int | None = None) -> AfterSale:
    """The customer withdrew the request (撤销)."""
    aftersale = _transition(
        aftersale,
        allowed=list(OPEN_AFTERSALE_STATUSES),
        expected_version=expected_version,
        status=AfterSaleStatus.CANCELLED,
        resolved_at=timezone.now(),
    )
    _release(aftersale)
    audit_record(action="aftersale.cancel", actor=actor, target=aftersale)
    return aftersale


@transaction.atomic
def order_refund(
    *,
    actor: Any,
    order: Order,
    amount_cny: Any,
    reason: str,
    reason_detail: str = "",
    lines: Sequence[AfterSaleLineInput] = (),
    refunded_at: datetime | None = None,
    shares: Mapping[int, Decimal] | None = None,
    returned: bool = False,
) -> AfterSale:
    """Refund part or all of a paid order at once (the seller's own refund, 仅退款): a request that
    completes in the same transaction. ``refunded_at``: when the money went back, for a refund recorded
    after the fact (an order import's order closed in the marketplace after payment), now when left
    out; never in the future nor before the payment (``ValidationFailed``).

    ``shares``: how much of the refund each line the after-sale does not name gave back (order line id
    -> yuan), when that is known rather than spread over the lines (``_spread``): an import of Kebu's own
    export, whose rows say what was refunded of each line, so that the spend per category comes back as
    it went. Each at most what is left of its line, together with the named lines' at most the refund
    (``ValidationFailed``); what passes them stays with the order (the shipping), as when spread. No
    quantity is taken of a line given a share: it names no line a later return would be counted against.

    ``returned``: a return and refund (退货退款) already over when it is recorded, the goods back and the
    money paid (an import of an export that says how many of each line came back): ``lines`` say how
    many, which the lines' returned quantities take, as a received return completed by hand does. It is
    recorded completed at once, without approved and received steps that were never taken in Kebu and
    whose times no sheet gives."""
    if shares is not None and {str(item.line_id) for item in lines} & {str(line_id) for line_id in shares}:
        raise ValueError("A line the refund names takes its amount from there, not from shares.")
    if refunded_at is not None:
        errors: dict[str, list[Any]] = {}
        refunded_at = _moment(refunded_at, errors=errors, key="refunded_at", now=timezone.now())
        if order.paid_at is not None and refunded_at < order.paid_at:
            _errors_add(errors, "refunded_at", _("The refund cannot come before the payment."))
        if errors:
            raise ValidationFailed(_("The refund was not recorded."), field_errors=errors)
    aftersale = _aftersale_request(
        actor=actor,
        order=order,
        kind=AfterSaleKind.RETURN if returned else AfterSaleKind.REFUND,
        reason=reason,
        reason_detail=reason_detail,
        amount_cny=amount_cny,
        lines=lines,
        requested_at=refunded_at,
        over=returned,
    )
    if shares is not None:
        _shares_check(aftersale, shares)
    return _aftersale_complete(
        actor=actor, aftersale=aftersale, resolved_at=refunded_at, shares=shares, at_once=True
    )
