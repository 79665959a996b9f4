"""The sales summary: exact sums per month (in the shop's time zone), per store, per platform and per top
category, counted orders only, refunds in the month of their order, only what the user may see."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from python_calamine import CalamineWorkbook

from kebu.audit.models import AuditEntry
from kebu.customers.tests.factories import make_customer
from kebu.orders import reports
from kebu.orders.models import Category, OrderLine, OrderStatus, Store
from kebu.orders.services.aftersales import AfterSaleLineInput, order_refund
from kebu.orders.services.orders import LineInput, OrderInput, order_create
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHOP = timezone.get_default_timezone()
JAN, FEB, MAR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)
RANGE = {"date_from": date(2025, 1, 1), "date_to": date(2025, 3, 31)}
URL = "/reports/sales/"
QUERY = "date_from=2025-01-01&date_to=2025-03-31"


def at(*parts: int) -> datetime:
    """A moment on the shop's clock (Asia/Shanghai, UTC+8)."""
    return datetime(*parts, tzinfo=SHOP)


@pytest.fixture
def shop(owner, clerk, catalogue):
    """Three customers, two stores and orders around the month edges. Alice and Carol are the clerk's;
    Bob is the owner's, out of the clerk's sight."""
    default = catalogue.store  # 默认店铺, platform "other"
    pdd = Store.objects.create(name="拼多多店", platform="pinduoduo")
    alice = make_customer(actor=owner, name="Alice", owner=clerk)
    bob = make_customer(actor=owner, name="Bob", owner=owner)
    carol = make_customer(actor=owner, name="Carol", owner=clerk)

    def buy(customer, store, when, lines, **fields):
        return make_order(actor=owner, customer=customer, store=store, lines=lines, ordered_at=when, **fields)

    # January: 526.00 with one cream (199.00) refunded on its line, and 179.00 at 23:30 on the 31st,
    # which is 15:30 UTC: still January in Shanghai.
    first = buy(alice, default, at(2025, 1, 10, 12, 0), [("CREAM-50", 2), ("TEA-250", 1)])
    cream = OrderLine.objects.get(order=first, sku_code="CREAM-50")
    order_refund(
        actor=owner, order=first, amount_cny=None, reason="damaged", lines=[AfterSaleLineInput(cream.pk, 1)]
    )
    buy(alice, pdd, at(2025, 1, 31, 23, 30), [("TONER-100", 2)])
    # February: at 00:30 on the 1st in Shanghai, which is still 31 January in UTC.
    buy(bob, default, at(2025, 2, 1, 0, 30), [("TEA-250", 3)])
    # 199.00 + 10.00 shipping, 50.00 refunded on the order (no line): net sales move, categories not.
    fourth = buy(carol, pdd, at(2025, 2, 15, 9, 0), [("CREAM-50", 1)], shipping_cny="10.00")
    order_refund(actor=owner, order=fourth, amount_cny="50.00", reason="price")
    # March: pending and cancelled orders are not sales.
    buy(carol, default, at(2025, 3, 5, 10, 0), [("TEA-250", 1)], status=OrderStatus.PENDING)
    buy(bob, pdd, at(2025, 3, 20, 10, 0), [("CREAM-50", 5)], status=OrderStatus.CANCELLED)
    # A line from outside the catalogue: no category.
    order_create(
        actor=owner,
        data=OrderInput(
            customer=carol,
            store=default,
            lines=[LineInput(title="定制礼盒", quantity=1, unit_price_cny="50.00")],
            status=OrderStatus.PAID,
            payment_method="wechat",
            ordered_at=at(2025, 3, 28, 15, 0),
        ),
    )
    buy(alice, default, at(2025, 3, 31, 23, 50), [("TEA-250", 1)])
    # Outside the range on either side, by minutes.
    buy(alice, default, at(2024, 12, 31, 23, 59), [("CREAM-50", 1)])
    buy(alice, default, at(2025, 4, 1, 0, 1), [("CREAM-50", 1)])
    return {"default": default, "pdd": pdd, "catalogue": catalogue}


def money(value: str) -> Decimal:
    return Decimal(value)


