"""Importing a customer sheet for real: matching, re-importing, the two modes, the journal and undo."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from kebu.audit.models import AuditEntry
from kebu.core.errors import Conflict, Forbidden, ValidationFailed
from kebu.core.jobs import job_cancel, job_retry, job_run
from kebu.core.models import Job, JobStatus, SetAsideIndex
from kebu.customers.models import (
    Address,
    Customer,
    CustomerEvent,
    CustomerPhone,
    CustomFieldType,
    SocialAccount,
    Tag,
)
from kebu.customers.services import PhoneInput, SocialInput, customer_input_from, customer_update
from kebu.customers.tests.factories import CustomFieldFactory, make_customer
from kebu.transfer.customers import Repeat, customer_file_check, customer_rows_repeated
from kebu.transfer.drafts import import_draft_keep, import_from_draft
from kebu.transfer.imports import (
    customer_import_start,
    import_mapping,
    import_notes,
    import_problems,
    import_rejected_rows,
    import_undo,
)
from kebu.transfer.models import Import, ImportKind, ImportMode, ImportRow, ImportRowAction
from kebu.transfer.tests.sheets import csv_rows, xlsx_with_formula_errors

pytestmark = pytest.mark.django_db

HEADER = "客户编号,姓名,手机号码,微信号,邮箱,性别,省份,城市,区县,详细地址,备注\n"


def csv_bytes(*lines: str) -> bytes:
    return (HEADER + "".join(line + "\n" for line in lines)).encode("utf-8")


def run_import(
    owner, data: bytes | Path, *, mode: str = ImportMode.GOOD_ROWS, name: str = "客户.csv"
) -> Import:
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=data, file_name=name, mode=mode, enqueue=False)
    job_run(run.job_id)
    run.refresh_from_db()
    return run


def counts(run: Import) -> tuple[int, int, int, int]:
    return run.created, run.updated, run.unchanged, run.rejected


def state() -> list[tuple]:
    """Everything an import may touch, in a comparable form."""
    return [
        (
            c.customer_no,
            c.name,
            c.gender,
            c.email,
            c.notes,
            c.province,
            c.city,
            c.primary_phone,
            c.version,
            c.updated_at,
            c.updated_by_id,
            tuple(sorted(c.custom.items())),
            tuple(p.number for p in c.phones.order_by("pk")),
            tuple(
                (a.province, a.city, a.district, a.detail, a.is_default) for a in c.addresses.order_by("pk")
            ),
            tuple((s.kind, s.handle) for s in c.socials.order_by("pk")),
        )
        for c in Customer.objects.order_by("customer_no")
    ]


def put_back(rows: list[tuple]) -> list[tuple]:
    """Rows of ``state()`` (or ``owned_state()``) as undo puts them back: all but the version, which undo
    moves on to one the customer never had (``transfer.versions``)."""
    version = 8  # where ``state()`` has it
    return [row[:version] + row[version + 1 :] for row in rows]


def versions() -> dict[str, int]:
    return dict(Customer.objects.values_list("name", "version"))


FIRST = csv_bytes(
    ",张三,13812345678,zs_wx,zs@example.com,男,浙江省,杭州市,西湖区,文三路1号,老客户",
    ",李四,13900001111,,,女,,,,,",
    ",王五,12345,,,,,,,,",  # not a phone
)


def test_a_sheet_becomes_customers_with_their_phones_addresses_and_accounts(owner):
    run = run_import(owner, FIRST)

    assert counts(run) == (2, 0, 0, 1)
    zhang = Customer.objects.get(name="张三")
    assert zhang.primary_phone == "+8613812345678" and zhang.email == "zs@example.com"
    assert (zhang.gender, zhang.notes, zhang.province, zhang.city) == ("m", "老客户", "浙江省", "杭州市")
    assert [(a.district, a.detail, a.is_default) for a in zhang.addresses.all()] == [
        ("西湖区", "文三路1号", True)
    ]
    assert [(s.kind, s.handle) for s in zhang.socials.all()] == [("wechat", "zs_wx")]
    assert zhang.created_by == owner
    assert list(zhang.events.values_list("kind", "data")) == [("customer.imported", {"import": run.pk})]
    assert run.job.status == JobStatus.DONE and (run.job.done, run.job.total) == (3, 3)
    entries = AuditEntry.objects.filter(target_type="transfer.import", target_id=str(run.pk)).order_by("seq")
    actions = list(entries.values_list("action", flat=True))
    assert actions == ["customer.import", "import.finish"]


def test_the_rejected_rows_come_back_with_their_cells_and_reasons(owner):
    run = run_import(owner, FIRST)

    [(number, cells, problems)] = import_rejected_rows(run)
    assert number == 4 and cells[1] == "王五"
    assert problems[0].column == "手机号码" and problems[0].value == "12345"


def test_importing_the_same_file_again_creates_nobody_and_changes_nothing(owner):
    run_import(owner, FIRST)
    before = state()

    again = run_import(owner, FIRST)

    assert counts(again) == (0, 0, 2, 1)
    assert state() == before


def test_a_sheet_with_a_region_and_no_street_gives_its_customers_that_region(owner, owner_client):
    from django.urls import reverse

    # given: 省份 and 城市 columns, no street, as a wholesaler keeps them
    sheet = "姓名,手机号,省份,城市\n张三丰,13800001234,广东,深圳\n李娜,13800001235,北京,北京市\n".encode()

    run = run_import(owner, sheet)

    # then: each customer has the region as an address, and it is their region in the list's filter
    assert counts(run) == (2, 0, 0, 0)
    zhang = Customer.objects.get(name="张三丰")
    assert (zhang.province, zhang.city) == ("广东省", "深圳市")
    assert [(a.province, a.city, a.district, a.detail, a.is_default) for a in zhang.addresses.all()] == [
        ("广东省", "深圳市", "", "", True)
    ]
    li = Customer.objects.get(name="李娜")
    assert (li.province, li.city) == ("北京市", "北京市")
    listed = owner_client.get(reverse("customers:list"), {"province": "广东省", "city": "深圳市"})
    page = listed.content.decode()
    assert zhang.customer_no in page and li.customer_no not in page
    # and again: nothing changes
    before = state()
    assert counts(run_import(owner, sheet)) == (0, 0, 2, 0)
    assert state() == before


def test_a_region_a_customer_already_has_an_address_in_adds_nothing_and_another_region_is_added(owner):
    from kebu.customers.services import AddressInput

    zhang = make_customer(
        actor=owner,
        name="张三丰",
        phone="13800001234",
        addresses=[AddressInput(province="广东省", city="深圳市", district="南山区", detail="科技园 8 号")],
    )
    before = state()

    same = run_import(owner, "姓名,手机号,省份,城市\n张三丰,13800001234,广东,深圳\n".encode())
    province_only = run_import(owner, "姓名,手机号,省份\n张三丰,13800001234,广东省\n".encode())

    assert counts(same) == counts(province_only) == (0, 0, 1, 0)
    assert state() == before
    other = run_import(owner, "姓名,手机号,省份,城市\n张三丰,13800001234,广东,广州\n".encode())
    assert counts(other) == (0, 1, 0, 0)
    assert [(a.city, a.detail, a.is_default) for a in zhang.addresses.order_by("pk")] == [
        ("深圳市", "科技园 8 号", True),
        ("广州市", "", False),
    ]
    zhang.refresh_from_db()
    assert (zhang.province, zhang.city) == ("广东省", "深圳市")  # the default address's, as before


def test_rows_that_change_nothing_cost_the_same_queries_however_many(owner):
    """A re-import reads the matched customers with their phones, addresses, accounts and tags for the
    whole batch, and a row that writes nothing opens no savepoint: an unchanged row adds no query."""

    def sheet(count: int) -> bytes:
        return csv_bytes(
            *(
                f",客户{i},1381234{i:04d},wx_{i},c{i}@example.com,男,浙江省,杭州市,西湖区,文三路{i}号,"
                for i in range(count)
            )
        )

    def queries_of_a_reimport(data: bytes) -> int:
        run_import(owner, data)
        with CaptureQueriesContext(connection) as captured:
            again = run_import(owner, data)
        assert again.unchanged == again.job.total
        return len(captured)

    assert queries_of_a_reimport(sheet(2)) == queries_of_a_reimport(sheet(12))


def test_a_changed_row_of_a_reimport_writes_one_statement(owner):
    """A re-import whose rows each change their customer (the sheet edited and imported again) writes
    each customer's row with one UPDATE; the timeline events go in with the batch's journal, and only a
    row that adds a phone, address, account or tag, or moves the owner, pays for a savepoint."""

    def sheet(first: int, count: int, note: str) -> bytes:
        return csv_bytes(*(f",客户{i},1381234{i:04d},,,,,,,,{note}" for i in range(first, first + count)))

    def queries_of_a_changed_reimport(first: int, count: int) -> int:
        run_import(owner, sheet(first, count, "老客"))
        with CaptureQueriesContext(connection) as captured:
            again = run_import(owner, sheet(first, count, "已回访"))
        assert again.updated == count
        events = CustomerEvent.objects.filter(kind="customer.updated", data__import=again.pk)
        assert sorted(e.customer.name for e in events) == sorted(
            f"客户{i}" for i in range(first, first + count)
        )
        return len(captured)

    assert queries_of_a_changed_reimport(0, 2) + 10 == queries_of_a_changed_reimport(100, 12)


def test_a_newer_overlapping_export_updates_what_changed_and_adds_who_is_new(owner):
    run_import(owner, FIRST)
    zhang = Customer.objects.get(name="张三")

    newer = run_import(
        owner,
        csv_bytes(
            ",张三,13812345678,,,男,,,,,VIP",  # notes changed; blank cells say nothing
            ",李四,13900001111,,,女,,,,,",  # the same
            ",赵六,13700002222,,,,,,,,",  # new
        ),
    )

    assert counts(newer) == (1, 1, 1, 0)
    zhang.refresh_from_db()
    assert zhang.notes == "VIP"
    assert zhang.email == "zs@example.com" and zhang.socials.count() == 1 and zhang.addresses.count() == 1
    assert Customer.objects.count() == 3
    event = zhang.events.get(kind="customer.updated")
    assert event.data["import"] == newer.pk and event.data["changes"]["notes"] == ["…", "…"]


def test_rows_match_by_number_then_phone_then_account_then_email(owner):
    by_number = make_customer(actor=owner, name="甲", phone="13800000001")
    by_phone = make_customer(actor=owner, name="乙", phone="13800000002")
    by_account = make_customer(
        actor=owner, name="丙", phone="13800000003", socials=[SocialInput(kind="wechat", handle="bing")]
    )
    by_email = make_customer(actor=owner, name="丁", phone="13800000004", email="ding@example.com")

    run = run_import(
        owner,
        csv_bytes(
            # The number wins over a phone that is someone else's.
            f"{by_number.customer_no.lower()},甲改,13800000002,,,,,,,,",
            ",乙改,+86 138-0000-0002,,,,,,,,",
            ",丙改,,BING,,,,,,,",
            ",丁改,,,DING@example.com,,,,,,",
        ),
    )

    assert counts(run) == (0, 4, 0, 0)
    names = {c.pk: c.name for c in Customer.objects.all()}
    assert [names[c.pk] for c in (by_number, by_phone, by_account, by_email)] == [
        "甲改",
        "乙改",
        "丙改",
        "丁改",
    ]
    # The number's customer got the other phone beside their own.
    assert sorted(by_number.phones.values_list("number", flat=True)) == ["+8613800000001", "+8613800000002"]


def test_a_row_with_only_a_name_matches_the_one_customer_of_that_name_and_no_one_when_several(owner):
    make_customer(actor=owner, name="孤独", phone="13800000011")
    make_customer(actor=owner, name="重名", phone="13800000012")
    make_customer(actor=owner, name="重名", phone="13800000013")

    run = run_import(owner, csv_bytes(",孤独,,,,,,,,,备注一", ",重名,,,,,,,,,备注二", ",新人,,,,,,,,,"))

    assert counts(run) == (1, 1, 0, 1)
    assert Customer.objects.get(name="孤独").notes == "备注一"
    [(number, _cells, problems)] = import_rejected_rows(run)
    assert number == 3 and "Several customers are called “重名”" in problems[0].reason
    assert counts(run_import(owner, csv_bytes(",新人,,,,,,,,,"))) == (0, 0, 1, 0)


def test_two_rows_of_one_file_with_the_same_phone_are_one_customer(owner):
    run = run_import(owner, csv_bytes(",张三,13812345678,,,,,,,,", ",张三,138 1234 5678,zs,,,,,,,第二行"))

    assert counts(run) == (1, 1, 0, 0)
    zhang = Customer.objects.get()
    assert zhang.notes == "第二行" and zhang.socials.count() == 1 and zhang.phones.count() == 1


def test_a_customer_listed_twice_takes_the_lower_row_and_importing_again_changes_nothing(owner):
    # Rows 2 and 4 are one customer (one phone, written two ways) with different notes and types.
    data = csv_bytes(
        ",张三,13812345678,,,男,,,,,老客户",
        ",李四,13900001111,,,,,,,,",
        ",张三,+86 138-1234-5678,zs_wx,,,,,,,VIP客户",
    )
    first = run_import(owner, data)
    assert counts(first) == (2, 1, 0, 0)
    zhang = Customer.objects.get(name="张三")
    assert (zhang.notes, zhang.gender, zhang.socials.count()) == ("VIP客户", "m", 1)
    before = state()

    again = run_import(owner, data)

    assert counts(again) == (0, 0, 3, 0)
    assert state() == before
    # The upper row's note differs from what the customer has: said on that row, naming the one kept.
    [note] = import_notes(again, limit=10)
    assert (note.row, note.column, note.value) == (2, "备注", "老客户")
    assert "Row 4 further down is the same customer" in note.reason


def test_an_upper_row_still_gives_what_the_lower_rows_leave_blank(owner):
    make_customer(actor=owner, name="张三", phone="13812345678", notes="旧备注")
    data = csv_bytes(
        "C000001,张三,13812345678,,,男,浙江省,杭州市,西湖区,文三路1号,备注一",
        "c000001,,13700000000,,,,,,,,备注二",  # the customer number in lower case, another phone
    )

    run = run_import(owner, data)

    assert counts(run) == (0, 2, 0, 0)
    zhang = Customer.objects.get()
    assert (zhang.notes, zhang.gender, zhang.city) == ("备注二", "m", "杭州市")
    assert sorted(p.number for p in zhang.phones.all()) == ["+8613700000000", "+8613812345678"]
    assert counts(run_import(owner, data)) == (0, 0, 2, 0)


def test_rows_naming_a_customer_by_the_same_first_key_are_found_before_the_import():
    mapping = {0: "customer_no", 1: "name", 2: "phone", 3: "wechat", 4: "notes", 5: "email"}
    rows = [
        (2, ["", "张三", "13812345678", "", "一", ""]),
        (3, ["", "张三", "", "zs", "二", ""]),  # no phone: by WeChat, which row 5 has after a phone
        (4, ["", "李四", "13900001111", "", "", "LS@Example.com"]),
        # Row 2's phone written otherwise, which the import tries before the WeChat and the email.
        (5, ["", "", "＋86 138 1234 5678", "ZS", "", "ls@example.com "]),
        (6, ["", "王五", "", "", "五", ""]),  # a name alone: the same as row 7
        (7, ["", "王五", "", "", "", ""]),
        (8, ["", "张三", "13600000000", "", "八", ""]),  # another 张三, by a phone of their own
        # Customer numbers: one is one customer whatever the case; two are never one, phone or not.
        (9, ["c000001", "赵六", "13700000001", "", "九", ""]),
        (10, ["C000002", "赵妻", "13700000001", "", "十", ""]),
        (11, ["C000001", "", "", "", "十一", ""]),
        # Their phone alone: whoever has it in Kebu, perhaps neither of them.
        (12, ["", "", "13700000001", "", "十二", ""]),
        (13, ["", "", "", "", "", ""]),  # nobody
    ]

    repeats = customer_rows_repeated(rows, mapping)

    assert repeats == {
        2: Repeat("phone", {"email": 5}),
        6: Repeat("name", {"name": 7}),
        9: Repeat("customer_no", {"notes": 11}),
    }
    # A sheet with nothing a customer has one of (a 客户编号 | 标签 sheet) has nothing to leave.
    assert customer_rows_repeated([(2, ["C1", "a"]), (3, ["C1", "b"])], {0: "customer_no", 1: "tags"}) == {}
    # Accounts are tried in the import's order, whatever the sheet's: WeChat before 旺旺.
    accounts = {0: "wangwang", 1: "wechat", 2: "notes"}
    rows = [(2, ["tb1", "wx1", "一"]), (3, ["tb2", "wx1", "二"]), (4, ["tb1", "", "三"])]
    assert customer_rows_repeated(rows, accounts) == {2: Repeat("social:wechat", {"notes": 3})}
    # Each column is left to the nearest row below that gives it.
    rows = [
        (2, ["", "13812345678", "一", "a@x.cn"]),
        (3, ["", "13812345678", "", "b@x.cn"]),
        (4, ["", "138 1234 5678", "三", ""]),
    ]
    found = customer_rows_repeated(rows, {0: "customer_no", 1: "phone", 2: "notes", 3: "email"})
    assert found == {2: Repeat("phone", {"notes": 4, "email": 3}), 3: Repeat("phone", {"notes": 4})}


def test_rows_with_one_new_customer_number_but_the_phones_of_two_customers_update_each_its_own(owner):
    jia = make_customer(actor=owner, name="甲", phone="13800000001", notes="旧甲")
    yi = make_customer(actor=owner, name="乙", phone="13800000002", notes="旧乙")
    # X9 is nobody's: the import finds each row's customer by its phone, two different customers.
    data = csv_bytes("X9,甲,13800000001,,,,,,,,新甲", "X9,乙,13800000002,,,,,,,,新乙")

    run = run_import(owner, data)

    assert counts(run) == (0, 2, 0, 0) and run.noted == 0
    assert Customer.objects.get(pk=jia.pk).notes == "新甲" and Customer.objects.get(pk=yi.pk).notes == "新乙"


def test_an_upper_row_names_the_row_below_that_fills_in_the_column_it_left(owner):
    make_customer(actor=owner, name="张三", phone="13812345678", notes="旧")
    # Row 3 is the same customer with a WeChat ID only; row 4 gives the notes.
    data = csv_bytes(
        ",张三,13812345678,,,,,,,,一", ",张三,13812345678,zs,,,,,,,", ",张三,13812345678,,,,,,,,三"
    )

    run = run_import(owner, data)

    assert Customer.objects.get().notes == "三"
    [note] = import_notes(run, limit=10)
    assert (note.row, note.column, note.value) == (2, "备注", "一")
    assert note.reason.startswith("Row 4 further down is the same customer") and "not imported" in note.reason


def test_keys_falling_on_one_bit_of_the_first_pass_are_not_taken_for_one_another():
    from array import array

    from kebu.transfer.customers import _positions_repeated

    bit = 1 << 24  # the first pass tells values apart by their low 24 bits only
    hashes = array("q", [7, 7 + bit, -bit + 7, 7, 5, 7 + bit])

    assert sorted(_positions_repeated(hashes)) == [[0, 3], [1, 5]]


def test_a_kept_customer_number_is_used_and_later_numbers_skip_it(owner):
    run = run_import(owner, csv_bytes("C000002,老客,13800000021,,,,,,,,", ",新客,13800000022,,,,,,,,"))

    assert counts(run) == (2, 0, 0, 0)
    assert dict(Customer.objects.values_list("name", "customer_no")) == {"老客": "C000002", "新客": "C000001"}
    make_customer(actor=owner, name="下一个", phone="13800000023")
    assert Customer.objects.get(name="下一个").customer_no == "C000003"


def test_a_row_may_name_the_number_an_unnumbered_row_before_it_would_be_given(owner):
    # given: the shop's next customer number is C000001, and the sheet's second row names it
    data = csv_bytes(",新客,13800000022,,,,,,,,", "C000001,老客,13800000021,,,,,,,,")

    run = run_import(owner, data)

    assert counts(run) == (2, 0, 0, 0)
    assert dict(Customer.objects.values_list("name", "customer_no")) == {"老客": "C000001", "新客": "C000002"}


def test_custom_fields_are_matched_by_their_label_and_checked(owner):
    CustomFieldFactory(key="shoe", label="鞋码", field_type=CustomFieldType.NUMBER)
    data = "姓名,手机,鞋码\n张三,13812345678,42\n李四,13900001111,大号\n".encode()

    run = run_import(owner, data)

    assert counts(run) == (1, 0, 0, 1)
    assert Customer.objects.get(name="张三").custom == {"shoe": 42}
    [(_n, _c, problems)] = import_rejected_rows(run)
    assert problems[0].column == "鞋码"
    # The same value again is no change, though the sheet has it as text.
    assert counts(run_import(owner, data)) == (0, 0, 1, 1)


def test_a_custom_number_is_read_as_an_amount_is_with_separators_and_yuan_and_said_corrected(owner):
    # given: a number field, and a sheet writing it as amounts are written
    CustomFieldFactory(key="deposit", label="定金", field_type=CustomFieldType.NUMBER)
    data = (
        '姓名,手机,定金\n张三,13812345678,"1,234.50元"\n李四,13900001111,"￥2,000"\n'
        '王五,13700002222,-12.5\n赵六,13600003333,"1,2"\n'
    ).encode()

    # when: it is checked, then imported
    check = customer_file_check(data)
    run = run_import(owner, data)

    # then: the amounts are the numbers, the currency is a correction, a number nobody can read is refused
    assert [(c.row, c.written, c.taken) for c in check.corrections] == [
        (2, "1,234.50元", "1234.50"),
        (3, "￥2,000", "2000"),
    ]
    assert counts(run) == (3, 0, 0, 1)
    assert {c.name: c.custom["deposit"] for c in Customer.objects.all()} == {
        "张三": 1234.5,
        "李四": 2000,
        "王五": -12.5,
    }
    [(_n, _c, [problem])] = import_rejected_rows(run)
    assert (problem.column, problem.reason) == ("定金", "“1,2” is not a number.")


def test_a_yes_no_custom_field_it_cannot_read_says_what_to_write(owner):
    CustomFieldFactory(key="sample", label="要小样", field_type=CustomFieldType.BOOL)
    data = "姓名,手机,要小样\n张三,13812345678,是\n李四,13900001111,要\n".encode()

    run = run_import(owner, data)

    assert counts(run) == (1, 0, 0, 1)
    [(_n, _c, [problem])] = import_rejected_rows(run)
    assert (problem.column, problem.reason) == (
        "要小样",
        "“要” is not a valid 要小样: write 是 or 否 (yes or no).",
    )


def test_all_or_nothing_writes_nothing_when_a_row_is_bad(owner):
    run = run_import(owner, FIRST, mode=ImportMode.ALL_OR_NOTHING)

    assert run.refused and counts(run) == (0, 0, 0, 1)
    assert Customer.objects.count() == 0
    assert [r[0] for r in import_rejected_rows(run)] == [4]


def test_all_or_nothing_imports_everything_when_every_row_is_good(owner):
    run = run_import(owner, csv_bytes(",张三,13812345678,,,,,,,,", ",李四,13900001111,,,,,,,,"), mode="all")

    assert not run.refused and counts(run) == (2, 0, 0, 0)


def test_a_row_that_would_give_a_customer_an_eleventh_phone_is_rejected_not_half_written(owner):
    customer = make_customer(actor=owner, name="多号", phone="13800000100")
    data = customer_input_from(customer)
    data.phones = [PhoneInput(number=f"1380000010{i}") for i in range(10)]
    customer_update(actor=owner, customer=customer, data=data, expected_version=customer.version)

    run = run_import(owner, csv_bytes(f"{customer.customer_no},多号,13900000000,,,,,,,,新备注"))

    assert counts(run) == (0, 0, 0, 1)
    customer.refresh_from_db()
    assert customer.notes == "" and customer.phones.count() == 10


def with_phones(owner, name: str, count: int) -> Customer:
    """A customer with ``count`` phones (ten at most)."""
    customer = make_customer(actor=owner, name=name, phone="13800000100")
    data = customer_input_from(customer)
    data.phones = [PhoneInput(number=f"138000001{i:02d}") for i in range(count)]
    return customer_update(actor=owner, customer=customer, data=data, expected_version=customer.version)


def phone_added(owner, customer: Customer, number: str) -> Customer:
    customer.refresh_from_db()
    data = customer_input_from(customer)
    data.phones = [*data.phones, PhoneInput(number=number)]
    return customer_update(actor=owner, customer=customer, data=data, expected_version=customer.version)


def test_all_or_nothing_writes_nothing_when_a_row_would_give_a_customer_an_eleventh_phone(owner):
    # given: a customer with ten phones, and a file with a new customer and a row giving her one more:
    # every cell reads, and only writing refuses the second row
    customer = with_phones(owner, "多号", 10)
    before = state()
    data = csv_bytes(",张三,13812345678,,,,,,,,", f"{customer.customer_no},多号,13900000000,,,,,,,,新备注")

    # when
    run = run_import(owner, data, mode=ImportMode.ALL_OR_NOTHING)

    # then: refused, that row listed, and nobody made or changed
    assert (run.refused, counts(run)) == (True, (0, 0, 0, 1))
    [(row, _cells, problems)] = import_rejected_rows(run)
    assert row == 3 and any("10" in p.reason for p in problems), problems
    assert state() == before
    assert not ImportRow.objects.filter(run=run).exclude(action=ImportRowAction.REJECTED).exists()


def test_all_or_nothing_takes_back_what_it_wrote_when_a_row_is_refused_after_the_check(owner, settings):
    # given: batches of one row: a known customer's new note, a new customer (her phone written with
    # +86, a corrected cell), and a phone more for a customer with nine; once the check has passed and
    # the first two rows are written, someone gives the third customer her tenth phone
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}
    wang = make_customer(actor=owner, name="王五", phone="13700001111")
    duohao = with_phones(owner, "多号", 9)
    untouched = [c for c in state() if c[1] == "王五"]

    def meanwhile(job) -> None:
        if Customer.objects.filter(name="张三").exists() and duohao.phones.count() == 9:
            phone_added(owner, duohao, "13800000199")

    data = csv_bytes(
        f"{wang.customer_no},王五,,,,,,,,,老客户",
        ",张三,+8613812345678,,,,,,,,",
        f"{duohao.customer_no},多号,13900000000,,,,,,,,",
    )
    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=data, file_name="客户.csv", mode=ImportMode.ALL_OR_NOTHING, enqueue=False
        )

    # when
    job_run(run.job_id, on_beat=meanwhile)

    # then: refused, that row listed, and nothing of the file left: only the phone added meanwhile
    run.refresh_from_db()
    assert (run.refused, counts(run), run.corrected, run.corrections) == (True, (0, 0, 0, 1), 0, "")
    [(row, _cells, _problems)] = import_rejected_rows(run)
    assert row == 4
    assert not Customer.objects.filter(name="张三").exists()
    assert put_back([c for c in state() if c[1] == "王五"]) == put_back(untouched)  # under a new version
    assert duohao.phones.count() == 10
    undone = AuditEntry.objects.get(action="import.undo", target_id=str(run.pk))
    assert (undone.data["deleted"], undone.data["restored"], undone.data["all_or_nothing"]) == (1, 1, True)
    assert Job.objects.get(pk=run.job_id).status == JobStatus.DONE


def test_all_or_nothing_that_cannot_take_back_without_losing_work_fails_saying_so(owner, settings):
    # given: as above, and meanwhile someone also writes a note on 张三, whom the import has just made
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}
    duohao = with_phones(owner, "多号", 9)

    def meanwhile(job) -> None:
        zhang = Customer.objects.filter(name="张三").first()
        if zhang is not None and duohao.phones.count() == 9:
            data = customer_input_from(zhang)
            data.notes = "电话回访过"
            customer_update(actor=owner, customer=zhang, data=data, expected_version=zhang.version)
            phone_added(owner, duohao, "13800000199")

    data = csv_bytes(",张三,13812345678,,,,,,,,", f"{duohao.customer_no},多号,13900000000,,,,,,,,")
    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=data, file_name="客户.csv", mode=ImportMode.ALL_OR_NOTHING, enqueue=False
        )

    # when
    job = job_run(run.job_id, on_beat=meanwhile)

    # then: the job fails saying why, and the note is not lost with the customer
    zhang = Customer.objects.get(name="张三")
    assert job.status == JobStatus.FAILED
    assert all(word in job.error for word in ("row 3", zhang.customer_no, "undo the import")), job.error
    assert zhang.notes == "电话回访过"
    run.refresh_from_db()
    assert (run.refused, counts(run)) == (False, (1, 0, 0, 0))


# --- undo ---------------------------------------------------------------------------------------------


def test_undo_puts_back_exactly_what_was_there(owner):
    make_customer(actor=owner, name="张三", phone="13812345678")
    before = state()
    run = run_import(
        owner,
        csv_bytes(
            ",张三改,13812345678,zs_wx,zs@example.com,男,浙江省,杭州市,西湖区,文三路1号,备注",
            ",李四,13900001111,,,,,,,,",
        ),
    )
    assert counts(run) == (1, 1, 0, 0) and state() != before
    imported = versions()

    import_undo(actor=owner, run=run)

    assert put_back(state()) == put_back(before)
    assert versions()["张三"] == imported["张三改"] + 1  # a new version: a page read before cannot save
    run.refresh_from_db()
    assert run.undone_by == owner
    assert AuditEntry.objects.filter(action="import.undo", target_id=str(run.pk)).exists()
    assert CustomerEvent.objects.filter(kind="customer.import_undone").count() == 1
    assert CustomerPhone.objects.count() == 1
    assert Address.objects.count() == 0 and SocialAccount.objects.count() == 0


def test_imports_are_undone_newest_first_back_to_the_start(owner):
    first = run_import(owner, FIRST)
    after_first = put_back(state())
    second = run_import(owner, csv_bytes(",张三,13812345678,,,,,,,,VIP", ",钱七,13600000000,,,,,,,,"))

    with pytest.raises(Conflict, match="changed since the import") as refused:
        import_undo(actor=owner, run=first)
    hint = f"A later import changed them: undo import #{second.pk} first, then this one."
    assert hint in str(refused.value)
    with translation.override("zh-hans"), pytest.raises(Conflict) as refused_in_chinese:
        import_undo(actor=owner, run=first)
    assert f"。之后的导入改动过这些客户：请先撤销第 {second.pk} 次导入（" in str(refused_in_chinese.value)
    import_undo(actor=owner, run=second)
    assert put_back(state()) == after_first
    import_undo(actor=owner, run=first)
    assert Customer.objects.count() == 0
    with pytest.raises(Conflict, match="undone already"):
        import_undo(actor=owner, run=first)


def test_undo_is_refused_when_someone_edited_an_imported_customer_since(owner):
    run = run_import(owner, FIRST)
    zhang = Customer.objects.get(name="张三")
    data = customer_input_from(zhang)
    data.notes = "打电话确认过"
    customer_update(actor=owner, customer=zhang, data=data, expected_version=zhang.version)

    with pytest.raises(Conflict, match=zhang.customer_no) as refused:
        import_undo(actor=owner, run=run)
    assert "undo import" not in str(refused.value)  # edited by hand: no import to undo first
    assert Customer.objects.count() == 2
    run.refresh_from_db()
    assert run.undone_at is None


def test_an_undo_refused_for_several_later_imports_names_them_newest_first(owner):
    first = run_import(owner, FIRST)
    second = run_import(owner, csv_bytes(",张三,13812345678,,,,,,,,VIP"))
    third = run_import(owner, csv_bytes(",李四,13900001111,,,,,,,,老客"))
    import_undo(
        actor=owner, run=run_import(owner, csv_bytes(",张三,13812345678,,,,,,,,"))
    )  # undone: not named

    with pytest.raises(Conflict) as refused:
        import_undo(actor=owner, run=first)

    assert f"undo import #{third.pk}, import #{second.pk} first (newest first)" in str(refused.value)


def _notes_import(owner, customer: Customer, notes: str) -> Import:
    return run_import(owner, csv_bytes(f"{customer.customer_no},{customer.name},13812345678,,,,,,,,{notes}"))


def test_a_page_read_on_an_undone_imports_values_cannot_save_over_the_next_imports(owner):
    # given: 张三 read while an import's notes stood, the import undone, and the next import run
    zhang = make_customer(actor=owner, name="张三", phone="13812345678")
    first = _notes_import(owner, zhang, "第一次导入")
    read = Customer.objects.get(pk=zhang.pk)
    import_undo(actor=owner, run=first)
    _notes_import(owner, zhang, "第二次导入")

    # when: the page saves with the version it read
    data = customer_input_from(read)
    data.notes = "页面上改的"
    with pytest.raises(Conflict):
        customer_update(actor=owner, customer=read, data=data, expected_version=read.version)

    # then: the second import's notes stand
    assert Customer.objects.get(pk=zhang.pk).notes == "第二次导入"


def test_an_api_client_that_read_an_undone_imports_values_is_refused_after_the_next_import(
    owner, owner_client
):
    zhang = make_customer(actor=owner, name="张三", phone="13812345678")
    first = _notes_import(owner, zhang, "第一次导入")
    url = f"/api/v1/customers/{zhang.pk}/"
    etag = owner_client.get(url)["ETag"]
    import_undo(actor=owner, run=first)
    _notes_import(owner, zhang, "第二次导入")

    response = owner_client.patch(
        url, json.dumps({"notes": "接口改的"}), content_type="application/json", headers={"If-Match": etag}
    )

    assert response.status_code == 409, response.json()
    assert Customer.objects.get(pk=zhang.pk).notes == "第二次导入"


def test_an_import_is_undone_after_the_later_imports_that_changed_its_customer_were_undone(owner):
    # given: three imports of 张三's notes, one after the other
    zhang = make_customer(actor=owner, name="张三", phone="13812345678")
    before = put_back(state())
    first = _notes_import(owner, zhang, "第一次")
    second = _notes_import(owner, zhang, "第二次")
    third = _notes_import(owner, zhang, "第三次")
    seen = {Customer.objects.get(pk=zhang.pk).version}

    # when: they are undone newest first, the first last
    for run in (third, second, first):
        import_undo(actor=owner, run=run)
        version = Customer.objects.get(pk=zhang.pk).version
        assert version not in seen  # each undo gives a version 张三 never had
        seen.add(version)

    # then: 张三 is as before the first
    assert put_back(state()) == before


def test_a_hand_edit_after_the_later_import_was_undone_still_refuses_the_earlier_undo(owner):
    # given: the first import, a later one that changed 张三, undone, then 张三 changed by hand
    zhang = make_customer(actor=owner, name="张三", phone="13812345678")
    first = _notes_import(owner, zhang, "第一次")
    later = _notes_import(owner, zhang, "第二次")
    import_undo(actor=owner, run=later)
    zhang.refresh_from_db()
    data = customer_input_from(zhang)
    data.notes = "打电话确认过"
    customer_update(actor=owner, customer=zhang, data=data, expected_version=zhang.version)

    # when / then: undoing the first would lose the hand edit, and is refused
    with pytest.raises(Conflict, match=zhang.customer_no) as refused:
        import_undo(actor=owner, run=first)
    assert "undo import" not in str(refused.value)
    assert Customer.objects.get(pk=zhang.pk).notes == "打电话确认过"


def test_undo_is_refused_for_a_created_customer_who_has_ordered_since(owner):
    from kebu.orders.tests.factories import make_catalogue, make_order

    run = run_import(owner, FIRST)
    catalogue = make_catalogue(actor=owner)
    make_order(actor=owner, customer=Customer.objects.get(name="李四"), store=catalogue.store)

    with pytest.raises(Conflict, match="with orders"):
        import_undo(actor=owner, run=run)
    assert Customer.objects.count() == 2


def test_a_running_import_cannot_be_undone(owner):
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=FIRST, file_name="a.csv", enqueue=False)
    Job.objects.filter(pk=run.job_id).update(status=JobStatus.RUNNING)

    with pytest.raises(Conflict, match="still running"):
        import_undo(actor=owner, run=run)


# --- the file, the journal ----------------------------------------------------------------------------


def test_a_file_that_cannot_be_read_is_refused_before_anything_is_queued(owner):
    with pytest.raises(ValidationFailed, match="empty"), transaction.atomic():
        customer_import_start(actor=owner, data=b"", file_name="a.csv", enqueue=False)
    assert not Import.objects.exists() and not Job.objects.exists()


def test_the_file_is_kept_under_a_generated_name_and_the_journal_is_encrypted(owner, settings):
    run = run_import(owner, FIRST, name="../../etc/客户.csv")

    assert run.file_name == "客户.csv"
    assert (settings.DATA_DIR / "imports" / run.stored_as).read_bytes() == FIRST
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT detail FROM transfer_importrow WHERE action = 'rejected'")
        [(stored,)] = cursor.fetchall()
    assert "12345" not in stored
    entry = ImportRow.objects.get(action=ImportRowAction.REJECTED)
    assert json.loads(entry.detail)["problems"][0][1] == "12345"


def test_a_file_given_by_its_path_is_kept_a_piece_at_a_time_with_its_size_and_hash(
    owner, tmp_path, monkeypatch
):
    import hashlib

    from kebu.transfer import imports

    monkeypatch.setattr(imports, "_COPY_BYTES", 7)  # many pieces, one cut inside a character
    source = tmp_path / "客户.csv"
    source.write_bytes(FIRST)

    run = run_import(owner, source)

    assert (imports.imports_dir() / run.stored_as).read_bytes() == FIRST
    assert (run.file_size, run.file_sha256) == (len(FIRST), hashlib.sha256(FIRST).hexdigest())
    assert counts(run) == (2, 0, 0, 1)


def test_a_file_over_the_size_limit_is_refused_before_it_is_copied(owner, tmp_path, monkeypatch):
    from kebu.transfer import imports, readers

    monkeypatch.setattr(readers, "MAX_STREAMED_BYTES", 10)
    source = tmp_path / "客户.csv"
    source.write_bytes(FIRST)
    kept = set(imports.imports_dir().iterdir())
    monkeypatch.setattr(imports, "_file_keep", lambda *args: pytest.fail("copied"))

    with pytest.raises(ValidationFailed, match="Split it into several files"), transaction.atomic():
        customer_import_start(actor=owner, data=source, file_name="客户.csv", enqueue=False)
    assert set(imports.imports_dir().iterdir()) == kept


def test_a_cancelled_import_keeps_its_whole_batches_and_can_be_undone(owner, settings):
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 2}
    rows = [f",客户{i},1380000{i:04d},,,,,,,," for i in range(7)]
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=csv_bytes(*rows), file_name="a.csv", enqueue=False)

    def cancel_after_two_batches(job):
        if job.done == 4:
            job_cancel(job=job)

    job = job_run(run.job_id, on_beat=cancel_after_two_batches)

    run.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and counts(run) == (4, 0, 0, 0) and run.next_row == 6
    assert AuditEntry.objects.get(action="import.finish", target_id=str(run.pk)).data["status"] == "cancelled"
    import_undo(actor=owner, run=run)
    assert Customer.objects.count() == 0


def test_rejections_are_in_the_language_of_who_started_the_import_not_the_workers(owner):
    from django.utils import translation

    from kebu.transfer.imports import import_problems

    with translation.override("en"), transaction.atomic():
        run = customer_import_start(
            actor=owner, data=csv_bytes(",王小明,12345,,,,,,,,"), file_name="x.csv", enqueue=False
        )
    with translation.override("zh-hans"):  # a worker started in the shop's language
        job_run(run.job_id)
    [problem] = [p for problems in import_problems(run).values() for p in problems]
    assert "is not a valid phone number" in problem.reason


def test_two_columns_feeding_one_field_are_refused_before_anything_is_kept(owner):
    from kebu.transfer.imports import imports_dir

    kept = set(imports_dir().iterdir())
    with pytest.raises(ValidationFailed, match="both feed phone"):
        customer_import_start(
            actor=owner,
            data=csv_bytes(",王小明,13812345678,,,,,,,,"),
            file_name="x.csv",
            mapping={1: "name", 2: "phone", 3: "phone"},
            enqueue=False,
        )
    assert set(imports_dir().iterdir()) == kept


# --- tags, source and owner ------------------------------------------------------------------------------

OWNED = "客户编号,姓名,手机号码,标签,来源,负责人\n"


def owned_csv(*lines: str) -> bytes:
    return (OWNED + "".join(line + "\n" for line in lines)).encode("utf-8")


def test_tags_source_and_owner_come_in_by_their_names_and_new_tags_are_made(owner, staff_member):
    from kebu.customers.tests.factories import source

    wechat = source("微信")
    clerk = staff_member("sales", "xiaowang", display_name="小王")
    run = run_import(
        owner, owned_csv(",张三,13812345678,VIP、老客,微信,小王", ",李四,13900001111,,,xiaowang")
    )

    assert counts(run) == (2, 0, 0, 0)
    zhang = Customer.objects.get(name="张三")
    assert sorted(zhang.tags.values_list("name", flat=True)) == ["VIP", "老客"]
    assert (zhang.source, zhang.owner) == (wechat, clerk)
    assert Customer.objects.get(name="李四").owner == clerk  # by login name too
    assert counts(run_import(owner, owned_csv(",张三,13812345678,VIP、老客,微信,小王"))) == (0, 0, 1, 0)


def test_an_unknown_source_or_owner_rejects_the_row_and_says_which(owner):
    run = run_import(owner, owned_csv(",张三,13812345678,,抖音直播,", ",李四,13900001111,,,老刘"))

    assert counts(run) == (0, 0, 0, 2)
    reasons = [p.reason for _n, _c, problems in import_rejected_rows(run) for p in problems]
    assert "抖音直播" in reasons[0] and "老刘" in reasons[1]


def test_a_sheet_adds_tags_and_moves_the_source_and_undo_puts_both_back(owner):
    from kebu.customers.tests.factories import source

    taobao, wechat = source("淘宝"), source("微信")
    run_import(owner, owned_csv(",张三,13812345678,老客,淘宝,"))
    before = state()

    run = run_import(owner, owned_csv(",张三,13812345678,VIP,微信,"))

    zhang = Customer.objects.get(name="张三")
    assert counts(run) == (0, 1, 0, 0)
    assert sorted(zhang.tags.values_list("name", flat=True)) == ["VIP", "老客"]  # added, not replaced
    assert zhang.source == wechat
    import_undo(actor=owner, run=run)
    zhang.refresh_from_db()
    assert list(zhang.tags.values_list("name", flat=True)) == ["老客"] and zhang.source == taobao
    assert put_back(state()) == put_back(before)


def tag_names() -> list[str]:
    return sorted(Tag.objects.values_list("name", flat=True))


def test_undo_removes_the_tags_the_import_made_and_leaves_the_shops_own(owner):
    from kebu.transfer.aside import aside_kept_text

    Tag.objects.create(name="老客")
    make_customer(actor=owner, name="张三", phone="13812345678")
    before = (state(), tag_names())
    run = run_import(owner, owned_csv(",张三,13812345678,VIP、老客,,", ",李四,13900001111,回头客,,"))
    assert counts(run) == (1, 1, 0, 0) and tag_names() == ["VIP", "回头客", "老客"]

    import_undo(actor=owner, run=run)

    assert (put_back(state()), tag_names()) == (put_back(before[0]), before[1])
    entry = AuditEntry.objects.get(action="import.undo", target_id=str(run.pk))
    assert (entry.data["tags_deleted"], entry.data["tags_kept"]) == (2, 0)
    run.refresh_from_db()
    assert run.made_aside == {} and aside_kept_text(run) == ""


def test_undo_keeps_a_tag_the_import_made_that_another_customer_got_since_and_says_so(owner):
    from kebu.customers.services import customers_bulk_tag
    from kebu.transfer.aside import aside_kept_text

    run = run_import(owner, owned_csv(",张三,13812345678,VIP、一次性,,"))
    vip = Tag.objects.get(name="VIP")
    wang = make_customer(actor=owner, name="王五", phone="13700002222")  # by hand, after the import
    customers_bulk_tag(actor=owner, customers=[wang], tags=[vip])

    import_undo(actor=owner, run=run)

    assert tag_names() == ["VIP"] and list(wang.tags.all()) == [vip]
    assert list(Customer.objects.values_list("name", flat=True)) == ["王五"]
    entry = AuditEntry.objects.get(action="import.undo", target_id=str(run.pk))
    assert (entry.data["tags_deleted"], entry.data["tags_kept"]) == (1, 1)
    run.refresh_from_db()
    assert run.made_aside == {"customers.tag": [vip.pk]}
    assert aside_kept_text(run) == "1 tag the import made was kept: it has been used since."


def test_undo_keeps_a_tag_the_import_made_that_a_saved_customer_list_filters_on(owner):
    from kebu.customers.models import SavedView

    run = run_import(owner, owned_csv(",张三,13812345678,VIP,,"))
    vip = Tag.objects.get(name="VIP")
    SavedView.objects.create(name="VIP 客户", owner=owner, query=f"stage=new&tag={vip.pk}")

    import_undo(actor=owner, run=run)

    assert tag_names() == ["VIP"] and not Customer.objects.exists()


def test_a_tag_named_only_by_rejected_rows_is_not_left_behind(owner):
    make_customer(actor=owner, name="张三", phone="13812345678")
    make_customer(actor=owner, name="张三", phone="13900001111")

    # Known by a name two customers have: rejected, after the batch had made its tags.
    run = run_import(owner, owned_csv(",张三,,新词,,"))

    assert counts(run) == (0, 0, 0, 1)
    assert tag_names() == [] and run.made_aside == {}


def test_an_import_cancelled_before_any_worker_took_it_is_recorded_as_finished(owner):
    from kebu.transfer.imports import import_cancel

    with transaction.atomic():
        run = customer_import_start(actor=owner, data=FIRST, file_name="x.csv", enqueue=False)

    import_cancel(run=run)

    run.job.refresh_from_db()
    assert run.job.status == JobStatus.CANCELLED and Customer.objects.count() == 0
    entry = AuditEntry.objects.get(action="import.finish", target_id=str(run.pk))
    assert entry.data["status"] == "cancelled"
    assert job_run(run.job_id) is None  # and no worker runs it later


def test_an_old_imports_file_is_deleted_and_its_problems_and_undo_stay(owner):
    from datetime import timedelta

    from django.utils import timezone

    from kebu.transfer.imports import imports_dir, imports_purge

    run = run_import(owner, FIRST)
    kept = imports_dir() / run.stored_as
    assert imports_purge(older_than=timedelta(days=30)) == 0 and kept.is_file()
    Job.objects.filter(pk=run.job_id).update(finished_at=timezone.now() - timedelta(days=31))

    assert imports_purge(older_than=timedelta(days=30)) == 1
    assert not kept.exists()
    [(number, cells, problems)] = import_rejected_rows(run)
    assert (number, cells, problems[0].value) == (4, [], "12345")
    import_undo(actor=owner, run=run)
    assert Customer.objects.count() == 0


def test_a_gbk_csv_imports_the_names_whose_bytes_are_also_valid_utf8_as_written(owner):
    # 叶伟 and 史小平 in GBK are also valid UTF-8 (Ҷΰ, ʷСƽ): the file is GBK, so they are GBK too.
    data = (HEADER + ",张三,13800000001\n,叶伟,13800000002\n,史小平,13800000003\n").encode("gbk")

    run = run_import(owner, data)

    assert counts(run) == (3, 0, 0, 0)
    assert sorted(Customer.objects.values_list("name", flat=True)) == sorted(["张三", "叶伟", "史小平"])


def test_a_line_far_down_that_is_no_text_fails_the_import_before_any_row_is_written(owner):
    good = "".join(f",客户{i},138000{i:05d},,,,,,,,\n" for i in range(60)).encode()
    data = HEADER.encode() + good + b",\xff\xfe\xfa,13900001111,,,,,,,,\n"  # neither UTF-8 nor GBK

    run = run_import(owner, data)

    assert run.job.status == JobStatus.FAILED and "Line 62" in run.job.error
    assert Customer.objects.count() == 0


def test_an_xlsx_with_a_cell_broken_far_down_is_refused_whole_before_any_batch_is_written(owner, settings):
    # 3,000 rows imported 100 at a time, the cell at row 2,900 damaged: counting the rows reads them all,
    # so the import stops before its first batch, and the customer the file's first row matches is
    # left as it was.
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 100}
    make_customer(actor=owner, name="张三", phone="13800000000")
    before = state()
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("客户")
    sheet.write_row(0, 0, ["姓名", "手机号码", "备注"])
    for row in range(1, 3001):
        sheet.write_row(row, 0, [f"客户{row}" if row > 1 else "张三", f"138{row:08d}", f"第{row}行"])
    book.close()
    with zipfile.ZipFile(buffer) as whole:
        parts = {name: whole.read(name) for name in whole.namelist()}
    part = "xl/worksheets/sheet1.xml"
    parts[part], found = re.subn(rb'(<c r="C2900" t="s"><v>)\d+', rb"\g<1>99999999", parts[part])
    assert found == 1  # a shared string the workbook does not have
    damaged = io.BytesIO()
    with zipfile.ZipFile(damaged, "w", zipfile.ZIP_DEFLATED) as out:
        for name, content in parts.items():
            out.writestr(name, content)

    run = run_import(owner, damaged.getvalue(), name="客户.xlsx")

    assert run.job.status == JobStatus.FAILED
    assert state() == before and run.journal.count() == 0
    assert "cannot be read after row 2899" in run.job.error and "Nothing was imported" in run.job.error


def test_a_phone_whose_formula_gives_an_error_rejects_its_row_saying_so_and_imports_the_others(owner):
    data = xlsx_with_formula_errors([["姓名", "手机号码"], ["张三", "#REF!"], ["李四", "13812345678"]])

    run = run_import(owner, data, name="客户.xlsx")

    assert counts(run) == (1, 0, 0, 1)
    [(number, _cells, [problem])] = import_rejected_rows(run)
    assert (number, problem.column, problem.value) == (2, "手机号码", "#REF!")
    assert "formula gives an error (#REF!)" in problem.reason
    assert list(Customer.objects.values_list("name", flat=True)) == ["李四"]


def test_a_sheet_may_give_owners_only_in_the_hands_of_someone_who_may_assign(owner, staff_member):
    from django.contrib.auth.models import Permission

    importer = staff_member("analyst", "importer")
    importer.user_permissions.add(
        Permission.objects.get(codename="import_customers"), Permission.objects.get(codename="add_customer")
    )
    staff_member("sales", "xiaowang", display_name="小王")

    run = run_import(importer, owned_csv(",张三,13812345678,,,小王", ",李四,13900001111,,,"))

    assert counts(run) == (1, 0, 0, 1)
    assert "assign" in import_rejected_rows(run)[0][2][0].reason


def customer_indexes() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customers_customer'"
        )
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="PostgreSQL's indexes are never set aside")
@pytest.mark.parametrize("cancel", [False, True])
def test_a_big_import_sets_the_list_indexes_aside_and_builds_them_again(owner, settings, cancel):
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 2, "IMPORT_INDEXES_ASIDE_ROWS": 5}
    make_customer(actor=owner, name="老客户")
    before = customer_indexes()
    rows = [f",客户{i},1380000{i:04d},,,,,,,," for i in range(6)]
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=csv_bytes(*rows), file_name="a.csv", enqueue=False)
    during = []

    def look(job):
        if job.done:  # a batch's beat, not the one that gave the total
            during.append(customer_indexes())
        if cancel and job.done == 4:
            job_cancel(job=job)

    job = job_run(run.job_id, on_beat=look)

    assert job.status == (JobStatus.CANCELLED if cancel else JobStatus.DONE)
    assert {"cust_active_created", "cust_region", "cust_spent"} <= before
    assert len(during) == (2 if cancel else 3)
    assert all(not {"cust_active_created", "cust_region", "cust_spent"} & names for names in during)
    assert all("cust_name" in names for names in during), "what matching reads stays"
    assert customer_indexes() == before and not SetAsideIndex.objects.exists()


@pytest.mark.parametrize("customers", [0, 7])
def test_a_small_import_or_one_into_a_bigger_table_keeps_every_index(owner, settings, customers):
    threshold = 6 if customers else 7  # 6 rows: enough, but fewer than 7 customers; or not enough
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 2, "IMPORT_INDEXES_ASIDE_ROWS": threshold}
    for i in range(customers):
        make_customer(actor=owner, name=f"老客户{i}")
    rows = [f",客户{i},1380000{i:04d},,,,,,,," for i in range(6)]
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=csv_bytes(*rows), file_name="a.csv", enqueue=False)
    count = []

    job_run(run.job_id, on_beat=lambda job: count.append(SetAsideIndex.objects.count()))

    assert count and set(count) == {0}


# --- a customer already in Kebu changes only as the importer may change them -----------------------


@pytest.fixture
def customer_importer(staff_member):
    """A colleague in ``role`` who may import customer sheets (``transfer.import_customers``), with the
    further ``permissions`` given ("app.codename")."""
    from django.contrib.auth.models import Permission

    def make(role: str, *permissions: str):
        user = staff_member(role, "daoru", display_name="导入员")
        for name in ("transfer.import_customers", *permissions):
            app_label, codename = name.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return make


KNOWN = csv_bytes(
    ",张三,13812345678,zs_wx,zs@example.com,男,浙江省,杭州市,西湖区,文三路1号,老客户",
    ",李四,13900001111,,,女,,,,,",
)


def test_an_importer_who_may_not_change_customers_leaves_those_the_file_differs_from_with_a_note(
    owner, customer_importer
):
    # given two customers, and a colleague who sees every customer in full and may add customers, but
    # may not change them
    run_import(owner, KNOWN)
    before = state()
    clerk = customer_importer("analyst", "customers.view_contact", "customers.add_customer")

    # when they import a sheet with other notes and gender for 张三, 李四 as Kebu has them, and 赵六
    again = run_import(
        clerk,
        csv_bytes(
            ",张三,13812345678,,,女,,,,,VIP",
            ",李四,13900001111,,,女,,,,,",
            ",赵六,13700002222,,,,,,,,",
        ),
    )

    # then 张三 is left as he was, with a note naming what differs; 李四 has none; 赵六 is new
    assert counts(again) == (1, 0, 2, 0)
    assert [row for row in state() if row[1] != "赵六"] == before
    assert again.noted == 1
    [note] = import_notes(again, limit=10)
    assert (note.row, note.column) == (2, "性别, 备注")
    assert "may not change customers" in note.reason


def test_an_importer_who_sees_contact_details_masked_changes_the_others_but_never_those(
    owner, customer_importer
):
    run_import(owner, KNOWN)
    zhang = Customer.objects.get(name="张三")
    contact = (zhang.email, zhang.notes, zhang.primary_phone)
    # a colleague who may change customers, and sees phones, emails, addresses, accounts, notes masked
    clerk = customer_importer("analyst", "customers.change_customer")

    again = run_import(
        clerk,
        csv_bytes(
            # a new number is not how this row finds 张三: his account is
            ",张三丰,13899998888,zs_wx,new@example.com,女,浙江省,宁波市,海曙区,中山西路2号,VIP",
        ),
    )

    assert counts(again) == (0, 1, 0, 0), import_rejected_rows(again)
    zhang.refresh_from_db()
    assert (zhang.name, zhang.gender) == ("张三丰", "f")  # theirs to change
    assert (zhang.email, zhang.notes, zhang.primary_phone) == contact
    assert zhang.phones.count() == 1 and zhang.addresses.count() == 1 and zhang.socials.count() == 1
    assert zhang.events.get(kind="customer.updated").data["changes"].keys() == {"name", "gender"}
    [note] = import_notes(again, limit=10)
    # The region is the address's too (a region alone is one): not taken either.
    assert (note.column, note.value) == ("手机号码, 微信号, 邮箱, 省份, 城市, 区县, 详细地址, 备注", "")
    assert "masked" in note.reason
    # Told whenever the row gives one, not only when it differs: else the note would tell whether the
    # number typed is the customer's.
    same = run_import(clerk, csv_bytes(",张三丰,13812345678,,,女,,,,,"))
    assert counts(same) == (0, 0, 1, 0) and [n.column for n in import_notes(same, limit=10)] == ["手机号码"]


def test_a_customer_the_importer_may_not_see_is_left_as_they_are_and_nobody_is_made_twice(
    owner, customer_importer, pool_off
):
    # given 张三 and 李四, the shop owner's (the shared pool switched off), but 李四 is the clerk's own
    run_import(owner, KNOWN)
    clerk = customer_importer("sales")
    Customer.objects.filter(name="李四").update(owner=clerk)
    before = state()

    # when the clerk imports new notes for both
    again = run_import(
        clerk,
        csv_bytes(
            ",张三,13812345678,,,,,,,,VIP",
            ",李四,13900001111,,,,,,,,VIP",
        ),
    )

    # then only 李四 takes them; 张三 is left, with a note telling no more than the new-customer form
    assert counts(again) == (0, 1, 1, 0), import_rejected_rows(again)
    after = state()
    assert [row for row in after if row[1] != "李四"] == [row for row in before if row[1] != "李四"]
    assert Customer.objects.get(name="李四").notes == "VIP"
    assert Customer.objects.count() == 2
    [note] = import_notes(again, limit=10)
    assert note.row == 2 and "cannot see" in note.reason
    assert "张三" not in note.reason and "老客户" not in note.reason


# --- a customer the file adds is added only as the importer could add them by hand --------------------


def problems_of(run: Import) -> dict[int, list[str]]:
    return {number: [p.reason for p in found] for number, found in import_problems(run).items()}


def checked_problems(check) -> dict[int, list[str]]:
    return {number: [p.reason for p in found] for number, _cells, found in check.bad}


@pytest.mark.parametrize("mode", [ImportMode.GOOD_ROWS, ImportMode.ALL_OR_NOTHING])
def test_an_importer_who_may_not_add_customers_updates_the_ones_they_see_and_adds_nobody(
    owner, customer_importer, pool_off, mode
):
    # given 李四, the clerk's own, and a clerk who sees and changes their customers but may not add one
    run_import(owner, KNOWN)
    clerk = customer_importer(
        None, "customers.view_customer", "customers.change_customer", "customers.view_contact"
    )
    Customer.objects.filter(name="李四").update(owner=clerk)
    before = state()
    data = csv_bytes(",李四,13900001111,,,,,,,,VIP", ",赵六,13700002222,,,,,,,,")

    # when they check, then import, a sheet with new notes for 李四 and a new customer, 赵六
    check = customer_file_check(data, actor=clerk)
    run = run_import(clerk, data, mode=mode)

    # then 赵六 is refused, saying why, and made nowhere; 李四 takes the notes unless all or nothing
    assert (
        problems_of(run)
        == checked_problems(check)
        == {3: ["This customer is not in Kebu yet, and your role may not add customers."]}
    )
    assert not Customer.objects.filter(name="赵六").exists()
    if mode == ImportMode.ALL_OR_NOTHING:
        assert run.refused and state() == before
    else:
        assert counts(run) == (0, 1, 0, 1)
        assert Customer.objects.get(name="李四").notes == "VIP"
    # and a sheet of only the customers they have imports as it did before
    assert counts(run_import(clerk, csv_bytes(",李四,13900001111,,,,,,,,老客户"))) == (0, 1, 0, 0)


def test_a_salesperson_owns_the_customers_they_import_and_sees_them_with_the_pool_off(
    customer_importer, pool_off
):
    from kebu.customers.selectors import customer_visible_queryset

    clerk = customer_importer("sales")

    run = run_import(clerk, KNOWN)

    assert counts(run) == (2, 0, 0, 0)
    assert set(Customer.objects.values_list("owner", flat=True)) == {clerk.pk}
    assert customer_visible_queryset(user=clerk).count() == 2
    # so the same file again finds them as theirs: nothing left out as a customer they cannot see
    again = run_import(clerk, KNOWN)
    assert counts(again) == (0, 0, 2, 0) and again.noted == 0


def test_an_importer_who_may_not_assign_owns_the_customers_they_add_whatever_the_sheet_says(
    owner, customer_importer, pool_off
):
    # given a clerk who may not assign customers, and 李四, the clerk's own
    clerk = customer_importer("sales")
    run_import(owner, owned_csv(",李四,13900001111,,,"))
    Customer.objects.filter(name="李四").update(owner=clerk)
    data = owned_csv(
        ",张三,13812345678,,,导入员",  # new, and theirs: as the form would have it
        ",王五,13700002222,,,laoban",  # new, but the boss's: not theirs to give
        ",李四,13900001111,老客,,laoban",  # theirs already: the tag is taken, the owner kept
    )

    check = customer_file_check(data, actor=clerk)
    run = run_import(clerk, data)

    assert counts(run) == (1, 1, 0, 1)
    assert problems_of(run) == checked_problems(check)
    assert list(problems_of(run)) == [3] and "may not assign" in problems_of(run)[3][0]
    assert Customer.objects.get(name="张三").owner == clerk
    li = Customer.objects.get(name="李四")
    assert li.owner == clerk and list(li.tags.values_list("name", flat=True)) == ["老客"]
    [note] = import_notes(run, limit=10)
    assert (note.row, note.column) == (4, "负责人") and "owner was left as Kebu has it" in note.reason


def test_an_importer_who_may_assign_gives_new_customers_the_sheets_owner_else_the_one_chosen(
    owner, staff_member
):
    clerk = staff_member("sales", "xiaowang", display_name="小王")
    other = staff_member("sales", "xiaoli", display_name="小李")
    data = owned_csv(",张三,13812345678,,,小王", ",李四,13900001111,,,")

    def owners(run: Import) -> dict[str, object]:
        assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
        made = dict(Customer.objects.values_list("name", "owner"))
        import_undo(actor=owner, run=run)
        return made

    # themselves, by default, as on the new-customer form
    assert owners(run_import(owner, data)) == {"张三": clerk.pk, "李四": owner.pk}
    # nobody (the shared pool), or a colleague, when they choose so for the import
    assert owners(start_and_run(owner, data, owner=None)) == {"张三": clerk.pk, "李四": None}
    assert owners(start_and_run(owner, data, owner=other)) == {"张三": clerk.pk, "李四": other.pk}


def start_and_run(actor, data: bytes, **options) -> Import:
    with transaction.atomic():
        run = customer_import_start(actor=actor, data=data, file_name="客户.csv", enqueue=False, **options)
    job_run(run.job_id)
    run.refresh_from_db()
    return run


def test_only_someone_who_may_assign_chooses_the_owner_of_the_customers_an_import_adds(
    owner, customer_importer, staff_member
):
    clerk = customer_importer("sales")
    inactive = staff_member("sales", "gone", is_active=False)

    with pytest.raises(Forbidden):
        start_and_run(clerk, KNOWN, owner=owner)
    with pytest.raises(Forbidden):
        start_and_run(clerk, KNOWN, owner=None)
    with pytest.raises(ValidationFailed):
        start_and_run(owner, KNOWN, owner=inactive)
    assert not Import.objects.exists()
    # choosing themselves is what they get anyway
    assert counts(start_and_run(clerk, KNOWN, owner=clerk)) == (2, 0, 0, 0)


def no_longer_given_customers(user, how: str) -> None:
    """``user`` leaves, moves to a role without customers, or has their account deleted."""
    if how == "left":
        user.is_active = False
        user.save(update_fields=["is_active"])
    elif how == "role changed":
        user.groups.clear()
    else:
        user.delete()


@pytest.mark.parametrize("how", ["left", "role changed", "deleted"])
def test_an_import_whose_chosen_owner_may_no_longer_have_customers_fails_at_its_start_saying_so(
    owner, staff_member, how
):
    # given an import queued to give the customers it adds to 小李
    other = staff_member("sales", "xiaoli", display_name="小李")
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=KNOWN, file_name="客户.csv", enqueue=False, owner=other)

    # when 小李 may no longer be given customers by the time it runs
    no_longer_given_customers(other, how)
    job = job_run(run.job_id)

    # then it fails before adding anyone, naming who (while they have an account), rather than give
    # the customers to someone who may not have them or to the shared pool
    assert job.status == JobStatus.FAILED and not Customer.objects.exists()
    assert ("小李" in job.error) == (how != "deleted")


def test_a_resumed_import_gives_new_customers_to_its_chosen_owner_only_while_they_may_have_them(
    owner, staff_member
):
    # given an import for 小李 that failed when 小李 had left
    other = staff_member("sales", "xiaoli", display_name="小李")
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=KNOWN, file_name="客户.csv", enqueue=False, owner=other)
    no_longer_given_customers(other, "left")
    assert job_run(run.job_id).status == JobStatus.FAILED

    # when 小李 is back and the import is resumed
    other.is_active = True
    other.save(update_fields=["is_active"])
    job_retry(job=run.job)
    job_run(run.job_id)

    # then it adds the customers, 小李's
    run.refresh_from_db()
    assert counts(run) == (2, 0, 0, 0)
    assert set(Customer.objects.values_list("owner", flat=True)) == {other.pk}


# --- the importer is asked again when the import runs ----------------------------------------------


def importer_on_the_pages(staff_member, *permissions: str):
    """导入员, a manager who may import sheets (``transfer.import_customers``, given to them alone, and the
    further ``permissions``), as the import pages require."""
    from django.contrib.auth.models import Permission

    user = staff_member("manager", "daoru", display_name="导入员")
    for name in ("transfer.import_customers", *permissions):
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def started_on_the_pages(
    actor, data: bytes, *, kind: str = ImportKind.CUSTOMERS, store=None, file_name: str = "客户.csv"
) -> Import:
    """An import started as the import pages start one (``drafts.import_from_draft``), left waiting."""
    draft = import_draft_keep(data=data)
    with transaction.atomic():
        return import_from_draft(
            actor=actor,
            token=draft.token,
            file_name=file_name,
            sheet=draft.sheet,
            mode=ImportMode.GOOD_ROWS,
            mapping=import_mapping(draft.headers, kind=kind),
            kind=kind,
            store=store,
        )


def no_longer_importing(user, how: str) -> None:
    """``user`` leaves, loses the import permission (still a manager, working with customers and
    orders), moves to a role that takes no orders (still allowed to import), or is deleted."""
    from django.contrib.auth.models import Permission

    from kebu.accounts.roles import role_assign

    if how == "left":
        user.is_active = False
        user.save(update_fields=["is_active"])
    elif how == "may no longer import":
        user.user_permissions.remove(Permission.objects.get(codename="import_customers"))
    elif how == "takes no orders":
        user.groups.clear()
        role_assign(user=user, key="analyst")
    else:
        user.delete()


@pytest.mark.parametrize("how", ["left", "may no longer import", "deleted"])
def test_an_import_whose_importer_may_no_longer_import_fails_at_its_start_saying_so(
    owner, staff_member, no_drafts_left_over, how
):
    # given 张三, and an import started on the pages by 导入员 that would change him and add 李四, waiting
    run_import(owner, csv_bytes(",张三,13812345678,,,,,,,,"))
    importer = importer_on_the_pages(staff_member)
    run = started_on_the_pages(importer, KNOWN)
    before = state()

    # when 导入员 may no longer import by the time it runs
    no_longer_importing(importer, how)
    job = job_run(run.job_id)

    # then it fails before reading a row, naming them (their login name once the account is gone) and
    # saying what to do, rather than run with no rights, or, deleted, as the terminal with every right
    run.refresh_from_db()
    assert job.status == JobStatus.FAILED, job.error
    assert ("daoru" if how == "deleted" else "导入员") in job.error and "import the file again" in job.error
    assert state() == before and counts(run) == (0, 0, 0, 0) and not run.journal.exists()


def test_an_import_from_the_terminal_under_no_ones_name_still_runs(owner):
    # given an import with no importer at all, as ``kebu import`` without --user starts one
    run = start_and_run(None, KNOWN)

    # then it runs as before: nobody left, so nothing to ask
    assert run.job.status == JobStatus.DONE and counts(run) == (2, 0, 0, 0)


class Killed(BaseException):
    """The worker dies (kill -9) in the middle of a batch: nothing of that batch is committed."""


def test_an_import_resumed_after_its_importer_left_keeps_what_it_committed_and_writes_no_more(
    owner, staff_member, settings, no_drafts_left_over
):
    from datetime import timedelta

    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}
    importer = importer_on_the_pages(staff_member)
    run = started_on_the_pages(importer, KNOWN)

    # given a worker killed in the import's second batch, after the first (张三) was committed
    def die_in_the_second_batch(job):
        if job.done == 2:
            raise Killed

    with pytest.raises(Killed):
        job_run(run.job_id, on_beat=die_in_the_second_batch)
    assert list(Customer.objects.values_list("name", flat=True)) == ["张三"]

    # when 导入员 leaves, and the import is resumed (kebu import --resume --take-over)
    no_longer_importing(importer, "left")
    job = job_run(run.job_id, stale_after=timedelta(0))

    # then it fails at its start: 张三 stays, as the batch committed him, and 李四 is not added
    run.refresh_from_db()
    assert job.status == JobStatus.FAILED and "导入员" in job.error
    assert list(Customer.objects.values_list("name", flat=True)) == ["张三"]
    assert counts(run) == (1, 0, 0, 0) and run.next_row == 3


def test_undo_of_an_import_that_gave_owners_puts_every_customer_back_as_it_was(owner, staff_member):
    # given 张三, the clerk's
    clerk = staff_member("sales", "xiaowang", display_name="小王")
    run_import(owner, owned_csv(",张三,13812345678,,,小王"))
    before = owned_state()

    # when an import for 小李 moves 张三 to them by the owner column and adds 李四, then is undone
    other = staff_member("sales", "xiaoli", display_name="小李")
    run = start_and_run(owner, owned_csv(",张三,13812345678,,,小李", ",李四,13900001111,,,"), owner=other)
    assert counts(run) == (1, 1, 0, 0), import_rejected_rows(run)
    assert dict(Customer.objects.values_list("name", "owner")) == {"张三": other.pk, "李四": other.pk}
    import_undo(actor=owner, run=run)

    # then 张三 is the clerk's again, and 李四 is gone
    assert put_back(owned_state()) == put_back(before) and before[0][-1] == clerk.pk


def owned_state() -> list[tuple]:
    """``state()``, and whose each customer is."""
    owners = Customer.objects.order_by("customer_no").values_list("owner", flat=True)
    return [(*row, owner) for row, owner in zip(state(), owners, strict=True)]


# --- the owner column names only someone who could be given customers by hand ---------------------


@pytest.mark.parametrize("mode", [ImportMode.GOOD_ROWS, ImportMode.ALL_OR_NOTHING])
def test_an_owner_cell_naming_someone_who_may_not_have_customers_is_refused_on_that_cell(
    owner, staff_member, mode
):
    # given 张三, and two who may not be given customers: one who left, one who does not work with them
    staff_member("sales", "gone", display_name="老周", is_active=False)
    staff_member(None, "cangku", display_name="仓库")
    run_import(owner, owned_csv(",张三,13812345678,,,"))
    before = owned_state()
    data = owned_csv(",张三,13812345678,,,老周", ",李四,13900001111,,,仓库")

    # when the shop owner checks, then imports, a sheet giving 张三 to the first and a new 李四 to the other
    check = customer_file_check(data, actor=owner)
    run = run_import(owner, data, mode=mode)

    # then both rows are refused on the owner cell, saying why, as the check said, and nothing changed
    problems = import_rejected_rows(run)
    assert [(n, [(p.column, p.value) for p in found]) for n, _cells, found in problems] == [
        (2, [("负责人", "老周")]),
        (3, [("负责人", "仓库")]),
    ]
    assert all("cannot be given customers" in p.reason for _n, _c, found in problems for p in found)
    assert problems_of(run) == checked_problems(check)
    assert owned_state() == before


# --- a customer already in Kebu changes owner by a sheet only as a transfer by hand would ------------


@pytest.fixture
def east_manager(customer_importer):
    """A manager of the east team who may import customer sheets: sees the team's customers, assigns."""
    from kebu.accounts.models import Team

    manager = customer_importer("manager")
    manager.team = Team.objects.create(name="华东")
    manager.save(update_fields=["team"])
    return manager


