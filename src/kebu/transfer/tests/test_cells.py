"""Cells as merchants type them: dates in every form a Chinese sheet holds, amounts with ¥ and 元, phones
that Excel turned into numbers. Each is read right or refused with the reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from kebu.core.phone import parse_phone
from kebu.transfer.cells import CellError, date_parse, moment_parse, money_parse, normalized, text_parse


@pytest.mark.parametrize(
    "cell",
    [
        date(2024, 1, 5),
        datetime(2024, 1, 5, 0, 0),
        45296,  # Excel's serial number for 2024-01-05
        45296.0,
        "45296",
        "2024-01-05",
        "2024-1-5",
        "2024/1/5",
        "2024.1.5",
        "2024年1月5日",
        "2024 年 1 月 5 日",
        "20240105",
        "２０２４／１／５",  # full-width, as an IME types it
        "2024/1/5 10:30",
    ],
)
def test_every_way_a_sheet_writes_5_january_2024_reads_as_that_day(cell):
    assert date_parse(cell) == date(2024, 1, 5)


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("1/5/2024", "is not a date"),  # 5 January or 1 May: refused, not guessed
        ("2024-02-30", "not a day on the calendar"),
        ("2023年2月29日", "not a day on the calendar"),
        ("明天", "is not a date"),
        ("", "Empty"),
        (0, "is not a date"),
        (True, "is not a date"),
    ],
)
def test_what_is_not_a_date_is_refused_with_the_reason(cell, reason):
    with pytest.raises(CellError, match=reason):
        date_parse(cell)


def test_a_moment_is_read_in_the_shops_time_zone():
    # Asia/Shanghai (settings.TIME_ZONE): 10:30 there is 02:30 UTC.
    assert moment_parse("2024-01-05 10:30:15") == datetime(2024, 1, 5, 2, 30, 15, tzinfo=UTC)
    assert moment_parse("2024年1月5日 10时30分") == datetime(2024, 1, 5, 2, 30, tzinfo=UTC)
    assert moment_parse(45296.4375) == datetime(2024, 1, 5, 2, 30, tzinfo=UTC)  # serial with 10:30
    assert moment_parse("2024/1/5") == datetime(2024, 1, 4, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cell", "amount"),
    [
        ("1234.5", "1234.50"),
        ("1,234.50", "1234.50"),
        ("¥1,234.50", "1234.50"),
        ("￥1,234.50", "1234.50"),  # the full-width yen sign
        ("1234.5元", "1234.50"),
        ("¥ 12元", "12.00"),
        ("１２３４．５", "1234.50"),
        ("(12.00)", "-12.00"),  # an accountant's negative
        ("-3", "-3.00"),
        (99, "99.00"),
        (0.1 + 0.2, "0.30"),  # what a spreadsheet's float arithmetic stores for 0.30
    ],
)
def test_amounts_read_to_the_fen(cell, amount):
    assert money_parse(cell) == Decimal(amount)


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("12.345", "more than two decimal places"),
        (12.345, "more than two decimal places"),
        ("十二元", "not an amount"),
        ("12.5.3", "not an amount"),
        ("1e5", "not an amount"),
        ("", "Empty"),
    ],
)
def test_what_is_not_an_amount_is_refused_with_the_reason(cell, reason):
    with pytest.raises(CellError, match=reason):
        money_parse(cell)


@pytest.mark.parametrize(
    "cell", [13812345678.0, "13812345678", "+86 138-1234-5678", "１３８ １２３４ ５６７８"]
)
def test_a_phone_however_the_sheet_holds_it_is_one_number(cell):
    assert parse_phone(normalized(cell)).e164 == "+8613812345678"


def test_text_is_folded_to_single_spaces_and_its_length_checked():
    assert text_parse("  张　三 \n", max_length=10) == "张 三"
    with pytest.raises(CellError, match="Longer than 3 characters"):
        text_parse("欧阳娜娜", max_length=3)


@pytest.mark.parametrize(
    ("cell", "amount"),
    [("-¥12", "-12.00"), ("¥-12", "-12.00"), ("12.", "12.00"), (".5", "0.50"), ("1,234,567", "1234567.00")],
)
def test_signs_and_short_decimals_read_as_written(cell, amount):
    assert money_parse(cell) == Decimal(amount)


@pytest.mark.parametrize("cell", ["(-12)", "1,23", "(12", "12)", "1" * 27, 1e26, float("inf"), float("nan")])
def test_amounts_that_would_be_guessed_or_overflow_are_refused(cell):
    with pytest.raises(CellError, match="not an amount"):
        money_parse(cell)


def test_a_year_or_a_month_alone_is_not_a_serial_date_but_a_number_cell_of_yyyymmdd_is_that_day():
    for cell in ("1990", "202401"):
        with pytest.raises(CellError, match="is not a date"):
            date_parse(cell)
    assert date_parse(20240105) == date_parse(20240105.0) == date(2024, 1, 5)


@pytest.mark.parametrize(
    "text", ["2024-03-14 10:20:30 +0800", "2024-03-14T10:20:30+08:00", "2024-03-14T02:20:30Z"]
)
def test_a_moment_with_its_utc_offset_is_that_instant(text):
    assert moment_parse(text).astimezone(UTC) == datetime(2024, 3, 14, 2, 20, 30, tzinfo=UTC)


def test_the_date_of_a_moment_with_an_offset_is_the_shops_date():
    assert date_parse("2024-03-14T23:30:00Z") == date(2024, 3, 15)  # Asia/Shanghai, UTC+8
    assert date_parse("2024-03-14 10:00:00") == date(2024, 3, 14)
