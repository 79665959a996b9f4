"""The customer list and page by what customers bought: filters on every purchase figure ("spent more than
¥2,000 and no order for 90 days"), sorts that page without gaps or repeats (customers without a value
last, both ways, on both databases), clear errors for bad values, the API's figures, the purchases card
and history on the customer page, and query counts that do not grow with the rows."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kebu.customers.filters import FIGURE_SORTS, ORDERINGS
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_list, customer_list_page
from kebu.customers.services import customer_archive
from kebu.customers.tests.factories import make_customer
from kebu.orders.services.aftersales import order_refund
from kebu.orders.services.credit import customer_credit_set
from kebu.orders.tests.factories import make_catalogue, make_order

pytestmark = pytest.mark.django_db

SHOP = timezone.get_default_timezone()
LIST_URL = "/customers/"
API_URL = "/api/v1/customers/"


@pytest.fixture
def catalogue(owner):
    return make_catalogue(actor=owner)


def days_ago(days: int, at: time = time(12, 0)) -> datetime:
    """Noon (or ``at``) of the day ``days`` days before today, in the shop's time zone."""
    day = timezone.localdate(timezone=SHOP) - timedelta(days=days)
    return datetime.combine(day, at, tzinfo=SHOP)


def buy(owner, catalogue, customer, *, when, lines=(("CREAM-50", 1),), **fields):
    return make_order(
        actor=owner, customer=customer, store=catalogue.store, lines=list(lines), ordered_at=when, **fields
    )


def ids(user, **filters) -> list[int]:
    qs, filterset = customer_list(user=user, filters=filters)
    assert filterset.is_valid(), filterset.errors
    return [c.pk for c in qs]


# --- "spent more than ¥2,000 and no order for 90 days" ----------------------------------------------------


@pytest.fixture
def dormant_big_spenders(owner, catalogue):
    """Customers around both edges of the question; ``wanted`` are exactly those it must find."""
    c = {name: make_customer(actor=owner, name=name, owner=owner) for name in "ABCDEFGHI"}
    # A: ¥2,388 over two orders, the last 120 days ago.
    buy(owner, catalogue, c["A"], when=days_ago(300), lines=[("CREAM-50", 6)])
    buy(owner, catalogue, c["A"], when=days_ago(120), lines=[("CREAM-50", 6)])
    # B: as much, but ordered 30 days ago.
    buy(owner, catalogue, c["B"], when=days_ago(200), lines=[("CREAM-50", 6)])
    buy(owner, catalogue, c["B"], when=days_ago(30), lines=[("CREAM-50", 6)])
    # C: dormant, but spent ¥398.
    buy(owner, catalogue, c["C"], when=days_ago(200), lines=[("CREAM-50", 2)])
    # D never ordered.
    # E: exactly ¥2,000.00 (10 × 199 + 10 shipping), 100 days ago: not more than 2,000.
    buy(owner, catalogue, c["E"], when=days_ago(100), lines=[("CREAM-50", 10)], shipping_cny="10.00")
    # F: ¥2,388 paid, ¥500 refunded: ¥1,888 spent.
    order = buy(owner, catalogue, c["F"], when=days_ago(150), lines=[("CREAM-50", 12)])
    order_refund(actor=owner, order=order, amount_cny="500.00", reason="quality")
    # G: last order on the 90th day before today, just after midnight: 90 whole days.
    buy(owner, catalogue, c["G"], when=days_ago(90, time(0, 5)), lines=[("CREAM-50", 11)])
    # H: last order on the 89th day before today, just before midnight: 89 days.
    buy(owner, catalogue, c["H"], when=days_ago(89, time(23, 55)), lines=[("CREAM-50", 11)])
    # I would match, but is archived.
    buy(owner, catalogue, c["I"], when=days_ago(365), lines=[("CREAM-50", 20)])
    customer_archive(actor=owner, customer=c["I"])
    return {"customers": c, "wanted": {c["A"].pk, c["G"].pk}}


def test_spent_over_2000_and_no_order_for_90_days_finds_exactly_those_customers(owner, dormant_big_spenders):
    found = ids(owner, spent_min="2000.01", days_since_last_order_min="90")

    assert set(found) == dormant_big_spenders["wanted"]