def colleague(staff_member, manager, username: str, name: str):
    return staff_member("sales", username, display_name=name, team=manager.team)


def test_a_manager_reimporting_another_owner_transfers_the_customer_as_by_hand(
    owner, staff_member, east_manager, pool_off
):
    from kebu.customers.selectors import customer_ownership_history

    # given 张三, 小王's, and a sheet that gives them to 小李, with new notes
    wang = colleague(staff_member, east_manager, "xiaowang", "小王")
    li = colleague(staff_member, east_manager, "xiaoli", "小李")
    run_import(owner, owned_csv(",张三,13812345678,,,小王"))
    zhang = Customer.objects.get(name="张三")
    data = owned_csv(",张三,13812345678,老客,,小李")

    # when the manager checks the sheet, then imports it
    check = customer_file_check(data, actor=east_manager)
    assert (check.good, check.bad) == (1, [])
    assert not AuditEntry.objects.filter(action="customer.assign").exists(), "the check writes nothing"
    run = run_import(east_manager, data)

    # then 张三 is 小李's, by a transfer in the manager's name on the ownership history and in the audit log
    assert counts(run) == (0, 1, 0, 0)
    zhang.refresh_from_db()
    assert zhang.owner == li
    [moved] = customer_ownership_history(actor=east_manager, customer=zhang)
    assert (moved.kind, moved.actor) == ("customer.transferred", east_manager)
    assert (moved.data["from"]["id"], moved.data["to"]["id"]) == (wang.pk, li.pk)
    assert (moved.data["import"], moved.data["undo"]) == (run.pk, False)
    [audit] = AuditEntry.objects.filter(action="customer.assign")
    assert (audit.actor_id, audit.target_id, audit.data["kind"]) == (
        east_manager.pk,
        str(zhang.pk),
        moved.kind,
    )
    # and the other columns are the import's change, as before
    changed = CustomerEvent.objects.get(customer=zhang, kind="customer.updated", data__import=run.pk)
    assert list(changed.data["changes"]) == ["tags"]


