"""What a service clerk clicks: a conversation logged from the customer's page in two clicks, whose
next step lands on the today page and is done from there; a complaint opened on an order; and the
customer answering a survey on a phone, without logging in. The timeline shows each of them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import ContactRecord, FollowUp, FollowUpStatus, SurveyResponse, Ticket
from kebu.engagement.selectors.surveys import invitation_token
from kebu.engagement.services.followups import followup_create
from kebu.engagement.services.surveys import invitation_create, question_add, survey_create
from kebu.orders.services.aftersales import aftersale_request
from kebu.orders.tests.factories import make_catalogue, make_order
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def customer(clerk):
    return make_customer(actor=clerk, name="林晓", phone="13912340000", owner=clerk)


def test_a_contact_logged_in_two_clicks_puts_its_next_step_on_the_today_page(
    logged_in_page, live_server, customer
):
    page = logged_in_page
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    # click 1: the form opens in place, channel and time already filled in
    page.click("#log-contact")
    form = page.locator("#contact-log form")
    expect(form).to_be_visible()
    form.locator("textarea[name=summary]").fill("客户问面霜什么时候补货，答应到货后通知")
    form.locator("input[name=next_step]").fill("到货后微信通知")
    form.locator("input[name=next_step_due]").fill((timezone.localdate() + timedelta(days=1)).isoformat())
    screenshot(page, "service-log-contact")
    # click 2
    form.locator("button[type=submit]").click()
    expect(page.locator("#timeline")).to_contain_text("客户问面霜什么时候补货", timeout=10_000)
    record = ContactRecord.objects.get(customer=customer)
    followup = FollowUp.objects.get(contact=record)
    assert followup.due_on == timezone.localdate() + timedelta(days=1)

    # the next step is on the clerk's today page, and done from there
    page.goto(f"{live_server.url}/followups/")
    row = page.locator(f"#followup-{followup.pk}")
    expect(row).to_contain_text("到货后微信通知")
    screenshot(page, "service-today")
    row.locator("button.dropdown-toggle").first.click()
    row.locator("input[name=outcome]").fill("已通知，客户下单")
    row.locator("button[name=done]").click()
    expect(page.locator(f"#followup-{followup.pk}")).to_have_attribute("data-status", "done")
    followup.refresh_from_db()
    assert followup.status == FollowUpStatus.DONE


def test_a_complaint_opened_from_an_order_with_a_refund_in_progress_is_linked_to_it(
    logged_in_page, live_server, clerk, owner, customer
):
    page = logged_in_page
    catalogue = make_catalogue(actor=owner)
    order = make_order(
        actor=clerk, customer=customer, store=catalogue.store, ordered_at=timezone.now() - timedelta(days=3)
    )
    refund = aftersale_request(actor=clerk, order=order, kind="refund", reason="price", amount_cny="20")

    page.goto(f"{live_server.url}/orders/{order.pk}/")
    page.click("#new-ticket")
    told = page.locator(f"#ticket-aftersales [data-aftersale='{refund.pk}']")
    expect(told.locator("input[type=checkbox]")).to_be_checked()
    expect(told.locator("a")).to_have_attribute("href", f"/orders/{order.pk}/#aftersale-{refund.pk}")
    page.select_option("select[name=category]", "price")
    page.fill("input[name=subject]", "退款还没到账")
    screenshot(page, "service-new-ticket-refund-in-progress")
    page.click("#save-ticket")

    expect(page.locator("body")).to_contain_text("T0")
    ticket = Ticket.objects.get(customer=customer)
    assert list(ticket.aftersales.all()) == [refund]
    expect(page.locator(f"a[href$='#aftersale-{refund.pk}']").first).to_be_visible()


def test_a_complaint_opened_from_an_order_is_on_the_customers_timeline(
    logged_in_page, live_server, clerk, owner, customer
):
    page = logged_in_page
    catalogue = make_catalogue(actor=owner)
    order = make_order(
        actor=clerk, customer=customer, store=catalogue.store, ordered_at=timezone.now() - timedelta(days=3)
    )
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    page.click("#new-ticket")
    page.select_option("select[name=category]", "quality")
    page.fill("input[name=subject]", "面霜有异味")
    screenshot(page, "service-new-ticket")
    page.click("#save-ticket")
    expect(page.locator("body")).to_contain_text("T0")
    ticket = Ticket.objects.get(customer=customer)
    expect(page.locator("body")).to_contain_text(ticket.number)
    assert ticket.order_id == order.pk
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    expect(page.locator("#timeline")).to_contain_text("面霜有异味")
    screenshot(page, "service-customer-timeline")


def test_a_customer_answers_a_survey_on_a_phone_without_logging_in(browser, live_server, clerk, customer):
    survey = survey_create(actor=clerk, title="购物体验调查", intro="耽误您一分钟")
    question_add(actor=clerk, survey=survey, kind="nps", text="您有多大可能把本店推荐给朋友？")
    invitation, _new = invitation_create(actor=clerk, survey=survey, customer=customer)
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/surveys/r/{invitation_token(invitation)}/")
    expect(page.locator("body")).to_contain_text("您有多大可能把本店推荐给朋友")
    page.locator("label[for$='-9']").first.click()
    screenshot(page, "service-survey-phone")
    page.locator("button[type=submit]").click()
    expect(page.locator("body")).not_to_contain_text("您有多大可能把本店推荐给朋友")
    context.close()
    response = SurveyResponse.objects.get(customer=customer)
    assert response.answers.get().score == 9


def test_a_follow_up_gone_before_it_is_marked_done_says_so_instead_of_doing_nothing(
    logged_in_page, live_server, clerk, customer
):
    # given a follow-up on the clerk's today page
    followup = followup_create(actor=clerk, customer=customer, title="回访林晓", due_on=timezone.localdate())
    page = logged_in_page
    page.goto(f"{live_server.url}/followups/")
    row = page.locator(f"#followup-{followup.pk}")
    expect(row).to_contain_text("回访林晓")

    # when a colleague deletes it meanwhile, and the clerk marks it done
    FollowUp.objects.filter(pk=followup.pk).delete()
    row.locator("button.dropdown-toggle").first.click()
    row.locator("button[name=done]").click()

    # then the page says why nothing happened, in the clerk's language
    refused = page.locator("#action-refused")
    expect(refused).to_have_attribute("data-status", "404")
    expect(refused).to_contain_text("页面没有找到")
    screenshot(page, "service-action-refused")
