"""The contact pages as a clerk uses them: logging a contact in two clicks from the customer page, the
quick log from the customer list, the customer page's card, the staff list, attachment downloads; and
who sees what (404 for a colleague's customer or attachment)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import Attachment, ContactRecord, FollowUp, Preference
from kebu.engagement.services.contacts import ContactInput, contact_log

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 6, 10, 9, 30, tzinfo=SHANGHAI)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"\x00" * 64
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _pages_in_english(settings):
    """The pages in the source language (a browser that asks for none gets the shop's default)."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def a_customer(sales_a):
    return make_customer(actor=sales_a, name="张三", owner=sales_a)


@pytest.fixture
def b_customer(sales_b):
    return make_customer(actor=sales_b, name="王乙乙", owner=sales_b)


@pytest.fixture
def a_client(client_for, sales_a):
    return client_for(sales_a)


def _post(**overrides):
    body = {
        "channel": "phone",
        "direction": "out",
        "occurred_at": "2025-06-10T09:00",
        "summary": "回访：面霜用着不错",
        "next_step": "",
        "next_step_due": "",
    }
    body.update(overrides)
    return body


def _log(actor, customer, **fields):
    values = {"channel": "wechat", "summary": "咨询"}
    values.update(fields)
    return contact_log(actor=actor, customer=customer, data=ContactInput(**values))


# --- logging from the customer page -------------------------------------------------------------------------


def test_logging_a_contact_takes_two_clicks_from_the_customer_page(a_client, sales_a, a_customer):
    page = a_client.get(reverse("customers:detail", args=[a_customer.pk]))
    form_url = reverse("contacts:customer_log", args=[a_customer.pk])
    assert page.status_code == 200
    assert f'hx-get="{form_url}"' in page.content.decode()  # the "Log contact" button

    # click 1: the form, with the time set to now and a channel chosen
    fragment = a_client.get(form_url, **HTMX)
    html = fragment.content.decode()
    assert fragment.status_code == 200
    assert 'id="contact-log-form"' in html
    assert 'value="2025-06-10T09:30"' in html
    assert '<option value="wechat" selected>' in html

    # click 2: save, with what the form already holds and a summary
    saved = a_client.post(
        form_url,
        _post(
            channel="wechat", occurred_at="2025-06-10T09:30", next_step="寄样品", next_step_due="2025-06-12"
        ),
        **HTMX,
    )

    assert saved.status_code == 200
    assert saved["HX-Trigger"] == "contact-logged"
    record = ContactRecord.objects.get()
    assert (record.customer, record.created_by, record.channel) == (a_customer, sales_a, "wechat")
    assert record.occurred_at == datetime(2025, 6, 10, 9, 30, tzinfo=SHANGHAI)
    assert FollowUp.objects.get().due_on == date(2025, 6, 12)
    assert 'id="contact-logged"' in saved.content.decode()


def test_the_form_starts_with_the_customers_preferred_channel(a_client, sales_a, a_customer):
    _log(sales_a, a_customer, channel="sms")
    Preference.objects.create(customer=a_customer, preferred_channel="email")

    html = a_client.get(reverse("contacts:customer_log", args=[a_customer.pk]), **HTMX).content.decode()

    assert '<option value="email" selected>' in html


def test_without_a_preference_the_form_starts_with_the_channel_used_last(a_client, sales_a, a_customer):
    _log(sales_a, a_customer, channel="phone", occurred_at=NOW - timedelta(days=2))
    _log(sales_a, a_customer, channel="marketplace", occurred_at=NOW - timedelta(days=1))

    html = a_client.get(reverse("contacts:customer_log", args=[a_customer.pk]), **HTMX).content.decode()

    assert '<option value="marketplace" selected>' in html


def test_a_refused_contact_comes_back_with_the_message_beside_the_field_and_nothing_written(
    a_client, a_customer
):
    response = a_client.post(
        reverse("contacts:customer_log", args=[a_customer.pk]),
        _post(next_step="回电", next_step_due="2025-06-01"),
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 200  # htmx swaps only 2xx answers
    assert 'data-field="next_step_due"' in html
    assert "The due date 2025-06-01 has passed" in html
    assert not ContactRecord.objects.exists()
    assert not FollowUp.objects.exists()


def test_the_attachments_hint_is_in_the_language_of_the_page(a_client, a_customer):
    # The hint was formatted once, as the module loaded, and then read the same in every language.
    url = reverse("contacts:customer_log", args=[a_customer.pk])
    english = a_client.get(url, HTTP_ACCEPT_LANGUAGE="en", **HTMX).content.decode()
    chinese = a_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9", **HTMX).content.decode()
    assert "Up to 5 pictures or PDFs, e.g. a chat screenshot." in english
    assert "最多 5 张图片或 PDF，例如聊天截图。" in chinese


def test_an_attachment_that_is_not_what_its_name_says_is_refused_on_the_page(a_client, a_customer):
    body = _post(attachments=[SimpleUploadedFile("聊天.jpg", b"MZ\x90\x00not a picture")])

    response = a_client.post(reverse("contacts:customer_log", args=[a_customer.pk]), body, **HTMX)

    assert "“聊天.jpg” is not a picture or PDF" in response.content.decode()
    assert not ContactRecord.objects.exists()
    assert not Attachment.objects.exists()


def test_without_javascript_the_form_saves_and_goes_back_to_the_customer(a_client, a_customer):
    response = a_client.post(reverse("contacts:customer_log", args=[a_customer.pk]), _post())

    assert response.status_code == 302
    assert response["Location"] == reverse("customers:detail", args=[a_customer.pk])
    assert ContactRecord.objects.count() == 1


def test_the_contacts_card_shows_the_latest_records_and_links_to_all(a_client, sales_a, a_customer):
    for day in range(7):
        _log(sales_a, a_customer, summary=f"第{day}次沟通", occurred_at=NOW - timedelta(days=day))

    response = a_client.get(reverse("contacts:customer_contacts", args=[a_customer.pk]), **HTMX)

    html = response.content.decode()
    assert html.count('class="contact-record"') == 5
    assert "第0次沟通" in html and "第5次沟通" not in html
    assert reverse("contacts:customer_list", args=[a_customer.pk]) in html
    listing = a_client.get(reverse("contacts:customer_list", args=[a_customer.pk])).content.decode()
    assert listing.count('class="contact-record"') == 7


def test_the_customer_page_loads_the_cards_only_for_roles_that_may_read_them(
    client_for, staff_member, a_customer
):
    nobody = staff_member(None, "nobody")
    from django.contrib.auth.models import Permission

    nobody.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_customer", "view_all_customers"])
    )

    html = client_for(nobody).get(reverse("customers:detail", args=[a_customer.pk])).content.decode()

    assert reverse("contacts:customer_contacts", args=[a_customer.pk]) not in html
    assert reverse("contacts:customer_preferences", args=[a_customer.pk]) not in html
    assert 'id="log-contact"' not in html


def test_a_read_only_user_sees_the_card_but_no_log_button_and_may_not_post(client_for, readonly, a_customer):
    client = client_for(readonly)

    page = client.get(reverse("customers:detail", args=[a_customer.pk])).content.decode()
    posted = client.post(reverse("contacts:customer_log", args=[a_customer.pk]), _post(), **HTMX)

    assert reverse("contacts:customer_contacts", args=[a_customer.pk]) in page
    assert 'id="log-contact"' not in page
    assert posted.status_code == 403
    assert not ContactRecord.objects.exists()


def test_every_contact_page_of_a_colleagues_customer_answers_404(a_client, b_customer, sales_b):
    _log(sales_b, b_customer)
    urls = [
        reverse("contacts:customer_contacts", args=[b_customer.pk]),
        reverse("contacts:customer_list", args=[b_customer.pk]),
        reverse("contacts:customer_log", args=[b_customer.pk]),
        reverse("contacts:customer_preferences", args=[b_customer.pk]),
        reverse("contacts:customer_preferences_edit", args=[b_customer.pk]),
        f"{reverse('contacts:new')}?customer={b_customer.pk}",
    ]
    for url in urls:
        statuses = {
            a_client.get(url).status_code,
            a_client.post(url, _post(customer=b_customer.pk)).status_code,
        }
        # 404 wherever the view answers the method at all (405: the view does not take it).
        assert 404 in statuses and statuses <= {404, 405}, (url, statuses)

    assert ContactRecord.objects.count() == 1
    assert not Preference.objects.exists()


# --- the quick log from the customer list -------------------------------------------------------------------


def test_quick_log_from_the_customer_list_goes_back_to_the_list(a_client, a_customer):
    listing = a_client.get(reverse("customers:list") + "?stage=&page=1").content.decode()
    quick = f"{reverse('contacts:new')}?customer={a_customer.pk}&amp;next="
    assert quick in listing  # the row's shortcut

    back = reverse("customers:list") + "?stage=lead"
    page = a_client.get(reverse("contacts:new"), {"customer": a_customer.pk, "next": back})
    assert page.status_code == 200
    assert 'name="next" value="/customers/?stage=lead"' in page.content.decode()

    saved = a_client.post(
        f"{reverse('contacts:new')}?customer={a_customer.pk}", _post(customer=a_customer.pk, next=back)
    )

    assert saved.status_code == 302
    assert saved["Location"] == back
    assert ContactRecord.objects.get().customer == a_customer


def test_quick_log_never_sends_anyone_to_another_site(a_client, a_customer):
    saved = a_client.post(
        reverse("contacts:new"), _post(customer=a_customer.pk, next="https://evil.example/")
    )

    assert saved["Location"] == reverse("customers:detail", args=[a_customer.pk])


def test_quick_log_with_a_bad_time_shows_the_form_again_and_writes_nothing(a_client, a_customer):
    response = a_client.post(
        reverse("contacts:new"), _post(customer=a_customer.pk, occurred_at="2025-06-11T09:00")
    )

    assert response.status_code == 400
    assert "The time is in the future" in response.content.decode()
    assert not ContactRecord.objects.exists()


# --- the staff list -----------------------------------------------------------------------------------------


def test_the_contact_list_shows_mine_by_default_and_everyone_visible_on_request(
    client_for, sales_a, manager_east, a_customer
):
    _log(sales_a, a_customer, summary="销售甲记的")
    _log(manager_east, a_customer, summary="主管记的")
    client = client_for(manager_east)

    mine = client.get(reverse("contacts:list")).content.decode()
    everyone = client.get(reverse("contacts:list"), {"scope": "all"}).content.decode()

    assert "主管记的" in mine and "销售甲记的" not in mine
    assert "主管记的" in everyone and "销售甲记的" in everyone


def test_the_contact_list_filters_by_channel_and_days(a_client, sales_a, a_customer):
    _log(sales_a, a_customer, channel="phone", summary="电话那次", occurred_at=NOW - timedelta(days=3))
    _log(sales_a, a_customer, channel="wechat", summary="微信那次", occurred_at=NOW - timedelta(days=1))

    by_channel = a_client.get(reverse("contacts:list"), {"channel": "phone"}).content.decode()
    by_day = a_client.get(reverse("contacts:list"), {"date_from": "2025-06-09", "date_to": "2025-06-09"})
    backwards = a_client.get(reverse("contacts:list"), {"date_from": "2025-06-09", "date_to": "2025-06-01"})

    assert "电话那次" in by_channel and "微信那次" not in by_channel
    assert "微信那次" in by_day.content.decode() and "电话那次" not in by_day.content.decode()
    assert "The end date is before the start date." in backwards.content.decode()
    assert "微信那次" not in backwards.content.decode()


def test_the_contact_list_leaves_out_colleagues_customers(a_client, sales_b, b_customer):
    _log(sales_b, b_customer, summary="别人的客户")

    html = a_client.get(reverse("contacts:list"), {"scope": "all"}).content.decode()

    assert "别人的客户" not in html


def test_the_contact_list_reads_a_page_in_a_fixed_number_of_queries(
    a_client, sales_a, a_customer, django_assert_max_num_queries
):
    for index in range(30):
        record = _log(sales_a, a_customer, summary=f"第{index}次")
        Attachment.objects.create(
            contact=record,
            file="attachments/x.png",
            original_name="x.png",
            content_type="image/png",
            size_bytes=1,
        )

    # The request's own (session, user, 2FA, permissions, shop settings, session save: 9) and the list's
    # three: count, page, the page's attachments. One more per row would be 25 more.
    with django_assert_max_num_queries(12):
        response = a_client.get(reverse("contacts:list"), {"scope": "all"})

    assert response.content.decode().count('class="contact-record"') == 25


# --- attachments --------------------------------------------------------------------------------------------


def _with_files(actor, customer):
    return contact_log(
        actor=actor,
        customer=customer,
        data=ContactInput(channel="wechat", summary="截图"),
        files=[SimpleUploadedFile("聊天截图.png", PNG), SimpleUploadedFile("报价.pdf", PDF)],
    )


def test_a_picture_opens_in_the_browser_with_its_detected_type_and_nosniff(a_client, sales_a, a_customer):
    shot = _with_files(sales_a, a_customer).attachments.get(content_type="image/png")

    response = a_client.get(reverse("contacts:attachment", args=[shot.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    assert b"".join(response.streaming_content) == PNG


def test_a_pdf_is_downloaded_not_shown(a_client, sales_a, a_customer):
    sheet = _with_files(sales_a, a_customer).attachments.get(content_type="application/pdf")

    response = a_client.get(reverse("contacts:attachment", args=[sheet.pk]))

    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_colleagues_attachment_answers_404(a_client, sales_b, b_customer):
    shot = _with_files(sales_b, b_customer).attachments.first()

    assert a_client.get(reverse("contacts:attachment", args=[shot.pk])).status_code == 404
    assert a_client.get(reverse("contacts:attachment", args=[shot.pk + 1000])).status_code == 404


def test_the_card_links_each_attachment(a_client, sales_a, a_customer):
    record = _with_files(sales_a, a_customer)

    html = a_client.get(reverse("contacts:customer_contacts", args=[a_customer.pk]), **HTMX).content.decode()

    for attachment in record.attachments.all():
        assert reverse("contacts:attachment", args=[attachment.pk]) in html
    assert "聊天截图.png" in html