def test_undo_of_a_reimport_that_moved_a_customer_gives_them_back_and_says_so(
    owner, staff_member, east_manager, pool_off, owner_client, pages_in_english
):
    from django.urls import reverse

    from kebu.customers.selectors import customer_ownership_history

    # given 张三, 小王's, moved to 小李 by the manager's import
    wang = colleague(staff_member, east_manager, "xiaowang", "小王")
    li = colleague(staff_member, east_manager, "xiaoli", "小李")
    run_import(owner, owned_csv(",张三,13812345678,,,小王"))
    before = owned_state()
    run = run_import(east_manager, owned_csv(",张三,13812345678,,,小李"))
    assert counts(run) == (0, 1, 0, 0)

    # when the shop owner undoes it
    import_undo(actor=owner, run=run)

    # then 张三 is 小王's again, exactly as before, and the history tells both moves: a log is not rewritten
    assert put_back(owned_state()) == put_back(before)
    zhang = Customer.objects.get(name="张三")
    back, moved = customer_ownership_history(actor=owner, customer=zhang)
    assert (back.kind, back.actor, back.data["import"], back.data["undo"]) == (
        "customer.transferred",
        owner,
        run.pk,
        True,
    )
    assert (back.data["from"]["id"], back.data["to"]["id"]) == (li.pk, wang.pk)
    assert (moved.actor, moved.data["to"]["id"]) == (east_manager, li.pk)
    assert AuditEntry.objects.filter(action="customer.assign", target_id=str(zhang.pk)).count() == 2
    page = owner_client.get(reverse("customers:detail", args=[zhang.pk])).content.decode()
    history = page[page.index('id="ownership-history"') :]
    assert history.index(f"Import #{run.pk} undone") < history.index(f"Changed by import #{run.pk}")


