"""A lunar birthday on the customer form and profile: entered as the lunar date, kept as the real solar
date of birth, shown both ways; a lunar date that does not exist is refused on its field and nothing is
saved; rows saved the old way (lunar numbers in the date) are converted by the customers migration."""

from __future__ import annotations

import importlib
from datetime import date

import pytest
from django.apps import apps
from django.urls import reverse

from kebu.core import lunar
from kebu.customers.models import Customer
from kebu.customers.tests.factories import make_customer
from kebu.customers.tests.test_views import _form

pytestmark = pytest.mark.django_db


def test_a_lunar_birthday_entered_on_the_form_is_kept_as_the_solar_date(sales_a, client_for):
    client = client_for(sales_a)
    response = client.post(
        reverse("customers:create"),
        _form(
            birthday_is_lunar="on",
            birthday_lunar_year="1990",
            birthday_lunar_month="2",
            birthday_lunar_day="30",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    customer = Customer.objects.get()
    assert customer.birthday_is_lunar
    assert customer.birthday == lunar.lunar_to_solar(year=1990, month=2, day=30) == date(1990, 3, 26)
    page = client.get(reverse("customers:detail", args=[customer.pk]), headers={"Accept-Language": "zh-hans"})
    assert "1990-03-26 (农历二月三十)" in page.content.decode()


def test_a_lunar_date_that_does_not_exist_is_refused_and_nothing_is_saved(sales_a, client_for):
    # lunar 2020's first month has 29 days
    response = client_for(sales_a).post(
        reverse("customers:create"),
        _form(
            birthday_is_lunar="on",
            birthday_lunar_year="2020",
            birthday_lunar_month="1",
            birthday_lunar_day="30",
        ),
        headers={"Accept-Language": "en"},
    )
    assert lunar.month_days(year=2020, month=1) == 29
    assert response.status_code == 400
    assert "has only 29 days" in response.content.decode()
    assert not Customer.objects.exists()


def test_a_leap_month_the_year_lacks_is_refused(sales_a, client_for):
    response = client_for(sales_a).post(
        reverse("customers:create"),
        _form(
            birthday_is_lunar="on",
            birthday_lunar_year="1990",
            birthday_lunar_month="2",
            birthday_lunar_day="1",
            birthday_lunar_leap="on",
        ),
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert "has no leap" in response.content.decode()
    assert not Customer.objects.exists()


def test_the_edit_form_shows_the_lunar_date_of_a_lunar_birthday(sales_a, client_for):
    customer = make_customer(
        actor=sales_a, name="农历", owner=sales_a, birthday=date(1990, 3, 26), birthday_is_lunar=True
    )
    page = client_for(sales_a).get(reverse("customers:edit", args=[customer.pk])).content.decode()
    assert 'name="birthday_lunar_year" value="1990"' in page
    assert '<option value="30" selected>' in page


def test_old_rows_holding_lunar_numbers_are_converted_and_a_missing_30th_becomes_the_29th(sales_a, caplog):
    # saved the old way: the lunar year, month and day in the date itself
    kept = make_customer(actor=sales_a, name="旧农历", birthday=date(1990, 2, 28), birthday_is_lunar=True)
    short = make_customer(actor=sales_a, name="旧三十", birthday=date(2020, 1, 30), birthday_is_lunar=True)
    solar = make_customer(actor=sales_a, name="阳历", birthday=date(1990, 2, 28))
    migration = importlib.import_module("kebu.customers.migrations.0008_lunar_birthday_solar")
    migration.forwards(apps, None)

    for c in (kept, short, solar):
        c.refresh_from_db()
    assert kept.birthday == lunar.lunar_to_solar(year=1990, month=2, day=28)
    # lunar 2020's first month has 29 days: the 30th is kept as the 29th, and said so in the log
    assert short.birthday == lunar.lunar_to_solar(year=2020, month=1, day=29)
    assert "does not exist" in caplog.text
    assert solar.birthday == date(1990, 2, 28)
