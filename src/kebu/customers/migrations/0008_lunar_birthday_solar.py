"""A lunar birthday is now kept as the real (solar) date of birth, with ``birthday_is_lunar`` saying the
customer celebrates it by the lunar calendar. Rows saved before held the lunar year, month and day in the
date itself (a lunar 2/30 could not be saved at all): each is read as that lunar date (ordinary month) and
replaced by its solar date. A lunar 30th in a year whose month has 29 days becomes the 29th, and a year
outside the calendar's table (1900–2099) is left as it was; both are logged with the customer's number.

Backwards, the solar date goes back to the lunar numbers where a solar date can hold them (a 30th in a
short month becomes the month's last day), so a rollback keeps the data readable."""

import calendar
import logging
from datetime import date

from django.db import migrations
from lunardate import LunarDate

logger = logging.getLogger("kebu.customers.migrations")
BATCH = 500


def _to_solar(value: date, customer_no: str) -> date | None:
    if not 1900 <= value.year <= 2099:
        logger.warning(
            "Customer %s: lunar birthday %s is outside 1900–2099; left as it was.", customer_no, value
        )
        return None
    try:
        return LunarDate(value.year, value.month, value.day).to_solar_date()
    except ValueError:
        solar = LunarDate(value.year, value.month, 29).to_solar_date()
        logger.warning(
            "Customer %s: lunar %d-%02d-%02d does not exist; kept as the 29th (%s).",
            customer_no,
            value.year,
            value.month,
            value.day,
            solar,
        )
        return solar


def _to_lunar_numbers(value: date, customer_no: str) -> date | None:
    try:
        lunar = LunarDate.from_solar_date(value.year, value.month, value.day)
    except ValueError:
        return None
    day = min(lunar.day, calendar.monthrange(lunar.year, lunar.month)[1])
    if day != lunar.day or lunar.is_leap_month:
        logger.warning(
            "Customer %s: lunar birthday %s cannot be stored exactly the old way.", customer_no, value
        )
    return date(lunar.year, lunar.month, day)


def _convert(apps, convert):
    Customer = apps.get_model("customers", "Customer")
    rows = (
        Customer.objects.filter(birthday_is_lunar=True, birthday__isnull=False)
        .only("pk", "customer_no", "birthday")
        .order_by("pk")
    )
    batch = []
    for customer in rows.iterator(chunk_size=BATCH):
        converted = convert(customer.birthday, customer.customer_no)
        if converted is None or converted == customer.birthday:
            continue
        customer.birthday = converted
        batch.append(customer)
        if len(batch) >= BATCH:
            Customer.objects.bulk_update(batch, ["birthday"])
            batch = []
    if batch:
        Customer.objects.bulk_update(batch, ["birthday"])


def forwards(apps, schema_editor):
    _convert(apps, _to_solar)


def backwards(apps, schema_editor):
    _convert(apps, _to_lunar_numbers)


class Migration(migrations.Migration):
    dependencies = [("customers", "0007_top_category_and_figure_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