# --- the owner column may say the shared pool (公海) ------------------------------------------------


@pytest.mark.parametrize("pool", ["公海", "Shared pool", "shared pool"])
def test_an_owner_cell_saying_the_shared_pool_adds_a_customer_nobody_owns(owner, pool):
    # when the shop owner imports a new 张三 into the pool, and a new 李四 with no owner cell
    run = run_import(owner, owned_csv(f",张三,13812345678,,,{pool}", ",李四,13900001111,,,"))

    # then 张三 is nobody's, in the pool, and 李四 the importer's, as before
    assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
    assert dict(Customer.objects.values_list("name", "owner")) == {"张三": None, "李四": owner.pk}


def test_an_owner_cell_saying_the_shared_pool_releases_a_customer_as_by_hand_and_undo_gives_them_back(
    owner, staff_member, east_manager
):
    from kebu.customers.selectors import customer_ownership_history
    from kebu.customers.services import customer_release

    # given 张三 and 王五, 小王's
    wang = colleague(staff_member, east_manager, "xiaowang", "小王")
    run_import(owner, owned_csv(",张三,13812345678,,,小王", ",王五,13700002222,,,小王"))
    before = owned_state()
    zhang, wu = Customer.objects.get(name="张三"), Customer.objects.get(name="王五")

    # when the manager releases 王五 by hand, and 张三 by a sheet saying 公海, with a tag
    customer_release(customer=wu, actor=east_manager)
    run = run_import(east_manager, owned_csv(",张三,13812345678,老客,,公海"))

    # then 张三 is in the pool, released as 王五 was: on the ownership history, the timeline and the audit
    # log, in the manager's name, the sheet's as the import's
    assert counts(run) == (0, 1, 0, 0), import_rejected_rows(run)
    zhang.refresh_from_db()
    assert zhang.owner is None
    [by_sheet] = customer_ownership_history(actor=east_manager, customer=zhang)
    [by_hand] = customer_ownership_history(actor=east_manager, customer=wu)
    assert (
        (by_sheet.kind, by_sheet.actor, by_sheet.data["from"], by_sheet.data["to"])
        == (
            by_hand.kind,
            by_hand.actor,
            by_hand.data["from"],
            by_hand.data["to"],
        )
        == ("customer.released", east_manager, {"id": wang.pk, "name": "小王"}, None)
    )
    assert (by_sheet.data["import"], by_sheet.data["undo"]) == (run.pk, False)
    sheet_audit, hand_audit = (
        AuditEntry.objects.get(action="customer.assign", target_id=str(c.pk)) for c in (zhang, wu)
    )
    assert {k: v for k, v in sheet_audit.data.items() if k not in ("import", "undo")} == hand_audit.data
    assert sheet_audit.actor_id == hand_audit.actor_id == east_manager.pk
    changed = CustomerEvent.objects.get(customer=zhang, kind="customer.updated", data__import=run.pk)
    assert list(changed.data["changes"]) == ["tags"]

    # when the shop owner undoes the import
    import_undo(actor=owner, run=run)

    # then 张三 is 小王's again, exactly as before, by a transfer back marked as the undo
    zhang.refresh_from_db()
    assert zhang.owner == wang and put_back(owned_state())[0] == put_back(before)[0]
    back, _released = customer_ownership_history(actor=owner, customer=zhang)
    assert (back.kind, back.actor, back.data["from"], back.data["to"]["id"], back.data["undo"]) == (
        "customer.transferred",
        owner,
        None,
        wang.pk,
        True,
    )
    wu.refresh_from_db()
    assert wu.owner is None, "the release by hand is not the import's to undo"


