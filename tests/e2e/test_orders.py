"""What a merchant clicks: from a customer, a new order with two lines picked from the SKU list, and
the customer's total spent moving with it; the list, the order and the form on a desk and on a phone."""

from __future__ import annotations

import os
import re
import tempfile
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from kebu.customers.models import Customer
from kebu.customers.services import AddressInput
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import AfterSale, AfterSaleKind, Order, OrderStatus
from kebu.orders.services.aftersales import (
    AfterSaleLineInput,
    ReplacementInput,
    aftersale_approve,
    aftersale_complete,
    aftersale_receive,
    aftersale_request,
    order_refund,
)
from kebu.orders.services.orders import order_ship
from kebu.orders.tests.factories import make_catalogue, make_discounted_order, make_order
from tests.e2e.conftest import log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def _shoot(page, name: str) -> None:
    screenshot(page, f"orders-{name}")
    # also beside the other screenshots' usual place, where a reviewer looks first: /tmp/kebu-orders-*.png
    page.screenshot(path=os.path.join(tempfile.gettempdir(), f"kebu-orders-{name}.png"), full_page=True)


def _pick_sku(page, index: int, typed: str, code: str) -> None:
    box = page.locator(f"#id_lines-{index}-sku_code")
    box.fill(typed)
    # the datalist fills from the server as one types (htmx); then the full code is chosen from it
    page.locator(f'#sku-options option[value="{code}"]').wait_for(state="attached")
    box.fill(code)


def test_new_order_with_two_lines_moves_the_customers_total_spent(logged_in_page, live_server, clerk, owner):
    page = logged_in_page
    make_catalogue(actor=owner)
    customer = make_customer(
        actor=clerk,
        name="陈小春",
        owner=clerk,
        addresses=[
            AddressInput(
                province="广东省",
                city="深圳市",
                district="南山区",
                detail="科技园 1 号",
                receiver="陈小春",
                receiver_phone="13912345678",
                is_default=True,
            )
        ],
    )

    # given the new-order form opened from the customer, who has spent nothing yet
    page.goto(f"{live_server.url}/orders/new/?customer={customer.pk}")
    expect(page.locator("#customer-summary #customer-total-spent")).to_have_text("¥0.00")
    _shoot(page, "new-empty")

    # when two lines are picked from the SKU list, the prices come from the catalogue
    _pick_sku(page, 0, "CREAM", "CREAM-50")
    expect(page.locator("#id_lines-0-unit_price_cny")).to_have_value("199.00")
    page.fill("#id_lines-0-quantity", "2")
    page.click("#add-line")
    _pick_sku(page, 1, "龙井", "TEA-250")
    expect(page.locator("#id_lines-1-unit_price_cny")).to_have_value("128.00")
    page.fill("#id_shipping_cny", "10")
    expect(page.locator("[data-preview=total]")).to_have_text("¥536.00")
    _shoot(page, "new")

    # saved as it is, the paid order without its payment method is refused beside that field; the lines
    # still show the products picked, and the amounts
    page.click("#save-order")
    expect(page.locator('[data-field="payment_method"]')).to_be_visible()
    expect(page.locator("#id_lines-0-title")).to_have_attribute("placeholder", "玻尿酸面霜")
    expect(page.locator("#id_lines-1-title")).to_have_attribute("placeholder", "明前龙井")
    expect(page.locator("[data-preview=total]")).to_have_text("¥536.00")
    _shoot(page, "new-no-payment-method")

    # a quantity of 0 on the second line is refused beside that line, and nothing is saved
    page.select_option("#id_payment_method", "wechat")
    page.fill("#id_lines-1-quantity", "0")
    page.click("#save-order")
    expect(page.locator('[data-field="lines-1-quantity"]')).to_be_visible()
    assert not Order.objects.exists()
    _shoot(page, "new-errors")
    page.fill("#id_lines-1-quantity", "1")
    page.click("#save-order")

    # then the order page shows it, and the customer's total spent has moved
    expect(page).to_have_url(re.compile(r"/orders/\d+/$"))
    expect(page.locator("#order-lines tbody tr")).to_have_count(2)
    expect(page.locator("#amount-due")).to_have_text("¥536.00")
    expect(page.locator("#customer-total-spent")).to_have_text("¥536.00")
    expect(page.locator("#ship-address")).to_contain_text("科技园 1 号")
    order = Order.objects.get()
    assert order.total_cny == Decimal("536.00")
    assert Customer.objects.get(pk=customer.pk).total_spent_cny == Decimal("536.00")
    _shoot(page, "detail")

    # shipping it: the carrier comes from the list of common ones
    page.click("#ship-toggle")
    page.fill("#id_carrier", "顺丰速运")
    page.fill("#id_tracking_no", "SF1234567890")
    page.click("#ship-submit")
    expect(page.locator("#tracking")).to_contain_text("SF1234567890")

    # a return of one tea: the refund left empty is its share of the price
    page.click("#request-aftersale")
    page.select_option("#id_kind", "return")
    page.select_option("#id_reason", "quality")
    tea = order.lines.get(sku_code="TEA-250")
    page.fill(f"#id_line_{tea.pk}_quantity", "1")
    expect(page.locator("#id_amount_cny")).to_have_attribute("placeholder", "128.00")
    _shoot(page, "aftersale-form")
    page.click("#save-aftersale")
    expect(page.locator("#aftersales [data-action=approve]")).to_be_visible()
    _shoot(page, "detail-aftersale")
    page.goto(f"{live_server.url}/orders/aftersales/")
    _shoot(page, "aftersales")
    page.goto(f"{live_server.url}/orders/credit/{customer.pk}/")
    _shoot(page, "credit")
    page.goto(f"{live_server.url}/orders/products/")
    _shoot(page, "products")

    page.goto(f"{live_server.url}/orders/")
    expect(page.locator("#order-table tbody tr")).to_have_count(1)
    # the date filters are named by their labels: "下单日期起 … 至 …"
    expect(page.get_by_label("下单日期起")).to_have_attribute("name", "date_from")
    expect(page.get_by_label("至", exact=True)).to_have_attribute("name", "date_to")
    expect(page.locator("#order-table")).to_contain_text(order.order_no)
    _shoot(page, "list")

    # and on a phone the pages still fit
    page.set_viewport_size(PHONE)
    _shoot(page, "list-phone")
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    _shoot(page, "detail-phone")
    page.goto(f"{live_server.url}/orders/new/?customer={customer.pk}")
    _shoot(page, "new-phone")