def test_the_same_question_through_the_page_and_the_api(owner, owner_client, dormant_big_spenders):
    c = dormant_big_spenders["customers"]
    query = (
        "spent_min=2000.01&days_since_last_order_min=90"
        "&cols=customer_no,total_spent_cny,days_since_last_order"
    )

    page = owner_client.get(f"{LIST_URL}?{query}").content.decode()
    api = owner_client.get(f"{API_URL}?{query}").json()

    shown = set(re.findall(r"C\d{6}", page.split('id="customer-table"')[1]))
    assert shown == {c["A"].customer_no, c["G"].customer_no}
    assert {row["id"] for row in api["results"]} == dormant_big_spenders["wanted"]
    assert "¥2,388.00" in page  # money reads like the merchant's sheet, in Chinese too
    assert re.search(r">120\s*</td>", page)  # days since A's last order


def test_never_ordered_is_its_own_choice_and_no_order_for_n_days_leaves_them_out(owner, dormant_big_spenders):
    c = dormant_big_spenders["customers"]

    assert c["D"].pk not in ids(owner, days_since_last_order_min="0")
    assert ids(owner, never_ordered="true") == [c["D"].pk]
    assert c["D"].pk not in ids(owner, never_ordered="false")


def test_each_range_filter_bounds_its_figure(owner, dormant_big_spenders, catalogue):
    c = dormant_big_spenders["customers"]

    assert set(ids(owner, orders_min="2")) == {c["A"].pk, c["B"].pk}
    assert set(ids(owner, orders_max="0")) == {c["D"].pk}
    assert set(ids(owner, avg_order_min="1194", avg_order_max="1194")) == {c["A"].pk, c["B"].pk}
    assert set(ids(owner, spent_max="398")) == {c["C"].pk, c["D"].pk}
    last_30 = (timezone.localdate(timezone=SHOP) - timedelta(days=30)).isoformat()
    last_31 = (timezone.localdate(timezone=SHOP) - timedelta(days=31)).isoformat()
    assert ids(owner, last_order_after=last_30) == [c["B"].pk]
    assert c["B"].pk in ids(owner, last_order_before=last_30)  # a day is included whole
    assert c["B"].pk not in ids(owner, last_order_before=last_31)
    first = (timezone.localdate(timezone=SHOP) - timedelta(days=300)).isoformat()
    assert ids(owner, first_order_after=first, first_order_before=first) == [c["A"].pk]
    assert ids(owner, refund_rate_pct_min="100") == [c["F"].pk]
    assert set(ids(owner, top_category=str(catalogue.skincare.pk))) == {c[k].pk for k in "ABCEFGH"}
    assert ids(owner, top_category=str(catalogue.tea.pk)) == []


def test_every_other_figure_has_its_range_too(owner, dormant_big_spenders):
    c = dormant_big_spenders["customers"]
    ordered = {c[k].pk for k in "ABCEFGH"}

    # Days between orders: A's two orders are 180 days apart, B's 170; one order gives no interval.
    assert ids(owner, interval_min="175") == [c["A"].pk]
    assert ids(owner, interval_max="175") == [c["B"].pk]
    assert set(ids(owner, interval_min="170", interval_max="180")) == {c["A"].pk, c["B"].pk}
    assert ids(owner, refund_count_min="1") == [c["F"].pk]
    assert set(ids(owner, refund_count_max="0")) == {c[k].pk for k in "ABCDEGH"}
    # Refund rate: F is at 100%; D never ordered and has no rate, so no end of the range matches it.
    assert set(ids(owner, refund_rate_pct_max="0")) == ordered - {c["F"].pk}
    assert ids(owner, refund_rate_pct_min="50", refund_rate_pct_max="100") == [c["F"].pk]
    # Ordered in the last N days: whole days, as "no order for N days" counts them (G 90, H 89, B 30).
    assert ids(owner, days_since_last_order_max="30") == [c["B"].pk]
    assert ids(owner, days_since_last_order_max="29") == []
    assert set(ids(owner, days_since_last_order_max="89")) == {c["B"].pk, c["H"].pk}
    within, beyond = ids(owner, days_since_last_order_max="89"), ids(owner, days_since_last_order_min="90")
    assert set(within) | set(beyond) == ordered and not set(within) & set(beyond)