def test_months_sum_counted_orders_in_the_shops_time_zone(owner, shop):
    summary = reports.sales_summary(user=owner, **RANGE)

    assert summary.months == [JAN, FEB, MAR]
    jan, feb, mar = (summary.by_month[m] for m in (JAN, FEB, MAR))
    assert (jan.orders, jan.customers, jan.gross_cny, jan.refunds_cny) == (
        2,
        1,
        money("705.00"),
        money("199.00"),
    )
    assert (jan.net_cny, jan.avg_order_cny) == (money("506.00"), money("253.00"))
    assert (feb.orders, feb.customers, feb.gross_cny, feb.refunds_cny) == (
        2,
        2,
        money("593.00"),
        money("50.00"),
    )
    assert (feb.net_cny, feb.avg_order_cny) == (money("543.00"), money("271.50"))
    assert (mar.orders, mar.customers, mar.gross_cny, mar.refunds_cny) == (
        2,
        2,
        money("178.00"),
        money("0.00"),
    )
    total = summary.total
    assert (total.orders, total.customers, total.gross_cny) == (6, 3, money("1476.00"))
    assert (total.refunds_cny, total.net_cny, total.avg_order_cny) == (
        money("249.00"),
        money("1227.00"),
        money("204.50"),
    )


def test_stores_split_the_same_sums(owner, shop):
    summary = reports.sales_summary(user=owner, **RANGE)
    default, pdd = shop["default"].pk, shop["pdd"].pk

    assert [c.key for c in summary.channels] == [default, pdd]  # biggest first
    assert summary.by_channel[(JAN, default)].net_cny == money("327.00")
    assert summary.by_channel[(JAN, pdd)].net_cny == money("179.00")
    assert summary.by_channel[(FEB, default)].net_cny == money("384.00")
    assert summary.by_channel[(FEB, pdd)].net_cny == money("159.00")
    assert summary.by_channel[(MAR, default)].net_cny == money("178.00")
    assert (MAR, pdd) not in summary.by_channel
    d, p = summary.channel_totals[default], summary.channel_totals[pdd]
    assert (d.orders, d.customers, d.gross_cny, d.refunds_cny, d.net_cny) == (
        4,
        3,
        money("1088.00"),
        money("199.00"),
        money("889.00"),
    )
    assert (p.orders, p.customers, p.gross_cny, p.refunds_cny, p.net_cny) == (
        2,
        2,
        money("388.00"),
        money("50.00"),
        money("338.00"),
    )
    assert d.net_cny + p.net_cny == summary.total.net_cny


def test_platforms_group_their_stores(owner, shop):
    Store.objects.create(name="拼多多二店", platform="pinduoduo")
    summary = reports.sales_summary(user=owner, channel="platform", **RANGE)

    assert [c.key for c in summary.channels] == ["other", "pinduoduo"]
    assert summary.channel_totals["pinduoduo"].net_cny == money("338.00")
    assert summary.by_channel[(JAN, "other")].net_cny == money("327.00")


def test_top_categories_sum_line_amounts_net_of_line_refunds(owner, shop):
    catalogue = shop["catalogue"]
    summary = reports.sales_summary(user=owner, **RANGE)
    skincare, tea = catalogue.skincare.pk, catalogue.tea.pk

    assert [c.key for c in summary.categories] == [tea, skincare, None]  # uncategorised last
    # Cream 2 × 199 less the refunded one, and the toner (its own category is the top one): January.
    assert summary.by_category[(JAN, skincare)].net_cny == money("378.00")
    assert summary.by_category[(JAN, tea)].net_cny == money("128.00")
    # The 50.00 refunded on the order, naming no line, comes off its one line; shipping is not in it.
    assert summary.by_category[(FEB, skincare)].net_cny == money("149.00")
    assert summary.by_category[(FEB, tea)].net_cny == money("384.00")
    assert summary.by_category[(MAR, None)].net_cny == money("50.00")
    assert summary.by_category[(MAR, tea)].net_cny == money("128.00")
    totals = summary.category_totals
    assert (totals[skincare].net_cny, totals[skincare].orders) == (money("527.00"), 3)
    assert (totals[tea].net_cny, totals[tea].orders, totals[tea].quantity) == (money("640.00"), 3, 5)
    assert summary.category_total.net_cny == money("1217.00")
    assert summary.category_month_totals[JAN].net_cny == money("506.00")