def test_the_new_order_forms_amounts_read_as_the_saved_order_writes_them(
    logged_in_page, live_server, clerk, owner
):
    page = logged_in_page
    make_catalogue(actor=owner)
    customer = make_customer(actor=clerk, name="批发客户", owner=clerk)
    page.goto(f"{live_server.url}/orders/new/?customer={customer.pk}")

    # ten of a ¥199.00 SKU: grouped by thousands, as the order page will write ¥1,990.00
    _pick_sku(page, 0, "CREAM", "CREAM-50")
    page.fill("#id_lines-0-quantity", "10")
    expect(page.locator("[data-line-amount]").first).to_have_text("¥1,990.00")
    expect(page.locator("[data-preview=goods]")).to_have_text("¥1,990.00")
    expect(page.locator("[data-preview=total]")).to_have_text("¥1,990.00")

    # a discount typed past the goods: the sign goes before the ¥ (the server then refuses the order)
    page.fill("#id_discount_cny", "2500")
    expect(page.locator("[data-preview=total]")).to_have_text("-¥510.00")


def test_an_orders_tracking_number_and_address_are_corrected_from_its_page(
    logged_in_page, live_server, clerk, owner
):
    page = logged_in_page
    catalogue = make_catalogue(actor=owner)
    customer = make_customer(actor=clerk, name="林小姐", owner=clerk)
    order = make_order(
        actor=clerk,
        customer=customer,
        store=catalogue.store,
        receiver_name="林小姐",
        receiver_phone="13912345678",
        ship_province="广东省",
        ship_city="深圳市",
        ship_district="南山区",
        ship_address="科技园 1 号",
        seller_notes="老客",
    )
    order = order_ship(actor=clerk, order=order, carrier="中通快递", tracking_no="ZT0000000001")

    # given the shipped order's page, its details form opened: filled with what the order has
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    page.click("#details-toggle")
    expect(page.locator("#details-panel")).to_have_class(re.compile(r"\bshow\b"))
    expect(page.locator("#details_tracking_no")).to_have_value("ZT0000000001")
    expect(page.locator("#details_ship_district")).to_have_value("南山区")

    # a phone number one digit short is refused beside the field, and nothing is saved
    page.fill("#details_receiver_phone", "1391234567")
    page.fill("#details_tracking_no", "ZT1234567890")
    page.click("#details-submit")
    expect(page.locator('#details-form [data-field="receiver_phone"]')).to_be_visible()
    assert Order.objects.get(pk=order.pk).tracking_no == "ZT0000000001"
    _shoot(page, "details-errors")

    # when the tracking number and the address are corrected, the city and district picked anew
    page.fill("#details_receiver_phone", "13912345678")
    page.select_option("#details_ship_city", "广州市")
    page.locator('#details_ship_district option[value="天河区"]').wait_for(state="attached")
    page.select_option("#details_ship_district", "天河区")
    page.fill("#details_ship_address", "天河路 2 号")
    page.fill("#details_seller_notes", "老客，地址已改")
    _shoot(page, "details-form")
    page.click("#details-submit")

    # then the order page shows them
    expect(page.locator("#tracking")).to_contain_text("ZT1234567890")
    expect(page.locator("#ship-address")).to_contain_text("广东省广州市天河区 天河路 2 号")
    expect(page.locator("#seller-notes")).to_contain_text("地址已改")
    order.refresh_from_db()
    assert (order.status, order.ship_city, order.version) == ("shipped", "广州市", 3)
    page.set_viewport_size(PHONE)
    page.click("#details-toggle")
    expect(page.locator("#details-panel")).to_have_class(re.compile(r"\bshow\b"))
    _shoot(page, "details-form-phone")


