"""A customer sheet's row as the import will take it, and every problem with it named by row, column and
value, in the words the new-customer form uses."""

from __future__ import annotations

import io
from datetime import date

import pytest
import xlsxwriter
from django.utils import translation

from kebu.customers.models import CustomerType, Gender, SocialKind, Stage
from kebu.transfer.customers import Problem, customer_row_read
from kebu.transfer.headers import headers_match
from kebu.transfer.readers import table_read
from kebu.transfer.tests.sheets import FORMULA_ERRORS, xlsx_with_formula_errors

pytestmark = pytest.mark.django_db


def read(text: str) -> list:
    table = table_read(text.encode())
    mapping = headers_match(table.headers)
    return [customer_row_read(n, cells, mapping=mapping, headers=table.headers) for n, cells in table.rows]


def test_a_typical_row_becomes_the_input_the_new_customer_form_would_give():
    [row] = read(
        "客户编号,姓名,性别,手机号码,微信号,旺旺,生日,客户类型,客户阶段,省份,城市,区县,详细地址,备注\n"
        "c000123,张三,男,+86 138-1234-5678,zhangsan88,张三的店,1990年1月5日,批发,复购,"
        "广东省,广州市,天河区,体育西路 1 号,老客户\n"
    )

    assert row.problems == []
    assert row.customer_no == "C000123"
    data = row.data
    assert (data.name, data.gender, data.birthday) == ("张三", Gender.MALE, date(1990, 1, 5))
    assert (data.customer_type, data.stage, data.notes) == (CustomerType.WHOLESALER, Stage.REPEAT, "老客户")
    assert [p.number for p in data.phones] == ["+86 138-1234-5678"]
    assert [(s.kind, s.handle) for s in data.socials] == [
        (SocialKind.WECHAT, "zhangsan88"),
        (SocialKind.TAOBAO, "张三的店"),
    ]
    [address] = data.addresses
    assert (address.province, address.city, address.district, address.detail, address.is_default) == (
        "广东省",
        "广州市",
        "天河区",
        "体育西路 1 号",
        True,
    )


def test_english_labels_and_keys_are_read_too():
    [row] = read("name,gender,mobile,type,stage\nAmy,Female,13912345678,Retailer,vip\n")

    assert row.problems == []
    assert (row.data.gender, row.data.customer_type, row.data.stage) == (
        Gender.FEMALE,
        CustomerType.RETAILER,
        Stage.VIP,
    )


@pytest.mark.parametrize(("exported_in", "imported_in"), [("en", "zh-hans"), ("zh-hans", "en")])
def test_a_choice_as_an_export_in_either_language_names_it_is_read_in_the_other(exported_in, imported_in):
    # given: a row for each stage, type and gender, written as an export in one language names them
    choices = list(zip(Stage.values, [*CustomerType.values] * 2, [*Gender.values] * 3, strict=False))
    with translation.override(exported_in):
        sheet = "name,stage,type,gender\n" + "".join(
            f"Amy,{Stage(stage).label},{CustomerType(kind).label},{Gender(gender).label}\n"
            for stage, kind, gender in choices
        )

    # when: the import reads it in the other language
    with translation.override(imported_in):
        rows = read(sheet)

    # then: each is the choice it was exported as
    assert [p for row in rows for p in row.problems] == []
    assert [(r.data.stage, r.data.customer_type, r.data.gender) for r in rows] == choices


def test_each_bad_cell_is_named_by_row_column_and_value():
    rows = read(
        "姓名,手机,生日,性别\n"
        "张三,13812345678,1990-01-05,男\n"
        "李四,1381234567,1990-02-30,男\n"  # a digit short; no 30 February
        "王五,13912345678,1990-01-05,不详\n"
    )

    assert [r.problems for r in rows] == [
        [],
        [
            Problem(3, "生日", "1990-02-30", "“1990-02-30” is not a day on the calendar."),
            # The phone by the customer services' own rules, in the same report.
            Problem(3, "手机", "1381234567", "A mobile number has 11 digits; “1381234567” has 10."),
        ],
        [Problem(4, "性别", "不详", "“不详” is not one of: Female, Male.")],
    ]
    assert rows[0].data is not None and rows[1].data is None and rows[2].data is None