def test_a_clerk_sums_only_the_orders_of_customers_they_may_see(clerk, shop):
    summary = reports.sales_summary(user=clerk, **RANGE)

    feb = summary.by_month[FEB]
    assert (feb.orders, feb.customers, feb.net_cny) == (1, 1, money("159.00"))  # not Bob's 384.00
    assert (summary.total.orders, summary.total.customers) == (5, 2)
    assert (summary.total.gross_cny, summary.total.net_cny) == (money("1092.00"), money("843.00"))
    assert summary.category_totals[shop["catalogue"].tea.pk].net_cny == money("256.00")


def test_someone_without_orders_sums_nothing(staff_member, shop):
    nobody = staff_member(None, "nobody")

    summary = reports.sales_summary(user=nobody, **RANGE)

    assert summary.total == reports.SalesFigures()
    assert summary.channels == summary.categories == []


def test_the_default_range_is_the_last_twelve_months():
    first, last = reports.default_range(today=date(2026, 11, 23))

    assert (first, last) == (date(2025, 12, 1), date(2026, 11, 23))
    assert len(reports.months_between(first, last)) == 12


# --- the page ----------------------------------------------------------------------------------------------


def test_the_page_shows_the_tables_with_totals(owner_client, shop):
    owner_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    response = owner_client.get(f"{URL}?{QUERY}")

    html = response.content.decode()
    assert response.status_code == 200
    by_month = html.split('id="sales-by-month"')[1].split("</table>")[0]
    assert by_month.index("2025-03") < by_month.index("2025-01")  # newest first
    total = by_month.split('id="sales-total"')[1]
    for figure in ("6", "3", "¥1,476.00", "¥249.00", "¥1,227.00", "¥204.50"):
        assert f">{figure}</td>" in total
    assert "拼多多店" in html.split('id="sales-by-channel"')[1]
    assert "¥1,217.00" in html.split('id="sales-by-category"')[1]
    assert "in the month of their order" in html
    assert 'id="sales-chart-data"' in html and "vendor/echarts/echarts.min.js" in html
    assert "<script>" not in html  # nothing inline for the CSP to refuse


@pytest.mark.parametrize(
    ("language", "zone"), [("en", "(China Standard Time)"), ("zh-hans", "按下单月份归类（北京时间）")]
)
def test_the_notes_name_the_shops_time_zone_as_the_merchant_says_it(owner_client, shop, language, zone):
    owner_client.post("/i18n/setlang/", {"language": language, "next": "/"})
    html = owner_client.get(f"{URL}?{QUERY}").content.decode()

    notes = html.split('id="report-notes"')[1].split("</p>")[0]
    assert zone in notes
    assert "Asia/Shanghai" not in notes


def test_the_page_by_platform(owner_client, shop):
    owner_client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    html = owner_client.get(f"{URL}?{QUERY}&channel=platform").content.decode()

    by_platform = html.split('id="sales-by-channel"')[1].split("</table>")[0]
    assert '<th scope="col">Platform</th>' in by_platform
    assert "Pinduoduo" in by_platform and "拼多多店" not in by_platform
    assert 'value="2025-01-01"' in html  # the form shows the range it summed


def test_a_backwards_or_bad_range_is_an_error(owner_client, shop):
    backwards = owner_client.get(f"{URL}?date_from=2025-03-01&date_to=2025-01-01")
    garbage = owner_client.get(f"{URL}?date_from=yesterday")
    too_long = owner_client.get(f"{URL}?date_from=1990-01-01&date_to=2025-01-01")

    for response in (backwards, garbage, too_long):
        assert response.status_code == 400
        assert 'id="report-errors"' in response.content.decode()
        assert 'id="sales-by-month"' not in response.content.decode()


def test_the_page_needs_the_permission_to_see_orders(staff_member, client_for, client):
    nobody = staff_member(None, "nobody")

    assert client_for(nobody).get(URL).status_code == 403
    assert client.get(URL).status_code == 302  # to the login