def test_the_page_and_the_api_take_the_new_ranges(owner_client, dormant_big_spenders):
    c = dormant_big_spenders["customers"]
    query = "interval_min=175&refund_count_max=0&cols=customer_no"

    page = owner_client.get(f"{LIST_URL}?{query}").content.decode()
    api = owner_client.get(f"{API_URL}?{query}").json()

    assert set(re.findall(r"C\d{6}", page.split('id="customer-table"')[1])) == {c["A"].customer_no}
    assert 'name="interval_min" id="f-interval-min" class="form-control" placeholder' in page
    assert 'value="175"' in page  # the panel shows what is in force
    assert [row["id"] for row in api["results"]] == [c["A"].pk]


def test_owed_between_two_amounts(owner, catalogue):
    def debtor(name, lines):
        customer = customer_credit_set(
            actor=owner,
            customer=make_customer(actor=owner, name=name, owner=owner),
            credit_limit_cny="9000.00",
            payment_terms_days=30,
        )
        buy(owner, catalogue, customer, when=days_ago(3), lines=lines, payment_method="credit")
        return customer

    small, large = debtor("小欠", [("TEA-250", 1)]), debtor("大欠", [("CREAM-50", 6)])
    payer = make_customer(actor=owner, name="现结", owner=owner)
    buy(owner, catalogue, payer, when=days_ago(3))
    small.refresh_from_db()

    assert ids(owner, owed_min="1000") == [large.pk]
    assert ids(owner, owed_min=str(small.receivable_cny), owed_max="1000") == [small.pk]
    assert set(ids(owner, owed_max="1000")) == {small.pk, payer.pk}  # owing nothing is owing at most ¥1,000


def test_owes_money_finds_customers_with_credit_outstanding(owner, catalogue):
    debtor = customer_credit_set(
        actor=owner,
        customer=make_customer(actor=owner, name="批发商", owner=owner),
        credit_limit_cny="5000.00",
        payment_terms_days=30,
    )
    buy(owner, catalogue, debtor, when=days_ago(3), payment_method="credit")
    payer = make_customer(actor=owner, name="现结", owner=owner)
    buy(owner, catalogue, payer, when=days_ago(3))

    assert ids(owner, owes="true") == [debtor.pk]
    assert ids(owner, owes="false") == [payer.pk]


# --- sorting and paging -----------------------------------------------------------------------------------


@pytest.fixture
def varied(owner, catalogue):
    """Eleven customers: ties, single orders (no interval), a refund, two owing on credit, four who never
    ordered."""
    credit = customer_credit_set(
        actor=owner,
        customer=make_customer(actor=owner, name="赊账", owner=owner),
        credit_limit_cny="9000.00",
        payment_terms_days=30,
    )
    buy(owner, catalogue, credit, when=days_ago(40), lines=[("TEA-250", 3)], payment_method="credit")
    buy(owner, catalogue, credit, when=days_ago(10), lines=[("CREAM-50", 1)], payment_method="credit")
    credit_two = customer_credit_set(
        actor=owner,
        customer=make_customer(actor=owner, name="赊账二", owner=owner),
        credit_limit_cny="9000.00",
        payment_terms_days=30,
    )
    buy(owner, catalogue, credit_two, when=days_ago(5), lines=[("CREAM-50", 1)], payment_method="credit")
    plan = [
        [(200, [("CREAM-50", 2)]), (100, [("CREAM-50", 2)])],
        [(200, [("CREAM-50", 2)]), (100, [("CREAM-50", 2)])],  # a tie on every figure but the id
        [(60, [("TEA-250", 1)])],
        [(60, [("TEA-250", 1)])],
        [(365, [("TONER-100", 4)]), (300, [("TEA-250", 2)]), (7, [("CREAM-50", 1)])],
        [],
        [],
        [],
        [],
    ]
    customers = [credit, credit_two]
    for i, orders in enumerate(plan):
        customer = make_customer(actor=owner, name=f"客{i}", owner=owner)
        made = [buy(owner, catalogue, customer, when=days_ago(d), lines=lines) for d, lines in orders]
        customers.append(customer)
        if i == 2:
            order_refund(actor=owner, order=made[0], amount_cny="28.00", reason="price")
    return list(Customer.objects.filter(pk__in=[c.pk for c in customers]))