@pytest.mark.parametrize("mode", [ImportMode.GOOD_ROWS, ImportMode.ALL_OR_NOTHING])
def test_an_importer_who_may_not_assign_puts_no_customer_in_the_shared_pool_by_a_sheet(
    owner, customer_importer, pool_off, mode
):
    # given 李四, the clerk's own, and a clerk who may add and change customers but not assign them
    clerk = customer_importer("sales")
    run_import(owner, owned_csv(",李四,13900001111,,,"))
    Customer.objects.filter(name="李四").update(owner=clerk)
    data = owned_csv(
        ",张三,13812345678,,,公海",  # new, into the pool: not theirs to do
        ",李四,13900001111,老客,,公海",  # theirs: the tag is taken, the owner kept
    )

    # when they check the sheet, then import it
    check = customer_file_check(data, actor=clerk)
    run = run_import(clerk, data, mode=mode)

    # then the new customer is refused on the owner cell, saying why, as the check said
    problems = import_rejected_rows(run)
    assert [(n, [(p.column, p.value) for p in found]) for n, _cells, found in problems] == [
        (2, [("负责人", "公海")])
    ]
    assert problems_of(run) == checked_problems(check)
    assert "may not put customers in the shared pool" in problems_of(run)[2][0]
    assert not Customer.objects.filter(name="张三").exists()
    li = Customer.objects.get(name="李四")
    assert li.owner == clerk
    if mode == ImportMode.GOOD_ROWS:
        # and 李四 stays theirs, with a note on the owner cell, and takes the tag
        assert counts(run) == (0, 1, 0, 1)
        assert list(li.tags.values_list("name", flat=True)) == ["老客"]
        [note] = import_notes(run, limit=10)
        assert (note.row, note.column) == (3, "负责人") and "owner was left as Kebu has it" in note.reason
    else:
        assert run.refused and not li.tags.exists()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_shops_own_export_says_the_shared_pool_for_nobodys_customers_and_imports_again_unchanged(
    owner, staff_member, tmp_path, language
):
    from django.utils import translation

    from kebu.transfer.exports import export_build, export_write

    # given 张三, 小王's, and 李四 in the pool
    staff_member("sales", "xiaowang", display_name="小王")
    start_and_run(owner, owned_csv(",张三,13812345678,,,小王", ",李四,13900001111,,,公海"))
    before = owned_state()

    # when the shop's export is imported again, and into a shop without them
    path = tmp_path / "客户.csv"
    with translation.override(language):
        export_write(export_build("customers", user=owner), path, file_format="csv", user=owner)
    rows = csv_rows(path.read_bytes())
    owner_at = rows[0].index("Owner" if language == "en" else "负责人")
    assert {row[1]: row[owner_at] for row in rows[1:]} == {
        "张三": "小王",
        "李四": "Shared pool" if language == "en" else "公海",
    }
    again = run_import(owner, path)
    assert counts(again) == (0, 0, 2, 0), import_rejected_rows(again)
    assert owned_state() == before
    Customer.objects.all().delete()
    fresh = run_import(owner, path)

    # then nothing changes, and, in a shop without them, 李四 comes back in the pool, not the importer's
    assert counts(fresh) == (2, 0, 0, 0), import_rejected_rows(fresh)
    assert dict(Customer.objects.values_list("name", "owner__username")) == {"张三": "xiaowang", "李四": None}