def test_a_clerk_sees_the_page_with_their_sums(clerk, client_for, shop):
    html = client_for(clerk).get(f"{URL}?{QUERY}").content.decode()

    assert "¥843.00" in html.split('id="sales-total"')[1]
    assert 'id="nav-sales"' in html


def test_the_default_page_has_twelve_months(owner_client):
    html = owner_client.get(URL).content.decode()

    rows = html.split('id="sales-by-month"')[1].split("<tbody>")[1].split("</tbody>")[0]
    assert rows.count("<tr>") == 12


def test_the_page_costs_the_same_for_few_or_many_orders(owner, owner_client, shop):
    def queries() -> int:
        owner_client.get(f"{URL}?{QUERY}")
        with CaptureQueriesContext(connection) as captured:
            owner_client.get(f"{URL}?{QUERY}")
        return len(captured)

    few = queries()
    customer = make_customer(actor=owner, name="Dan", owner=owner)
    for day in range(1, 28):
        make_order(
            actor=owner,
            customer=customer,
            store=shop["pdd"],
            lines=[("TEA-250", 1), ("TONER-100", 1)],
            ordered_at=at(2025, 2, day, 10, 0),
        )

    assert queries() == few
    assert few <= 20


# --- the download ------------------------------------------------------------------------------------------

EXPORT_URL = "/reports/sales.xlsx"


def workbook(response) -> dict[str, list[list]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def figures_row(figures: reports.SalesFigures) -> list:
    average = "" if figures.avg_order_cny is None else float(figures.avg_order_cny)
    return [
        float(figures.orders),
        float(figures.customers),
        float(figures.gross_cny),
        float(figures.refunds_cny),
        float(figures.net_cny),
        average,
    ]


def test_the_download_holds_the_pages_tables_as_numbers_with_totals(owner, owner_client, shop):
    owner_client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    response = owner_client.get(f"{EXPORT_URL}?{QUERY}")

    sheets = workbook(response)
    summary = reports.sales_summary(user=owner, **RANGE)
    assert list(sheets) == [
        "By month",
        "By store",
        "Stores by month",
        "By top category",
        "Top categories by month",
    ]
    by_month = sheets["By month"]
    assert by_month[0] == [
        "Month",
        "Orders",
        "Customers",
        "Gross sales",
        "Refunds",
        "Net sales",
        "Average order",
    ]
    assert [row[0] for row in by_month[1:-1]] == [MAR, FEB, JAN]  # newest first, as on the page
    for row in by_month[1:-1]:
        assert row[1:] == figures_row(summary.by_month[row[0]])
    assert by_month[-1] == ["Total", *figures_row(summary.total)]
    assert by_month[-1][5] == 1227.0

    by_store = sheets["By store"]
    store_names = [c.label for c in summary.channels]
    assert [row[0] for row in by_store[1:-1]] == store_names == ["默认店铺", "拼多多店"]
    for row, column in zip(by_store[1:-1], summary.channels, strict=True):
        assert row[1:] == figures_row(summary.channel_totals[column.key])
    assert by_store[-1] == ["Total", *figures_row(summary.total)]

    stores_by_month = sheets["Stores by month"]
    assert stores_by_month[0] == ["Month", "默认店铺", "拼多多店", "Total"]
    assert stores_by_month[1:] == [
        [MAR, 178.0, 0.0, 178.0],
        [FEB, 384.0, 159.0, 543.0],
        [JAN, 327.0, 179.0, 506.0],
        ["Total", 889.0, 338.0, 1227.0],
    ]

    by_category = sheets["By top category"]
    assert by_category[0] == ["Top category", "Orders", "Units", "Net sales"]
    for row, column in zip(by_category[1:-1], summary.categories, strict=True):
        figures = summary.category_totals[column.key]
        assert row == [column.label, float(figures.orders), float(figures.quantity), float(figures.net_cny)]
    assert by_category[-1][0] == "Total" and by_category[-1][3] == 1217.0

    categories_by_month = sheets["Top categories by month"]
    assert categories_by_month[0] == ["Month", *(c.label for c in summary.categories), "Total"]
    for row in categories_by_month[1:-1]:
        none = reports.CategoryFigures()
        cells = [summary.by_category.get((row[0], c.key), none) for c in summary.categories]
        assert row[1:-1] == [float(cell.net_cny) for cell in cells]
        assert row[-1] == float(summary.category_month_totals[row[0]].net_cny)
    assert categories_by_month[-1][-1] == 1217.0

    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        styles = archive.read("xl/styles.xml").decode()
        first_sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert 'formatCode="&quot;¥&quot;#,##0.00"' in styles and 'formatCode="yyyy-mm"' in styles
    assert 'state="frozen"' in first_sheet
    assert response["Content-Disposition"] == 'attachment; filename="sales-summary-20250101-20250331.xlsx"'


def test_the_download_is_audited_with_its_range(owner, owner_client, shop):
    owner_client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    sheets = workbook(owner_client.get(f"{EXPORT_URL}?{QUERY}&channel=platform"))

    entry = AuditEntry.objects.get(action="orders.sales_summary_export")
    assert entry.actor == owner
    assert entry.data == {
        "date_from": "2025-01-01",
        "date_to": "2025-03-31",
        "channel": "platform",
        "sheets": list(sheets),
        "rows": sum(len(rows) - 2 for rows in sheets.values()),  # neither header nor total
    }
    assert [row[0] for row in sheets["By platform"][1:-1]] == ["Other", "Pinduoduo"]


def test_the_download_is_in_the_users_language(owner_client, shop):
    owner_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})

    sheets = workbook(owner_client.get(f"{EXPORT_URL}?{QUERY}"))

    by_month = sheets["按月"]
    assert by_month[0][:2] == ["月份", "订单"] and by_month[-1][0] == "合计"