# The top categories as their names sort, in pinyin (chá yè before hù fū), not as they were made.
CATEGORIES_BY_NAME = ["茶叶", "护肤"]


def expected(customers: list[Customer], sort: str) -> list[int]:
    """The order a sort promises: customers with a value by (value, id), then the empty ones by id, in
    the sort's direction. A top category's value is its name."""
    first = ORDERINGS[sort][0]
    column, descending = first.lstrip("-"), first.startswith("-")

    def empty(c: Customer) -> bool:
        value = getattr(c, column)
        return value is None or (column == "receivable_cny" and value <= 0)

    def value(c: Customer) -> object:
        if column == "top_category_id":
            return CATEGORIES_BY_NAME.index(c.top_category.name)
        return getattr(c, column)

    filled = sorted((c for c in customers if not empty(c)), key=lambda c: (value(c), c.pk))
    blank = sorted(c.pk for c in customers if empty(c))
    ordered = [c.pk for c in filled]
    if descending:
        ordered.reverse()
        blank.reverse()
    return ordered + blank


def test_the_fixture_has_empty_values_and_ties_for_every_figure_sort(varied):
    for sort in FIGURE_SORTS:
        column = ORDERINGS[sort][0].lstrip("-")
        values = [getattr(c, column) for c in varied]
        assert len(set(values)) < len(values), sort  # a tie or several empties
    assert any(c.purchase_interval_days is None and c.order_count == 1 for c in varied)
    assert sum(1 for c in varied if c.receivable_cny > 0) == 2


@pytest.mark.parametrize("sort", sorted(FIGURE_SORTS))
def test_every_figure_sort_pages_in_order_without_gaps_or_repeats(owner, varied, sort):
    want = expected(varied, sort)
    qs, filterset = customer_list(user=owner, filters={"sort": sort})

    assert [c.pk for c in qs] == want  # the whole list, as an export reads it
    walked, number = [], 1
    while True:
        page = customer_list_page(qs, sort=filterset.sort_key, page=number, per_page=3)
        walked += [c.pk for c in page.object_list]
        if not page.has_next:
            break
        number += 1
    assert walked == want
    assert number == 4  # 11 customers, 3 a page: the boundaries fall inside both segments


def test_sorting_by_top_category_goes_by_the_categorys_name_not_its_age(owner, owner_client, varied):
    # given customers whose top category is 护肤 (made first) or 茶叶 (made later)
    by_category = {
        name: [c.pk for c in varied if c.top_category and c.top_category.name == name]
        for name in CATEGORIES_BY_NAME
    }
    assert all(by_category.values())
    numbers = dict(Customer.objects.values_list("pk", "customer_no"))

    # when the list is sorted by top category, up and down
    up = owner_client.get(f"{LIST_URL}?sort=top_category&cols=customer_no,top_category").content.decode()
    down = owner_client.get(f"{LIST_URL}?sort=-top_category&cols=customer_no,top_category").content.decode()

    # then 茶叶 (chá yè) comes before 护肤 (hù fū) going up, after it going down, and those without last
    def shown(html: str) -> list[str]:
        return re.findall(r'<a href="/customers/\d+/">(C\d{6})</a>', html.split('id="customer-table"')[1])

    tea, skincare = (sorted(by_category[name]) for name in CATEGORIES_BY_NAME)
    without = sorted(c.pk for c in varied if c.top_category_id is None)
    assert shown(up) == [numbers[pk] for pk in tea + skincare + without]
    assert shown(down) == [numbers[pk] for pk in [*reversed(skincare), *reversed(tea), *reversed(without)]]


def _walk(client, url):
    walked, last = [], None
    while url:
        body = client.get(url).json()
        walked += [row["id"] for row in body["results"]]
        last, url = body, body["next"]
    back, url = [], last["previous"]
    while url:
        body = client.get(url).json()
        back[:0] = [row["id"] for row in body["results"]]
        url = body["previous"]
    return walked, back + [row["id"] for row in last["results"]]


@pytest.mark.parametrize("sort", sorted(FIGURE_SORTS))
def test_every_figure_sort_pages_through_the_api_both_ways(owner_client, varied, sort):
    want = expected(varied, sort)

    forwards, backwards = _walk(owner_client, f"{API_URL}?sort={sort}&page_size=3")

    assert forwards == want
    assert backwards == want