@pytest.mark.parametrize("mode", [ImportMode.GOOD_ROWS, ImportMode.ALL_OR_NOTHING])
@pytest.mark.parametrize("how", ["left", "role changed"])
def test_the_shops_own_export_imports_again_unchanged_after_an_owner_left(
    owner, staff_member, tmp_path, how, mode
):
    from kebu.transfer.exports import export_build, export_write

    # given 张三 and 李四, 小王's, and 小王 no longer given customers
    clerk = staff_member("sales", "xiaowang", display_name="小王")
    run_import(owner, owned_csv(",张三,13812345678,,,小王", ",李四,13900001111,,,小王"))
    no_longer_given_customers(clerk, how)
    before = owned_state()

    # when the shop's export, which names 小王 as their owner, is imported again
    path = tmp_path / "客户.csv"
    export_write(export_build("customers", user=owner), path, file_format="csv", user=owner)
    check = customer_file_check(path, actor=owner)
    run = run_import(owner, path, mode=mode)

    # then both are as they were, 小王's, and no row is refused, by the check either
    assert counts(run) == (0, 0, 2, 0), import_rejected_rows(run)
    assert not check.bad and owned_state() == before


def test_an_owner_cell_naming_someone_who_left_refuses_only_the_rows_that_would_give_them_a_customer(
    owner, staff_member
):
    # given 张三, 小王's, and 李四, the shop owner's; then 小王 leaves
    clerk = staff_member("sales", "xiaowang", display_name="小王")
    run_import(owner, owned_csv(",张三,13812345678,,,小王", ",李四,13900001111,,,"))
    no_longer_given_customers(clerk, "left")
    data = owned_csv(
        ",张三,13812345678,老客,,小王",  # 小王's already: no change of owner, the tag is taken
        ",李四,13900001111,,,小王",  # would move 李四 to 小王
        ",王五,13700002222,,,小王",  # would make a customer of 小王's
    )

    check = customer_file_check(data, actor=owner)
    run = run_import(owner, data)

    # then the two rows that would give 小王 a customer are refused on the owner cell, as the check said
    assert counts(run) == (0, 1, 0, 2)
    problems = import_rejected_rows(run)
    assert [(n, [(p.column, p.value) for p in found]) for n, _cells, found in problems] == [
        (3, [("负责人", "小王")]),
        (4, [("负责人", "小王")]),
    ]
    assert problems_of(run) == checked_problems(check)
    # and 张三 stays 小王's, with the tag
    zhang = Customer.objects.get(name="张三")
    assert zhang.owner == clerk and list(zhang.tags.values_list("name", flat=True)) == ["老客"]
    assert Customer.objects.get(name="李四").owner == owner
    assert not Customer.objects.filter(name="王五").exists()


