"""The daily email of one's follow-ups, through a real SMTP server on the loopback (aiosmtpd): sent in the
subscriber's language with the overdue and today's follow-ups, at most once a day however often the task
runs, and not at all without an SMTP host."""

from __future__ import annotations

import socket
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.urls import reverse

from kebu.core.errors import ValidationFailed
from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import DigestSent, DigestSubscription, FollowUp
from kebu.engagement.services.followups import digest_subscribe, digests_send

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 3, 10)


class _Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def inbox(settings):
    """A real SMTP server on 127.0.0.1 at a free port, and Django's SMTP backend pointed at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = _Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield handler
    controller.stop()


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(datetime(2026, 3, 10, 8, 30, tzinfo=SHANGHAI), tick=False):
        yield


@pytest.fixture
def subscriber(sales_a):
    sales_a.email = "a@shop.example"
    sales_a.save()
    digest_subscribe(actor=sales_a, enabled=True, language="zh-hans")
    customer = make_customer(actor=sales_a, name="王芳", owner=sales_a)
    FollowUp.objects.create(customer=customer, assignee=sales_a, title="签收后回访", due_on=TODAY)
    FollowUp.objects.create(
        customer=customer, assignee=sales_a, title="生日关怀", due_on=TODAY - timedelta(days=2)
    )
    FollowUp.objects.create(
        customer=customer, assignee=sales_a, title="下周的事", due_on=TODAY + timedelta(days=3)
    )
    return sales_a


def test_the_digest_is_mailed_in_chinese_with_the_overdue_and_todays_follow_ups(inbox, subscriber):
    assert digests_send() == 1
    [(recipients, message)] = inbox.messages
    assert recipients == ["a@shop.example"]
    assert message["To"] == "a@shop.example"
    assert "2026-03-10" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "- 王芳：签收后回访" in text and "- 2026-03-08 王芳：生日关怀" in text  # the language's colon
    assert "下周的事" not in text
    assert "<b>王芳</b>：生日关怀" in message.get_body(("html",)).get_content()


def test_the_digest_goes_once_a_day_however_often_the_task_runs(inbox, subscriber):
    assert digests_send() == 1
    assert digests_send() == 0
    assert len(inbox.messages) == 1
    assert list(DigestSent.objects.values_list("user_id", "day")) == [(subscriber.pk, TODAY)]
    # the next day it goes again
    with time_machine.travel(datetime(2026, 3, 11, 8, 30, tzinfo=SHANGHAI), tick=False):
        assert digests_send() == 1
    assert len(inbox.messages) == 2


def test_no_smtp_host_sends_nothing_and_records_nothing(settings, subscriber):
    settings.EMAIL_HOST = ""
    assert digests_send() == 0
    assert not DigestSent.objects.exists()


def test_a_mail_the_server_refuses_is_tried_again_later(settings, subscriber):
    # nothing listens on this port: the send fails and the day's record is given back
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    assert digests_send() == 0
    assert not DigestSent.objects.exists()


def test_nobody_without_follow_ups_or_unsubscribed_gets_mail(inbox, subscriber):
    FollowUp.objects.filter(assignee=subscriber).delete()
    assert digests_send() == 0
    digest_subscribe(actor=subscriber, enabled=False)
    assert not DigestSubscription.objects.exists()
    assert inbox.messages == []


def test_subscribing_needs_an_email_address(sales_b):
    with pytest.raises(ValidationFailed) as caught:
        digest_subscribe(actor=sales_b, enabled=True)
    assert "email address" in caught.value.field_errors["enabled"][0]
    assert not DigestSubscription.objects.exists()


def test_the_today_page_switches_the_digest_on_in_the_pages_language(sales_a, client_for):
    sales_a.email = "a@shop.example"
    sales_a.save()
    client = client_for(sales_a)
    client.post(reverse("followups:digest"), {"enabled": "on"}, headers={"Accept-Language": "en"})
    assert DigestSubscription.objects.get(user=sales_a).language == "en"