def test_the_page_shows_the_same_order(owner_client, varied):
    numbers = dict(Customer.objects.values_list("pk", "customer_no"))

    html = owner_client.get(f"{LIST_URL}?sort=-last_order_at&cols=customer_no").content.decode()

    rows = re.findall(r'<a href="/customers/\d+/">(C\d{6})</a>', html.split('id="customer-table"')[1])
    assert rows == [numbers[pk] for pk in expected(varied, "-last_order_at")]


def test_a_cursor_from_the_segment_without_values_goes_on_from_there(owner_client, varied):
    # The page boundary falls among customers who never ordered: the next page starts right after.
    want = expected(varied, "avg_order_cny")
    first = owner_client.get(f"{API_URL}?sort=avg_order_cny&page_size=10").json()
    token = parse_qs(urlparse(first["next"]).query)["cursor"][0]

    rest = owner_client.get(f"{API_URL}?sort=avg_order_cny&page_size=10&cursor={token}").json()

    assert [r["id"] for r in first["results"]] + [r["id"] for r in rest["results"]] == want


# --- bad values -------------------------------------------------------------------------------------------


BAD_FILTERS = [
    ({"spent_min": "abc"}, "spent_min"),
    ({"spent_min": "-1"}, "spent_min"),
    ({"spent_min": "1.234"}, "spent_min"),
    ({"spent_min": "NaN"}, "spent_min"),
    ({"spent_min": "3000", "spent_max": "1000"}, "spent_max"),
    ({"orders_min": "1.5"}, "orders_min"),
    ({"orders_max": "99999999999"}, "orders_max"),
    ({"avg_order_max": "1e400"}, "avg_order_max"),
    ({"days_since_last_order_min": "-3"}, "days_since_last_order_min"),
    ({"days_since_last_order_min": "99999999"}, "days_since_last_order_min"),
    ({"last_order_after": "yesterday"}, "last_order_after"),
    ({"last_order_before": "0001-01-01"}, "last_order_before"),
    ({"first_order_after": "2026-02-30"}, "first_order_after"),
    ({"last_order_after": "2025-06-01", "last_order_before": "2025-01-01"}, "last_order_before"),
    ({"refund_rate_pct_min": "150"}, "refund_rate_pct_min"),
    ({"refund_rate_pct_min": "50", "refund_rate_pct_max": "10"}, "refund_rate_pct_max"),
    ({"interval_min": "-1"}, "interval_min"),
    ({"interval_min": "30", "interval_max": "7"}, "interval_max"),
    ({"refund_count_min": "x"}, "refund_count_min"),
    ({"refund_count_min": "3", "refund_count_max": "1"}, "refund_count_max"),
    ({"days_since_last_order_max": "-1"}, "days_since_last_order_max"),
    ({"owed_min": "-5"}, "owed_min"),
    ({"owed_min": "500", "owed_max": "100"}, "owed_max"),
    ({"top_category": "999999"}, "top_category"),
    ({"owes": "maybe"}, "owes"),
    ({"never_ordered": "perhaps"}, "never_ordered"),
    ({"sort": "-total_spent"}, "sort"),
]


@pytest.mark.parametrize(("filters", "field"), BAD_FILTERS)
def test_a_bad_filter_value_is_an_error_not_an_unfiltered_list(owner, dormant_big_spenders, filters, field):
    qs, filterset = customer_list(user=owner, filters=filters)

    assert not filterset.is_valid()
    assert field in filterset.errors
    assert list(qs) == []


def test_a_subcategory_is_not_a_top_category(owner, catalogue, dormant_big_spenders):
    qs, filterset = customer_list(user=owner, filters={"top_category": str(catalogue.cream.pk)})

    assert "top_category" in filterset.errors
    assert list(qs) == []


def test_bad_values_are_named_on_the_page_and_in_the_api(owner_client, dormant_big_spenders):
    owner_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = owner_client.get(f"{LIST_URL}?spent_min=abc&days_since_last_order_min=-1")
    api = owner_client.get(f"{API_URL}?spent_min=abc&days_since_last_order_min=-1")

    errors = page.content.decode().split('id="filter-errors"')[1].split("</div></div>")[0]
    assert "<strong>Spent at least (¥)</strong>" in errors
    assert "<strong>No order for at least N days</strong>" in errors
    assert "No customers match" in page.content.decode()
    assert api.status_code == 400
    assert {"spent_min", "days_since_last_order_min"} <= set(api.json())


