"""The ticket pages as staff use them: the queues with overdue rows standing out, a new ticket from the
customer or order page, the steps as small forms, the customer page's card, the return raised from a
complaint and linked both ways, and a colleague's ticket or customer answering 404."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse

from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import Ticket, TicketEvent
from kebu.engagement.services.tickets import TicketInput, ticket_open
from kebu.orders.models import AfterSale, OrderStatus
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_9AM = datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def customer(sales_a):
    return make_customer(actor=sales_a, name="王芳", phone="13812345678", owner=sales_a)


@pytest.fixture
def b_customer(sales_b):
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


@pytest.fixture
def a_client(client_for, sales_a):
    return client_for(sales_a)


def open_ticket(actor, customer, **fields) -> Ticket:
    data = TicketInput(
        category=fields.pop("category", "quality"), subject=fields.pop("subject", "面霜结块"), **fields
    )
    return ticket_open(actor=actor, customer=customer, data=data)


# --- the list --------------------------------------------------------------------------------------------


def test_an_overdue_ticket_stands_out_in_the_queue_with_how_late_it_is(a_client, sales_a, customer):
    with time_machine.travel(MONDAY_9AM, tick=False):
        open_ticket(sales_a, customer, category="attitude", subject="客服态度差")  # due Tuesday 09:00
        open_ticket(sales_a, customer, category="price", subject="差价")  # due Thursday 09:00
    with time_machine.travel(datetime(2025, 3, 4, 12, 0, tzinfo=SHANGHAI), tick=False):
        page = a_client.get(reverse("tickets:list"), headers={"Accept-Language": "en"}).content.decode()
        overdue_tab = a_client.get(reverse("tickets:list"), {"tab": "overdue"}).content.decode()

    row = page.split('data-ticket="T000001"')[1].split("</a>")[0]
    assert "data-overdue" in row and "overdue by 3\xa0hours" in row
    assert "data-overdue" not in page.split('data-ticket="T000002"')[1].split("</a>")[0]
    assert "客服态度差" in overdue_tab and "差价" not in overdue_tab


def test_the_list_filters_by_category_and_status(a_client, sales_a, customer):
    open_ticket(sales_a, customer, category="logistics", subject="快递慢")
    open_ticket(sales_a, customer, category="quality", subject="有划痕")

    page = a_client.get(reverse("tickets:list"), {"tab": "all", "category": "logistics", "status": "new"})

    assert "快递慢" in page.content.decode() and "有划痕" not in page.content.decode()


def test_an_invalid_filter_shows_nothing_rather_than_everything(a_client, sales_a, customer):
    open_ticket(sales_a, customer, subject="有划痕")

    page = a_client.get(reverse("tickets:list"), {"tab": "all", "category": "weather"})

    assert page.status_code == 200 and "有划痕" not in page.content.decode()


def test_the_ticket_list_takes_the_same_few_queries_however_many_rows(
    a_client, sales_a, customer, order, django_assert_max_num_queries
):
    for n in range(30):
        open_ticket(sales_a, customer, subject=f"问题{n}", order=order)

    # session, user, 2FA check, two permission reads, the shop settings (twice: the rows and the tab
    # counts each apply visibility), count, rows, tab counts, the assignee filter's people, session save
    with django_assert_max_num_queries(14):
        page = a_client.get(reverse("tickets:list"), {"tab": "open"})

    assert page.content.decode().count("data-ticket=") == 25


def test_a_colleagues_tickets_are_not_in_my_queues(a_client, sales_b, b_customer):
    open_ticket(sales_b, b_customer, subject="乙的工单")

    for tab in ("mine", "unassigned", "open", "overdue", "all"):
        assert "乙的工单" not in a_client.get(reverse("tickets:list"), {"tab": tab}).content.decode()


# --- one ticket, and 404 for a colleague's ------------------------------------------------------------------


def test_every_ticket_page_answers_404_for_a_colleagues_ticket(a_client, sales_b, b_customer):
    theirs = open_ticket(sales_b, b_customer)

    assert a_client.get(reverse("tickets:detail", args=[theirs.pk])).status_code == 404
    for name in ("transition", "assign", "note"):
        response = a_client.post(
            reverse(f"tickets:{name}", args=[theirs.pk]),
            {"version": 1, "to_status": "in_progress", "note": "偷看", "assignee": ""},
        )
        assert response.status_code == 404, name
    assert a_client.get(reverse("tickets:customer_tickets", args=[b_customer.pk])).status_code == 404
    assert a_client.get(reverse("tickets:create"), {"customer": b_customer.pk}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.version == 1 and not TicketEvent.objects.filter(ticket=theirs, kind="note").exists()


def test_a_ticket_assigned_to_me_opens_even_if_the_customer_is_a_colleagues(
    a_client, sales_a, sales_b, b_customer
):
    handed_over = open_ticket(sales_b, b_customer, assignee=sales_a)

    page = a_client.get(reverse("tickets:detail", args=[handed_over.pk]))

    assert page.status_code == 200
    assert f'href="/customers/{b_customer.pk}/"' not in page.content.decode()


def test_someone_who_may_only_read_sees_a_ticket_but_cannot_move_it(client_for, readonly, sales_a, customer):
    ticket = open_ticket(sales_a, customer)
    reader = client_for(readonly)

    page = reader.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    response = reader.post(
        reverse("tickets:transition", args=[ticket.pk]), {"version": 1, "to_status": "in_progress"}
    )

    assert 'id="ticket-steps"' not in page
    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == "new"


def test_steps_are_taken_from_the_ticket_page(a_client, sales_a, customer):
    ticket = open_ticket(sales_a, customer)
    url = reverse("tickets:transition", args=[ticket.pk])

    page = a_client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    started = a_client.post(url, {"version": 1, "to_status": "in_progress", "note": "在处理"})
    refused = a_client.post(url, {"version": 2, "to_status": "resolved", "resolution": ""})
    stale = a_client.post(url, {"version": 1, "to_status": "waiting"})
    resolved = a_client.post(
        url, {"version": 2, "to_status": "resolved", "resolution": "退款", "result": "refund"}
    )

    assert 'data-step-form="resolved"' in page and 'data-step-form="closed"' not in page
    assert started.status_code == 302
    assert refused.status_code == 400 and "Say how the ticket was resolved." in refused.content.decode()
    assert stale.status_code == 409 and 'id="conflict"' in stale.content.decode()
    assert resolved.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status, ticket.result, ticket.version) == ("resolved", "refund", 3)


def test_a_ticket_is_reassigned_and_noted_from_its_page(a_client, sales_a, manager_east, customer):
    ticket = open_ticket(sales_a, customer)

    a_client.post(reverse("tickets:note", args=[ticket.pk]), {"note": "已电话联系"})
    a_client.post(reverse("tickets:assign", args=[ticket.pk]), {"version": 1, "assignee": manager_east.pk})
    page = a_client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()

    ticket.refresh_from_db()
    assert ticket.assignee == manager_east and ticket.first_responded_at is not None
    assert "已电话联系" in page and "华东主管" in page


# --- a new ticket ------------------------------------------------------------------------------------------


def test_a_ticket_is_opened_from_the_order_page_with_the_order_and_its_lines_offered(
    a_client, sales_a, customer, order
):
    order_page = a_client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    form = a_client.get(reverse("tickets:create"), {"order": order.pk}).content.decode()
    cream = order.lines.get(sku_code="CREAM-50")

    response = a_client.post(
        reverse("tickets:create") + f"?order={order.pk}",
        {
            "kind": "complaint",
            "category": "quality",
            "priority": "high",
            "subject": "面霜有异味",
            "order": order.pk,
            "lines": [cream.pk],
        },
    )

    assert f"/tickets/new/?order={order.pk}" in order_page
    assert f'<option value="{order.pk}" selected>' in form and "玻尿酸面霜" in form
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("tickets:detail", args=[ticket.pk])
    assert (ticket.customer, ticket.order, ticket.priority, ticket.assignee) == (
        customer,
        order,
        "high",
        sales_a,
    )
    assert list(ticket.lines.all()) == [cream]


def test_the_orders_offered_read_their_amounts_as_money(a_client, sales_a, customer, catalogue):
    order = make_order(actor=sales_a, customer=customer, store=catalogue.store, lines=[("CREAM-50", 6)])

    page = a_client.get(reverse("tickets:create"), {"customer": customer.pk})

    choices = dict(page.context["form"].fields["order"].choices)
    assert choices[order.pk].endswith(" · ¥1,194.00")


def test_a_complaint_on_another_customers_order_is_refused_beside_the_order_keeping_what_was_typed(
    a_client, sales_a, customer, catalogue
):
    other = make_customer(actor=sales_a, name="赵敏", phone="13700002222", owner=sales_a)
    others_order = make_order(actor=sales_a, customer=other, store=catalogue.store)

    response = a_client.post(
        reverse("tickets:create") + f"?customer={customer.pk}",
        {
            "kind": "complaint",
            "category": "logistics",
            "priority": "normal",
            "subject": "包裹晚到五天",
            "description": "礼盒是送人的",
            "order": others_order.pk,
        },
    )

    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["order"] == ["Choose one of this customer's orders."]
    assert (form["subject"].value(), form["description"].value()) == ("包裹晚到五天", "礼盒是送人的")
    assert not Ticket.objects.exists()


def _complain_about_refund(client, order, refund):
    """Open a complaint about ``order``'s ``refund`` ("the money has not arrived"), linked to it."""
    return client.post(
        reverse("tickets:create") + f"?order={order.pk}",
        {
            "kind": "complaint",
            "category": "price",
            "priority": "normal",
            "subject": "退款还没到账",
            "order": order.pk,
            "aftersales": [refund.pk],
        },
    )