@pytest.mark.parametrize("error", FORMULA_ERRORS)
def test_a_cell_whose_formula_gives_an_error_is_a_problem_of_its_row_and_column_not_a_blank(error):
    from kebu.transfer.customers import customer_file_check

    data = xlsx_with_formula_errors(
        [["姓名", "手机", "生日"], ["张三", error, "1990-01-05"], ["李四", "13812345678", error]]
    )

    check = customer_file_check(data)

    reason = f"The cell's formula gives an error ({error}): fix it in the sheet and import again."
    assert check.good == 0
    assert [problems for _n, _cells, problems in check.bad] == [
        [Problem(2, "手机", error, reason)],
        [Problem(3, "生日", error, reason)],
    ]


def test_what_the_customer_form_refuses_is_refused_in_its_words_at_the_right_column():
    rows = read("姓名,手机,邮箱\n张三,1381234567,zhang@example.com\n李四,13812345678,not-an-email\n")

    assert rows[0].problems == [
        Problem(2, "手机", "1381234567", "A mobile number has 11 digits; “1381234567” has 10.")
    ]
    assert rows[1].problems == [Problem(3, "邮箱", "not-an-email", "“not-an-email” is not an email address.")]


def test_a_row_without_a_name_or_phone_is_refused_as_a_whole():
    [row] = read("姓名,城市\n,广州\n")

    assert row.problems == [Problem(2, "姓名", "", "Give the customer a name or a phone number.")]


def test_an_address_outside_the_division_list_points_at_the_province_column():
    [row] = read("姓名,省份,城市,地址\n张三,火星省,广州市,体育西路 1 号\n")

    assert row.problems == [Problem(2, "省份", "火星省", "Choose province, city and district from the list.")]


def test_a_phone_excel_stored_as_a_number_reads_as_the_phone():
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["姓名", "手机"])
    sheet.write_row(1, 0, ["张三", 13812345678])
    book.close()
    table = table_read(buffer.getvalue())
    number, cells = next(table.rows)

    row = customer_row_read(number, cells, mapping=headers_match(table.headers), headers=table.headers)

    assert row.problems == [] and [p.number for p in row.data.phones] == ["13812345678"]


def test_a_municipality_written_as_its_own_city_is_the_lists_district_of_it():
    [row] = read("姓名,省份,城市,区县,地址\n张伟,上海市,上海市,浦东新区,世纪大道 100 号\n")

    assert row.problems == []
    assert (row.data.addresses[0].province, row.data.addresses[0].city) == ("上海市", "市辖区")


def test_a_city_not_in_its_province_is_the_city_cells_problem_not_the_provinces():
    [row] = read("姓名,省份,城市,区县,地址\n张三,浙江省,广州,西湖区,文三路 1 号\n")

    assert row.problems == [Problem(2, "城市", "广州", "Choose province, city and district from the list.")]


def test_a_province_and_city_written_short_in_their_own_columns_are_taken_in_full_and_said_so():
    # As a WPS sheet has them: 广东 and 深圳, 北京 and 北京市; a whole-address cell is read the same way.
    rows = read(
        "姓名,省份,城市,区县,地址\n李娜,广东,深圳,南山区,科技园 8 号\n陈静,北京,北京市,朝阳区,建国路 1 号\n"
    )

    assert [r.problems for r in rows] == [[], []]
    assert [(a.province, a.city, a.district) for r in rows for a in r.data.addresses] == [
        ("广东省", "深圳市", "南山区"),
        ("北京市", "市辖区", "朝阳区"),
    ]
    completed = "Completed from the list of provinces, cities and districts."
    assert [(c.row, c.column, c.written, c.taken, c.reason) for r in rows for c in r.corrections] == [
        (2, "省份", "广东", "广东省", completed),
        (2, "城市", "深圳", "深圳市", completed),
        (3, "省份", "北京", "北京市", completed),
    ]


