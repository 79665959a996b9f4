"""One cell of a merchant's sheet into a value Kebu keeps: text, a date, a moment, an amount of money. Each
parser takes what a spreadsheet cell can hold (text, a number, a date) and raises ``CellError`` with the
reason, in the user's language, for the validation report; none of them guesses silently.

Dates come as a workbook's own dates, as Excel serial numbers, and as text: ``2024-01-05``, ``2024/1/5``,
``2024.1.5``, ``2024年1月5日``, ``20240105``, each optionally with a time. ``1/5/2024`` is refused: it is
5 January to some programs and 1 May to others. Amounts may carry ¥ or ￥, 元, thousands separators and
full-width digits."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.transfer.readers import Cell
from kebu.transfer.sheetxml import FormulaError

# Excel's day 0 for the 1900 date system, one day early so that serials from 61 on (after Excel's
# phantom 29 February 1900) come out right; so does every date a shop has.
_EXCEL_EPOCH = datetime(1899, 12, 30)
_EXCEL_LAST_SERIAL = 2958465  # 9999-12-31
_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]+(\d{1,2})\s*[:时]\s*(\d{1,2})\s*分?(?:\s*:?\s*(\d{1,2})(?:\.\d+)?\s*秒?)?)?"
)
# A serial exported as text has five digits (10000 is 1927, 99999 is 2173); "1990" is not one.
_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_WITH_OFFSET = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}:?\d{2})")
_CURRENCY = re.compile(r"^(?:¥|RMB|CNY)|(?:元|RMB|CNY)$", re.IGNORECASE)
# Digits with an optional decimal part ("12.", ".5"), or thousands grouped by threes ("1,234.50").
_AMOUNT = re.compile(r"(?:\d+\.?\d*|\.\d+|\d{1,3}(?:,\d{3})+(?:\.\d*)?)")
_MAX_AMOUNT = Decimal("999999999999.99")
CENT = Decimal("0.01")


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(…), =cmd|…), also after
# leading spaces, which is how some sanitisers were bypassed.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
# Digits, spaces and dots with one leading sign (a phone such as +86 138 1234 5678, an amount, -5) run
# nothing.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9 .]*")
# A text that starts with none of these is safe, which is most text: said without looking further.
_RISKY_FIRST = frozenset(_FORMULA_STARTS) | frozenset(" \u3000\u00a0\n\v\f'")


def formula_risk(text: str) -> bool:
    """Whether a spreadsheet could take ``text`` for a formula: the cells every export neutralises with a
    quote in front (``safe_cell``). So that the quote can always be taken off again, a text
    that already starts with a quote before such a cell gets one more."""
    if text[:1] not in _RISKY_FIRST:
        return False
    head = text.lstrip(" \u3000\u00a0\n\v\f")  # any blank a spreadsheet skips before a formula
    if head.startswith(_FORMULA_STARTS):
        return not _PLAIN_NUMBER.fullmatch(head)
    return text.startswith("'") and formula_risk(text[1:])


def safe_cell(value: Any) -> str:
    """``value`` as text that no spreadsheet runs: a risky cell gets a quote in front, which the import
    takes off again (``unquoted``). Every export's text cells go through it, CSV and .xlsx alike."""
    text = "" if value is None else str(value)
    return "'" + text if formula_risk(text) else text


def unquoted(text: str) -> str:
    """A cell an export neutralised with a quote in front (``'=…``), back to what was exported."""
    return text[1:] if text.startswith("'") and formula_risk(text[1:]) else text


class CellError(ValueError):
    """A cell's value cannot be taken; ``str()`` is the reason for the report."""


def formula_error_refuse(cell: Cell) -> None:
    """``CellError`` for a cell whose formula gives an error (#REF!): there is no value in it to take, and
    taking it for blank would import the row without what the merchant meant to be there. Every parser
    here starts with it; a reader that takes a cell's text without one calls it itself."""
    if isinstance(cell, FormulaError):
        raise CellError(
            _("The cell's formula gives an error (%(error)s): fix it in the sheet and import again.")
            % {"error": cell}
        )