def test_a_complaint_opened_from_an_order_shows_its_refund_in_progress_and_is_linked_to_it(
    a_client, sales_a, customer, order
):
    from kebu.orders.services.aftersales import aftersale_cancel, aftersale_request

    refund = aftersale_request(actor=sales_a, order=order, kind="refund", reason="price", amount_cny="20")
    withdrawn = aftersale_request(actor=sales_a, order=order, kind="refund", reason="price", amount_cny="5")
    aftersale_cancel(actor=sales_a, aftersale=withdrawn)

    form = a_client.get(reverse("tickets:create"), {"order": order.pk}).content.decode()
    # the after-sale is told, with a way to it, and ticked to be linked; one withdrawn is not told
    assert f'href="/orders/{order.pk}/#aftersale-{refund.pk}"' in form
    assert (
        f'name="aftersales" value="{refund.pk}"' in form
        and "checked" in form[form.index('name="aftersales"') :]
    )
    assert f'value="{withdrawn.pk}"' not in form[form.index('id="ticket-aftersales"') :]
    response = _complain_about_refund(a_client, order, refund)

    assert response.status_code == 302, response.content.decode()[:2000]
    ticket = Ticket.objects.get()
    assert list(ticket.aftersales.all()) == [refund]
    ticket_page = a_client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert f"#aftersale-{refund.pk}" in ticket_page