def test_an_order_not_shipped_offers_refund_only_until_it_is_marked_shipped(
    logged_in_page, live_server, clerk, owner
):
    page = logged_in_page
    catalogue = make_catalogue(actor=owner)
    customer = make_customer(actor=clerk, name="林小姐", owner=clerk)
    # given a paid order awaiting shipment, its waybill already printed (a marketplace export's 运单号)
    order = make_order(
        actor=clerk,
        customer=customer,
        store=catalogue.store,
        lines=[("CREAM-50", 2)],
        carrier="顺丰速运",
        tracking_no="SF1234567890",
    )
    kinds = page.locator("#id_kind option")

    # when an after-sale is requested from its page, only a refund is offered, and the form says why
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    page.click("#request-aftersale")
    expect(kinds).to_have_count(1)
    assert kinds.evaluate_all("options => options.map(o => o.value)") == ["refund"]
    expect(page.locator("#id_kind ~ .form-text")).to_be_visible()
    _shoot(page, "aftersale-not-shipped")

    # then, once marked shipped (the carrier and tracking number come from the order), all three are
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    page.click("#ship-toggle")
    expect(page.locator("#ship-panel #id_tracking_no")).to_have_value("SF1234567890")
    page.click("#ship-submit")
    page.click("#request-aftersale")
    expect(kinds).to_have_count(3)
    assert kinds.evaluate_all("options => options.map(o => o.value)") == ["refund", "return", "exchange"]
    expect(page.locator("#id_kind ~ .form-text")).to_have_count(0)


def test_the_after_sale_forms_preview_is_the_refund_the_server_records(
    logged_in_page, live_server, clerk, owner
):
    page = logged_in_page
    catalogue = make_catalogue(actor=owner)
    customer = make_customer(actor=clerk, name="周小姐", owner=clerk)
    # given 961.00 of goods (3 creams for 364.00, a tea for 397.00, 2 toners for 200.00), 30.00 off the
    # order, a 10.00 coupon and 12.00 shipping: 933.00 paid, 921.00 of it for the goods
    order = make_discounted_order(
        actor=clerk, store=catalogue.store, customer=customer, status=OrderStatus.SHIPPED
    )
    cream, tea, toner = (order.lines.get(sku_code=code) for code in ("CREAM-50", "TEA-250", "TONER-100"))
    # and one cream already on its way back, at its share: 116.28 of the creams' 348.85
    aftersale_request(
        actor=clerk, order=order, kind="return", reason="size", lines=[AfterSaleLineInput(cream.pk, 1)]
    )

    # when the other two creams and a toner are chosen, the refund left empty shows their share
    page.goto(f"{live_server.url}/orders/{order.pk}/aftersales/new/")
    page.select_option("#id_kind", "return")
    page.select_option("#id_reason", "quality")
    page.fill(f"#id_line_{cream.pk}_quantity", "2")
    page.fill(f"#id_line_{toner.pk}_quantity", "1")
    amount = page.locator("#id_amount_cny")
    expect(amount).to_have_attribute("placeholder", "328.40")  # 232.57, the odd fen on the last cream; 95.83
    page.fill(f"#id_line_{tea.pk}_quantity", "1")
    expect(amount).to_have_attribute("placeholder", "708.88")  # and the tea's 380.48
    page.fill(f"#id_line_{tea.pk}_amount", "300")
    expect(amount).to_have_attribute("placeholder", "628.40")  # the tea's refund as typed
    _shoot(page, "aftersale-preview")
    shown = Decimal(amount.get_attribute("placeholder"))
    page.click("#save-aftersale")

    # then the server records what the form showed, line by line
    expect(page).to_have_url(re.compile(rf"/orders/{order.pk}/"))
    recorded = AfterSale.objects.filter(kind=AfterSaleKind.RETURN).order_by("-pk").first()
    assert recorded.amount_cny == shown == Decimal("628.40")
    assert dict(recorded.lines.values_list("line_id", "amount_cny")) == {
        cream.pk: Decimal("232.57"),
        tea.pk: Decimal("300.00"),
        toner.pk: Decimal("95.83"),
    }


