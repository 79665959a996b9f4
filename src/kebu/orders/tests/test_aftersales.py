"""Returns, refunds and exchanges: never more than was paid, and the customer's figures move with them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kebu.audit.models import AuditEntry
from kebu.core.errors import Conflict, ValidationFailed
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import (
    AfterSale,
    AfterSaleKind,
    AfterSaleStatus,
    CustomerCategorySpend,
    Order,
    OrderStatus,
)
from kebu.orders.services.aftersales import (
    AfterSaleLineInput,
    ReplacementInput,
    aftersale_approve,
    aftersale_cancel,
    aftersale_complete,
    aftersale_kinds_for,
    aftersale_receive,
    aftersale_reject,
    aftersale_replacement_update,
    aftersale_request,
    order_refund,
)
from kebu.orders.services.credit import credit_payment_record, customer_credit_set
from kebu.orders.services.metrics import figures_recompute
from kebu.orders.services.orders import order_cancel, order_ship
from kebu.orders.tests.factories import make_discounted_order, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(owner):
    return make_customer(actor=owner, name="王芳")


@pytest.fixture
def order(owner, catalogue, buyer):
    """2 × cream (398.00, skin care) + 1 tea (128.00) + 10.00 shipping = 536.00 paid, and shipped: goods
    that went out may come back."""
    return make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("CREAM-50", 2), ("TEA-250", 1)],
        shipping_cny="10.00",
        status=OrderStatus.SHIPPED,
    )


@pytest.fixture
def discounted(owner, catalogue, buyer):
    return make_discounted_order(
        actor=owner, store=catalogue.store, customer=buyer, status=OrderStatus.SHIPPED
    )


def _rebuilt_changes_nothing(customer) -> bool:
    def spend():
        return sorted(
            CustomerCategorySpend.objects.filter(customer=customer).values_list("category", "spent_cny")
        )

    before = spend()
    result = figures_recompute()
    return (result.customers_changed, result.top_category_changed) == (0, 0) and spend() == before


def _line(order, code):
    return order.lines.get(sku_code=code)


def test_refund_larger_than_paid_is_refused_and_changes_nothing(owner, order, buyer):
    with pytest.raises(ValidationFailed) as caught:
        order_refund(actor=owner, order=order, amount_cny="536.01", reason="quality")

    assert "536.00" in str(caught.value.field_errors["amount_cny"][0])
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("536.00")
    assert not AfterSale.objects.exists()
    assert Order.objects.get(pk=order.pk).refund_reserved_cny == 0


def test_a_partial_line_refund_moves_spend_refund_rate_and_the_top_category(owner, catalogue, order, buyer):
    cream = _line(order, "CREAM-50")

    aftersale = order_refund(
        actor=owner, order=order, amount_cny=None, reason="damaged", lines=[AfterSaleLineInput(cream.pk, 2)]
    )

    assert (aftersale.amount_cny, aftersale.status) == (Decimal("398.00"), AfterSaleStatus.COMPLETED)
    order.refresh_from_db()
    cream.refresh_from_db()
    assert (order.refunded_cny, order.status) == (Decimal("398.00"), OrderStatus.SHIPPED)
    assert (cream.refunded_cny, cream.returned_quantity) == (Decimal("398.00"), 0)  # refund only: kept
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("138.00")
    assert (buyer.refund_count, buyer.refund_rate) == (1, Decimal("1"))
    assert buyer.top_category == catalogue.tea  # skin care is down to 0.00
    assert AuditEntry.objects.filter(action="aftersale.complete", target_id=str(aftersale.pk)).exists()


def test_refunded_in_full_the_order_closes_and_still_counts_with_nothing_spent(owner, order, buyer):
    order_refund(actor=owner, order=order, amount_cny="100.00", reason="price")
    order_refund(actor=owner, order=Order.objects.get(pk=order.pk), amount_cny="436.00", reason="other")

    order.refresh_from_db()
    assert (order.status, order.refunded_cny) == (OrderStatus.CLOSED, Decimal("536.00"))
    buyer.refresh_from_db()
    assert (buyer.order_count, buyer.total_spent_cny, buyer.refund_count) == (1, 0, 1)
    with pytest.raises(ValidationFailed):
        order_refund(actor=owner, order=order, amount_cny="1", reason="other")


def test_a_refund_recorded_after_the_fact_is_dated_when_the_money_went_back(owner, catalogue, buyer):
    paid = make_order(
        actor=owner, customer=buyer, store=catalogue.store, ordered_at=timezone.now() - timedelta(days=10)
    )
    moment = paid.paid_at + timedelta(days=3)

    aftersale = order_refund(actor=owner, order=paid, amount_cny="199.00", reason="other", refunded_at=moment)

    assert (aftersale.requested_at, aftersale.resolved_at) == (moment, moment)
    paid.refresh_from_db()
    assert (paid.status, paid.closed_at) == (OrderStatus.CLOSED, moment)


@pytest.mark.parametrize("days", [-1, 3650])  # before the payment; in the future
def test_a_refund_dated_before_the_payment_or_in_the_future_is_refused(owner, order, buyer, days):
    with pytest.raises(ValidationFailed) as caught:
        order_refund(
            actor=owner,
            order=order,
            amount_cny="536.00",
            reason="other",
            refunded_at=order.paid_at + timedelta(days=days),
        )

    assert "refunded_at" in caught.value.field_errors
    assert not AfterSale.objects.exists()
    buyer.refresh_from_db()
    assert (buyer.total_spent_cny, buyer.refund_count) == (Decimal("536.00"), 0)


def test_a_return_goes_approved_received_completed_and_counts_returned_items(owner, order, buyer):
    cream = _line(order, "CREAM-50")
    aftersale = aftersale_request(
        actor=owner,
        order=order,
        kind=AfterSaleKind.RETURN,
        reason="size",
        lines=[AfterSaleLineInput(cream.pk, 1)],
    )
    assert (aftersale.amount_cny, aftersale.status) == (Decimal("199.00"), AfterSaleStatus.REQUESTED)
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("536.00")  # nothing moves before the money does

    aftersale = aftersale_approve(actor=owner, aftersale=aftersale)
    aftersale = aftersale_receive(actor=owner, aftersale=aftersale, return_tracking_no="YT0001")
    aftersale = aftersale_complete(actor=owner, aftersale=aftersale)

    cream.refresh_from_db()
    assert (cream.returned_quantity, cream.refunded_cny) == (1, Decimal("199.00"))
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("337.00")


def test_a_refund_cannot_skip_the_return_and_a_return_cannot_complete_before_the_goods_arrive(owner, order):
    cream = _line(order, "CREAM-50")
    aftersale = aftersale_request(
        actor=owner,
        order=order,
        kind=AfterSaleKind.RETURN,
        reason="size",
        lines=[AfterSaleLineInput(cream.pk, 1)],
    )
    with pytest.raises(ValidationFailed):
        aftersale_complete(actor=owner, aftersale=aftersale)
    assert AfterSale.objects.get(pk=aftersale.pk).status == AfterSaleStatus.REQUESTED


def test_requests_in_flight_reserve_the_money_and_a_rejection_gives_it_back(owner, order):
    first = aftersale_request(
        actor=owner, order=order, kind=AfterSaleKind.REFUND, reason="price", amount_cny="500"
    )

    with pytest.raises(ValidationFailed) as caught:
        aftersale_request(
            actor=owner, order=order, kind=AfterSaleKind.REFUND, reason="price", amount_cny="100"
        )
    assert "36.00" in str(caught.value.field_errors["amount_cny"][0])

    aftersale_reject(actor=owner, aftersale=first, resolution_note="已超过售后期")
    second = aftersale_request(
        actor=owner, order=order, kind=AfterSaleKind.REFUND, reason="price", amount_cny="100"
    )
    aftersale_cancel(actor=owner, aftersale=second)
    assert Order.objects.get(pk=order.pk).refund_reserved_cny == 0


def test_a_line_cannot_come_back_more_often_than_it_was_sold(owner, order):
    tea = _line(order, "TEA-250")
    aftersale_request(
        actor=owner,
        order=order,
        kind=AfterSaleKind.RETURN,
        reason="quality",
        lines=[AfterSaleLineInput(tea.pk, 1)],
    )
    with pytest.raises(ValidationFailed) as caught:
        aftersale_request(
            actor=owner,
            order=order,
            kind=AfterSaleKind.EXCHANGE,
            reason="quality",
            lines=[AfterSaleLineInput(tea.pk, 1)],
        )
    assert "Only 0" in str(caught.value.field_errors["lines.0.quantity"][0])


def test_a_return_naming_no_line_is_asked_for_its_lines_not_for_an_amount(owner, order, buyer):
    # the amount left empty is the lines' share: with no line chosen, the lines are what is missing
    with pytest.raises(ValidationFailed) as caught:
        aftersale_request(actor=owner, order=order, kind=AfterSaleKind.RETURN, reason="quality")

    assert list(caught.value.field_errors) == ["lines"]
    assert not AfterSale.objects.exists()


def test_an_exchange_moves_no_money(owner, order, buyer):
    cream = _line(order, "CREAM-50")
    aftersale = aftersale_request(
        actor=owner,
        order=order,
        kind=AfterSaleKind.EXCHANGE,
        reason="size",
        lines=[AfterSaleLineInput(cream.pk, 1)],
    )
    aftersale = aftersale_complete(
        actor=owner,
        aftersale=aftersale_receive(
            actor=owner, aftersale=aftersale_approve(actor=owner, aftersale=aftersale)
        ),
    )
    assert (aftersale.status, aftersale.amount_cny) == (AfterSaleStatus.COMPLETED, 0)
    buyer.refresh_from_db()
    assert (buyer.total_spent_cny, buyer.refund_count) == (Decimal("536.00"), 0)


def test_a_lines_refund_typed_on_an_exchange_is_refused_not_dropped(owner, order):
    cream = _line(order, "CREAM-50")
    with pytest.raises(ValidationFailed) as caught:
        aftersale_request(
            actor=owner,
            order=order,
            kind=AfterSaleKind.EXCHANGE,
            reason="size",
            lines=[AfterSaleLineInput(cream.pk, 1, amount_cny="199.00")],
        )

    assert caught.value.field_errors["lines.0.amount_cny"] == [
        "An exchange refunds nothing; use a refund for money."
    ]
    assert not AfterSale.objects.exists()


def test_an_unpaid_order_has_no_after_sales(owner, catalogue, buyer):
    pending = make_order(actor=owner, customer=buyer, store=catalogue.store, status=OrderStatus.PENDING)
    with pytest.raises(ValidationFailed) as caught:
        order_refund(actor=owner, order=pending, amount_cny="1", reason="other")
    assert "order" in caught.value.field_errors


NOT_SHIPPED = (
    "This order has not been shipped: only a refund without return is possible. If it went out, mark it "
    "shipped first."
)


@pytest.fixture
def unshipped(owner, catalogue, buyer):
    """Paid, not shipped (已付款): 2 × cream + 1 tea + 10.00 shipping = 536.00, a waybill already printed."""
    return make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("CREAM-50", 2), ("TEA-250", 1)],
        shipping_cny="10.00",
        carrier="顺丰速运",
        tracking_no="SF1234567890",
    )


@pytest.mark.parametrize("kind", [AfterSaleKind.RETURN, AfterSaleKind.EXCHANGE])
def test_an_order_paid_but_not_shipped_refuses_a_return_or_exchange_on_the_kind_and_writes_nothing(
    owner, unshipped, buyer, kind
):
    cream = _line(unshipped, "CREAM-50")

    with pytest.raises(ValidationFailed) as caught:
        aftersale_request(
            actor=owner, order=unshipped, kind=kind, reason="size", lines=[AfterSaleLineInput(cream.pk, 1)]
        )

    # a tracking number alone is no shipment: the waybill is printed before the parcel goes
    assert caught.value.field_errors == {"kind": [NOT_SHIPPED]}
    assert not AfterSale.objects.exists()
    unshipped.refresh_from_db()
    assert (unshipped.refund_reserved_cny, unshipped.version) == (0, 1)
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("536.00")


def test_an_order_paid_but_not_shipped_is_refunded_without_a_return(owner, unshipped, buyer):
    cream = _line(unshipped, "CREAM-50")

    requested = aftersale_request(
        actor=owner,
        order=unshipped,
        kind=AfterSaleKind.REFUND,
        reason="changed_mind",
        lines=[AfterSaleLineInput(cream.pk, 1)],
    )
    refunded = order_refund(
        actor=owner, order=Order.objects.get(pk=unshipped.pk), amount_cny="10.00", reason="other"
    )

    assert (requested.kind, requested.amount_cny) == (AfterSaleKind.REFUND, Decimal("199.00"))
    assert refunded.status == AfterSaleStatus.COMPLETED
    assert aftersale_kinds_for(unshipped) == [AfterSaleKind.REFUND]


def test_once_shipped_an_order_may_be_returned_or_exchanged(owner, unshipped):
    shipped = order_ship(actor=owner, order=unshipped, carrier="顺丰速运", tracking_no="SF1234567890")
    cream, tea = _line(shipped, "CREAM-50"), _line(shipped, "TEA-250")

    back = aftersale_request(
        actor=owner,
        order=shipped,
        kind=AfterSaleKind.RETURN,
        reason="size",
        lines=[AfterSaleLineInput(cream.pk, 1)],
    )
    swapped = aftersale_request(
        actor=owner,
        order=shipped,
        kind=AfterSaleKind.EXCHANGE,
        reason="size",
        lines=[AfterSaleLineInput(tea.pk, 1)],
    )

    assert (back.kind, swapped.kind) == (AfterSaleKind.RETURN, AfterSaleKind.EXCHANGE)
    assert aftersale_kinds_for(shipped) == list(AfterSaleKind.values)


def test_an_order_with_a_time_of_shipping_counts_as_shipped_whatever_its_status_says():
    # A paid order carrying a shipped time (a marketplace's 发货时间) went out: its goods may come back.
    now = timezone.now()
    assert aftersale_kinds_for(Order(status=OrderStatus.PAID, shipped_at=now)) == list(AfterSaleKind.values)
    assert aftersale_kinds_for(Order(status=OrderStatus.PAID, tracking_no="SF1")) == [AfterSaleKind.REFUND]
    for status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED):
        assert aftersale_kinds_for(Order(status=status)) == list(AfterSaleKind.values)


def test_a_return_already_over_is_recorded_on_an_order_never_marked_shipped(owner, unshipped, buyer):
    # An import's order closed in the marketplace, its sheet saying a cream came back but giving no time
    # of shipping: the goods came back, so they went out; the record is not refused.
    cream = _line(unshipped, "CREAM-50")

    recorded = order_refund(
        actor=owner,
        order=unshipped,
        amount_cny=None,
        reason="quality",
        lines=[AfterSaleLineInput(cream.pk, 1)],
        returned=True,
    )

    assert (recorded.kind, recorded.status) == (AfterSaleKind.RETURN, AfterSaleStatus.COMPLETED)
    assert _line(unshipped, "CREAM-50").returned_quantity == 1


def test_an_order_refunded_in_full_cancelled_or_awaiting_payment_is_refused_saying_why(
    owner, catalogue, buyer, order
):
    order_refund(actor=owner, order=order, amount_cny="536.00", reason="other")
    cancelled = make_order(actor=owner, customer=buyer, store=catalogue.store, status=OrderStatus.PENDING)
    cancelled = order_cancel(actor=owner, order=cancelled)
    pending = make_order(actor=owner, customer=buyer, store=catalogue.store, status=OrderStatus.PENDING)
    said = {}
    for name, refused in (
        ("closed", Order.objects.get(pk=order.pk)),
        ("cancelled", cancelled),
        ("pending", pending),
    ):
        with pytest.raises(ValidationFailed) as caught:
            order_refund(actor=owner, order=refused, amount_cny="1.00", reason="other")
        said[name] = caught.value.field_errors["order"]

    assert said == {
        "closed": ["This order was refunded in full and is closed: nothing is left to refund."],
        "cancelled": ["This order was cancelled: nothing was paid, so nothing can be refunded."],
        "pending": ["This order is awaiting payment: nothing was paid, so nothing can be refunded."],
    }
    assert AfterSale.objects.count() == 1


def test_a_refund_naming_no_line_is_shared_by_the_lines_and_moves_the_spend_per_category(
    owner, catalogue, order, buyer
):
    # 536.00 paid: cream 398.00, tea 128.00, shipping 10.00. ¥100 back of the price, no line named.
    order_refund(actor=owner, order=order, amount_cny="100.00", reason="price")

    cream, tea = _line(order, "CREAM-50"), _line(order, "TEA-250")
    # In proportion, to the fen: 100 × 398 / 526 = 75.665…, 100 × 128 / 526 = 24.334…
    assert (cream.refunded_cny, tea.refunded_cny) == (Decimal("75.67"), Decimal("24.33"))
    spend = dict(CustomerCategorySpend.objects.filter(customer=buyer).values_list("category", "spent_cny"))
    assert spend == {catalogue.skincare.pk: Decimal("322.33"), catalogue.tea.pk: Decimal("103.67")}
    assert _rebuilt_changes_nothing(buyer)  # a rebuild from the lines agrees


def test_refunded_in_full_without_naming_lines_no_category_keeps_any_spend(owner, catalogue, order, buyer):
    order_refund(actor=owner, order=order, amount_cny="536.00", reason="other")  # the shipping too

    assert [line.refunded_cny for line in order.lines.order_by("position")] == [
        Decimal("398.00"),
        Decimal("128.00"),
    ]
    spend = set(CustomerCategorySpend.objects.filter(customer=buyer).values_list("spent_cny", flat=True))
    assert spend <= {Decimal("0.00")}
    buyer.refresh_from_db()
    assert (buyer.total_spent_cny, buyer.top_category) == (Decimal("0.00"), None)
    assert _rebuilt_changes_nothing(buyer)


def test_a_refund_given_its_lines_shares_takes_them_from_those_lines_and_no_quantity(
    owner, catalogue, order, buyer
):
    # 536.00 paid: cream 398.00, tea 128.00, shipping 10.00. ¥138 back: all of the tea, and the shipping.
    tea = _line(order, "TEA-250")

    refund = order_refund(
        actor=owner, order=order, amount_cny="138.00", reason="other", shares={tea.pk: Decimal("128.00")}
    )

    cream, tea = _line(order, "CREAM-50"), _line(order, "TEA-250")
    assert (cream.refunded_cny, tea.refunded_cny) == (Decimal("0.00"), Decimal("128.00"))
    assert Order.objects.get(pk=order.pk).refunded_cny == Decimal("138.00")
    spend = dict(CustomerCategorySpend.objects.filter(customer=buyer).values_list("category", "spent_cny"))
    assert spend == {catalogue.skincare.pk: Decimal("398.00"), catalogue.tea.pk: Decimal("0.00")}
    assert not refund.lines.exists()  # as a spread refund: no line's quantity is taken
    assert _rebuilt_changes_nothing(buyer)


@pytest.mark.parametrize(
    ("shares", "key"),
    [
        ({"TEA-250": "128.01"}, "shares.TEA-250"),  # more than the line
        ({"TEA-250": "-1.00"}, "shares.TEA-250"),
        ({"TEA-250": "100.00", "CREAM-50": "50.00"}, "amount_cny"),  # more than the refund's 138.00
    ],
)
def test_shares_a_line_cannot_give_are_refused_and_change_nothing(owner, order, buyer, shares, key):
    given = {_line(order, code).pk: Decimal(amount) for code, amount in shares.items()}

    with pytest.raises(ValidationFailed) as caught:
        order_refund(actor=owner, order=order, amount_cny="138.00", reason="other", shares=given)

    key = key.replace("TEA-250", str(_line(order, "TEA-250").pk))  # a share's error names its line
    assert key in caught.value.field_errors
    assert not AfterSale.objects.exists()
    assert Order.objects.get(pk=order.pk).refund_reserved_cny == 0
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("536.00")


def test_a_return_recorded_as_over_completes_at_once_counts_its_items_and_takes_them_from_later_returns(
    owner, catalogue, order, buyer
):
    # 536.00 paid: 2 × cream 398.00, tea 128.00, shipping 10.00. Over before it is recorded (an import's):
    # one cream back with 199.00, 20.00 of the tea (a price difference), and the shipping.
    cream, tea = _line(order, "CREAM-50"), _line(order, "TEA-250")
    at = order.paid_at  # the order was paid just now: nothing later is in the past

    aftersale = order_refund(
        actor=owner,
        order=order,
        amount_cny="229.00",
        reason="other",
        lines=[AfterSaleLineInput(cream.pk, 1, "199.00")],
        refunded_at=at,
        shares={tea.pk: Decimal("20.00")},
        returned=True,
    )

    assert (aftersale.kind, aftersale.status, aftersale.resolved_at) == (
        AfterSaleKind.RETURN,
        AfterSaleStatus.COMPLETED,
        at,
    )
    assert list(aftersale.lines.values_list("line__sku_code", "quantity", "amount_cny")) == [
        ("CREAM-50", 1, Decimal("199.00"))
    ]
    cream, tea = _line(order, "CREAM-50"), _line(order, "TEA-250")
    assert [(ln.returned_quantity, ln.refunded_cny) for ln in (cream, tea)] == [
        (1, Decimal("199.00")),
        (0, Decimal("20.00")),
    ]
    assert Order.objects.get(pk=order.pk).refunded_cny == Decimal("229.00")
    spend = dict(CustomerCategorySpend.objects.filter(customer=buyer).values_list("category", "spent_cny"))
    assert spend == {catalogue.skincare.pk: Decimal("199.00"), catalogue.tea.pk: Decimal("108.00")}
    assert _rebuilt_changes_nothing(buyer)
    # the cream that came back is not there to return again
    with pytest.raises(ValidationFailed) as caught:
        aftersale_request(
            actor=owner,
            order=order,
            kind=AfterSaleKind.RETURN,
            reason="size",
            lines=[AfterSaleLineInput(cream.pk, 2)],
        )
    assert "lines.0.quantity" in caught.value.field_errors


def test_a_return_recorded_as_over_with_shares_past_the_refund_is_refused_and_changes_nothing(
    owner, order, buyer
):
    cream, tea = _line(order, "CREAM-50"), _line(order, "TEA-250")

    with pytest.raises(ValidationFailed) as caught:
        order_refund(
            actor=owner,
            order=order,
            amount_cny="209.00",
            reason="other",
            lines=[AfterSaleLineInput(cream.pk, 1, "199.00")],
            shares={tea.pk: Decimal("20.00")},  # with the cream's 199.00, more than the 209.00
            returned=True,
        )

    assert "amount_cny" in caught.value.field_errors
    assert not AfterSale.objects.exists()
    assert [ln.returned_quantity for ln in order.lines.all()] == [0, 0]
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("536.00")


def test_a_share_past_its_line_beside_a_named_line_is_told_of_that_share_not_of_the_named_line(
    owner, order, buyer
):
    cream, tea = _line(order, "CREAM-50"), _line(order, "TEA-250")

    with pytest.raises(ValidationFailed) as caught:
        order_refund(
            actor=owner,
            order=order,
            amount_cny="400.00",
            reason="other",
            lines=[AfterSaleLineInput(cream.pk, 1, "199.00")],
            shares={tea.pk: Decimal("128.01")},  # more than the tea's line
            returned=True,
        )

    # the cream's line, named first, is right: its key is not the tea's share's
    assert set(caught.value.field_errors) == {f"shares.{tea.pk}"}
    assert not AfterSale.objects.exists()
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("536.00")


def test_a_line_refund_after_one_naming_no_line_is_capped_by_what_is_left_of_the_line(owner, order):
    order_refund(actor=owner, order=order, amount_cny="100.00", reason="price")  # tea took 24.33 of it
    tea = _line(order, "TEA-250")

    with pytest.raises(ValidationFailed) as caught:
        order_refund(
            actor=owner,
            order=order,
            amount_cny=None,
            reason="other",
            lines=[AfterSaleLineInput(tea.pk, 1, "128.00")],
        )
    assert "103.67" in str(caught.value.field_errors["lines.0.amount_cny"][0])
    taken = order_refund(
        actor=owner, order=order, amount_cny=None, reason="other", lines=[AfterSaleLineInput(tea.pk, 1)]
    )
    assert taken.amount_cny == Decimal("103.67")
    tea.refresh_from_db()
    assert tea.refunded_cny == tea.amount_cny


def test_a_line_refund_above_the_line_is_refused(owner, order):
    tea = _line(order, "TEA-250")
    with pytest.raises(ValidationFailed) as caught:
        order_refund(
            actor=owner,
            order=order,
            amount_cny=None,
            reason="other",
            lines=[AfterSaleLineInput(tea.pk, 1, "128.01")],
        )
    assert "lines.0.amount_cny" in caught.value.field_errors
    assert not AfterSale.objects.exists()


def test_a_line_of_another_order_is_refused(owner, catalogue, order, buyer):
    other = make_order(actor=owner, customer=buyer, store=catalogue.store)
    with pytest.raises(ValidationFailed) as caught:
        order_refund(
            actor=owner,
            order=order,
            amount_cny=None,
            reason="other",
            lines=[AfterSaleLineInput(other.lines.get().pk, 1)],
        )
    assert "lines.0.line_id" in caught.value.field_errors


# --- the default refund of a line's units: their share of what was paid for the goods ------------------


def test_a_returns_refund_left_empty_is_the_units_share_of_what_was_paid_not_their_price(owner, discounted):
    cream = _line(discounted, "CREAM-50")

    aftersale = aftersale_request(
        actor=owner,
        order=discounted,
        kind=AfterSaleKind.RETURN,
        reason="size",
        lines=[AfterSaleLineInput(cream.pk, 1)],
    )

    # 921.00 paid for 961.00 of goods: the creams' 364.00 is 348.85 of it, one cream 116.28 (not 121.33)
    assert aftersale.amount_cny == Decimal("116.28")
    assert list(aftersale.lines.values_list("amount_cny", flat=True)) == [Decimal("116.28")]


AT_ONCE = [[("CREAM-50", 3), ("TEA-250", 1), ("TONER-100", 2)]]
IN_TURNS = [
    [("CREAM-50", 1)],
    [("TONER-100", 1), ("CREAM-50", 1)],
    [("TEA-250", 1)],
    [("CREAM-50", 1)],
    [("TONER-100", 1)],
]


@pytest.mark.parametrize("turns", [AT_ONCE, IN_TURNS], ids=["at once", "in turns"])
def test_every_unit_of_every_line_returned_defaults_to_exactly_what_was_paid_less_the_shipping(
    owner, discounted, buyer, turns
):
    lines = {code: _line(discounted, code).pk for code in ("CREAM-50", "TEA-250", "TONER-100")}
    amounts = []
    for index, turn in enumerate(turns):
        chosen = [AfterSaleLineInput(lines[code], quantity) for code, quantity in turn]
        order = Order.objects.get(pk=discounted.pk)
        if index % 2:  # some over at once, others still open: both have priced their units
            aftersale = order_refund(
                actor=owner, order=order, amount_cny=None, reason="size", lines=chosen, returned=True
            )
        else:
            aftersale = aftersale_request(
                actor=owner, order=order, kind=AfterSaleKind.RETURN, reason="size", lines=chosen
            )
        amounts.append(aftersale.amount_cny)

    assert sum(amounts) == Decimal("921.00")  # 933.00 paid less the 12.00 shipping
    per_line = {
        code: sum(
            AfterSale.objects.filter(lines__line_id=pk).values_list("lines__amount_cny", flat=True),
            Decimal("0"),
        )
        for code, pk in lines.items()
    }
    # 921.00 over 364 : 397 : 200, the odd fen to the largest remainder (the tea's)
    assert per_line == {
        "CREAM-50": Decimal("348.85"),
        "TEA-250": Decimal("380.48"),
        "TONER-100": Decimal("191.67"),
    }
    if turns != AT_ONCE:  # one cream at a time: the odd fen falls on the last
        creams = AfterSale.objects.filter(lines__line_id=lines["CREAM-50"]).order_by("pk")
        assert list(creams.values_list("lines__amount_cny", flat=True)) == [
            Decimal("116.28"),
            Decimal("116.28"),
            Decimal("116.29"),
        ]
    assert Order.objects.get(pk=discounted.pk).refundable_cny == Decimal("12.00")  # the shipping, to add
    assert _rebuilt_changes_nothing(buyer)


def test_a_default_never_passes_what_is_left_of_the_line(owner, discounted):
    # ¥300 back of the price, naming no line: the creams' 364.00 gave 113.63 of it, leaving 250.37
    order_refund(actor=owner, order=discounted, amount_cny="300.00", reason="price")
    cream = _line(discounted, "CREAM-50")
    assert cream.refunded_cny == Decimal("113.63")

    # two creams are worth 232.56 of what was paid, and the last one its 116.29: 348.85, more than is left
    first = order_refund(
        actor=owner, order=discounted, amount_cny=None, reason="size", lines=[AfterSaleLineInput(cream.pk, 2)]
    )
    last = order_refund(
        actor=owner,
        order=Order.objects.get(pk=discounted.pk),
        amount_cny=None,
        reason="size",
        lines=[AfterSaleLineInput(cream.pk, 1)],
    )

    assert (first.amount_cny, last.amount_cny) == (Decimal("232.56"), Decimal("17.81"))
    cream.refresh_from_db()
    assert cream.refunded_cny == cream.amount_cny


def test_on_credit_the_default_is_a_share_of_the_amount_due_and_cancels_what_is_owed(owner, catalogue):
    wholesaler = make_customer(actor=owner, name="义乌小商品批发", customer_type="wholesaler", owner=owner)
    customer_credit_set(actor=owner, customer=wholesaler, credit_limit_cny="5000.00", payment_terms_days=30)
    order = make_discounted_order(
        actor=owner, store=catalogue.store, customer=wholesaler, payment_method="credit"
    )
    # on credit the amount due is recorded as paid, all of it owed until settled
    assert (order.paid_cny, order.credit_outstanding_cny) == (Decimal("933.00"), Decimal("933.00"))
    credit_payment_record(actor=owner, customer=wholesaler, amount_cny="500.00", method="bank_transfer")
    cream = _line(order, "CREAM-50")

    refund = order_refund(
        actor=owner,
        order=Order.objects.get(pk=order.pk),
        amount_cny=None,
        reason="quality",
        lines=[AfterSaleLineInput(cream.pk, 1)],
        returned=True,
    )

    # the same share as paid at once, whatever of it is settled yet; the refund comes off what is owed
    assert refund.amount_cny == Decimal("116.28")
    order.refresh_from_db()
    wholesaler.refresh_from_db()
    assert order.credit_outstanding_cny == wholesaler.receivable_cny == Decimal("316.72")
    assert _rebuilt_changes_nothing(wholesaler)


# --- exchanges: the units are held while they travel, and the replacement may come back -------------------


def _exchange(owner, order, line, quantity: int, *, steps: int = 3) -> AfterSale:
    """An exchange of ``quantity`` of ``line``, taken ``steps`` of approve, receive, complete on."""
    aftersale = aftersale_request(
        actor=owner,
        order=order,
        kind=AfterSaleKind.EXCHANGE,
        reason="size",
        lines=[AfterSaleLineInput(line.pk, quantity)],
    )
    for step in (aftersale_approve, aftersale_receive, aftersale_complete)[:steps]:
        aftersale = step(actor=owner, aftersale=aftersale)
    return aftersale


def test_a_completed_exchange_records_what_was_sent_back_and_its_audit_entry_names_it(owner, order):
    cream = _line(order, "CREAM-50")
    received = _exchange(owner, order, cream, 1, steps=2)

    done = aftersale_complete(
        actor=owner,
        aftersale=received,
        replacement=ReplacementInput(sku_code="TONER-100", carrier="顺丰速运", tracking_no=" SF1234567890 "),
    )

    stored = AfterSale.objects.get(pk=done.pk)
    assert (stored.status, stored.amount_cny) == (AfterSaleStatus.COMPLETED, 0)
    assert stored.replacement_sku.code == "TONER-100"
    # the item left out is the SKU's product and variant, as an order line copies them
    assert (stored.replacement_item, stored.replacement_carrier, stored.replacement_tracking_no) == (
        "爽肤水 100ml",
        "顺丰速运",
        "SF1234567890",
    )
    entry = AuditEntry.objects.filter(action="aftersale.complete").get()
    assert entry.data["replacement"] == ["carrier", "item", "sku", "tracking_no"]
    assert entry.data["replacement_sku"] == "TONER-100"
    assert "SF1234567890" not in str(entry.data)


def test_a_replacement_named_in_words_alone_is_kept_as_written(owner, order):
    received = _exchange(owner, order, _line(order, "CREAM-50"), 1, steps=2)

    done = aftersale_complete(
        actor=owner, aftersale=received, replacement=ReplacementInput(item="面霜 100g（补差价升级）")
    )

    assert (done.replacement_sku, done.replacement_item, done.replacement_tracking_no) == (
        None,
        "面霜 100g（补差价升级）",
        "",
    )


@pytest.mark.parametrize(
    ("kind", "replacement", "field"),
    [
        (AfterSaleKind.RETURN, ReplacementInput(tracking_no="SF1"), "replacement_tracking_no"),
        (AfterSaleKind.EXCHANGE, ReplacementInput(sku_code="NOPE-1"), "replacement_sku_code"),
    ],
)
def test_a_replacement_for_a_return_or_of_an_unknown_sku_is_refused_and_nothing_moves(
    owner, order, buyer, kind, replacement, field
):
    aftersale = aftersale_request(
        actor=owner,
        order=order,
        kind=kind,
        reason="size",
        lines=[AfterSaleLineInput(_line(order, "CREAM-50").pk, 1)],
    )
    received = aftersale_receive(actor=owner, aftersale=aftersale_approve(actor=owner, aftersale=aftersale))

    with pytest.raises(ValidationFailed) as caught:
        aftersale_complete(actor=owner, aftersale=received, replacement=replacement)

    assert list(caught.value.field_errors) == [field]
    stored = AfterSale.objects.get(pk=aftersale.pk)
    assert (stored.status, stored.version, stored.replacement_tracking_no) == (
        AfterSaleStatus.RECEIVED,
        received.version,
        "",
    )
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("536.00")


def test_after_a_completed_exchange_the_replacement_can_come_back_and_nothing_else_moved(owner, order, buyer):
    cream = _line(order, "CREAM-50")  # 2 × 199.00
    _exchange(owner, order, cream, 1)
    cream.refresh_from_db()
    assert (cream.returned_quantity, cream.refunded_cny) == (0, Decimal("0.00"))
    buyer.refresh_from_db()
    assert (buyer.total_spent_cny, buyer.refund_count) == (Decimal("536.00"), 0)
    assert _rebuilt_changes_nothing(buyer)

    # the customer holds two creams (one the replacement): both may come back, at their full share
    aftersale = aftersale_request(
        actor=owner,
        order=order,
        kind=AfterSaleKind.RETURN,
        reason="quality",
        lines=[AfterSaleLineInput(cream.pk, 2)],
    )
    assert aftersale.amount_cny == Decimal("398.00")
    aftersale_complete(
        actor=owner,
        aftersale=aftersale_receive(
            actor=owner, aftersale=aftersale_approve(actor=owner, aftersale=aftersale)
        ),
    )
    cream.refresh_from_db()
    assert (cream.returned_quantity, cream.refunded_cny) == (2, Decimal("398.00"))
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("138.00")
    assert _rebuilt_changes_nothing(buyer)


@pytest.mark.parametrize("steps", [0, 1, 2], ids=["requested", "approved", "received"])
def test_an_open_exchange_holds_its_units_while_they_are_on_their_way_back(owner, order, steps):
    cream = _line(order, "CREAM-50")
    _exchange(owner, order, cream, 1, steps=steps)

    with pytest.raises(ValidationFailed) as caught:
        aftersale_request(
            actor=owner,
            order=order,
            kind=AfterSaleKind.RETURN,
            reason="quality",
            lines=[AfterSaleLineInput(cream.pk, 2)],
        )

    assert "Only 1 " in str(caught.value.field_errors["lines.0.quantity"][0])


# --- correcting what a completed exchange sent ------------------------------------------------------------


def _sent(owner, order, **replacement: str) -> AfterSale:
    """A completed exchange of one cream that sent ``replacement`` (``ReplacementInput``'s fields)."""
    received = _exchange(owner, order, _line(order, "CREAM-50"), 1, steps=2)
    return aftersale_complete(actor=owner, aftersale=received, replacement=ReplacementInput(**replacement))


def test_a_mistyped_tracking_number_and_carrier_are_corrected_and_nothing_else_moves(owner, order, buyer):
    sent = _sent(owner, order, sku_code="TONER-100", carrier="顺丰速运", tracking_no="SF1234567890")

    corrected = aftersale_replacement_update(
        actor=owner,
        aftersale=sent,
        changes={"carrier": "中通快递", "tracking_no": " ZT7777 "},
        expected_version=sent.version,
    )

    stored = AfterSale.objects.get(pk=sent.pk)
    assert (stored.replacement_carrier, stored.replacement_tracking_no) == ("中通快递", "ZT7777")
    # what was left out stays as sent
    assert (stored.replacement_sku.code, stored.replacement_item) == ("TONER-100", "爽肤水 100ml")
    assert (stored.status, stored.amount_cny, stored.version) == ("completed", 0, sent.version + 1)
    assert corrected.version == stored.version
    entry = AuditEntry.objects.filter(action="aftersale.replacement").get()
    assert (entry.actor_id, entry.target_id) == (owner.pk, str(sent.pk))
    assert entry.changes == {"carrier": ["顺丰速运", "中通快递"]}
    assert entry.data == {"order": order.order_no, "fields": ["carrier", "tracking_no"]}
    assert "ZT7777" not in str(entry.changes) + str(entry.data)
    order.refresh_from_db()
    buyer.refresh_from_db()
    assert (order.refunded_cny, order.refund_reserved_cny, buyer.total_spent_cny) == (0, 0, Decimal("536.00"))
    assert _rebuilt_changes_nothing(buyer)


def test_a_field_given_empty_is_cleared(owner, order):
    sent = _sent(owner, order, item="面霜 100g", carrier="顺丰速运", tracking_no="SF1")

    aftersale_replacement_update(actor=owner, aftersale=sent, changes={"carrier": "", "tracking_no": ""})

    stored = AfterSale.objects.get(pk=sent.pk)
    assert (stored.replacement_item, stored.replacement_carrier, stored.replacement_tracking_no) == (
        "面霜 100g",
        "",
        "",
    )


@pytest.mark.parametrize(
    ("item_sent", "item_after"),
    [("", "玻尿酸面霜 50g"), ("爽肤水 100ml（新批次）", "爽肤水 100ml（新批次）")],
    ids=["the SKU's own name follows it", "an item typed by hand stays"],
)
def test_a_corrected_sku_brings_its_name_unless_the_item_was_typed_by_hand(
    owner, order, item_sent, item_after
):
    sent = _sent(owner, order, sku_code="TONER-100", item=item_sent)

    # the page sends the item back as it stands beside the corrected SKU
    aftersale_replacement_update(
        actor=owner, aftersale=sent, changes={"sku_code": "CREAM-50", "item": sent.replacement_item}
    )

    stored = AfterSale.objects.get(pk=sent.pk)
    assert (stored.replacement_sku.code, stored.replacement_item) == ("CREAM-50", item_after)
    entry = AuditEntry.objects.filter(action="aftersale.replacement").get()
    assert entry.changes["sku"] == ["TONER-100", "CREAM-50"]


def test_a_correction_naming_an_unknown_sku_is_refused_and_changes_nothing(owner, order):
    sent = _sent(owner, order, sku_code="TONER-100", tracking_no="SF1")

    with pytest.raises(ValidationFailed) as caught:
        aftersale_replacement_update(
            actor=owner, aftersale=sent, changes={"sku_code": "NOPE-1", "tracking_no": "SF2"}
        )

    assert list(caught.value.field_errors) == ["replacement_sku_code"]
    stored = AfterSale.objects.get(pk=sent.pk)
    assert (stored.replacement_sku.code, stored.replacement_tracking_no, stored.version) == (
        "TONER-100",
        "SF1",
        sent.version,
    )
    assert not AuditEntry.objects.filter(action="aftersale.replacement").exists()


@pytest.mark.parametrize(
    ("kind", "steps", "field"),
    [
        (AfterSaleKind.RETURN, 3, "kind"),
        (AfterSaleKind.EXCHANGE, 0, "status"),
        (AfterSaleKind.EXCHANGE, 2, "status"),
    ],
    ids=["a completed return", "an exchange requested", "an exchange received"],
)
def test_only_a_completed_exchanges_replacement_is_corrected(owner, order, kind, steps, field):
    aftersale = aftersale_request(
        actor=owner,
        order=order,
        kind=kind,
        reason="size",
        lines=[AfterSaleLineInput(_line(order, "CREAM-50").pk, 1)],
    )
    for step in (aftersale_approve, aftersale_receive, aftersale_complete)[:steps]:
        aftersale = step(actor=owner, aftersale=aftersale)

    with pytest.raises(ValidationFailed) as caught:
        aftersale_replacement_update(actor=owner, aftersale=aftersale, changes={"tracking_no": "SF9"})

    assert list(caught.value.field_errors) == [field]
    stored = AfterSale.objects.get(pk=aftersale.pk)
    assert (stored.replacement_tracking_no, stored.version) == ("", aftersale.version)
    assert not AuditEntry.objects.filter(action="aftersale.replacement").exists()


def test_a_correction_that_changes_nothing_writes_nothing(owner, order):
    sent = _sent(owner, order, sku_code="TONER-100", carrier="顺丰速运", tracking_no="SF1")

    aftersale_replacement_update(
        actor=owner,
        aftersale=sent,
        changes={
            "sku_code": "TONER-100",
            "item": "爽肤水 100ml",
            "carrier": "顺丰速运 ",
            "tracking_no": "SF1",
        },
    )

    assert AfterSale.objects.get(pk=sent.pk).version == sent.version
    assert not AuditEntry.objects.filter(action="aftersale.replacement").exists()


def test_a_correction_of_an_exchange_changed_since_it_was_read_is_refused(owner, order):
    sent = _sent(owner, order, tracking_no="SF1")
    aftersale_replacement_update(actor=owner, aftersale=sent, changes={"tracking_no": "SF2"})

    with pytest.raises(Conflict):
        aftersale_replacement_update(
            actor=owner, aftersale=sent, changes={"tracking_no": "SF3"}, expected_version=sent.version
        )

    assert AfterSale.objects.get(pk=sent.pk).replacement_tracking_no == "SF2"