def test_a_complaint_ticked_for_a_refund_finished_meanwhile_opens_without_that_link(
    a_client, sales_a, customer, order
):
    from kebu.orders.services.aftersales import aftersale_cancel, aftersale_request

    # given the new-ticket page showed a refund in progress, ticked, and it was withdrawn meanwhile
    refund = aftersale_request(actor=sales_a, order=order, kind="refund", reason="price", amount_cny="20")
    assert (
        f'value="{refund.pk}"'
        in a_client.get(reverse("tickets:create"), {"order": order.pk}).content.decode()
    )
    aftersale_cancel(actor=sales_a, aftersale=refund)

    # when the ticket is saved as the page had it
    response = _complain_about_refund(a_client, order, refund)

    # then it opens, about the order, without the link to what is no longer in progress
    assert response.status_code == 302, response.content.decode()[:2000]
    ticket = Ticket.objects.get()
    assert ticket.order == order and not ticket.aftersales.exists()


def test_an_order_without_after_sales_in_progress_tells_of_none(a_client, order):
    form = a_client.get(reverse("tickets:create"), {"order": order.pk}).content.decode()

    assert 'id="ticket-aftersales"' not in form


def test_a_new_ticket_with_bad_input_shows_the_errors_and_opens_nothing(a_client, customer):
    response = a_client.post(
        reverse("tickets:create") + f"?customer={customer.pk}",
        {"kind": "complaint", "category": "", "priority": "normal", "subject": ""},
    )

    assert response.status_code == 400
    assert 'data-field="subject"' in response.content.decode()
    assert not Ticket.objects.exists()


