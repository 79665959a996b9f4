"""The lunar calendar helpers (``kebu.core.lunar``) that birthdays and their reminders rest on: known
dates both ways, leap months, 30ths in short months, the lunar new year across the solar one."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation

from kebu.core import lunar
from kebu.core.errors import ValidationFailed


def test_a_known_lunar_date_converts_to_its_solar_day_and_back():
    # 2024 lunar new year (正月初一) was 2024-02-10
    assert lunar.lunar_to_solar(year=2024, month=1, day=1) == date(2024, 2, 10)
    assert lunar.lunar_from_solar(date(2024, 2, 10)) == lunar.LunarDay(2024, 1, 1, False)


def test_a_solar_january_day_belongs_to_the_previous_lunar_year():
    # 2024-02-09 is 除夕, the last day of lunar 2023
    assert lunar.lunar_from_solar(date(2024, 2, 9)) == lunar.LunarDay(2023, 12, 30, False)


def test_a_leap_month_converts_and_is_told_apart_from_the_ordinary_month():
    # 2023 had a leap second month: 闰二月初一 = 2023-03-22, 二月初一 = 2023-02-20
    assert lunar.lunar_to_solar(year=2023, month=2, day=1, leap=True) == date(2023, 3, 22)
    assert lunar.lunar_to_solar(year=2023, month=2, day=1) == date(2023, 2, 20)
    assert lunar.lunar_from_solar(date(2023, 3, 22)) == lunar.LunarDay(2023, 2, 1, True)


def test_a_leap_month_the_year_does_not_have_is_refused_on_the_leap_field():
    with pytest.raises(ValidationFailed) as caught:
        lunar.lunar_to_solar(year=2026, month=2, day=1, leap=True)
    assert "no leap" in caught.value.field_errors["leap"][0]


def test_a_30th_in_a_29_day_month_is_refused_on_the_day_field():
    assert lunar.month_days(year=2026, month=2) == 29
    with pytest.raises(ValidationFailed) as caught:
        lunar.lunar_to_solar(year=2026, month=2, day=30)
    assert "only 29 days" in caught.value.field_errors["day"][0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"year": 1899, "month": 1, "day": 1}, "year"), ({"year": 2000, "month": 13, "day": 1}, "month")],
)
def test_years_and_months_outside_the_calendar_are_refused(kwargs, field):
    with pytest.raises(ValidationFailed) as caught:
        lunar.lunar_to_solar(**kwargs)
    assert field in caught.value.field_errors


def test_a_30th_birthday_falls_on_the_29th_in_a_year_whose_month_is_short():
    # 二月 of lunar 2026 has 29 days; of lunar 2024, 30
    assert lunar.month_days(year=2024, month=2) == 30
    assert lunar.birthday_in_lunar_year(month=2, day=30, lunar_year=2026) == lunar.lunar_to_solar(
        year=2026, month=2, day=29
    )
    assert lunar.birthday_in_lunar_year(month=2, day=30, lunar_year=2024) == lunar.lunar_to_solar(
        year=2024, month=2, day=30
    )


def test_the_29th_of_a_short_month_celebrates_the_29th_and_the_30th():
    day = lunar.lunar_to_solar(year=2026, month=2, day=29)
    assert lunar.lunar_birthdays_on(day) == [(2, 29), (2, 30)]
    # a long month's 29th is only the 29th
    assert lunar.lunar_birthdays_on(lunar.lunar_to_solar(year=2024, month=2, day=29)) == [(2, 29)]


def test_no_birthday_is_celebrated_in_a_leap_month():
    assert lunar.lunar_birthdays_on(date(2023, 3, 22)) == []


def test_birth_dates_of_a_lunar_day_include_the_leap_month_of_that_number():
    dates = lunar.solar_dates_of(month=2, day=1, years=[2023])
    assert dates == [date(2023, 2, 20), date(2023, 3, 22)]


def test_the_label_reads_as_people_say_it_in_each_language():
    with translation.override("zh-hans"):
        assert lunar.lunar_label(lunar.LunarDay(1990, 2, 30)) == "农历二月三十"
        assert lunar.lunar_label(lunar.LunarDay(2023, 2, 1, True)) == "农历闰二月初一"
        assert lunar.lunar_label(lunar.LunarDay(2000, 12, 21)) == "农历腊月廿一"
    with translation.override("en"):
        assert lunar.lunar_label(lunar.LunarDay(1990, 2, 30)) == "lunar month 2, day 30"
