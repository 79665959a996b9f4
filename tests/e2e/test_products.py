"""What a merchant sees when a colleague saved a product while their own page of it was open: the save is
refused, the product as saved now is shown above the form, and the colleague's price stays."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from kebu.orders.models import Sku
from kebu.orders.tests.factories import make_catalogue
from tests.e2e.conftest import log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_second_of_two_tabs_saving_one_product_is_shown_the_price_saved_meanwhile(
    page, live_server, staff_member
):
    manager = staff_member("manager", "dianzhang", display_name="店长")
    product = make_catalogue(actor=manager).cream_sku.product
    log_in(page, live_server, manager)
    edit_url = f"{live_server.url}/orders/products/{product.pk}/edit/"

    # given the product's page open in a second tab, and a new price saved from the first
    other = page.context.new_page()
    other.goto(edit_url)
    page.goto(edit_url)
    page.fill("#id_skus-0-price_cny", "179")
    page.click("#save-product")
    page.wait_for_url(f"{live_server.url}/orders/products/")

    # when the second tab saves a usage cycle over the page it had
    other.fill("#id_usage_cycle_days", "45")
    other.click("#save-product")

    # then it is refused, shown the price as saved now, and the price stays the first tab's
    expect(other.locator("#form-errors #saved-now")).to_contain_text("CREAM-50")
    expect(other.locator("#saved-now")).to_contain_text("¥179.00")
    screenshot(other, "products-conflict")
    assert Sku.objects.get(code="CREAM-50").price_cny == Decimal("179.00")
    product.refresh_from_db()
    assert product.usage_cycle_days == 60