def test_the_customer_page_offers_a_new_ticket_and_loads_the_tickets_card(a_client, sales_a, customer):
    open_ticket(sales_a, customer, subject="快递破损")

    page = a_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    card = a_client.get(reverse("tickets:customer_tickets", args=[customer.pk])).content.decode()

    assert f"/tickets/new/?customer={customer.pk}" in page
    assert f'hx-get="/tickets/customer/{customer.pk}/"' in page
    assert "快递破损" in card and 'id="customer-tickets"' in card


# --- the after-sale, both ways ---------------------------------------------------------------------------


def test_a_refund_started_from_a_complaint_is_prefilled_and_linked_both_ways(
    a_client, sales_a, customer, order
):
    cream = order.lines.get(sku_code="CREAM-50")
    ticket = open_ticket(sales_a, customer, order=order, line_ids=[cream.pk], subject="面霜坏了")
    create_url = reverse("orders:aftersale-create", args=[order.pk]) + f"?ticket={ticket.pk}"

    ticket_page = a_client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    form = a_client.get(create_url).content.decode()
    response = a_client.post(
        create_url,
        {
            "kind": "return",
            "reason": "quality",
            "reason_detail": "T000001 面霜坏了",
            f"line_{cream.pk}_quantity": "1",
        },
    )

    assert create_url in ticket_page.replace("&amp;", "&")
    assert "T000001 面霜坏了" in form and f'name="line_{cream.pk}_quantity" value="2"' in form
    assert response.status_code == 302
    aftersale = AfterSale.objects.get()
    assert list(aftersale.tickets.all()) == [ticket]
    order_page = a_client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    ticket_page = a_client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert f'href="/tickets/{ticket.pk}/">T000001</a>' in order_page
    assert f"#aftersale-{aftersale.pk}" in ticket_page


def test_an_after_sale_from_a_ticket_is_refused_whole_for_someone_who_cannot_work_tickets(
    client_for, sales_a, customer, order, staff_member
):
    ticket = open_ticket(sales_a, customer, order=order)
    cashier = staff_member(None, "cashier")  # sees every customer and may raise after-sales, not tickets
    cashier.user_permissions.add(
        *Permission.objects.filter(
            codename__in=[
                "view_customer",
                "view_all_customers",
                "view_order",
                "add_aftersale",
                "view_ticket",
                "view_all_tickets",
            ]
        )
    )
    cream = order.lines.get(sku_code="CREAM-50")
    url = reverse("orders:aftersale-create", args=[order.pk]) + f"?ticket={ticket.pk}"

    response = client_for(cashier).post(
        url, {"kind": "return", "reason": "quality", f"line_{cream.pk}_quantity": "1"}
    )

    assert response.status_code == 400
    assert "may not work on tickets" in response.content.decode()
    assert not AfterSale.objects.exists()


def test_an_after_sale_cannot_be_tied_to_a_colleagues_or_another_orders_ticket(
    a_client, sales_a, sales_b, customer, b_customer, order, catalogue
):
    theirs = open_ticket(sales_b, b_customer)
    other_order = make_order(actor=sales_a, customer=customer, store=catalogue.store)
    mine_elsewhere = open_ticket(sales_a, customer, order=other_order)
    url = reverse("orders:aftersale-create", args=[order.pk])

    assert a_client.get(url, {"ticket": theirs.pk}).status_code == 404
    assert a_client.get(url, {"ticket": mine_elsewhere.pk}).status_code == 404
    assert a_client.get(url).status_code == 200


def test_the_start_page_asks_for_a_customer_number(a_client, customer):
    page = a_client.get(reverse("tickets:create"))
    found = a_client.get(reverse("tickets:create"), {"customer_no": customer.customer_no})

    assert page.status_code == 200 and 'name="customer_no"' in page.content.decode()
    assert found.status_code == 200 and 'id="ticket-form"' in found.content.decode()
    assert a_client.get(reverse("tickets:create"), {"customer_no": "C999999"}).status_code == 404


def test_the_overdue_badge_is_shown_in_the_shops_time(a_client, sales_a, customer):
    with time_machine.travel(MONDAY_9AM, tick=False):
        ticket = open_ticket(sales_a, customer, category="attitude")
    with time_machine.travel(MONDAY_9AM + timedelta(days=2), tick=False):
        page = a_client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()

    assert 'id="overdue"' in page and "2025-03-04 09:00" in page