def test_a_province_and_city_without_a_street_are_the_customers_address_with_its_region_alone():
    # A wholesaler's sheet that keeps the region only (广东 深圳): an address without its street, completed
    # from the list as one with a street is. A city without its province is said to be left out.
    rows = read(
        "姓名,手机号,省份,城市,区县\n"
        "张三丰,13800001234,浙江,杭州,\n"
        "陈静,13800001235,北京,北京市,\n"
        "王五,13800001236,,杭州,西湖区\n"
    )

    assert [r.problems for r in rows] == [[], [], []]
    assert [
        [(a.province, a.city, a.district, a.detail, a.is_default) for a in r.data.addresses] for r in rows
    ] == [
        [("浙江省", "杭州市", "", "", True)],
        [("北京市", "市辖区", "", "", True)],
        [],
    ]
    assert [(c.row, c.column, c.written, c.taken) for r in rows for c in r.corrections] == [
        (2, "省份", "浙江", "浙江省"),
        (2, "城市", "杭州", "杭州市"),
        (3, "省份", "北京", "北京市"),
        (4, "城市", "杭州", ""),
        (4, "区县", "西湖区", ""),
    ]
    assert [c.reason.startswith("Not imported") for c in rows[2].corrections] == [True, True]
    assert ["addresses" in r.provided for r in rows] == [True, True, True]


def test_a_region_is_still_checked_against_the_list_of_provinces_cities_and_districts():
    [row] = read("姓名,省份,城市\n张三,浙江省,广州\n")

    assert row.problems == [Problem(2, "城市", "广州", "Choose province, city and district from the list.")]


def test_a_birthday_cell_holding_only_spaces_is_no_birthday():
    [row] = read("姓名,生日\n张三,   \n")

    assert row.problems == [] and row.data.birthday is None


@pytest.mark.parametrize("written", ["3月5日", "12 月 24 日", "3月5号"])
def test_a_birthday_without_its_year_is_asked_for_the_year_not_told_it_is_no_date(written):
    [row] = read(f"姓名,生日\n张三,{written}\n")

    [problem] = row.problems
    assert problem.column == "生日" and "has no year" in problem.reason and "year of birth" in problem.reason


def test_checking_a_sheet_costs_the_same_queries_for_five_rows_or_fifty():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kebu.transfer.customers import customer_file_check

    def queries(n: int) -> int:
        sheet = "姓名,手机,性别\n" + "".join(f"客户{i},138{i:08d},男\n" for i in range(n))
        with CaptureQueriesContext(connection) as captured:
            check = customer_file_check(sheet.encode())
        assert check.good == n
        return len(captured)

    assert queries(5) == queries(50)


@pytest.mark.parametrize(
    ("cell", "want"),
    [
        ("浙江省 杭州市 西湖区 文三路1号", ("浙江省", "杭州市", "西湖区", "文三路1号")),
        ("上海 上海市 浦东新区 张江路 88 号", ("上海市", "市辖区", "浦东新区", "张江路 88 号")),
        ("广东深圳市南山区科技园", ("广东省", "深圳市", "南山区", "科技园")),
    ],
)
def test_a_whole_address_in_one_cell_is_split_into_its_divisions(cell, want):
    row = customer_row_read(
        2,
        ["王小明", "13812345678", cell],
        mapping={0: "name", 1: "phone", 2: "address"},
        headers=["收货人", "手机", "收货地址"],
    )
    assert not row.problems
    [address] = row.data.addresses
    assert (address.province, address.city, address.district, address.detail) == want


def test_an_address_with_no_province_in_it_is_told_not_guessed():
    row = customer_row_read(
        2,
        ["王小明", "13812345678", "山西路 12 号"],
        mapping={0: "name", 1: "phone", 2: "address"},
        headers=["收货人", "手机", "收货地址"],
    )
    assert [(p.column, p.value) for p in row.problems] == [("收货地址", "山西路 12 号")]
    assert "province" in row.problems[0].reason
