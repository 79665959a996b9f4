"""What a merchant clicks to set up a second marketplace shop: a manager adds a store on the Stores page,
takes the default one out of use, and the new-order form offers only the new one."""

from __future__ import annotations

import os
import tempfile

import pytest
from playwright.sync_api import expect

from kebu.orders.models import Store
from tests.e2e.conftest import log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_manager_adds_a_store_and_takes_the_default_one_out_of_use(page, live_server, staff_member):
    manager = staff_member("manager", "dianzhang", display_name="店长")
    default = Store.objects.get_or_create(name="默认店铺", defaults={"platform": "other"})[0]
    log_in(page, live_server, manager)

    # given the Stores page, reached from the Orders menu
    page.click("#nav-orders > a")
    page.click("#nav-stores")
    expect(page.locator("#store-table")).to_contain_text("默认店铺")

    # when the manager adds the shop's JD store
    page.fill("#id_name", "京东自营店")
    page.select_option("#id_platform", "jd")
    page.fill("#id_position", "1")
    page.click("#save-store")

    # then it is listed, active, with no orders yet
    row = page.locator(f'tr[data-store="{Store.objects.get(name="京东自营店").pk}"]')
    expect(row).to_contain_text("京东")
    expect(row).to_contain_text("0")

    # when the default store is taken out of use on its edit page
    page.locator(f'tr[data-store="{default.pk}"] a[href$="/edit/"]').click()
    page.uncheck("#id_is_active")
    page.click("#save-store")

    # then the new-order form offers only the JD store
    expect(page.locator(f'tr[data-store="{default.pk}"] .badge')).to_have_class("badge text-bg-secondary")
    _shoot(page, "list")
    page.set_viewport_size({"width": 390, "height": 844})
    _shoot(page, "list-phone")
    page.goto(f"{live_server.url}/orders/new/")
    assert page.locator("#id_store option").all_inner_texts() == ["京东自营店"]


def _shoot(page, name: str) -> None:
    screenshot(page, f"stores-{name}")
    page.screenshot(path=os.path.join(tempfile.gettempdir(), f"kebu-stores-{name}.png"), full_page=True)
