"""Tickets and complaints: opening with SLA due times (and who may open one, for which customer), the
status flow and every step it refuses, reopening, notes as first responses, reassignment, stale versions,
the after-sale raised and linked in one transaction, and who sees which ticket in which queue."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.utils import timezone

from kebu.audit.models import AuditEntry
from kebu.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kebu.customers.services import customer_archive
from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import SlaPolicy, Ticket, TicketEvent, TicketStatus
from kebu.engagement.selectors.tickets import (
    ticket_get_for_actor,
    ticket_list,
    ticket_tab_counts,
    ticket_visible_queryset,
)
from kebu.engagement.services import tickets as ticket_services
from kebu.engagement.services.tickets import (
    TRANSITIONS,
    TicketInput,
    ticket_aftersale_link,
    ticket_aftersale_raise,
    ticket_assign,
    ticket_note_add,
    ticket_open,
    ticket_transition,
)
from kebu.orders.models import AfterSale, AfterSaleKind, AfterSaleReason, Order, OrderStatus
from kebu.orders.services.aftersales import AfterSaleLineInput, aftersale_request
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_9AM = datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def customer(sales_a):
    return make_customer(actor=sales_a, name="王芳", phone="13812345678", owner=sales_a)


@pytest.fixture
def other_customer(sales_b):
    return make_customer(actor=sales_b, name="李雷", phone="13900001111", owner=sales_b)


@pytest.fixture
def order(sales_a, customer, catalogue):
    return make_order(
        actor=sales_a,
        customer=customer,
        store=catalogue.store,
        lines=[("CREAM-50", 2), ("TONER-100", 1)],
        status=OrderStatus.SHIPPED,  # goods that went out: they may come back
    )


def open_ticket(actor, customer, **fields) -> Ticket:
    data = TicketInput(
        category=fields.pop("category", "quality"), subject=fields.pop("subject", "面霜结块"), **fields
    )
    return ticket_open(actor=actor, customer=customer, data=data)


def step(actor, ticket, to_status, **fields) -> Ticket:
    ticket.refresh_from_db()
    return ticket_transition(
        actor=actor, ticket=ticket, to_status=to_status, expected_version=ticket.version, **fields
    )


# --- opening ---------------------------------------------------------------------------------------------


def test_a_ticket_is_numbered_and_due_by_its_categorys_service_level(sales_a, customer, order):
    # given: a rude answer must be answered in 2 h and put right in 24 h (the shop's default levels)
    with time_machine.travel(MONDAY_9AM, tick=False):
        ticket = open_ticket(
            sales_a, customer, category="attitude", order=order, line_ids=[order.lines.first().pk]
        )

    assert ticket.number == "T000001"
    assert ticket.status == TicketStatus.NEW
    assert ticket.opened_at == MONDAY_9AM
    assert ticket.first_response_due_at == datetime(2025, 3, 3, 11, 0, tzinfo=SHANGHAI)
    assert ticket.due_at == datetime(2025, 3, 4, 9, 0, tzinfo=SHANGHAI)
    assert list(ticket.lines.all()) == [order.lines.first()]
    assert list(TicketEvent.objects.filter(ticket=ticket).values_list("kind", "to_value")) == [
        ("opened", "new")
    ]
    entry = AuditEntry.objects.get(action="ticket.open")
    assert entry.target_id == str(ticket.pk) and entry.data["number"] == "T000001"


def test_the_shops_own_service_level_is_used_and_a_missing_one_falls_back_to_4_and_48_hours(
    sales_a, customer
):
    SlaPolicy.objects.filter(category="price").update(first_response_hours=1, resolution_hours=10)
    SlaPolicy.objects.filter(category="other").delete()
    with time_machine.travel(MONDAY_9AM, tick=False):
        price = open_ticket(sales_a, customer, category="price")
        other = open_ticket(sales_a, customer, category="other")

    assert (price.first_response_due_at, price.due_at) == (
        MONDAY_9AM + timedelta(hours=1),
        MONDAY_9AM + timedelta(hours=10),
    )
    assert (other.first_response_due_at, other.due_at) == (
        MONDAY_9AM + timedelta(hours=4),
        MONDAY_9AM + timedelta(hours=48),
    )


def test_a_colleagues_customer_is_not_found_and_nothing_is_written(sales_a, other_customer):
    with pytest.raises(NotFound):
        open_ticket(sales_a, other_customer)

    assert not Ticket.objects.exists() and not AuditEntry.objects.filter(action="ticket.open").exists()


def test_a_role_without_add_ticket_may_not_open_one(readonly, customer):
    with pytest.raises(Forbidden):
        open_ticket(readonly, customer)

    assert not Ticket.objects.exists()


def test_an_archived_customer_gets_no_new_ticket(sales_a, customer):
    customer_archive(actor=sales_a, customer=customer)
    customer.refresh_from_db()

    with pytest.raises(ValidationFailed) as refused:
        open_ticket(sales_a, customer)

    assert "archived" in str(refused.value.field_errors["customer"][0])
    assert not Ticket.objects.exists()


def test_numbers_follow_one_another_and_skip_a_number_already_taken(sales_a, customer):
    first = open_ticket(sales_a, customer)
    Ticket.objects.filter(pk=first.pk).update(number="T000002")  # e.g. kept from an imported sheet

    assert open_ticket(sales_a, customer).number == "T000003"


def test_an_order_of_another_customer_is_refused_and_nothing_is_written(
    sales_a, customer, other_customer, catalogue
):
    foreign = make_order(actor=sales_a, customer=other_customer, store=catalogue.store)

    with pytest.raises(ValidationFailed) as refused:
        open_ticket(sales_a, customer, order=foreign)

    assert "order" in refused.value.field_errors
    assert foreign.order_no in str(refused.value.field_errors["order"][0])
    assert not Ticket.objects.exists() and not AuditEntry.objects.filter(action="ticket.open").exists()


def test_a_line_of_another_order_is_refused(sales_a, customer, order, catalogue):
    second = make_order(actor=sales_a, customer=customer, store=catalogue.store, lines=[("TEA-250", 1)])

    with pytest.raises(ValidationFailed) as refused:
        open_ticket(sales_a, customer, order=order, line_ids=[second.lines.get().pk])

    assert refused.value.field_errors["lines"] == [f"Every line must be a line of order {order.order_no}."]
    assert not Ticket.objects.exists()


def test_lines_without_an_order_are_refused(sales_a, customer, order):
    with pytest.raises(ValidationFailed) as refused:
        open_ticket(sales_a, customer, line_ids=[order.lines.first().pk])

    assert "lines" in refused.value.field_errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "weather"),
        ("kind", "praise"),
        ("priority", "asap"),
        ("subject", "  "),
        ("subject", "长" * 121),
    ],
)
def test_bad_input_names_its_field_and_opens_nothing(sales_a, customer, field, value):
    with pytest.raises(ValidationFailed) as refused:
        open_ticket(sales_a, customer, **{field: value})

    assert field in refused.value.field_errors
    assert not Ticket.objects.exists()


def test_the_customers_owner_is_the_default_assignee_else_whoever_opens_it(sales_a, manager_east, customer):
    pool = make_customer(actor=sales_a, name="公海", phone="13700000000", owner=None)

    assert open_ticket(manager_east, customer).assignee == sales_a
    assert open_ticket(manager_east, pool).assignee == manager_east


def test_someone_who_cannot_work_tickets_is_not_made_assignee(sales_a, analyst, customer):
    with pytest.raises(ValidationFailed) as refused:
        open_ticket(sales_a, customer, assignee=analyst)

    assert "assignee" in refused.value.field_errors


# --- the flow --------------------------------------------------------------------------------------------


def test_the_whole_flow_from_new_to_closed(sales_a, customer):
    with time_machine.travel(MONDAY_9AM, tick=False) as clock:
        ticket = open_ticket(sales_a, customer)
        clock.shift(timedelta(minutes=30))
        ticket = step(sales_a, ticket, "in_progress", note="已联系顾客")
        clock.shift(timedelta(hours=1))
        ticket = step(sales_a, ticket, "waiting", note="等顾客发照片")
        clock.shift(timedelta(hours=3))
        ticket = step(sales_a, ticket, "in_progress")
        clock.shift(timedelta(hours=2))
        ticket = step(sales_a, ticket, "resolved", resolution="补发一瓶", result="resend")
        clock.shift(timedelta(days=1))
        ticket = step(sales_a, ticket, "closed", satisfaction=5)

    assert ticket.status == TicketStatus.CLOSED
    assert ticket.first_responded_at == MONDAY_9AM + timedelta(minutes=30)
    assert ticket.resolved_at == MONDAY_9AM + timedelta(hours=6, minutes=30)
    assert ticket.closed_at == MONDAY_9AM + timedelta(days=1, hours=6, minutes=30)
    assert (ticket.resolution, ticket.result, ticket.satisfaction) == ("补发一瓶", "resend", 5)
    assert ticket.version == 6
    steps = list(
        TicketEvent.objects.filter(ticket=ticket, kind="status").values_list("from_value", "to_value")
    )
    assert steps == [
        ("new", "in_progress"),
        ("in_progress", "waiting"),
        ("waiting", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
    ]
    assert AuditEntry.objects.filter(action="ticket.transition", target_id=str(ticket.pk)).count() == 5


REFUSED = [
    (current, to)
    for current, to in itertools.product(TicketStatus.values, TicketStatus.values)
    if to not in TRANSITIONS[current]
]


@pytest.mark.parametrize(("current", "to"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_every_step_outside_the_flow_is_refused_and_changes_nothing(sales_a, customer, current, to):
    ticket = open_ticket(sales_a, customer)
    Ticket.objects.filter(pk=ticket.pk).update(status=current)
    ticket.refresh_from_db()

    with pytest.raises(ValidationFailed) as refused:
        ticket_transition(
            actor=sales_a,
            ticket=ticket,
            to_status=to,
            resolution="x",
            result="explained",
            expected_version=ticket.version,
        )

    assert "to_status" in refused.value.field_errors
    ticket.refresh_from_db()
    assert (ticket.status, ticket.version) == (current, 1)
    assert not TicketEvent.objects.filter(ticket=ticket).exclude(kind="opened").exists()


def test_an_unknown_status_is_refused(sales_a, customer):
    ticket = open_ticket(sales_a, customer)

    with pytest.raises(ValidationFailed) as refused:
        ticket_transition(actor=sales_a, ticket=ticket, to_status="lost", expected_version=1)

    assert refused.value.field_errors["to_status"] == ["Choose a status."]


def test_resolving_needs_a_resolution_and_a_result(sales_a, customer):
    ticket = open_ticket(sales_a, customer)

    with pytest.raises(ValidationFailed) as refused:
        step(sales_a, ticket, "resolved", resolution="  ", result="")

    assert set(refused.value.field_errors) == {"resolution", "result"}
    ticket.refresh_from_db()
    assert (ticket.status, ticket.resolved_at, ticket.first_responded_at) == ("new", None, None)


@pytest.mark.parametrize("score", [0, 6, "five"])
def test_a_satisfaction_outside_1_to_5_is_refused_at_close(sales_a, customer, score):
    ticket = step(sales_a, open_ticket(sales_a, customer), "resolved", resolution="退款", result="refund")

    with pytest.raises(ValidationFailed) as refused:
        step(sales_a, ticket, "closed", satisfaction=score)

    assert "satisfaction" in refused.value.field_errors
    ticket.refresh_from_db()
    assert ticket.status == "resolved"


def test_satisfaction_is_only_taken_when_closing_and_may_be_left_out(sales_a, customer):
    ticket = open_ticket(sales_a, customer)

    with pytest.raises(ValidationFailed) as refused:
        step(sales_a, ticket, "in_progress", satisfaction=4)
    ticket = step(sales_a, ticket, "resolved", resolution="解释清楚了", result="explained")
    ticket = step(sales_a, ticket, "closed")

    assert "satisfaction" in refused.value.field_errors
    assert (ticket.status, ticket.satisfaction) == ("closed", None)


def test_reopening_a_closed_ticket_counts_it_and_starts_its_resolution_time_again(sales_a, customer):
    with time_machine.travel(MONDAY_9AM, tick=False) as clock:
        ticket = step(sales_a, open_ticket(sales_a, customer), "resolved", resolution="补发", result="resend")
        ticket = step(sales_a, ticket, "closed", satisfaction=2)
        clock.shift(timedelta(days=29))
        ticket = step(sales_a, ticket, "in_progress", note="补发的也坏了")

    assert ticket.status == "in_progress" and ticket.reopened_count == 1
    assert (ticket.resolution, ticket.result, ticket.satisfaction) == ("", "", None)
    assert (ticket.resolved_at, ticket.closed_at) == (None, None)
    assert ticket.due_at == MONDAY_9AM + timedelta(days=29, hours=48)
    assert ticket.first_due_at == MONDAY_9AM + timedelta(hours=48)  # the SLA figures' due time stays
    assert TicketEvent.objects.filter(ticket=ticket, kind="reopened", from_value="closed").exists()
    assert AuditEntry.objects.filter(action="ticket.reopen").count() == 1


def test_a_resolved_ticket_may_be_reopened_too(sales_a, customer):
    ticket = step(sales_a, open_ticket(sales_a, customer), "resolved", resolution="补发", result="resend")

    ticket = step(sales_a, ticket, "in_progress")

    assert (ticket.status, ticket.reopened_count) == ("in_progress", 1)


def test_a_ticket_closed_more_than_30_days_ago_is_not_reopened(sales_a, customer):
    with time_machine.travel(MONDAY_9AM, tick=False) as clock:
        ticket = step(sales_a, open_ticket(sales_a, customer), "resolved", resolution="补发", result="resend")
        ticket = step(sales_a, ticket, "closed")
        clock.shift(timedelta(days=30, seconds=1))
        with pytest.raises(ValidationFailed) as refused:
            step(sales_a, ticket, "in_progress")

    assert "30 days" in str(refused.value.field_errors["to_status"][0])
    ticket.refresh_from_db()
    assert (ticket.status, ticket.reopened_count) == ("closed", 0)


def test_a_stale_version_is_a_conflict_and_changes_nothing(sales_a, manager_east, customer):
    ticket = open_ticket(sales_a, customer)
    read_by_manager = Ticket.objects.get(pk=ticket.pk)
    step(sales_a, ticket, "in_progress")

    with pytest.raises(Conflict):
        ticket_transition(
            actor=manager_east,
            ticket=read_by_manager,
            to_status="resolved",
            resolution="退款了",
            result="refund",
            expected_version=read_by_manager.version,
        )
    with pytest.raises(Conflict):
        ticket_assign(actor=manager_east, ticket=read_by_manager, assignee=None, expected_version=1)

    ticket.refresh_from_db()
    assert (ticket.status, ticket.version, ticket.assignee) == ("in_progress", 2, sales_a)


# --- notes and assignment --------------------------------------------------------------------------------


def test_the_first_note_is_the_first_response_and_later_ones_do_not_move_it(sales_a, customer):
    with time_machine.travel(MONDAY_9AM, tick=False) as clock:
        ticket = open_ticket(sales_a, customer)
        clock.shift(timedelta(minutes=20))
        ticket_note_add(actor=sales_a, ticket=ticket, note="已回复顾客，请她拍照")
        clock.shift(timedelta(hours=2))
        ticket_note_add(actor=sales_a, ticket=ticket, note="照片收到")
        ticket = step(sales_a, ticket, "in_progress")

    assert ticket.first_responded_at == MONDAY_9AM + timedelta(minutes=20)
    assert TicketEvent.objects.filter(ticket=ticket, kind="note").count() == 2


def test_an_empty_note_is_refused(sales_a, customer):
    ticket = open_ticket(sales_a, customer)

    with pytest.raises(ValidationFailed) as refused:
        ticket_note_add(actor=sales_a, ticket=ticket, note="   ")

    assert "note" in refused.value.field_errors
    ticket.refresh_from_db()
    assert ticket.first_responded_at is None


def test_reassigning_records_who_had_it_and_who_has_it(sales_a, manager_east, customer):
    ticket = open_ticket(sales_a, customer)

    ticket = ticket_assign(actor=sales_a, ticket=ticket, assignee=manager_east, expected_version=1)
    ticket = ticket_assign(actor=manager_east, ticket=ticket, assignee=None, expected_version=2)

    assert ticket.assignee is None
    events = list(
        TicketEvent.objects.filter(ticket=ticket, kind="assigned").values_list("from_value", "to_value")
    )
    assert events == [("销售甲", "华东主管"), ("华东主管", "")]


# --- who sees what, and the queues -----------------------------------------------------------------------


def test_a_colleagues_ticket_is_hidden_unless_assigned_to_me_or_i_see_all(
    sales_a, sales_b, analyst, other_customer
):
    theirs = open_ticket(sales_b, other_customer)
    handed_over = open_ticket(sales_b, other_customer, assignee=sales_a, subject="请甲帮忙")

    assert list(ticket_visible_queryset(user=sales_a)) == [handed_over]
    with pytest.raises(NotFound):
        ticket_get_for_actor(actor=sales_a, ticket_id=theirs.pk)
    with pytest.raises(NotFound):
        ticket_get_for_actor(actor=sales_a, ticket_id=10**9)
    assert set(ticket_visible_queryset(user=analyst)) == {theirs, handed_over}


def test_my_queue_is_my_open_tickets_soonest_due_first(sales_a, manager_east, customer):
    with time_machine.travel(MONDAY_9AM, tick=False):
        later = open_ticket(sales_a, customer, category="price")  # due in 72 h
        sooner = open_ticket(sales_a, customer, category="attitude")  # due in 24 h
        done = step(
            sales_a, open_ticket(sales_a, customer), "resolved", resolution="好了", result="explained"
        )
        open_ticket(sales_a, customer, assignee=manager_east)
        unassigned = open_ticket(sales_a, customer, subject="没人管")
        ticket_assign(actor=sales_a, ticket=unassigned, assignee=None, expected_version=1)

        assert list(ticket_list(user=sales_a, tab="mine")) == [sooner, later]
        assert list(ticket_list(user=sales_a, tab="unassigned")) == [unassigned]
        assert done not in ticket_list(user=sales_a, tab="open")
        assert done in ticket_list(user=sales_a, tab="all")
        managers = list(ticket_list(user=manager_east, tab="mine", filters={"category": "quality"}))
        assert [t.assignee for t in managers] == [manager_east]


def test_overdue_is_an_open_ticket_past_its_resolution_due_time(sales_a, customer):
    with time_machine.travel(MONDAY_9AM, tick=False):
        rude = open_ticket(sales_a, customer, category="attitude")  # due Tuesday 09:00
        slow = open_ticket(sales_a, customer, category="quality")  # due Wednesday 09:00
        solved = step(
            sales_a,
            open_ticket(sales_a, customer, category="attitude"),
            "resolved",
            resolution="道歉",
            result="explained",
        )
    tuesday_noon = datetime(2025, 3, 4, 12, 0, tzinfo=SHANGHAI)

    overdue = list(ticket_list(user=sales_a, tab="overdue", now=tuesday_noon))

    assert overdue == [rude]
    assert slow not in overdue and solved not in overdue
    assert ticket_tab_counts(user=sales_a, now=tuesday_noon) == {
        "open": 2,
        "mine": 2,
        "unassigned": 0,
        "overdue": 1,
    }
    with time_machine.travel(tuesday_noon, tick=False):
        rude.refresh_from_db()
        assert rude.is_overdue and not slow.is_overdue


# --- the after-sale link ---------------------------------------------------------------------------------


def test_a_return_raised_from_a_complaint_is_linked_both_ways_once(sales_a, customer, order):
    ticket = open_ticket(sales_a, customer, order=order)
    aftersale = aftersale_request(
        actor=sales_a,
        order=order,
        kind=AfterSaleKind.REFUND,
        reason=AfterSaleReason.QUALITY,
        amount_cny="50.00",
    )

    ticket_aftersale_link(actor=sales_a, ticket=ticket, aftersale=aftersale)
    ticket_aftersale_link(actor=sales_a, ticket=ticket, aftersale=aftersale)

    assert list(ticket.aftersales.all()) == [aftersale]
    assert list(aftersale.tickets.all()) == [ticket]
    assert TicketEvent.objects.filter(ticket=ticket, kind="linked").count() == 1
    assert AuditEntry.objects.filter(action="ticket.aftersale_link").count() == 1


def test_an_after_sale_of_another_order_is_not_linked(sales_a, customer, order, catalogue):
    other_order = make_order(actor=sales_a, customer=customer, store=catalogue.store)
    ticket = open_ticket(sales_a, customer, order=order)
    aftersale = aftersale_request(
        actor=sales_a,
        order=other_order,
        kind=AfterSaleKind.REFUND,
        reason=AfterSaleReason.QUALITY,
        amount_cny="10",
    )

    with pytest.raises(ValidationFailed):
        ticket_aftersale_link(actor=sales_a, ticket=ticket, aftersale=aftersale)

    assert not ticket.aftersales.exists()


def test_a_complaint_opened_about_a_refund_in_progress_is_linked_to_it_as_it_opens(sales_a, customer, order):
    refund = aftersale_request(
        actor=sales_a, order=order, kind=AfterSaleKind.REFUND, reason=AfterSaleReason.PRICE, amount_cny="20"
    )

    ticket = open_ticket(sales_a, customer, order=order, aftersale_ids=[refund.pk])

    assert list(ticket.aftersales.all()) == [refund] and list(refund.tickets.all()) == [ticket]
    assert TicketEvent.objects.filter(ticket=ticket, kind="linked", to_value=f"#{refund.pk}").exists()
    assert AuditEntry.objects.filter(action="ticket.aftersale_link", target_id=str(ticket.pk)).count() == 1


def test_a_ticket_is_not_opened_linked_to_another_orders_or_a_colleagues_after_sale(
    sales_a, sales_b, customer, order, catalogue, other_customer
):
    other_order = make_order(actor=sales_a, customer=customer, store=catalogue.store)
    elsewhere = aftersale_request(
        actor=sales_a,
        order=other_order,
        kind=AfterSaleKind.REFUND,
        reason=AfterSaleReason.PRICE,
        amount_cny="5",
    )
    # a colleague's customer's after-sale, named by its id on a ticket of my own order
    theirs = aftersale_request(
        actor=sales_b,
        order=make_order(actor=sales_b, customer=other_customer, store=catalogue.store),
        kind=AfterSaleKind.REFUND,
        reason=AfterSaleReason.PRICE,
        amount_cny="5",
    )

    for wrong in (elsewhere, theirs):
        with pytest.raises(ValidationFailed) as caught:
            open_ticket(sales_a, customer, order=order, aftersale_ids=[wrong.pk])
        assert list(caught.value.field_errors) == ["aftersales"]
    with pytest.raises(ValidationFailed) as caught:
        open_ticket(sales_a, customer, aftersale_ids=[elsewhere.pk])  # and none without its order
    assert list(caught.value.field_errors) == ["aftersales"]
    assert not Ticket.objects.exists()


def raise_return(actor, ticket, order, **fields):
    cream = order.lines.get(sku_code="CREAM-50")
    return ticket_aftersale_raise(
        actor=actor,
        ticket=ticket,
        order=order,
        kind=fields.pop("kind", AfterSaleKind.RETURN),
        reason=AfterSaleReason.QUALITY,
        lines=[AfterSaleLineInput(line_id=cream.pk, quantity=1)],
        **fields,
    )


def test_a_return_raised_from_a_ticket_is_made_and_linked_together(sales_a, customer, order):
    ticket = open_ticket(sales_a, customer, order=order)

    aftersale = raise_return(sales_a, ticket, order)

    assert list(aftersale.tickets.all()) == [ticket]
    assert TicketEvent.objects.filter(ticket=ticket, kind="linked", to_value=f"#{aftersale.pk}").exists()
    assert {"aftersale.request", "ticket.aftersale_link"} <= set(
        AuditEntry.objects.values_list("action", flat=True)
    )


def test_a_refund_completed_at_once_from_a_ticket_is_linked_too(sales_a, customer, order):
    ticket = open_ticket(sales_a, customer, order=order)

    aftersale = raise_return(sales_a, ticket, order, kind=AfterSaleKind.REFUND, complete_now=True)

    assert aftersale.status == "completed" and list(aftersale.tickets.all()) == [ticket]


def test_a_failed_link_leaves_no_after_sale_and_no_money_reserved(sales_a, customer, order, monkeypatch):
    ticket = open_ticket(sales_a, customer, order=order)

    def link_refused(**_kwargs):
        raise Conflict("the link failed")

    monkeypatch.setattr(ticket_services, "ticket_aftersale_link", link_refused)
    with pytest.raises(Conflict):
        raise_return(sales_a, ticket, order)

    assert not AfterSale.objects.exists()
    assert Order.objects.get(pk=order.pk).refund_reserved_cny == 0
    assert not AuditEntry.objects.filter(action="aftersale.request").exists()


def test_someone_who_cannot_work_tickets_raises_no_after_sale_from_one(
    sales_a, customer, order, staff_member
):
    ticket = open_ticket(sales_a, customer, order=order)
    cashier = staff_member(None, "cashier")  # may raise after-sales, not work tickets
    cashier.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_aftersale", "view_ticket", "view_order"])
    )
    cashier = type(cashier).objects.get(pk=cashier.pk)

    with pytest.raises(Forbidden) as refused:
        raise_return(cashier, ticket, order)

    assert "tickets" in str(refused.value.message)
    assert not AfterSale.objects.exists() and not ticket.aftersales.exists()
    assert Order.objects.get(pk=order.pk).refund_reserved_cny == 0


def test_times_are_aware_and_stored_in_utc(sales_a, customer):
    with time_machine.travel(MONDAY_9AM, tick=False):
        ticket = open_ticket(sales_a, customer)

    assert timezone.is_aware(ticket.opened_at)
    assert Ticket.objects.get(pk=ticket.pk).opened_at.astimezone(ZoneInfo("UTC")).hour == 1
