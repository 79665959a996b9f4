"""The first guess at which column holds which field, from the header's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from kebu.transfer.forms import CUSTOMER_FIELDS, ORDER_FIELDS, PRODUCT_FIELDS, REVIEW_FIELDS
from kebu.transfer.headers import (
    CUSTOMER_HEADERS,
    ORDER_HEADERS,
    PRODUCT_HEADERS,
    REVIEW_HEADERS,
    header_key,
    headers_match,
)

SAMPLES = Path(__file__).parent / "samples"


def test_chinese_and_english_header_words_find_their_fields():
    headers = [
        "客户编号",
        "收货人",
        "手机号码",
        "微信号",
        "旺旺",
        "下单时间",
        "Email",
        "省份",
        "详细地址",
        "标签",
    ]

    assert headers_match(headers) == {
        0: "customer_no",
        1: "name",
        2: "phone",
        3: "wechat",
        4: "wangwang",
        6: "email",
        7: "province",
        8: "address",
        9: "tags",
    }


def test_required_marks_full_width_letters_and_spaces_do_not_hide_a_field():
    assert header_key("*手机号码（必填）") == "手机号码"
    assert header_key(" Ｍｏｂｉｌｅ ") == "mobile"
    assert header_key("Customer_No") == "customerno"
    assert header_key("手机\n号码") == "手机号码"
    assert headers_match(["姓名(必填)", "*手机", "Customer  Number"]) == {
        0: "name",
        1: "phone",
        2: "customer_no",
    }


def test_a_word_inside_a_longer_header_is_not_a_match():
    assert headers_match(["电话备注", "手机是否有效", "旧地址备份"]) == {}


def test_pinduoduos_shop_discount_is_the_orders_discount_and_its_platform_discount_is_not():
    header = (SAMPLES / "pdd_orders.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    matched = headers_match(header, vocabulary=ORDER_HEADERS)
    assert matched[header.index("店铺优惠折扣(元)")] == "discount"
    assert header.index("平台优惠折扣(元)") not in matched


def test_the_first_column_naming_a_field_takes_it():
    assert headers_match(["手机", "联系电话", "姓名"]) == {0: "phone", 2: "name"}


def test_a_shops_own_fields_are_matched_by_their_label():
    assert headers_match(["姓名", "会员等级"], extra={"会员等级": "cf_level"}) == {0: "name", 1: "cf_level"}


@pytest.mark.parametrize(
    ("headers", "fields"),
    [
        (CUSTOMER_HEADERS, CUSTOMER_FIELDS),
        (PRODUCT_HEADERS, PRODUCT_FIELDS),
        (ORDER_HEADERS, ORDER_FIELDS),
        (REVIEW_HEADERS, REVIEW_FIELDS),
    ],
)
def test_every_field_a_header_can_name_is_offered_on_the_columns_page(headers, fields):
    # A column guessed for a field the page does not offer is dropped without a word when the page is
    # saved (coupon and line discount were, from every web import of an order sheet).
    assert set(headers) <= {key for key, _label in fields}