def test_the_after_sale_forms_preview_of_an_exchange_moves_no_money_as_the_server_records(
    logged_in_page, live_server, clerk, owner
):
    page = logged_in_page
    catalogue = make_catalogue(actor=owner)
    customer = make_customer(actor=clerk, name="周小姐", owner=clerk)
    order = make_order(
        actor=clerk,
        customer=customer,
        store=catalogue.store,
        lines=[("CREAM-50", 2)],
        status=OrderStatus.SHIPPED,
    )
    cream = order.lines.get()

    # given a return of one cream, whose preview is its share of what was paid
    page.goto(f"{live_server.url}/orders/{order.pk}/aftersales/new/")
    page.select_option("#id_kind", "return")
    page.select_option("#id_reason", "size")
    page.fill(f"#id_line_{cream.pk}_quantity", "1")
    amount, line_refund = page.locator("#id_amount_cny"), page.locator(f"#id_line_{cream.pk}_amount")
    expect(amount).to_have_attribute("placeholder", "199.00")
    line_refund.fill("150")
    note, refund_now = page.locator("#aftersale-exchange-note"), page.locator("#complete-now")
    refund_help, exchange_help = page.locator("#amount-help-refund"), page.locator("#amount-help-exchange")
    expect(note).to_be_hidden()
    expect(refund_now).to_be_visible()
    expect(refund_help).to_be_visible()
    expect(exchange_help).to_be_hidden()

    # when it is made an exchange, the preview says no money moves and no refund is sent
    page.select_option("#id_kind", "exchange")
    expect(note).to_be_visible()
    expect(amount).to_have_attribute("placeholder", "0.00")
    expect(amount).to_be_disabled()
    expect(line_refund).to_be_disabled()
    expect(line_refund).to_have_value("")
    expect(refund_now).to_be_hidden()  # "refund now" is a refund's, not an exchange's
    expect(refund_help).to_be_hidden()  # what an empty amount means for a refund does not apply
    expect(exchange_help).to_be_visible()
    _shoot(page, "aftersale-exchange-preview")
    # (and back to a return, what was typed is there again)
    page.select_option("#id_kind", "return")
    expect(line_refund).to_have_value("150")
    page.select_option("#id_kind", "exchange")
    page.click("#save-aftersale")

    # then the server records what the form showed: nought
    expect(page).to_have_url(re.compile(rf"/orders/{order.pk}/"))
    recorded = AfterSale.objects.get(order=order)
    assert (recorded.kind, recorded.amount_cny) == (AfterSaleKind.EXCHANGE, Decimal("0.00"))
    assert list(recorded.lines.values_list("quantity", "amount_cny")) == [(1, Decimal("0.00"))]


def _exchange_received(clerk, owner):
    """周小姐's order of two creams, one of them to be exchanged: approved, and the cream received back."""
    catalogue = make_catalogue(actor=owner)
    customer = make_customer(actor=clerk, name="周小姐", owner=clerk)
    order = make_order(
        actor=clerk,
        customer=customer,
        store=catalogue.store,
        lines=[("CREAM-50", 2)],
        status=OrderStatus.SHIPPED,
    )
    exchange = aftersale_request(
        actor=clerk,
        order=order,
        kind="exchange",
        reason="size",
        lines=[AfterSaleLineInput(order.lines.get().pk, 1)],
    )
    return order, aftersale_receive(actor=clerk, aftersale=aftersale_approve(actor=clerk, aftersale=exchange))


