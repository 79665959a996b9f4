"""One parser for every phone a merchant types: what it accepts, how it stores it, what it refuses."""

from __future__ import annotations

import phonenumbers
import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from kebu.core import phone
from kebu.core.errors import ValidationFailed
from kebu.core.phone import _parse_in_full, clean_digits, looks_like_phone_fragment, parse_phone

_parse = phonenumbers.parse


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    "typed",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "(138) 1234-5678",
        "+8613812345678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "008613812345678",
        "0086 138 1234 5678",
        "１３８１２３４５６７８",
        "＋８６ １３８－１２３４－５６７８",
        " 13812345678 ",
        "138.1234.5678",
    ],
)
def test_a_mobile_typed_any_usual_way_is_stored_one_way(typed):
    phone = parse_phone(typed)

    assert phone.e164 == "+8613812345678"
    assert phone.digits == "13812345678"
    assert phone.last4 == "5678"
    assert phone.is_mobile


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("010-62345678", "+861062345678"),
        ("(010) 6234 5678", "+861062345678"),
        ("+86 10 6234 5678", "+861062345678"),
        ("021-63456789", "+862163456789"),
        ("0755-86123456", "+8675586123456"),
    ],
)
def test_landlines_with_area_codes_are_accepted(typed, e164):
    phone = parse_phone(typed)

    assert phone.e164 == e164
    assert not phone.is_mobile


def test_a_foreign_number_in_international_form_is_accepted():
    assert parse_phone("+1 650-253-0000").e164 == "+16502530000"


def test_the_region_decides_numbers_without_a_country_code():
    assert parse_phone("0612345678", region="NL").e164 == "+31612345678"


@pytest.mark.parametrize("typed", ["1381234567", "138 1234 567", "+86 138 1234 567"])
def test_a_ten_digit_mobile_is_told_it_needs_eleven_digits(typed):
    with pytest.raises(ValidationFailed) as caught:
        parse_phone(typed)

    message = str(caught.value.message)
    assert "11 digits" in message
    assert "has 10" in message


def test_a_twelve_digit_mobile_is_told_its_count():
    with pytest.raises(ValidationFailed) as caught:
        parse_phone("138123456789")

    assert "has 12" in str(caught.value.message)


@pytest.mark.parametrize(
    "typed", ["abc", "138abcd5678", "一三八一二三四五六七八", "13812345678 ext 12", "+86+138"]
)
def test_letters_and_other_characters_are_refused(typed):
    with pytest.raises(ValidationFailed) as caught:
        parse_phone(typed)

    assert "not a phone number" in str(caught.value.message)


@pytest.mark.parametrize("typed", ["", "   ", "--", "()"])
def test_an_empty_number_is_refused_with_its_own_message(typed):
    with pytest.raises(ValidationFailed) as caught:
        parse_phone(typed)

    assert str(caught.value.message) == "Enter a phone number."


@pytest.mark.parametrize("typed", ["12", "99999999", "+999 1234 5678", "010-1234"])
def test_numbers_that_do_not_exist_are_refused(typed):
    with pytest.raises(ValidationFailed):
        parse_phone(typed)


def test_an_overlong_entry_is_quoted_only_in_part():
    with pytest.raises(ValidationFailed) as caught:
        parse_phone("x" * 10_000)

    assert len(str(caught.value.message)) < 200


def test_clean_digits_folds_width_and_drops_separators():
    assert clean_digits("＋８６ (138)-1234·5678") == "+8613812345678"


@pytest.mark.parametrize(
    ("query", "digits"),
    [
        ("5678", "5678"),
        ("138 1234 5678", "13812345678"),
        ("+86 138", "86138"),
        ("１２", "12"),
        ("张三", None),
        ("", None),
    ],
)
def test_search_box_entries_that_are_only_digits_are_recognised(query, digits):
    assert looks_like_phone_fragment(query) == digits


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["", "+86", "0086", "+86 ", "86", "+1", "0"]),
    national=st.from_regex(r"1[0-9]{10}", fullmatch=True),
    region=st.sampled_from(["CN", "US", "HK"]),
)
def test_the_mobile_shortcut_stores_and_refuses_as_the_full_parse_does(prefix, national, region):
    raw = prefix + national

    def outcome(parse):
        try:
            return parse()
        except ValidationFailed as exc:
            return str(exc.message)

    quick = outcome(lambda: parse_phone(raw, region=region))
    full = outcome(lambda: _parse_in_full(raw, clean_digits(raw), region))
    assert quick == full


def test_the_mobile_shortcut_is_taken_only_for_mainland_mobiles(monkeypatch):
    calls = []
    monkeypatch.setattr(phone.phonenumbers, "parse", lambda *a, **k: calls.append(a) or _parse(*a, **k))
    assert parse_phone("+86 138 1234 5678", region="US").e164 == "+8613812345678"
    assert parse_phone("13812345678", region="CN").e164 == "+8613812345678"
    assert calls == []
    assert parse_phone("010 1234 5678", region="CN").e164 == "+861012345678"
    assert len(calls) == 1
