"""Feedback and reviews: what a rating must be, the order and product it may name, who may record one for
which customer, a marketplace export row imported twice staying one review, and the pages and API showing
only visible customers' reviews (the list with the averages of the products on the page)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from kebu.audit.models import AuditEntry
from kebu.core.errors import Forbidden, NotFound, ValidationFailed
from kebu.customers.services import customer_archive
from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import Feedback
from kebu.engagement.selectors.feedback import product_ratings
from kebu.engagement.services.feedback import feedback_add, feedback_import_row
from kebu.orders.models import Store
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def customer(sales_a):
    return make_customer(actor=sales_a, name="王芳", phone="13812345678", owner=sales_a)


@pytest.fixture
def b_customer(sales_b):
    return make_customer(actor=sales_b, name="李雷", phone="13900001111", owner=sales_b)


@pytest.fixture
def order(sales_a, customer, catalogue):
    return make_order(actor=sales_a, customer=customer, store=catalogue.store, lines=[("CREAM-50", 1)])


@pytest.fixture
def cream(catalogue):
    return catalogue.cream_sku.product


@pytest.fixture
def tea(catalogue):
    return catalogue.tea_sku.product


def test_a_review_of_an_order_and_its_product_is_recorded_with_an_audit_entry(
    sales_a, customer, order, cream
):
    with time_machine.travel(NOW, tick=False):
        review = feedback_add(
            actor=sales_a, customer=customer, order=order, product=cream, rating=5, comment="好用"
        )

    assert (review.rating, review.comment, review.source, review.store) == (5, "好用", "entered", order.store)
    assert review.reviewed_at == NOW
    assert AuditEntry.objects.filter(action="feedback.add", target_id=str(review.pk)).exists()


@pytest.mark.parametrize("rating", [0, 6, "4.5", "", None, True])
def test_a_rating_outside_1_to_5_whole_stars_is_refused(sales_a, customer, rating):
    with pytest.raises(ValidationFailed) as refused:
        feedback_add(actor=sales_a, customer=customer, rating=rating)

    assert "rating" in refused.value.field_errors
    assert not Feedback.objects.exists()


def test_an_order_of_another_customer_is_refused(sales_a, customer, catalogue):
    other = make_customer(actor=sales_a, name="另一个", phone="13700001111", owner=sales_a)
    foreign = make_order(actor=sales_a, customer=other, store=catalogue.store)

    with pytest.raises(ValidationFailed) as refused:
        feedback_add(actor=sales_a, customer=customer, order=foreign, rating=4)

    assert "order" in refused.value.field_errors
    assert not Feedback.objects.exists()


def test_a_product_not_in_the_order_is_refused(sales_a, customer, order, tea):
    with pytest.raises(ValidationFailed) as refused:
        feedback_add(actor=sales_a, customer=customer, order=order, product=tea, rating=4)

    assert refused.value.field_errors["product"] == [f"“明前龙井” is not in order {order.order_no}."]


def test_a_review_time_in_the_future_is_refused(sales_a, customer):
    with time_machine.travel(NOW, tick=False), pytest.raises(ValidationFailed) as refused:
        feedback_add(actor=sales_a, customer=customer, rating=4, reviewed_at=NOW + timedelta(days=1))

    assert "reviewed_at" in refused.value.field_errors


def test_a_colleagues_customer_is_not_found_and_nothing_is_written(sales_a, b_customer):
    with pytest.raises(NotFound):
        feedback_add(actor=sales_a, customer=b_customer, rating=5)

    assert not Feedback.objects.exists()


def test_a_role_without_add_feedback_may_not_record_one(readonly, customer):
    with pytest.raises(Forbidden):
        feedback_add(actor=readonly, customer=customer, rating=5)

    assert not Feedback.objects.exists()


def test_an_archived_customer_gets_no_new_feedback(sales_a, customer):
    customer_archive(actor=sales_a, customer=customer)
    customer.refresh_from_db()

    with pytest.raises(ValidationFailed) as refused:
        feedback_add(actor=sales_a, customer=customer, rating=5)

    assert "archived" in str(refused.value.field_errors["customer"][0])
    assert not Feedback.objects.exists()


# --- imports --------------------------------------------------------------------------------------------


def test_importing_the_same_review_twice_keeps_one_row_and_takes_the_later_text(
    sales_a, customer, order, cream
):
    store = order.store
    row = {
        "actor": sales_a,
        "store": store,
        "external_id": "TB-998877",
        "customer": customer,
        "order": order,
        "product": cream,
    }

    first, created = feedback_import_row(**row, rating=2, comment="有点油", reviewed_at=NOW)
    again, created_again = feedback_import_row(**row, rating=2, comment="有点油", reviewed_at=NOW)
    edited, created_edited = feedback_import_row(
        **row, rating=4, comment="追评：用久了还不错", reviewed_at=NOW
    )

    assert (created, created_again, created_edited) == (True, False, False)
    assert first.pk == again.pk == edited.pk
    assert Feedback.objects.count() == 1
    assert (edited.rating, edited.comment, edited.source, edited.external_id) == (
        4,
        "追评：用久了还不错",
        "imported",
        "TB-998877",
    )
    assert AuditEntry.objects.filter(action="feedback.import").count() == 1
    assert AuditEntry.objects.filter(action="feedback.import_update").count() == 1


def test_the_same_review_id_in_another_store_is_another_review(sales_a, customer):
    tmall = Store.objects.create(name="天猫旗舰店")
    pdd = Store.objects.create(name="拼多多店")

    feedback_import_row(
        actor=sales_a, store=tmall, external_id="1001", customer=customer, rating=5, reviewed_at=NOW
    )
    feedback_import_row(
        actor=sales_a, store=pdd, external_id="1001", customer=customer, rating=1, reviewed_at=NOW
    )

    assert sorted(Feedback.objects.values_list("store__name", "rating")) == [
        ("天猫旗舰店", 5),
        ("拼多多店", 1),
    ]


def test_an_imported_row_needs_its_review_id_and_an_order_of_its_store(sales_a, customer, order):
    other_store = Store.objects.create(name="门店")

    with pytest.raises(ValidationFailed) as no_id:
        feedback_import_row(actor=sales_a, store=order.store, external_id=" ", customer=customer, rating=5)
    with pytest.raises(ValidationFailed) as wrong_store:
        feedback_import_row(
            actor=sales_a, store=other_store, external_id="1", customer=customer, order=order, rating=5
        )

    assert "external_id" in no_id.value.field_errors and "order" in wrong_store.value.field_errors
    assert not Feedback.objects.exists()


# --- who sees which reviews -----------------------------------------------------------------------------


def test_averages_per_product_count_only_the_reviews_i_may_see(sales_a, sales_b, customer, b_customer, cream):
    feedback_add(actor=sales_a, customer=customer, product=cream, rating=5)
    feedback_add(actor=sales_a, customer=customer, product=cream, rating=4)
    feedback_add(actor=sales_b, customer=b_customer, product=cream, rating=1)

    rows = product_ratings(user=sales_a, product_ids=[cream.pk])

    assert [(r["product__name"], r["reviews"], r["average"]) for r in rows] == [("玻尿酸面霜", 2, 4.5)]


def test_the_list_page_shows_my_customers_reviews_and_the_product_averages(
    client_for, sales_a, sales_b, customer, b_customer, cream
):
    feedback_add(actor=sales_a, customer=customer, product=cream, rating=5, comment="回购第三次")
    feedback_add(actor=sales_b, customer=b_customer, product=cream, rating=1, comment="乙的差评")

    page = client_for(sales_a).get(reverse("feedback:list")).content.decode()
    filtered = (
        client_for(sales_a).get(reverse("feedback:list"), {"product": cream.pk, "rating": 1}).content.decode()
    )

    assert "回购第三次" in page and "乙的差评" not in page
    assert 'id="product-ratings"' in page and "5.00" in page
    assert "回购第三次" not in filtered


def ratings_card(html: str) -> str:
    return html.split('id="product-ratings"')[1].split("</table>")[0]


def test_the_list_averages_only_the_products_on_its_page_over_all_their_visible_reviews(
    client_for, sales_a, customer, cream, tea
):
    with time_machine.travel(NOW, tick=False):
        feedback_add(
            actor=sales_a, customer=customer, product=tea, rating=2, reviewed_at=NOW - timedelta(days=9)
        )
        for n in range(25):  # newer: page 1 is cream's alone, tea's review is on page 2
            feedback_add(actor=sales_a, customer=customer, product=cream, rating=4 + n % 2)
    client = client_for(sales_a)

    first = ratings_card(client.get(reverse("feedback:list")).content.decode())
    second = ratings_card(client.get(reverse("feedback:list"), {"page": 2}).content.decode())
    only_fives = ratings_card(client.get(reverse("feedback:list"), {"rating": 5}).content.decode())

    assert f"?product={cream.pk}" in first and f"?product={tea.pk}" not in first
    assert f"?product={tea.pk}" in second and f"?product={cream.pk}" not in second
    # a filter picks the products shown; their averages stay over every review: 13 fours, 12 fives
    assert ">25<" in only_fives and "4.48" in only_fives


def test_the_list_takes_the_same_few_queries_however_many_reviews_and_products(
    client_for, sales_a, customer, cream, tea, django_assert_max_num_queries
):
    for n in range(40):
        feedback_add(actor=sales_a, customer=customer, product=(cream, tea, None)[n % 3], rating=5)
    client = client_for(sales_a)

    # session, user, 2FA check, two permission reads, the shop settings (twice: the rows and the ratings
    # each apply visibility), count, rows, the ratings of the page's products (one grouped query), the
    # session save (three with its savepoint)
    with django_assert_max_num_queries(13) as captured:
        page = client.get(reverse("feedback:list"))

    assert page.content.decode().count("data-feedback=") == 25
    grouped = [q["sql"] for q in captured.captured_queries if "AVG(" in q["sql"].upper()]
    # grouped over the page's products only, not over every visible review
    assert len(grouped) == 1 and '"engagement_feedback"."product_id" IN (' in grouped[0]


def test_a_review_is_entered_from_the_customer_page_and_shown_on_its_card(
    client_for, sales_a, customer, order, cream
):
    client = client_for(sales_a)
    url = reverse("feedback:create") + f"?customer={customer.pk}"

    refused = client.post(url, {"rating": "", "comment": "没打分"})
    saved = client.post(url, {"rating": "4", "comment": "包装很好", "order": order.pk, "product": cream.pk})
    card = client.get(reverse("tickets:customer_tickets", args=[customer.pk])).content.decode()

    assert refused.status_code == 400 and 'data-field="rating"' in refused.content.decode()
    assert saved.status_code == 302
    assert "包装很好" in card
    assert Feedback.objects.get().order == order


def test_a_colleagues_customer_cannot_be_reviewed_from_the_pages(client_for, sales_a, b_customer):
    response = client_for(sales_a).post(
        reverse("feedback:create") + f"?customer={b_customer.pk}", {"rating": "5"}
    )

    assert response.status_code == 404
    assert not Feedback.objects.exists()


def test_the_product_page_shows_its_rating(client_for, owner, sales_a, customer, cream):
    feedback_add(actor=sales_a, customer=customer, product=cream, rating=4, comment="清爽")

    card = client_for(sales_a).get(reverse("feedback:product_rating", args=[cream.pk])).content.decode()
    edit_page = client_for(owner).get(reverse("orders:product-edit", args=[cream.pk])).content.decode()

    assert "清爽" in card and "4.0" in card
    assert f'hx-get="/feedback/product/{cream.pk}/"' in edit_page


# --- the API --------------------------------------------------------------------------------------------


def send(client, method, url, data):
    return getattr(client, method)(url, data=json.dumps(data), content_type="application/json")


def test_reviews_are_listed_by_customer_and_product_and_created_through_the_api(
    client_for, sales_a, sales_b, customer, b_customer, order, cream
):
    client = client_for(sales_a)
    feedback_add(actor=sales_b, customer=b_customer, product=cream, rating=1, comment="乙的")

    created = send(
        client,
        "post",
        "/api/v1/feedback/",
        {"customer": customer.pk, "order": order.pk, "product": cream.pk, "rating": 5},
    )
    by_product = client.get("/api/v1/feedback/", {"product": cream.pk}).json()
    by_customer = client.get("/api/v1/feedback/", {"customer": b_customer.pk}).json()
    refused = send(client, "post", "/api/v1/feedback/", {"customer": customer.pk, "rating": 9})
    theirs = send(client, "post", "/api/v1/feedback/", {"customer": b_customer.pk, "rating": 5})

    assert created.status_code == 201 and created.json()["product_name"] == "玻尿酸面霜"
    assert [r["rating"] for r in by_product["results"]] == [5]
    assert by_customer["results"] == []
    assert refused.status_code == 400 and "rating" in refused.json()
    assert theirs.status_code == 400 and "customer" in theirs.json()
    assert Feedback.objects.filter(customer=customer).count() == 1
