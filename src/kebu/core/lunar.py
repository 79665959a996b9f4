"""The Chinese lunar calendar (农历) for birthdays: conversions both ways, which lunar dates exist, when a
lunar birthday falls in a given year, and how to show one.

A customer's ``birthday`` always holds the real (solar) date of birth; a customer who keeps a lunar
birthday (``birthday_is_lunar``) celebrates it on that lunar month and day each lunar year. The rule for
years where that day does not exist (said once, here, and in the merchant guide):

- a 30th in a year whose month has only 29 days falls on the 29th;
- someone born in a leap month (闰月) celebrates in the ordinary month of the same number, which every
  year has (most years have no leap month at all).

``lunardate`` covers lunar years 1900–2099; that is the range a lunar birthday may be kept in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

from django.utils.translation import get_language
from django.utils.translation import gettext as _
from lunardate import LunarDate

from kebu.core.errors import ValidationFailed

MIN_YEAR = 1900
MAX_YEAR = 2099
# Solar dates that lunardate can convert: lunar 1900-01-01 is 1900-01-31; lunar 2099-12-30 is 2100-02-08.
MIN_SOLAR = date(1900, 1, 31)
MAX_SOLAR = date(2100, 2, 8)

MONTH_NAMES = ("正月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "冬月", "腊月")
_DIGITS = "一二三四五六七八九十"


class LunarDay(NamedTuple):
    year: int
    month: int
    day: int
    leap: bool = False


def lunar_from_solar(value: date) -> LunarDay:
    """The lunar date of a solar date (between 1900-01-31 and 2100-02-08)."""
    if not MIN_SOLAR <= value <= MAX_SOLAR:
        raise ValueError(f"{value} is outside the lunar calendar's table")
    lunar = LunarDate.from_solar_date(value.year, value.month, value.day)
    return LunarDay(lunar.year, lunar.month, lunar.day, bool(lunar.is_leap_month))


def lunar_exists(*, year: int, month: int, day: int, leap: bool = False) -> bool:
    try:
        LunarDate(year, month, day, leap).to_solar_date()
    except ValueError:
        return False
    return True


def month_days(*, year: int, month: int, leap: bool = False) -> int:
    """29 or 30: the length of that lunar month in that year."""
    return 30 if lunar_exists(year=year, month=month, day=30, leap=leap) else 29


def lunar_to_solar(*, year: int, month: int, day: int, leap: bool = False) -> date:
    """The solar date of a lunar date. A date the lunar calendar does not have (a 30th in a 29-day
    month, a leap month the year has not got, a year outside 1900–2099) raises ``ValidationFailed``
    naming the part that is wrong (``year``, ``month``, ``day`` or ``leap``)."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        message = _("A lunar year between %(min)d and %(max)d.") % {"min": MIN_YEAR, "max": MAX_YEAR}
        raise ValidationFailed(message, field_errors={"year": [message]})
    if not 1 <= month <= 12:
        message = _("A lunar month is 1 to 12.")
        raise ValidationFailed(message, field_errors={"month": [message]})
    if not 1 <= day <= 30:
        message = _("A lunar day is 1 to 30.")
        raise ValidationFailed(message, field_errors={"day": [message]})
    if leap and LunarDate.leap_month_for_year(year) != month:
        message = _("The lunar year %(year)d has no leap %(month)s.") % {
            "year": year,
            "month": month_name(month),
        }
        raise ValidationFailed(message, field_errors={"leap": [message]})
    try:
        return LunarDate(year, month, day, leap).to_solar_date()
    except ValueError:
        message = _("%(month)s of the lunar year %(year)d has only 29 days: there is no 30th.") % {
            "year": year,
            "month": month_name(month, leap=leap),
        }
        raise ValidationFailed(message, field_errors={"day": [message]}) from None


def birthday_in_lunar_year(*, month: int, day: int, lunar_year: int) -> date:
    """The solar date on which a lunar birthday (month, day; a leap-month birth counts as the ordinary
    month) falls in ``lunar_year``: on the 29th when that year's month has no 30th."""
    if day == 30 and month_days(year=lunar_year, month=month) == 29:
        day = 29
    return LunarDate(lunar_year, month, day).to_solar_date()


def lunar_birthdays_on(value: date) -> list[tuple[int, int]]:
    """The lunar (month, day) birthdays celebrated on the solar day ``value``: none in a leap month
    (leap-month births celebrate in the ordinary month); the day itself; and on the 29th of a 29-day
    month also the 30th."""
    lunar = lunar_from_solar(value)
    if lunar.leap:
        return []
    found = [(lunar.month, lunar.day)]
    if lunar.day == 29 and month_days(year=lunar.year, month=lunar.month) == 29:
        found.append((lunar.month, 30))
    return found


def solar_dates_of(*, month: int, day: int, years: Iterable[int]) -> list[date]:
    """Every solar date, in ``years`` (lunar years), on which someone with the lunar birthday (month,
    day) may have been born: in the ordinary month and, where the year has one, the leap month of that
    number. Dates the calendar does not have are left out."""
    found = []
    for year in years:
        if not MIN_YEAR <= year <= MAX_YEAR:
            continue
        for leap in (False, True):
            if leap and LunarDate.leap_month_for_year(year) != month:
                continue
            try:
                found.append(LunarDate(year, month, day, leap).to_solar_date())
            except ValueError:
                continue
    return found


def month_name(month: int, *, leap: bool = False) -> str:
    """正月 … 腊月 (闰二月) in Chinese; "month 2" (leap) in other languages."""
    if (get_language() or "").startswith("zh"):
        return ("闰" if leap else "") + MONTH_NAMES[month - 1]
    if leap:
        return _("leap month %(n)d") % {"n": month}
    return _("month %(n)d") % {"n": month}


def day_name(day: int) -> str:
    """初一 … 三十 in Chinese; the number in other languages."""
    if not (get_language() or "").startswith("zh"):
        return str(day)
    if day <= 10:
        return "初" + _DIGITS[day - 1]
    if day < 20:
        return "十" + _DIGITS[day - 11]
    if day == 20:
        return "二十"
    if day < 30:
        return "廿" + _DIGITS[day - 21]
    return "三十"


def lunar_label(value: LunarDay) -> str:
    """ "农历二月三十" (zh-Hans) or "lunar month 2, day 30" (English), without the year."""
    if (get_language() or "").startswith("zh"):
        return "农历" + month_name(value.month, leap=value.leap) + day_name(value.day)
    return _("lunar %(month)s, day %(day)d") % {
        "month": month_name(value.month, leap=value.leap),
        "day": value.day,
    }