def normalized(cell: Cell) -> str:
    """The cell as text: full-width letters and digits made plain (NFKC), outer spaces removed; a whole
    number kept in a float (a phone Excel took for a number) without ``.0``."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "1" if cell else "0"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    return unquoted(unicodedata.normalize("NFKC", str(cell)).strip())


def text_parse(cell: Cell, *, max_length: int, free: bool = False) -> str:
    """The cell as one line of text, runs of spaces made one. ``free`` text (a name, an address, notes)
    is kept as written, full-width punctuation (，。), spacing and line breaks included, only trimmed:
    codes, numbers and choices are made plain."""
    formula_error_refuse(cell)
    if free and isinstance(cell, str):
        value = unquoted(cell.strip()).replace("\r\n", "\n")
    else:
        value = " ".join(normalized(cell).split())
    if len(value) > max_length:
        raise CellError(
            _("Longer than %(max)s characters (%(count)s).") % {"max": max_length, "count": len(value)}
        )
    return value


# Excel and WPS keep a number to 15 significant digits. An ID of more (Taobao's and Douyin's order numbers
# have 19) that landed in a number cell, typed in or from a CSV opened and saved again, has lost its last
# digits before Kebu sees it, and two orders can come out with one number: 3871234567890123456 and
# …123499 are both 3871234567890120000, which a CSV saved by Excel writes as 3.87123E+18.
_DIGITS_KEPT = 15
_E_NOTATION = re.compile(r"\d(?:\.\d+)?E\+\d+", re.IGNORECASE)


def code_check(cell: Cell) -> None:
    """``CellError`` for an identifier's cell (an order number) that a spreadsheet rounded: a number
    longer than it keeps, or one it wrote in E notation. Taken, such a cell would be another order's
    number, or the same as the next order's, and their lines would be read as one order."""
    if isinstance(cell, int | float) and not isinstance(cell, bool) and math.isfinite(cell):
        if abs(cell) >= 10**_DIGITS_KEPT:
            # As the sheet shows it with the column widened: 15 digits, then zeros.
            raise _number_rounded(format(Decimal(f"{cell:.{_DIGITS_KEPT}g}"), "f"))
    elif isinstance(cell, str) and _E_NOTATION.fullmatch(value := normalized(cell)):
        raise _number_rounded(value)


def _number_rounded(value: str) -> CellError:
    return CellError(
        _(
            "“%(value)s” is a number longer than the 15 digits a spreadsheet keeps: its last digits are "
            "lost, so it cannot be told which it was. Import the file as the marketplace exported it (not "
            "opened and saved again in Excel or WPS), or set the column to Text and enter the numbers again."
        )
        % {"value": value}
    )


def date_parse(cell: Cell) -> date:
    """A calendar date; a time of day, if any, is dropped. A moment with its UTC offset is that instant's
    date in the shop's time zone (2024-03-14T23:30:00Z is already the 15th in Shanghai)."""
    moment = _moment(cell)
    if not isinstance(moment, datetime):
        return moment
    return timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()


def moment_parse(cell: Cell) -> datetime:
    """A moment, read in the shop's time zone (a date alone is its midnight), returned aware."""
    moment = _moment(cell)
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


def _moment(cell: Cell) -> date | datetime:
    formula_error_refuse(cell)
    if isinstance(cell, datetime | date):
        return cell
    if isinstance(cell, bool):
        raise _not_a_date(cell)
    if isinstance(cell, int | float):
        if cell == int(cell) and 19000101 <= cell <= 99991231:  # 20240105 typed into a number cell
            return _moment(str(int(cell)))
        return _serial(cell)
    value = normalized(cell)
    if not value:
        raise CellError(_("Empty."))
    if _SERIAL.fullmatch(value):
        return _serial(float(value))
    if found := _WITH_OFFSET.fullmatch(value):
        # A moment with its UTC offset, as Shopify and ISO 8601 write it: that instant, wherever it was.
        try:
            return datetime.fromisoformat(f"{found[1]}T{found[2]}{found[3]}")
        except ValueError as exc:
            raise _not_a_date(value) from exc
    try:
        if found := _COMPACT_DATE.fullmatch(value):
            return date(int(found[1]), int(found[2]), int(found[3]))
        if found := _DATE.fullmatch(value):
            day = date(int(found[1]), int(found[2]), int(found[3]))
            if found[4] is None:
                return day
            return datetime.combine(day, time(int(found[4]), int(found[5]), int(found[6] or 0)))
    except ValueError as exc:  # 2024-02-30, 25:00
        raise CellError(_("“%(value)s” is not a day on the calendar.") % {"value": value[:40]}) from exc
    raise _not_a_date(value)


# A day of the year without its year, as a 微商's sheet keeps a birthday: 3月5日, 12 月 24 日.
_MONTH_DAY = re.compile(r"\d{1,2}\s*月\s*\d{1,2}\s*[日号]?")