# --- who may see purchases ---------------------------------------------------------------------------------


@pytest.fixture
def no_orders_user(staff_member):
    """Someone who sees customers but not orders (a role an admin trimmed)."""
    user = staff_member("analyst", "no_orders")
    user.user_permissions.clear()
    for group in user.groups.all():
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="orders"))
    return type(user).objects.get(pk=user.pk)


def test_someone_who_may_not_see_orders_cannot_filter_sort_or_read_figures(
    no_orders_user, client_for, dormant_big_spenders
):
    client = client_for(no_orders_user)

    _qs, filterset = customer_list(user=no_orders_user, filters={"spent_min": "1"})
    assert "spent_min" in filterset.errors
    _qs, filterset = customer_list(user=no_orders_user, filters={"sort": "-total_spent_cny"})
    assert "sort" in filterset.errors
    row = client.get(API_URL).json()["results"][0]
    assert "total_spent_cny" not in row and "last_order_at" not in row
    html = client.get(f"{LIST_URL}?cols=customer_no,total_spent_cny").content.decode()
    assert 'id="purchase-filters"' not in html and "col-total_spent_cny" not in html


def test_the_api_answers_the_figures(owner_client, dormant_big_spenders, catalogue):
    a = dormant_big_spenders["customers"]["A"]

    row = owner_client.get(f"{API_URL}{a.pk}/").json()

    assert row["total_spent_cny"] == "2388.00"
    assert row["order_count"] == 2
    assert row["avg_order_cny"] == "1194.00"
    assert row["top_category"] == catalogue.skincare.pk
    assert row["top_category_name"] == "护肤"
    assert row["receivable_cny"] == "0.00"
    assert row["refund_rate"] == "0.0000"


# --- query counts -----------------------------------------------------------------------------------------

ALL_FIGURES = (
    "customer_no,name,total_spent_cny,order_count,avg_order_cny,first_order_at,last_order_at,"
    "days_since_last_order,purchase_interval_days,refund_count,refund_rate,top_category,receivable_cny,"
    "credit_limit_cny"
)


def _queries(client, url: str) -> int:
    client.get(url)  # the first request of a session also saves the session
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("sort", ["-last_order_at", "last_order_at", "-receivable_cny", "-total_spent_cny"])
def test_the_list_with_every_figure_column_costs_the_same_for_few_or_many_rows(
    owner, owner_client, catalogue, sort
):
    url = f"{LIST_URL}?cols={ALL_FIGURES}&sort={sort}&spent_max=100000"
    for i in range(3):
        buy(owner, catalogue, make_customer(actor=owner, name=f"甲{i}", owner=owner), when=days_ago(i + 1))
    few = _queries(owner_client, url)
    for i in range(30):
        customer = make_customer(actor=owner, name=f"乙{i}", owner=owner)
        if i % 2:
            buy(owner, catalogue, customer, when=days_ago(i + 5), lines=[("TEA-250", 1)])

    many = _queries(owner_client, url)

    assert many == few
    assert many <= 20


# --- the customer page -------------------------------------------------------------------------------------


@pytest.fixture
def regular(owner, catalogue):
    customer = make_customer(actor=owner, name="回头客", owner=owner)
    buy(owner, catalogue, customer, when=days_ago(50), lines=[("CREAM-50", 1), ("TEA-250", 2)])
    newest = buy(owner, catalogue, customer, when=days_ago(2), lines=[("TONER-100", 1)])
    order_refund(actor=owner, order=newest, amount_cny="9.50", reason="price")
    return Customer.objects.get(pk=customer.pk)