def test_an_exchange_is_completed_from_the_order_page_with_what_was_sent_back(
    logged_in_page, live_server, clerk, owner
):
    page = logged_in_page
    order, exchange = _exchange_received(clerk, owner)

    page.goto(f"{live_server.url}/orders/{order.pk}/")
    form = page.locator(f"[data-replacement-form='{exchange.pk}']")
    form.locator("input[name=replacement_sku_code]").fill("TONER-100")
    form.locator("input[name=replacement_carrier]").fill("顺丰速运")
    form.locator("input[name=replacement_tracking_no]").fill("SF1234567890")
    _shoot(page, "exchange-complete-form")
    page.once("dialog", lambda dialog: dialog.accept())
    form.locator("[data-action=complete]").click()

    sent = page.locator(f"[data-replacement='{exchange.pk}']")
    expect(sent).to_contain_text("SF1234567890")
    expect(sent).to_contain_text("TONER-100")
    _shoot(page, "exchange-replacement")
    exchange.refresh_from_db()
    assert (exchange.status, exchange.replacement_item, exchange.replacement_carrier) == (
        "completed",
        "爽肤水 100ml",
        "顺丰速运",
    )


def test_a_mistyped_replacement_tracking_number_is_corrected_from_the_order_page_and_listed(
    browser, live_server, clerk, owner
):
    # given an exchange sent with a tracking number one digit wrong, by the wrong carrier
    order, exchange = _exchange_received(clerk, owner)
    aftersale_complete(
        actor=clerk,
        aftersale=exchange,
        replacement=ReplacementInput(sku_code="TONER-100", carrier="顺丰速运", tracking_no="SF1234567890"),
    )
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    log_in(page, live_server, clerk)

    # when the merchant opens the correction beside it, fixes both and saves
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    correct = page.locator(f"[data-replacement-correct='{exchange.pk}']")
    correct.locator("summary").click()
    expect(correct.locator("input[name=replacement_tracking_no]")).to_have_value("SF1234567890")
    correct.locator("input[name=replacement_carrier]").fill("中通快递")
    correct.locator("input[name=replacement_tracking_no]").fill("ZT1234567809")
    _shoot(page, "exchange-replacement-correct-1280-zh")
    correct.locator("[data-action=replacement]").click()

    # then the order and the after-sales list show the parcel as it really went
    expect(page.locator(f"[data-replacement='{exchange.pk}']")).to_contain_text("ZT1234567809")
    expect(page.locator(f"[data-replacement='{exchange.pk}']")).to_contain_text("中通快递")
    _shoot(page, "exchange-replacement-corrected-1280-zh")
    page.goto(f"{live_server.url}/orders/aftersales/?status=all")
    sent = page.locator(f"[data-replacement-sent='{exchange.pk}']")
    expect(sent).to_contain_text("ZT1234567809")
    expect(sent).to_contain_text("TONER-100")
    _shoot(page, "aftersales-exchange-1280-zh")
    context.close()
    exchange.refresh_from_db()
    assert (exchange.replacement_carrier, exchange.replacement_tracking_no) == ("中通快递", "ZT1234567809")