def month_day_only(cell: Cell) -> bool:
    """Whether ``cell`` is a date written without its year (3月5日), which no parser here takes."""
    return isinstance(cell, str) and bool(_MONTH_DAY.fullmatch(normalized(cell)))


def _serial(number: float) -> datetime:
    """An Excel serial number (days since 1900, the fraction the time of day)."""
    if not 1 <= number <= _EXCEL_LAST_SERIAL:  # NaN included
        raise _not_a_date(number)
    moment = _EXCEL_EPOCH + timedelta(days=number)
    return moment.replace(microsecond=0) + timedelta(seconds=round(moment.microsecond / 1e6))


def _not_a_date(value: object) -> CellError:
    return CellError(
        _("“%(value)s” is not a date: write it as 2024-01-05, 2024/1/5 or 2024年1月5日.")
        % {"value": str(value)[:40]}
    )


def money_parse(cell: Cell) -> Decimal:
    """An amount in yuan, to the fen."""
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        if not math.isfinite(cell) or abs(cell) > _MAX_AMOUNT:
            raise _not_money(cell)
        amount = Decimal(repr(cell))
        # A float stored by a spreadsheet (0.30000000000000004) is the cent amount it was typed as.
        rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
        if abs(amount - rounded) > Decimal("0.000001"):
            raise _fractions_of_a_fen(cell)
        return rounded
    amount = _number(cell, _not_money)
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise _fractions_of_a_fen(normalized(cell))
    if abs(amount) > _MAX_AMOUNT:
        raise _not_money(normalized(cell))
    return amount.quantize(CENT)


def number_parse(cell: Cell) -> Decimal:
    """A number (a custom number field's), written as an amount may be: with thousands separators,
    full-width digits, brackets for a minus sign and ¥/元 around it (1,234.50元); its decimal places
    as written."""
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        if not math.isfinite(cell):
            raise _not_a_number(cell)
        return Decimal(repr(cell))
    return _number(cell, _not_a_number)


def _number(cell: Cell, refuse: Callable[[object], CellError]) -> Decimal:
    """A text cell's number as an amount is written (``money_parse``, ``number_parse``)."""
    formula_error_refuse(cell)
    if isinstance(cell, bool):
        raise refuse(cell)
    value = normalized(cell)
    if not value:
        raise CellError(_("Empty."))
    compact = re.sub(r"\s", "", value)
    negative = compact.startswith("(") and compact.endswith(")")
    if negative:
        compact = compact[1:-1]
    for _pass in range(2):  # "¥12元" has both
        compact = _CURRENCY.sub("", compact)
    if compact.startswith("-") and not negative:
        negative, compact = True, compact[1:]
    compact = _CURRENCY.sub("", compact)  # "-¥12"
    if not _AMOUNT.fullmatch(compact):
        raise refuse(value)
    amount = Decimal(compact.replace(",", ""))
    return -amount if negative else amount


def _not_a_number(value: object) -> CellError:
    return CellError(_("“%(value)s” is not a number.") % {"value": str(value)[:40]})


def _not_money(value: object) -> CellError:
    return CellError(_("“%(value)s” is not an amount of money.") % {"value": str(value)[:40]})


def _fractions_of_a_fen(value: object) -> CellError:
    return CellError(_("“%(value)s” has more than two decimal places.") % {"value": str(value)[:40]})


# A number of days, alone or with its unit after it: 30, 30天, 30 日, 30 days.
_DAYS = re.compile(r"(\d+)(?:\.0*)?\s*(天|日|days?)?", re.IGNORECASE)
# A number of months, which is no fixed number of days: refused rather than guessed.
_MONTHS = re.compile(r"\d+(?:\.\d*)?\s*(?:个?月|months?)", re.IGNORECASE)


def days_parse(cell: Cell) -> int:
    """A whole number of days, written alone or with 天, 日 or days after it (30天, 30 days). A number of
    months (1个月) is refused, not taken as 30 days: a month is not a fixed number of days."""
    formula_error_refuse(cell)
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        if math.isfinite(cell) and cell == int(cell):
            return int(cell)
        raise _not_days(normalized(cell))
    value = normalized(cell)
    if not value:
        raise CellError(_("Empty."))
    if _MONTHS.fullmatch(value):
        raise CellError(
            _("“%(value)s” is in months: write the number of days (30天), as a month is not a fixed number.")
            % {"value": value[:40]}
        )
    if found := _DAYS.fullmatch(value):
        return int(found[1])
    raise _not_days(value)