# --- a sheet that names customers by a key alone updates them, and makes nobody ---------------------


def keyed_csv(header: str, *lines: str) -> bytes:
    return (header + "\n" + "".join(line + "\n" for line in lines)).encode("utf-8")


def tags_of(customer: Customer) -> list[str]:
    return sorted(customer.tags.values_list("name", flat=True))


def test_a_sheet_of_customer_numbers_tags_restages_and_reassigns_them_and_undo_puts_them_back(
    owner, staff_member
):
    # given three customers, one already tagged 老客, and a colleague to give customers to
    clerk = staff_member("sales", "xiaowang", display_name="小王")
    Tag.objects.create(name="老客")
    zhang = make_customer(actor=owner, name="张三", phone="13812345678")
    li = make_customer(actor=owner, name="李四", phone="13900001111")
    wang = make_customer(actor=owner, name="王五", phone="13700002222")
    run_import(owner, keyed_csv("客户编号,标签", f"{zhang.customer_no},老客"))
    before = (owned_state(), tag_names(), tags_of(zhang))

    # when a sheet of their numbers and only the columns to change is imported
    run = run_import(
        owner,
        keyed_csv(
            "客户编号,标签,客户阶段,负责人",
            f"{zhang.customer_no},VIP、老客,复购,",
            f"{li.customer_no.lower()},,,小王",
            f"{wang.customer_no},,,",  # nothing to change
        ),
    )

    # then each takes the cells its row has, and keeps its name, phone and everything the sheet left blank
    assert counts(run) == (0, 2, 1, 0), import_rejected_rows(run)
    zhang.refresh_from_db()
    li.refresh_from_db()
    assert (zhang.name, zhang.primary_phone, zhang.stage, tags_of(zhang)) == (
        "张三",
        "+8613812345678",
        "repeat",
        ["VIP", "老客"],
    )
    assert (li.name, li.owner, tags_of(li)) == ("李四", clerk, [])
    assert [row for row in owned_state() if row[1] == "王五"] == [r for r in before[0] if r[1] == "王五"]
    # and undo takes the tag and the stage off and gives 李四 back
    import_undo(actor=owner, run=run)
    zhang.refresh_from_db()
    assert (put_back(owned_state()), tag_names(), tags_of(zhang)) == (put_back(before[0]), *before[1:])