def test_the_after_sales_list_fits_a_desk_window_in_both_languages_and_totals_the_refunds(
    browser, live_server, clerk, owner
):
    catalogue = make_catalogue(actor=owner)
    # given after-sales with what runs long in English: a company's name, a return approved and awaiting
    # the goods, a seven-day no-reason return
    for i, name in enumerate(["欧阳娜娜", "Jennifer Wang-Richardson", "上海某某贸易有限公司采购部"]):
        customer = make_customer(actor=clerk, name=name, owner=clerk)
        order = make_order(
            actor=clerk,
            customer=customer,
            store=catalogue.store,
            lines=[("CREAM-50", 3), ("TEA-250", 2)],
            order_no=f"TB2025010112345678{i}",
            status=OrderStatus.DELIVERED,
        )
        cream = order.lines.get(sku_code="CREAM-50")
        request = aftersale_request(
            actor=clerk,
            order=order,
            kind="return",
            reason="changed_mind",
            lines=[AfterSaleLineInput(cream.pk, 1)],
        )
        if i == 1:
            aftersale_approve(actor=clerk, aftersale=request)
        order_refund(actor=clerk, order=order, amount_cny="20.00", reason="price")
    # and an exchange done, its replacement shown beside it: a long item and a long tracking number
    tea = order.lines.get(sku_code="TEA-250")
    exchange = aftersale_request(
        actor=clerk, order=order, kind="exchange", reason="damaged", lines=[AfterSaleLineInput(tea.pk, 1)]
    )
    aftersale_complete(
        actor=clerk,
        aftersale=aftersale_receive(
            actor=clerk, aftersale=aftersale_approve(actor=clerk, aftersale=exchange)
        ),
        replacement=ReplacementInput(
            sku_code="TEA-250", carrier="顺丰速运", tracking_no="SF1234567890123456789012345"
        ),
    )

    for locale, total in (("en-US", "Refunded: ¥60.00"), ("zh-CN", "¥60.00")):
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.set_default_timeout(10_000)
        log_in(page, live_server, clerk)

        # when the whole list is shown on a 1280-pixel window
        page.goto(f"{live_server.url}/orders/aftersales/?status=all")

        # then it says what was refunded, and the table fits: nothing to scroll sideways
        expect(page.locator("#aftersale-table tbody tr")).to_have_count(7)
        expect(page.locator('#aftersale-totals [data-total="refunded"]')).to_contain_text(total)
        expect(page.locator(f"[data-replacement-sent='{exchange.pk}']")).to_contain_text(
            "SF1234567890123456789012345"
        )
        wrapper = page.locator("#aftersale-table").locator("xpath=..")
        width, room = wrapper.evaluate("w => [w.scrollWidth, w.clientWidth]")
        assert width <= room, (locale, width, room)
        _shoot(page, f"aftersales-1280-{locale[:2]}")
        context.close()


def test_on_a_phone_the_purchase_history_scrolls_sideways_and_its_totals_sit_under_their_columns(
    logged_in_page, live_server, clerk, owner
):
    page = logged_in_page
    catalogue = make_catalogue(actor=owner)
    customer = make_customer(actor=clerk, name="老主顾", owner=clerk)
    refunded = make_order(actor=clerk, customer=customer, store=catalogue.store, lines=[("CREAM-50", 2)])
    make_order(
        actor=clerk, customer=customer, store=catalogue.store, lines=[("TEA-250", 1), ("TONER-100", 3)]
    )
    order_refund(actor=clerk, order=refunded, amount_cny="50.00", reason="price")

    # when the customer's page is read on a 390-pixel phone
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    expect(page.locator("#purchase-totals-paid")).to_have_text("¥794.50")  # 2 × 199 + 128 + 3 × 89.50
    expect(page.locator("#purchase-totals-refunded")).to_have_text("¥50.00")

    # then the table scrolls sideways inside its card (the page does not), and every column can be reached
    layout = page.locator("#purchase-history .table-responsive").evaluate(
        """wrap => {
          wrap.scrollLeft = wrap.scrollWidth;
          const box = e => e.getBoundingClientRect();
          const heads = [...wrap.querySelectorAll("thead th")].filter(th => th.offsetParent);
          const span = e => [Math.round(box(e).left), Math.round(box(e).right)];
          return {
            overflow: getComputedStyle(wrap).overflowX,
            page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
            last: Math.round(box(heads[heads.length - 1]).right),
            room: Math.round(box(wrap).right),
            heads: heads.map(span),
            paid: span(document.querySelector("#purchase-totals-paid")),
            refunded: span(document.querySelector("#purchase-totals-refunded")),
            rows: [...wrap.querySelectorAll("tr")].map(tr => Math.round(box(tr.lastElementChild).right)),
          };
        }"""
    )
    _shoot(page, "customer-history-phone")
    assert layout["overflow"] == "auto" and layout["page"][0] <= layout["page"][1], layout
    assert layout["last"] <= layout["room"] + 1, layout
    # and the totals stand under "Amount due" and "Refunded", the last two columns, not one to the right
    amount_head, refunded_head = layout["heads"][-2], layout["heads"][-1]
    assert layout["paid"] == amount_head and layout["refunded"] == refunded_head, layout
    assert len(set(layout["rows"])) == 1, layout  # every row ends where the table does