def _not_days(value: str) -> CellError:
    return CellError(_("“%(value)s” is not a number of days: write 30 or 30天.") % {"value": value[:40]})


# --- corrections: a cell taken otherwise than written (transfer.corrections) --------------------------
#
# Each function below is given the cell and what its parser made of it, and says how the value was
# taken and why when the merchant would read it as a different value; None, which is most cells, when
# not. Only trivial changes are left out: outer spaces trimmed and runs of spaces made one, a number cell
# read as text (13812345678.0 is 13812345678), a workbook's own date, a quote an export put in front of
# a formula, thousands separators (1,299.00 is 1299.00), a letter's case, and an amount's decimal places
# (12.5 is 12.50). Each starts with the cheapest test that rules a plain value out, as it runs for
# millions of cells.

# ASCII: \d alone is any digit, full-width ones (２０２４) too, which are a correction.
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?", re.ASCII)
_PLAIN_AMOUNT = re.compile(r"-?" + _AMOUNT.pattern, re.ASCII)
_CURRENCY_ANYWHERE = re.compile(r"¥|元|RMB|CNY", re.IGNORECASE)


def as_written(cell: Cell) -> str:
    """The cell as the merchant reads it in the sheet: text trimmed, a whole number without ``.0``."""
    return cell.strip() if isinstance(cell, str) else normalized(cell)


def text_correction(cell: Cell, value: str) -> str | None:
    """Why ``value`` (``text_parse``'s, not free text) differs from ``cell``: full-width letters and
    digits made plain (ＡＢＣ１２３ is ABC123). Only a text with other than ASCII characters can have them."""
    if not value or not isinstance(cell, str) or cell.isascii():
        return None
    if " ".join(unquoted(cell.strip()).split()) == value:
        return None
    return _("Full-width letters or digits taken as plain ones.")


def date_correction(cell: Cell, taken: date) -> tuple[str, str] | None:
    """The date or moment ``date_parse``/``moment_parse`` took from ``cell`` as Kebu writes it, and why,
    when the sheet wrote it another way: an Excel date number, 2024年1月5日, 20240105, 2024/1/5, a time
    with its UTC offset (taken in the shop's time zone). None for a workbook's own date and one written
    as Kebu writes it (2024-01-05, 2024-01-05 10:30)."""
    if isinstance(cell, date) or (isinstance(cell, str) and _ISO_MOMENT.fullmatch(cell.strip())):
        return None
    if isinstance(taken, datetime):
        local = timezone.localtime(taken) if timezone.is_aware(taken) else taken
        text = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
    else:
        text = taken.isoformat()
    value = normalized(cell)
    if text == value:
        return None
    serial = not 19000101 <= cell <= 99991231 if isinstance(cell, int | float) else _SERIAL.fullmatch(value)
    if serial:
        reason = _("An Excel date number, taken as the date it stands for.")
    elif _WITH_OFFSET.fullmatch(value):
        reason = _("A time with its UTC offset, taken in the shop's time zone.")
    else:
        reason = _("A date written another way, taken as year-month-day.")
    return text, reason


def days_correction(cell: Cell, days: int) -> tuple[str, str] | None:
    """The days ``days_parse`` took from ``cell`` and why, when the cell held more than the number: its
    unit (30天, 30 days), full-width digits (３０)."""
    if not isinstance(cell, str):
        return None
    text = cell.strip()
    plain = _DAYS.fullmatch(text) if text.isascii() else None
    if plain and not plain[2]:  # 30, 30.0
        return None
    found = _DAYS.fullmatch(unicodedata.normalize("NFKC", text))
    if found and found[2]:
        reason = _("The unit left out: the number of days.")
    else:
        reason = _("Full-width digits or spaces taken as plain ones.")
    return str(days), reason


def money_correction(cell: Cell, amount: Decimal) -> tuple[str, str] | None:
    """The amount ``money_parse`` took from ``cell`` and why, when the cell held more than digits, a
    minus sign, a decimal point and thousands separators: a currency sign or word (￥1,299.00元),
    brackets for a negative amount, full-width digits."""
    if not isinstance(cell, str) or _PLAIN_AMOUNT.fullmatch(text := cell.strip()):
        return None
    if text.startswith(("(", "（")):
        reason = _("Brackets taken as a minus sign.")
    elif _CURRENCY_ANYWHERE.search(unicodedata.normalize("NFKC", text)):
        reason = _("The currency sign or word left out: the amount in yuan.")
    else:
        reason = _("Full-width digits or spaces taken as plain ones.")
    return str(amount), reason