def test_a_sheet_of_wechat_ids_and_notes_updates_the_customers_who_have_them(owner):
    zhang = make_customer(
        actor=owner, name="张三", phone="13812345678", socials=[SocialInput(kind="wechat", handle="zs_wx")]
    )
    li = make_customer(actor=owner, name="李四", phone="13900001111", notes="老客户")

    run = run_import(owner, keyed_csv("微信号,备注", "ZS_WX,爱喝铁观音"))

    assert counts(run) == (0, 1, 0, 0), import_rejected_rows(run)
    zhang.refresh_from_db()
    li.refresh_from_db()
    assert (zhang.name, zhang.notes, zhang.socials.count()) == ("张三", "爱喝铁观音", 1)
    assert li.notes == "老客户"


def test_a_row_whose_name_and_phone_are_blank_updates_the_customer_its_number_names(owner):
    """A sheet with a name column, and rows that leave it blank: once refused for want of a name."""
    zhang = make_customer(actor=owner, name="张三", phone="13812345678")

    run = run_import(owner, csv_bytes(f"{zhang.customer_no},,,,,,,,,,VIP", ",李四,13900001111,,,,,,,,"))

    assert counts(run) == (1, 1, 0, 0), import_rejected_rows(run)
    zhang.refresh_from_db()
    assert (zhang.name, zhang.notes) == ("张三", "VIP")


@pytest.mark.parametrize("mode", [ImportMode.GOOD_ROWS, ImportMode.ALL_OR_NOTHING])
def test_a_key_no_customer_has_is_refused_on_its_row_naming_it_and_nothing_is_written_for_it(owner, mode):
    # given 张三, with a WeChat ID
    zhang = make_customer(
        actor=owner, name="张三", phone="13812345678", socials=[SocialInput(kind="wechat", handle="zs_wx")]
    )
    before = (state(), tag_names())
    data = keyed_csv(
        "客户编号,微信号,邮箱,标签",
        f"{zhang.customer_no},,,VIP",
        "c000123,,,新词",  # a number from another shop's Kebu
        ",wx_nobody,nobody@example.com,新词",
        ",,nobody@example.com,新词",
    )

    # when a sheet tags him, and three customers Kebu does not have, each known by a key alone
    check = customer_file_check(data, actor=owner)
    run = run_import(owner, data, mode=mode)

    # then those rows are refused on the cell of their key, as the dry run said, and none is made
    problems = import_rejected_rows(run)
    assert [(n, [(p.column, p.value, p.reason) for p in found]) for n, _cells, found in problems] == [
        (
            3,
            [
                (
                    "客户编号",
                    "c000123",
                    "No customer has the customer number C000123; a new customer needs a name or a phone.",
                )
            ],
        ),
        (
            4,
            [
                (
                    "微信号",
                    "wx_nobody",
                    "No customer has the WeChat ID wx_nobody; a new customer needs a name or a phone.",
                )
            ],
        ),
        (
            5,
            [
                (
                    "邮箱",
                    "nobody@example.com",
                    "No customer has the email nobody@example.com; a new customer needs a name or a phone.",
                )
            ],
        ),
    ]
    assert problems_of(run) == checked_problems(check) and check.good == 1
    assert Customer.objects.count() == 1
    if mode == ImportMode.ALL_OR_NOTHING:
        assert run.refused and (state(), tag_names()) == before
    else:
        assert counts(run) == (0, 1, 0, 3)
        assert tag_names() == ["VIP"]  # 新词 went to nobody: not left behind


def test_a_row_of_a_keyed_sheet_with_its_key_blank_is_told_to_fill_the_key_in(owner):
    # given 张三
    zhang = make_customer(actor=owner, name="张三", phone="13812345678")

    # when a 客户编号 | 标签 sheet tags him, and has a row whose number was left out
    run = run_import(owner, keyed_csv("客户编号,标签", f"{zhang.customer_no},VIP", ",VIP"))

    # then that row is refused on its number's cell, asking for it, not for a name no column holds
    assert [(n, [(p.column, p.reason) for p in found]) for n, _cells, found in import_rejected_rows(run)] == [
        (3, [("客户编号", "This row names no customer: fill in 客户编号.")])
    ]
    assert counts(run) == (0, 1, 0, 1)


def test_an_importer_who_may_not_change_customers_leaves_those_a_keyed_sheet_names_with_a_note(
    owner, customer_importer
):
    zhang = make_customer(actor=owner, name="张三", phone="13812345678")
    before = state()
    clerk = customer_importer("analyst", "customers.view_contact", "customers.add_customer")

    run = run_import(clerk, keyed_csv("客户编号,备注", f"{zhang.customer_no},VIP"))

    assert counts(run) == (0, 0, 1, 0) and state() == before
    [note] = import_notes(run, limit=10)
    assert note.column == "备注" and "may not change customers" in note.reason


def test_a_mapping_with_a_key_alone_is_taken_and_one_without_any_is_refused_naming_what_would_do(owner):
    assert import_mapping(["客户编号", "标签"]) == {0: "customer_no", 1: "tags"}
    assert import_mapping(["旺旺", "负责人"]) == {0: "wangwang", 1: "owner"}
    with pytest.raises(ValidationFailed, match="customer number, WeChat or another account, or email"):
        customer_import_start(
            actor=owner, data=keyed_csv("备注,最近购买", "VIP,铁观音"), file_name="x.csv", enqueue=False
        )


def test_a_name_spaced_out_in_the_sheet_is_the_customer_of_that_name_and_said_so(owner):
    # A sheet that lines up two- and three-character names writes 李  娜: taken as written, the customer's
    # name changed at every import and a search for 李娜 missed her.
    from kebu.transfer.corrections import import_corrections

    known = make_customer(actor=owner, name="李娜", phone="13800001235")

    run = run_import(owner, csv_bytes(",李  娜,13800001235,,,,,,,,", ",欧阳\u3000娜娜,13800001236,,,,,,,,"))

    assert counts(run) == (1, 0, 1, 0)
    known.refresh_from_db()
    assert known.name == "李娜" and Customer.objects.filter(name="欧阳娜娜").exists()
    said = {(c.row, c.written, c.taken) for c in import_corrections(run) if c.column == "姓名"}
    assert said == {(2, "李  娜", "李娜"), (3, "欧阳\u3000娜娜", "欧阳娜娜")}
