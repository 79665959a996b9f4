"""One timeline per customer, read from the records themselves: merged newest first, paged without gaps
or repeats (ties included), filtered by kind, limited to what the reader may see, in a fixed number of
queries however long the history.

The service records here are made directly with the ORM: the timeline only reads them, and the rules
that make them are tested with their own services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kebu.customers.models import CustomerEvent
from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import (
    ContactChannel,
    ContactRecord,
    Feedback,
    FollowUp,
    FollowUpStatus,
    Ticket,
    TicketCategory,
)
from kebu.engagement.selectors.timeline import Cursor, customer_timeline
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(sales_a):
    return make_customer(actor=sales_a, name="王芳", phone="13812345678", owner=sales_a)


def _contact(customer, *, at, summary="问了发货时间", by=None):
    return ContactRecord.objects.create(
        customer=customer, channel=ContactChannel.WECHAT, occurred_at=at, summary=summary, created_by=by
    )


def _walk(actor, customer, **kwargs):
    """Every entry, page by page, as (kind, id)."""
    seen, cursor = [], None
    for _page in range(1000):
        page = customer_timeline(actor=actor, customer=customer, cursor=cursor, limit=7, **kwargs)
        seen.extend((e.kind, e.obj.pk, e.at) for e in page.entries)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError("the timeline never ended")


def test_the_timeline_merges_every_kind_of_record_newest_first(sales_a, customer, catalogue):
    # given an order, a contact, a ticket, feedback and a follow-up done, on different days
    now = timezone.now()
    order = make_order(
        actor=sales_a, customer=customer, store=catalogue.store, ordered_at=now - timedelta(days=5)
    )
    contact = _contact(customer, at=now - timedelta(days=4))
    ticket = Ticket.objects.create(
        number="T000001",
        customer=customer,
        category=TicketCategory.QUALITY,
        subject="面霜有异味",
        order=order,
        opened_at=now - timedelta(days=3),
        first_response_due_at=now - timedelta(days=3) + timedelta(hours=4),
        due_at=now - timedelta(days=1),
    )
    feedback = Feedback.objects.create(
        customer=customer, order=order, rating=2, reviewed_at=now - timedelta(days=2)
    )
    followup = FollowUp.objects.create(
        customer=customer,
        title="回访异味问题",
        due_on=(now - timedelta(days=1)).date(),
        status=FollowUpStatus.DONE,
        done_at=now - timedelta(hours=1),
    )
    # when
    page = customer_timeline(actor=sales_a, customer=customer)
    # then: newest first; the customer was created today and the order moved the stage, so those
    # profile events come first
    kinds = [(e.kind, e.obj.pk) for e in page.entries]
    assert [k for k in kinds if k[0] != "profile"] == [
        ("followup", followup.pk),
        ("feedback", feedback.pk),
        ("ticket", ticket.pk),
        ("contact", contact.pk),
        ("order", order.pk),
    ]
    assert [e.obj.kind for e in page.entries[:2]] == ["customer.stage_changed", "customer.created"]
    assert page.next_cursor is None


def test_pages_have_no_gaps_or_repeats_even_when_many_records_share_a_second(sales_a, customer):
    # given 20 contacts and 20 profile events in the same second, and 10 more a day earlier
    moment = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    for i in range(20):
        _contact(customer, at=moment, summary=f"同一秒 {i}")
        CustomerEvent.objects.create(customer=customer, kind="customer.updated", created_at=moment)
    for i in range(10):
        _contact(customer, at=moment - timedelta(days=1), summary=f"前一天 {i}")
    expected = ContactRecord.objects.filter(customer=customer).count() + customer.events.count()
    # when read 7 at a time
    seen = _walk(sales_a, customer)
    # then every record once, in order
    assert len(seen) == expected == 51
    assert len({(kind, pk) for kind, pk, _at in seen}) == expected
    assert [at for _k, _pk, at in seen] == sorted((at for _k, _pk, at in seen), reverse=True)


def test_the_filter_shows_only_the_kinds_asked_for(sales_a, customer, catalogue):
    make_order(actor=sales_a, customer=customer, store=catalogue.store)
    _contact(customer, at=timezone.now())
    page = customer_timeline(actor=sales_a, customer=customer, kinds=["contact"])
    assert {e.kind for e in page.entries} == {"contact"}
    assert page.selected == ["contact"]
    # an unknown kind is no filter at all, rather than an empty timeline
    assert {e.kind for e in customer_timeline(actor=sales_a, customer=customer, kinds=["nope"]).entries} == {
        "order",
        "contact",
        "profile",
    }


def test_records_the_reader_may_not_see_are_left_out(staff_member, sales_a, customer, catalogue):
    # a colleague who may see customers but not orders nor contact records
    from django.contrib.auth.models import Permission

    viewer = staff_member(None, "kanke")
    viewer.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="customers", codename__in=["view_customer", "view_all_customers"]
        )
    )
    make_order(actor=sales_a, customer=customer, store=catalogue.store)
    _contact(customer, at=timezone.now())
    page = customer_timeline(actor=viewer, customer=customer)
    assert {e.kind for e in page.entries} == {"profile"}
    assert [s.kind for s in page.kinds] == ["profile"]


def test_a_tampered_cursor_starts_from_the_top():
    assert Cursor.decode("2026-01-01T00:00:00+00:00~3~9") == Cursor(
        at=Cursor.decode("2026-01-01T00:00:00+00:00~3~9").at, rank=3, id=9
    )
    for raw in ("", "x", "2026-01-01~a~1", "2026-01-01T00:00:00~1~1", "1~2~3~4"):
        assert Cursor.decode(raw) is None


def test_a_page_costs_the_same_queries_with_a_long_history(
    sales_a, customer, catalogue, django_assert_max_num_queries
):
    make_order(actor=sales_a, customer=customer, store=catalogue.store)
    start = timezone.now() - timedelta(days=400)
    ContactRecord.objects.bulk_create(
        ContactRecord(
            customer=customer,
            channel=ContactChannel.PHONE,
            occurred_at=start + timedelta(hours=i),
            summary="电话",
        )
        for i in range(600)
    )
    customer_timeline(actor=sales_a, customer=customer)  # the reader's permissions, read once per request
    # one query per source, plus the contacts' attachments (prefetched once per page)
    with django_assert_max_num_queries(9):
        page = customer_timeline(actor=sales_a, customer=customer)
    assert len(page.entries) == 30
    with django_assert_max_num_queries(9):
        customer_timeline(actor=sales_a, customer=customer, cursor=page.next_cursor)


def test_the_customer_page_shows_the_timeline_and_older_entries_load_on_request(
    client_for, sales_a, customer, catalogue
):
    order = make_order(actor=sales_a, customer=customer, store=catalogue.store, paid_cny=Decimal("199.00"))
    for i in range(35):
        _contact(customer, at=timezone.now() - timedelta(days=40 + i), summary=f"第{i}次沟通")
    client = client_for(sales_a)
    # when the customer page opens
    html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    # then the newest entries are on it, with a link for the older ones
    timeline = html[html.index('id="timeline"') :]
    assert order.order_no in timeline
    assert "第0次沟通" in timeline and "第34次沟通" not in timeline
    more = reverse("timeline:customer", args=[customer.pk])
    assert f'hx-get="{more}?before=' in timeline
    # and the next page has the oldest ones
    page = customer_timeline(actor=sales_a, customer=customer)
    older = client.get(more, {"before": page.next_cursor.encode()}).content.decode()
    assert "第34次沟通" in older and "第0次沟通" not in older


def test_an_order_awaiting_payment_shows_on_the_timeline_with_its_amount_due(
    client_for, sales_a, customer, catalogue
):
    # given: a ¥398.00 order not paid yet, and a paid one of ¥128.00 paid ¥120.00 (the odd yuan let off)
    waiting = make_order(
        actor=sales_a, customer=customer, store=catalogue.store, lines=[("CREAM-50", 2)], status="pending"
    )
    paid = make_order(
        actor=sales_a, customer=customer, store=catalogue.store, lines=[("TEA-250", 1)], paid_cny="120.00"
    )

    html = client_for(sales_a).get(reverse("customers:detail", args=[customer.pk])).content.decode()

    # then: what is due for the one awaiting payment (nothing is paid yet), what was paid for the other
    timeline = html[html.index('id="timeline"') :]
    entries = {no: timeline[timeline.index(no) :][:200] for no in (waiting.order_no, paid.order_no)}
    assert "¥398.00" in entries[waiting.order_no] and "¥0.00" not in entries[waiting.order_no]
    assert "¥120.00" in entries[paid.order_no]


def test_an_order_on_credit_reads_on_credit_on_the_timeline_with_what_it_owes(
    client_for, owner, sales_a, customer, catalogue
):
    from kebu.orders.services.credit import customer_credit_set

    # given: ¥398.00 taken on credit, nothing received yet
    customer_credit_set(actor=owner, customer=customer, credit_limit_cny="5000", payment_terms_days=30)
    order = make_order(
        actor=sales_a,
        customer=customer,
        store=catalogue.store,
        lines=[("CREAM-50", 2)],
        payment_method="credit",
    )

    html = client_for(sales_a).get(reverse("customers:detail", args=[customer.pk])).content.decode()

    # then: as on the order list and page, on credit (赊账) with what it owes, not paid (已付款)
    timeline = html[html.index('id="timeline"') :]
    entry = timeline[timeline.index(order.order_no) :]
    entry = entry[: entry.index("</li>")]
    assert ">On credit<" in entry and "Owes ¥398.00" in entry and ">Paid<" not in entry


def test_a_colleagues_customer_timeline_is_404(client_for, sales_b, customer):
    response = client_for(sales_b).get(reverse("timeline:customer", args=[customer.pk]))
    assert response.status_code == 404


def test_the_api_pages_the_timeline_with_a_next_link(client_for, sales_a, customer, catalogue):
    order = make_order(actor=sales_a, customer=customer, store=catalogue.store)
    for i in range(40):
        _contact(customer, at=timezone.now() - timedelta(days=i + 1), summary=f"第{i}次")
    client = client_for(sales_a)
    url = reverse("customer-timeline", args=[customer.pk])
    first = client.get(url).json()
    assert len(first["results"]) == 30
    assert {"kind": "order", "id": order.pk, "order_no": order.order_no}.items() <= next(
        e for e in first["results"] if e["kind"] == "order"
    ).items()
    rest = client.get(first["next"]).json()
    assert rest["next"] is None
    ids = [(e["kind"], e["id"]) for e in first["results"] + rest["results"]]
    assert len(ids) == len(set(ids)) == 40 + 1 + customer.events.count()
    # times in the shop's time zone, as the rest of the API
    assert all(e["at"].endswith("+08:00") for e in first["results"]), first["results"][0]["at"]
    # filtered by kind
    only = client.get(url, {"kind": "contact"}).json()["results"]
    assert {e["kind"] for e in only} == {"contact"}


def test_the_api_pages_the_timeline_by_page_size_as_the_other_lists_do(client_for, sales_a, customer):
    for i in range(5):
        _contact(customer, at=timezone.now() - timedelta(days=i + 1), summary=f"第{i}次")
    client = client_for(sales_a)
    url = reverse("customer-timeline", args=[customer.pk])

    first = client.get(url, {"kind": "contact", "page_size": "2"}).json()
    rest = client.get(first["next"]).json()

    assert [e["summary"] for e in first["results"]] == ["第0次", "第1次"]
    assert [e["summary"] for e in rest["results"]] == ["第2次", "第3次"]  # the next page keeps its size


@pytest.mark.parametrize("asked", ["0", "-5", "abc"])
def test_the_api_refuses_a_timeline_page_size_no_page_can_have_naming_it(
    client_for, sales_a, customer, asked
):
    url = reverse("customer-timeline", args=[customer.pk])

    response = client_for(sales_a).get(url, {"page_size": asked}, headers={"accept-language": "en"})

    assert response.status_code == 400
    assert response.json()["page_size"] == [
        "page_size must be a whole number from 1 to 200 (leave it out for 30 a page)."
    ]


def test_the_api_answers_404_for_a_colleagues_customer(client_for, sales_b, customer):
    response = client_for(sales_b).get(reverse("customer-timeline", args=[customer.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("language", "followup_line", "change_line"),
    [
        ("en", "回访异味问题: 已换货，客户满意", "</span>: 王芳 → 王芳芳"),
        ("zh-hans", "回访异味问题：已换货，客户满意", "</span>：王芳 → 王芳芳"),
    ],
)
def test_labels_and_what_follows_them_are_joined_with_the_languages_colon(
    client_for, sales_a, customer, language, followup_line, change_line
):
    # given a follow-up done with its outcome, and a change of the customer's name
    FollowUp.objects.create(
        customer=customer,
        title="回访异味问题",
        outcome="已换货，客户满意",
        due_on=timezone.localdate(),
        status=FollowUpStatus.DONE,
        done_at=timezone.now(),
    )
    CustomerEvent.objects.create(
        customer=customer, kind="customer.updated", data={"changes": {"name": ["王芳", "王芳芳"]}}
    )

    # when the timeline is read in the language
    url = reverse("timeline:customer", args=[customer.pk])
    html = client_for(sales_a).get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    # then "title: outcome" in English, "标题：结果" in Chinese
    assert followup_line in html
    assert change_line in html