def test_a_clerks_download_holds_the_clerks_sums(clerk, client_for, shop):
    browser = client_for(clerk)
    browser.post("/i18n/setlang/", {"language": "en", "next": "/"})

    sheets = workbook(browser.get(f"{EXPORT_URL}?{QUERY}"))

    summary = reports.sales_summary(user=clerk, **RANGE)
    assert sheets["By month"][-1][1:] == figures_row(summary.total)
    assert sheets["By month"][-1][5] == 843.0  # Bob's 384.00 is not the clerk's
    assert sheets["By month"][2] == [FEB, *figures_row(summary.by_month[FEB])]


def test_the_download_needs_the_permission_to_see_orders(staff_member, client_for, client, shop):
    nobody = staff_member(None, "nobody")

    assert client_for(nobody).get(f"{EXPORT_URL}?{QUERY}").status_code == 403
    assert client.get(f"{EXPORT_URL}?{QUERY}").status_code == 302  # to the login
    assert not AuditEntry.objects.filter(action="orders.sales_summary_export").exists()


def test_a_bad_range_downloads_nothing_and_records_nothing(owner_client, shop):
    response = owner_client.get(f"{EXPORT_URL}?date_from=2025-03-01&date_to=2025-01-01")

    assert response.status_code == 400
    assert not AuditEntry.objects.filter(action="orders.sales_summary_export").exists()


def test_a_store_or_category_named_like_a_formula_is_written_as_text(owner_client, shop):
    shop["pdd"].name = "=cmd|' /C calc'!A0"
    shop["pdd"].save(update_fields=["name"])
    Category.objects.filter(pk=shop["catalogue"].tea.pk).update(name="@SUM(1+1)")
    owner_client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    sheets = workbook(owner_client.get(f"{EXPORT_URL}?{QUERY}"))

    assert sheets["By store"][2][0] == "'=cmd|' /C calc'!A0"
    assert "'=cmd|' /C calc'!A0" in sheets["Stores by month"][0]
    assert "'@SUM(1+1)" in [row[0] for row in sheets["By top category"]]
    assert "'@SUM(1+1)" in sheets["Top categories by month"][0]


def test_the_page_offers_the_download_of_the_range_it_shows(owner_client, shop):
    html = owner_client.get(f"{URL}?{QUERY}&channel=platform").content.decode()
    default_html = owner_client.get(URL).content.decode()

    assert f"{EXPORT_URL}?date_from=2025-01-01&amp;date_to=2025-03-31&amp;channel=platform" in html
    first, last = reports.default_range()
    assert f"{EXPORT_URL}?date_from={first}&amp;date_to={last}&amp;channel=store" in default_html
