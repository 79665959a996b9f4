"""The dashboard page and its spreadsheet: who may open it, what each clerk sees, where every chart
leads, the export, the empty shop, and figures that keep up with new orders."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import resolve, reverse
from python_calamine import CalamineWorkbook

from kebu.audit.models import AuditEntry
from kebu.core import divisions
from kebu.customers.services import AddressInput
from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind, InsightRun, RunStatus
from kebu.insights.selectors.dashboard import dashboard_owner_choices
from kebu.insights.services.dashboard import dashboard_rebuild
from kebu.orders.models import OrderStatus, Store
from kebu.orders.services.aftersales import order_refund
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
URL = reverse("insights:dashboard")
MARCH = "preset=custom&date_from=2025-03-01&date_to=2025-03-31"


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


def living_in(actor, name, province, **fields):
    """A customer whose default address is in ``province`` (its first city and district)."""
    city = divisions.cities(province)[0]
    address = AddressInput(
        province=province,
        city=city,
        district=divisions.districts(province, city)[0],
        detail="1号",
        is_default=True,
    )
    return make_customer(actor=actor, name=name, addresses=[address], **fields)


@pytest.fixture
def shop(owner, sales_a, sales_b, catalogue):
    """March 2025: sales A's two customers, sales B's one, one in the shared pool; two stores."""
    pdd = Store.objects.create(name="拼多多店", platform="pinduoduo")
    a1 = living_in(owner, "甲一", "浙江省", owner=sales_a)
    a2 = living_in(owner, "甲二", "广东省", owner=sales_a)
    b1 = living_in(owner, "乙一", "浙江省", owner=sales_b)
    pool = living_in(owner, "公海客", "浙江省", owner=None)
    make_customer(actor=owner, name="没地址", owner=sales_a)
    store = catalogue.store
    make_order(actor=owner, customer=a1, store=store, ordered_at=at(2025, 3, 3, 10), lines=[("CREAM-50", 1)])
    make_order(actor=owner, customer=a1, store=pdd, ordered_at=at(2025, 3, 3, 23, 59), lines=[("TEA-250", 1)])
    make_order(
        actor=owner, customer=a2, store=store, ordered_at=at(2025, 3, 4, 0, 1), lines=[("TONER-100", 2)]
    )
    refunded = make_order(
        actor=owner, customer=b1, store=pdd, ordered_at=at(2025, 3, 9), lines=[("TEA-250", 3)]
    )
    order_refund(actor=owner, order=refunded, amount_cny="100.00", reason="price")
    make_order(actor=owner, customer=pool, store=store, ordered_at=at(2025, 3, 20), lines=[("CREAM-50", 2)])
    # Not paid: on the order list, but not a sale, so behind no figure of the dashboard.
    make_order(actor=owner, customer=a1, store=store, ordered_at=at(2025, 3, 21), status=OrderStatus.PENDING)
    dashboard_rebuild()
    return {"pdd": pdd, "store": store}


def test_the_dashboard_needs_the_insights_permission(client, client_for, staff_member):
    nobody = staff_member(None, "norole")

    assert client.get(URL).status_code == 302
    assert client_for(nobody).get(URL).status_code == 403


def test_an_empty_shop_gets_a_friendly_page_not_blank_charts(client_for, owner):
    response = client_for(owner).get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="dashboard-empty"' in page and "No sales yet" in page
    assert 'id="chart-sales"' not in page


def test_a_range_without_orders_has_no_rate_notes_and_one_with_them_counts_in_words(shop, client_for, owner):
    def notes(query: str) -> dict[str, str]:
        figures = client_for(owner).get(f"{URL}?{query}").context["figures"]
        return {kpi.key: kpi.note for kpi in figures.kpis if kpi.key in ("repurchase_rate", "refund_rate")}

    assert notes("preset=custom&date_from=2020-01-01&date_to=2020-01-31") == {
        "repurchase_rate": "",
        "refund_rate": "",
    }
    march = notes(MARCH)
    assert re.fullmatch(r"\d+ of \d+ customers? who ordered", march["repurchase_rate"])
    assert re.fullmatch(r"\d+ of \d+ orders?", march["refund_rate"])


def test_the_same_address_gives_each_clerk_their_sums_and_the_owner_all(
    shop, client_for, owner, sales_a, sales_b
):
    def net(user) -> Decimal:
        return client_for(user).get(f"{URL}?{MARCH}").context["figures"].totals.net_cny

    # A: 199 + 128 + 179; B: 384 − 100 refunded; the pool's 398 for both clerks (the pool is on).
    assert net(sales_a) == Decimal("506.00") + Decimal("398.00")
    assert net(sales_b) == Decimal("284.00") + Decimal("398.00")
    assert net(owner) == Decimal("506.00") + Decimal("284.00") + Decimal("398.00")
    page = client_for(sales_a).get(f"{URL}?{MARCH}").content.decode()
    assert "¥904.00" in page


def test_every_point_of_the_sales_line_opens_the_order_list_with_as_many_orders(shop, client_for, owner):
    client = client_for(owner)
    chart = client.get(f"{URL}?{MARCH}&grain=week").context["chart"]["sales"]

    assert len(chart["urls"]) == 6  # 1–2 March, then weeks from Monday
    for orders, url in zip(chart["orders"], chart["urls"], strict=True):
        assert client.get(url).context["page"].total == orders, url
    assert sum(chart["orders"]) == 5


def test_each_channel_opens_its_orders(shop, client_for, owner):
    client = client_for(owner)
    channels = client.get(f"{URL}?{MARCH}").context["chart"]["channels"]

    assert {c["name"]: c["orders"] for c in channels} == {"默认店铺": 3, "拼多多店": 2}
    for channel in channels:
        assert client.get(channel["url"]).context["page"].total == channel["orders"]


@pytest.mark.parametrize("owner_filter", ["sales_a", "pool"])
def test_with_an_owner_and_a_platform_chosen_the_links_open_just_their_orders(
    shop, client_for, owner, owner_filter, request
):
    client = client_for(owner)
    chosen = "pool" if owner_filter == "pool" else request.getfixturevalue(owner_filter).pk
    chart = client.get(f"{URL}?{MARCH}&grain=week&owner={chosen}&platform=pinduoduo").context["chart"]

    marks = list(zip(chart["sales"]["orders"], chart["sales"]["urls"], strict=True))
    marks += [(c["orders"], c["url"]) for c in chart["channels"]]
    assert sum(orders for orders, _url in marks) == (2 if owner_filter == "sales_a" else 0)
    for orders, url in marks:
        assert client.get(url).context["page"].total == orders, url


@pytest.mark.parametrize("owner_filter", ["", "sales_a", "pool"])
def test_provinces_stages_and_new_customers_open_customer_lists_of_the_same_size(
    shop, client_for, owner, owner_filter, request
):
    choice = {"": "", "sales_a": str(request.getfixturevalue("sales_a").pk), "pool": "pool"}[owner_filter]
    client = client_for(owner)
    chart = client.get(f"{URL}?{MARCH}&owner={choice}").context["chart"]

    marks = [
        *zip(chart["provinces"]["values"], chart["provinces"]["urls"], strict=True),
        *((s["value"], s["url"]) for s in chart["funnel"]),
        *zip(chart["customers"]["new"], chart["customers"]["new_urls"], strict=True),
    ]
    assert len([url for _value, url in marks if url and "province=" in url]) >= 1
    for value, url in marks:
        if url is None:
            continue  # "province unknown" has no list of its own
        assert resolve(urlsplit(url).path).url_name == "list"
        assert client.get(url).context["page"].total == value, url


def test_the_spreadsheet_has_a_sheet_per_chart_and_is_audited(shop, client_for, owner):
    response = client_for(owner).get(f"{reverse('insights:dashboard-export')}?{MARCH}")

    assert response.status_code == 200
    book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    assert book.sheet_names == [
        "Summary",
        "Sales",
        "By channel",
        "By category",
        "New and returning",
        "Top customers",
        "Top products",
        "By province",
        "Lifecycle",
    ]
    summary = book.get_sheet_by_name("Summary").to_python()
    assert summary[1][:2] == ["Net sales", 1188.0]
    customers = book.get_sheet_by_name("Top customers").to_python()
    assert customers[1][1:] == ["公海客", 398.0, 1.0]
    rows = sum(len(book.get_sheet_by_name(name).to_python()) - 1 for name in book.sheet_names)
    entry = AuditEntry.objects.get(action="insights.dashboard_export")
    assert (entry.actor, entry.data["date_from"], entry.data["rows"]) == (owner, "2025-03-01", rows)
    assert entry.data["sheets"] == book.sheet_names


def test_a_clerk_cannot_pick_a_colleague_as_owner(shop, client_for, sales_a, sales_b):
    response = client_for(sales_a).get(f"{URL}?{MARCH}&owner={sales_b.pk}")

    assert response.status_code == 400 and "owner" in response.context["form"].errors


def test_the_owner_filter_puts_a_colleague_who_left_after_the_current_ones_and_says_so(
    shop, client_for, owner, manager_east, sales_a, staff_member, team_east
):
    # given: sales A left the shop (switched off) still owning customers with sales; a colleague of the
    # east team left owning nothing
    sales_a.is_active = False
    sales_a.save(update_fields=["is_active"])
    staff_member("sales", "a_gone_east", display_name="走了的", team=team_east, is_active=False)

    # when: the owner and the east team's manager open the owner filter
    everyone = client_for(owner).get(f"{URL}?{MARCH}").context["form"].fields["owner"].choices
    team = dashboard_owner_choices(user=manager_east)

    # then: current colleagues first, the one who left marked, and nobody offered who owns nothing
    assert [label for _value, label in everyone] == [
        "Every owner you can see",
        "销售乙",
        "销售甲 (deactivated)",
        "Shared pool (no owner)",
    ]
    assert [label for _value, label in team] == ["华东主管", "销售甲 (deactivated)", "Shared pool (no owner)"]


def test_more_than_a_year_at_once_is_refused_with_the_reason(client_for, owner):
    response = client_for(owner).get(f"{URL}?preset=custom&date_from=2024-01-01&date_to=2025-03-31")

    assert response.status_code == 400
    assert "Choose at most 366 days" in response.content.decode()


def test_a_new_order_shows_at_the_next_visit(shop, client_for, owner):
    client = client_for(owner)
    before = client.get(f"{URL}?{MARCH}").context["figures"].totals.orders

    make_order(
        actor=owner,
        customer=make_customer(actor=owner, name="新客"),
        store=shop["store"],
        ordered_at=at(2025, 3, 30),
    )
    with time_machine.travel(timedelta(minutes=2)):
        after = client.get(f"{URL}?{MARCH}").context["figures"].totals.orders

    assert (before, after) == (5, 6)


def test_a_small_shop_never_built_is_built_at_its_first_visit(client_for, owner, catalogue):
    make_order(actor=owner, customer=make_customer(actor=owner, name="第一位"), store=catalogue.store)

    response = client_for(owner).get(URL)

    run = InsightRun.objects.get(kind=InsightKind.DASHBOARD)
    assert (run.status, run.started_by) == (RunStatus.DONE, owner)
    assert response.context["figures"].totals.orders == 1


def test_the_page_runs_no_inline_script_or_style_which_the_csp_refuses(shop, client_for, owner):
    page = client_for(owner).get(f"{URL}?{MARCH}").content.decode()

    assert ' style="' not in page
    scripts = page.split("<script")[1:]
    assert scripts and all(
        'src="' in s.split(">")[0] or 'type="application/json"' in s.split(">")[0] for s in scripts
    )


def test_open_complaints_open_the_ticket_list_of_just_those(client_for, owner, sales_a):
    from kebu.engagement.models import TicketKind
    from kebu.engagement.services.tickets import TicketInput, ticket_open

    customer = make_customer(actor=owner, name="甲的客户", owner=sales_a)
    for kind in (TicketKind.COMPLAINT, TicketKind.COMPLAINT, "request"):
        ticket_open(
            actor=owner, customer=customer, data=TicketInput(category="quality", subject="问题", kind=kind)
        )
    client = client_for(owner)
    page = client.get(URL)
    url = page.context["complaints_url"]

    assert page.context["figures"].open_complaints == 2
    assert client.get(url).context["page"].total == 2


@pytest.mark.parametrize(
    ("language", "zone"), [("en", "China Standard Time"), ("zh-hans", "日期按店铺时间（北京时间）划分")]
)
def test_the_definitions_name_the_shops_time_zone_as_the_merchant_says_it(
    shop, client_for, owner, language, zone
):
    html = client_for(owner).get(f"{URL}?{MARCH}", HTTP_ACCEPT_LANGUAGE=language).content.decode()

    definitions = html.split('id="dashboard-definitions"')[1].split("</details>")[0]
    assert zone in definitions
    assert "Asia/Shanghai" not in definitions
