"""What a merchant clicks: create a customer, find it by pinyin initials and by phone suffix,
filter by a tag, save the view and come back to it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from kebu.customers.models import Customer, SavedView
from kebu.customers.tests.factories import TagFactory, make_customer
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_create_customer_then_find_by_initials_and_phone_suffix(logged_in_page, live_server, clerk):
    page = logged_in_page
    TagFactory(name="茶友", color="green")
    make_customer(actor=clerk, name="李四", phone="13900001111")

    # given a new customer typed in as a clerk would, with a +86 and dashes
    page.goto(f"{live_server.url}/customers/new/")
    page.fill("#id_name", "张三丰")
    page.fill("#id_phones-0-number", "+86 138-0013-8000")
    page.select_option("#id_addresses-0-province", "浙江省")
    # (a locator, not wait_for_function: the page's CSP has no 'unsafe-eval' for a string predicate)
    page.locator("#id_addresses-0-city option:nth-child(3)").wait_for(state="attached")
    page.select_option("#id_addresses-0-city", "杭州市")
    page.locator("#id_addresses-0-district option:nth-child(3)").wait_for(state="attached")
    page.select_option("#id_addresses-0-district", "西湖区")
    page.fill("#id_addresses-0-detail", "文三路 90 号")
    page.get_by_label("茶友").check()
    screenshot(page, "customer-form")
    page.click("#save-customer")

    # then the detail page shows it, normalised
    expect(page).to_have_url(re.compile(r"/customers/\d+/$"))
    expect(page.locator("#phones")).to_contain_text("138 0013 8000")
    customer = Customer.objects.get(name="张三丰")
    assert customer.city == "杭州市"
    screenshot(page, "customer-detail")

    # when searching by pinyin initials, the list narrows to that customer (htmx, no reload)
    page.goto(f"{live_server.url}/customers/")
    page.fill("input[name=q]", "zsf")
    expect(page.locator("#customer-table tbody tr")).to_have_count(1)
    expect(page.locator("#customer-table")).to_contain_text("张三丰")
    expect(page).to_have_url(re.compile(r"q=zsf"))

    # and by the last four digits of the phone
    page.fill("input[name=q]", "8000")
    expect(page.locator("#customer-table tbody tr")).to_have_count(1)
    expect(page.locator("#customer-table")).to_contain_text(customer.customer_no)
    screenshot(page, "customer-list-search")


def test_filter_by_tag_and_save_the_view(logged_in_page, live_server, clerk):
    page = logged_in_page
    vip = TagFactory(name="老客户", color="red")
    for name in ("王五", "赵六"):
        c = make_customer(actor=clerk, name=name)
        c.tags.add(vip)
    make_customer(actor=clerk, name="孙七")

    page.goto(f"{live_server.url}/customers/")
    expect(page.locator("#customer-table tbody tr")).to_have_count(3)
    page.select_option("select[name=tag] >> nth=0", str(vip.pk))
    expect(page.locator("#customer-table tbody tr")).to_have_count(2)
    expect(page.locator("#customer-table")).not_to_contain_text("孙七")

    page.click("#saved-views-toggle")
    page.fill("#save-view-form input[name=name]", "老客户名单")
    page.click("#save-view-form button[type=submit]")
    expect(page.locator(".alert-success")).to_be_visible()
    view = SavedView.objects.get(name="老客户名单", owner=clerk)
    assert f"tag={vip.pk}" in view.query

    # coming back later: the saved view restores the filter
    page.goto(f"{live_server.url}/customers/")
    expect(page.locator("#customer-table tbody tr")).to_have_count(3)
    page.click("#saved-views-toggle")
    page.click("#saved-views >> text=老客户名单")
    expect(page.locator("#customer-table tbody tr")).to_have_count(2)
    screenshot(page, "customer-list-saved-view")