def test_the_customer_page_shows_purchases_history_and_totals(owner_client, regular):
    html = owner_client.get(f"/customers/{regular.pk}/").content.decode()

    card = html.split('id="purchases"')[1].split('id="credit"')[0]
    assert "¥535.00" in card  # 199 + 2 × 128 + 89.50, less 9.50 refunded
    assert "¥267.50" in card  # over two orders
    history = html.split('id="purchase-history"')[1]
    rows = re.findall(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})</td>", history)
    assert rows == sorted(rows, reverse=True) and len(rows) == 2
    assert "爽肤水 ×1" in history and "明前龙井 ×2" in history
    totals = history.split('id="purchase-totals"')[1]
    assert "¥544.50" in totals and "¥9.50" in totals and "¥535.00" in totals
    assert 'id="new-order"' in html
    assert 'id="credit"' not in html  # no credit line


def test_a_first_and_last_order_placed_today_read_today_not_0_days_ago(owner, owner_client, catalogue):
    customer = make_customer(actor=owner, name="今天下单", owner=owner)
    buy(owner, catalogue, customer, when=days_ago(0, at=time(0, 0)))

    html = owner_client.get(f"/customers/{customer.pk}/").content.decode()

    card = html.split('id="purchases"')[1].split("</dl>")[0]
    assert card.count("今天") == 2  # first order and last order
    assert "0 天前" not in card


def test_a_credit_customer_has_a_credit_card(owner, owner_client, catalogue):
    customer = customer_credit_set(
        actor=owner,
        customer=make_customer(actor=owner, name="批发", owner=owner),
        credit_limit_cny="2000.00",
        payment_terms_days=45,
    )
    buy(owner, catalogue, customer, when=days_ago(1), lines=[("CREAM-50", 3)], payment_method="credit")

    html = owner_client.get(f"/customers/{customer.pk}/").content.decode()

    card = html.split('id="credit"')[1]
    assert "¥2,000.00" in card and "¥597.00" in card and "¥1,403.00" in card and "45" in card
    assert f"/orders/credit/{customer.pk}/" in card


def test_the_page_has_no_purchases_for_someone_who_may_not_see_orders(no_orders_user, client_for, owner):
    customer = make_customer(actor=owner, name="看不到", owner=None)

    html = client_for(no_orders_user).get(f"/customers/{customer.pk}/").content.decode()

    assert 'id="purchases"' not in html and 'id="purchase-history"' not in html
    assert 'id="new-order"' not in html


def test_no_new_order_button_without_the_permission_to_add_orders(readonly, client_for, regular):
    html = client_for(readonly).get(f"/customers/{regular.pk}/").content.decode()

    assert 'id="purchases"' in html
    assert 'id="new-order"' not in html


def test_the_history_shows_the_latest_twenty_and_links_to_all(owner, owner_client, catalogue):
    customer = make_customer(actor=owner, name="常客", owner=owner)
    for d in range(22):
        buy(owner, catalogue, customer, when=days_ago(d + 1), lines=[("TEA-250", 1)])

    html = owner_client.get(f"/customers/{customer.pk}/").content.decode()

    history = html.split('id="purchase-history"')[1]
    assert len(re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}</td>", history)) == 20
    assert f"/orders/?customer={customer.pk}" in history
    assert "22" in history.split('id="purchase-totals"')[1]


def test_the_customer_page_costs_the_same_for_few_or_many_orders(owner, owner_client, catalogue):
    customer = customer_credit_set(
        actor=owner,
        customer=make_customer(actor=owner, name="多单", owner=owner),
        credit_limit_cny="100000.00",
        payment_terms_days=30,
    )
    buy(owner, catalogue, customer, when=days_ago(40), lines=[("CREAM-50", 1), ("TEA-250", 1)])
    few = _queries(owner_client, f"/customers/{customer.pk}/")
    for d in range(25):
        buy(owner, catalogue, customer, when=days_ago(d + 1), lines=[("TEA-250", 1), ("TONER-100", 2)])

    many = _queries(owner_client, f"/customers/{customer.pk}/")

    assert many == few
    assert many <= 30


def test_money_reads_with_thousands_in_both_languages(owner_client, dormant_big_spenders):
    a = dormant_big_spenders["customers"]["A"]
    for language in ("zh-hans", "en"):
        owner_client.post("/i18n/setlang/", {"language": language, "next": "/"})
        html = owner_client.get(f"/customers/{a.pk}/").content.decode()
        assert "¥2,388.00" in html, language
    assert Decimal("2388.00") == Customer.objects.get(pk=a.pk).total_spent_cny
