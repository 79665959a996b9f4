"""Importing a marketplace's review export (评价导出): each review added to its order (already imported),
the order's buyer its customer, the product found among the order's lines, 好评/中评/差评 and stars read
as ratings, a re-import that changes nothing, the rows that cannot be taken with their reasons, undo,
the command and the pages."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse

from kebu.audit.models import AuditEntry
from kebu.core.errors import Conflict
from kebu.core.jobs import job_run
from kebu.engagement.models import Feedback, FeedbackSource
from kebu.orders.models import Order, Store
from kebu.orders.tests.factories import make_catalogue
from kebu.transfer.cells import CellError
from kebu.transfer.imports import customer_import_start, import_rejected_rows, import_undo
from kebu.transfer.models import Import, ImportKind, ImportMode
from kebu.transfer.reviews import rating_parse, review_file_check, review_id_derive
from kebu.transfer.tests.sheets import csv_rows, xlsx_with_formula_errors
from kebu.transfer.views import DRAFTS_SESSION_KEY

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parent / "samples"
TAOBAO = (SAMPLES / "reviews_taobao.csv").read_bytes()
JD = (SAMPLES / "reviews_jd.csv").read_bytes()
SHANGHAI = ZoneInfo("Asia/Shanghai")


def run_import(owner, data: bytes, *, kind: str, store, mode: str = ImportMode.GOOD_ROWS, name="评价.csv"):
    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=data, file_name=name, kind=kind, store=store, mode=mode, enqueue=False
        )
    job_run(run.job_id)
    run.refresh_from_db()
    return run


def counts(run: Import) -> tuple[int, int, int, int]:
    return run.created, run.updated, run.unchanged, run.rejected


def reasons(run: Import) -> list[tuple[int, str, str, str]]:
    return [(n, p.column, p.value, p.reason) for n, _cells, found in import_rejected_rows(run) for p in found]


def store_with_orders(owner, platform: str, orders_sample: str) -> Store:
    """A store of ``platform`` with the sample order export imported into it (reviews need their orders)."""
    store = Store.objects.create(name=f"{platform} 店", platform=platform)
    orders = run_import(owner, (SAMPLES / orders_sample).read_bytes(), kind=ImportKind.ORDERS, store=store)
    assert orders.rejected == 0, reasons(orders)
    return store


@pytest.fixture
def taobao(owner):
    make_catalogue(actor=owner)
    return store_with_orders(owner, "taobao", "taobao_orders.csv")


def reviews_of(store: Store) -> list[tuple]:
    return [
        (
            f.order.order_no,
            f.customer.name,
            f.product.name if f.product else None,
            f.rating,
        )
        for f in Feedback.objects.filter(store=store)
        .select_related("order", "customer", "product")
        .order_by("order__order_no", "product__name")
    ]


def test_a_taobao_export_adds_each_review_to_its_order_with_good_middling_and_bad_read_as_stars(
    owner, taobao
):
    run = run_import(owner, TAOBAO, kind=ImportKind.REVIEWS, store=taobao)

    assert counts(run) == (3, 0, 0, 0), reasons(run)
    # 好评 5, 中评 3, 差评 1; the customer is the order's buyer (the masked nickname t**1 matches no one); the
    # tea was sold without a SKU code, so that review is on the order without a product.
    assert reviews_of(taobao) == [
        ("2024010512345", "王小明", "玻尿酸面霜", 5),
        ("2024010512346", "李华", "爽肤水", 3),
        ("2024010512347", "王小明", None, 1),
    ]
    cream = Feedback.objects.get(store=taobao, external_id="1000000001")
    assert cream.source == FeedbackSource.IMPORTED and cream.created_by == owner
    assert cream.comment == "很滋润，味道也好闻。\n追评：用了一个月，皮肤好多了！"
    assert cream.reviewed_at == datetime(2024, 1, 10, 12, 0, tzinfo=SHANGHAI)
    assert AuditEntry.objects.filter(action="feedback.import").count() == 3


def test_the_same_export_again_changes_nothing(owner, taobao):
    run_import(owner, TAOBAO, kind=ImportKind.REVIEWS, store=taobao)
    before = list(Feedback.objects.order_by("pk").values())

    again = run_import(owner, TAOBAO, kind=ImportKind.REVIEWS, store=taobao)

    assert counts(again) == (0, 0, 3, 0)
    assert list(Feedback.objects.order_by("pk").values()) == before
    assert not again.journal.exists()


@pytest.mark.parametrize(
    ("reviews", "platform", "orders", "expected"),
    [
        (
            "reviews_jd.csv",
            "jd",
            "jd_orders.csv",
            [
                ("288001", "张伟", "玻尿酸面霜", 5),
                ("288002", "李娜", "明前龙井", 2),
                ("288002", "李娜", "爽肤水", 4),
            ],
        ),
        (
            "reviews_pdd.csv",
            "pinduoduo",
            "pdd_orders.csv",
            [("240305-123456789", "赵敏", "玻尿酸面霜", 5), ("240306-987654321", "钱多多", "明前龙井", 4)],
        ),
        (
            "reviews_douyin.xlsx",
            "douyin",
            "douyin_orders.csv",
            [("6920001", "孙丽", "玻尿酸面霜", 5), ("6920002", "周杰", "爽肤水", 1)],
        ),
    ],
)
def test_each_marketplaces_review_export_is_read_by_its_own_headers_and_a_reimport_is_a_no_op(
    owner, reviews, platform, orders, expected
):
    make_catalogue(actor=owner)
    store = store_with_orders(owner, platform, orders)
    data = (SAMPLES / reviews).read_bytes()

    run = run_import(owner, data, kind=ImportKind.REVIEWS, store=store, name=reviews)

    assert counts(run) == (len(expected), 0, 0, 0), reasons(run)
    assert reviews_of(store) == expected
    assert counts(run_import(owner, data, kind=ImportKind.REVIEWS, store=store, name=reviews)) == (
        0,
        0,
        len(expected),
        0,
    )


def test_a_review_time_written_as_a_spreadsheet_date_is_read_in_the_shops_time_zone(owner):
    make_catalogue(actor=owner)
    store = store_with_orders(owner, "douyin", "douyin_orders.csv")

    run_import(owner, (SAMPLES / "reviews_douyin.xlsx").read_bytes(), kind=ImportKind.REVIEWS, store=store)

    review = Feedback.objects.get(order__order_no="6920001")
    assert review.reviewed_at == datetime(2024, 3, 15, 20, 0, tzinfo=SHANGHAI)


def test_an_export_without_review_ids_gets_one_from_the_order_line_so_it_stays_one_review_each(owner):
    make_catalogue(actor=owner)
    store = store_with_orders(owner, "jd", "jd_orders.csv")
    run_import(owner, JD, kind=ImportKind.REVIEWS, store=store)

    # a later export of the same reviews, one of them rated again
    edited = JD.decode().replace("还行吧,4,", "还行吧，用完再追评,3,").encode()
    again = run_import(owner, edited, kind=ImportKind.REVIEWS, store=store)

    assert counts(again) == (0, 1, 2, 0)
    assert sorted(Feedback.objects.values_list("external_id", flat=True)) == [
        "288001#100012",
        "288002#100013",
        "288002#100014",
    ]
    assert Feedback.objects.get(external_id="288002#100013").rating == 3


def test_a_derived_review_id_too_long_for_the_column_keeps_the_order_number_and_a_digest():
    derived = review_id_derive("2024010512345", "超长的宝贝名称" * 20)

    assert len(derived) == 64 and derived.startswith("2024010512345#")
    assert derived == review_id_derive("2024010512345", "超长的宝贝名称" * 20)


def test_a_review_of_an_order_not_imported_yet_is_rejected_and_says_to_import_the_orders_first(owner, taobao):
    lines = TAOBAO.decode().splitlines()
    missing = lines[1].replace("2024010512345", "2099123100001")
    data = "\n".join([lines[0], missing, lines[2]]).encode()

    run = run_import(owner, data, kind=ImportKind.REVIEWS, store=taobao)

    assert counts(run) == (1, 0, 0, 1)
    assert reasons(run) == [
        (2, "订单编号", "2099123100001", "Order 2099123100001 is not imported yet: import the orders first.")
    ]
    assert list(Feedback.objects.values_list("order__order_no", flat=True)) == ["2024010512346"]


def test_a_review_is_only_matched_to_orders_of_the_chosen_store(owner, taobao):
    other = Store.objects.create(name="京东店", platform="jd")

    run = run_import(owner, TAOBAO, kind=ImportKind.REVIEWS, store=other)

    assert counts(run) == (0, 0, 0, 3) and not Feedback.objects.exists()
    assert all("not imported yet" in reason for _n, _c, _v, reason in reasons(run))


def test_a_rating_cell_that_is_not_one_to_five_stars_gets_its_own_reason(owner, taobao):
    lines = TAOBAO.decode().splitlines()
    data = "\n".join([lines[0], lines[1].replace(",好评,", ",七星,"), lines[2]]).encode()

    run = run_import(owner, data, kind=ImportKind.REVIEWS, store=taobao)

    assert counts(run) == (1, 0, 0, 1)
    assert reasons(run) == [
        (2, "评价结果", "七星", "“七星” is not a rating: write 1 to 5 (stars), or 好评, 中评 or 差评.")
    ]
    assert not Feedback.objects.filter(external_id="1000000001").exists()


@pytest.mark.parametrize(
    ("cell", "stars"),
    [
        ("好评", 5),
        ("中评", 3),
        ("差评", 1),
        ("默认好评", 5),
        (5, 5),
        (4.0, 4),
        ("3星", 3),
        ("五星", 5),
        ("★★★★☆", 4),
    ],
)
def test_ratings_are_read_as_marketplaces_write_them(cell, stars):
    assert rating_parse(cell) == stars


@pytest.mark.parametrize("cell", ["七星", "0", "6", "4.5", "很好", None, "★☆☆☆☆☆☆"])
def test_anything_else_is_not_a_rating(cell):
    with pytest.raises(CellError):
        rating_parse(cell)


def test_a_comment_that_its_followup_makes_too_long_is_rejected_not_cut(owner, taobao):
    lines = TAOBAO.decode().splitlines()
    long_followup = lines[1].replace("用了一个月，皮肤好多了！", "好" * 1990)
    data = "\n".join([lines[0], long_followup]).encode()

    run = run_import(owner, data, kind=ImportKind.REVIEWS, store=taobao)

    assert counts(run) == (0, 0, 0, 1) and not Feedback.objects.exists()
    [(_row, column, _value, reason)] = reasons(run)
    assert column == "追评内容" and "longer than 2000 characters" in reason


@time_machine.travel(datetime(2024, 1, 11, 9, 0, tzinfo=SHANGHAI), tick=False)
def test_a_review_dated_in_the_future_is_rejected(owner, taobao):
    run = run_import(owner, TAOBAO, kind=ImportKind.REVIEWS, store=taobao)

    # only the first review (10 January) was written by the 11th
    assert counts(run) == (1, 0, 0, 2)
    assert {reason for _n, _c, _v, reason in reasons(run)} == {"The review time is in the future."}


def test_all_or_nothing_with_a_bad_row_imports_nothing(owner, taobao):
    lines = TAOBAO.decode().splitlines()
    data = "\n".join([lines[0], lines[1], lines[2].replace("2024010512346", "404")]).encode()

    run = run_import(owner, data, kind=ImportKind.REVIEWS, store=taobao, mode=ImportMode.ALL_OR_NOTHING)

    assert run.refused and counts(run) == (0, 0, 0, 1)
    assert not Feedback.objects.exists()


def test_undo_deletes_the_reviews_it_added_and_gives_the_ones_it_changed_their_old_text(owner, taobao):
    first = run_import(owner, TAOBAO, kind=ImportKind.REVIEWS, store=taobao)
    edited = (
        TAOBAO.decode()
        .replace("一般般，包装有点漏。", "客服处理得很好，改成好评")
        .replace(",中评,", ",好评,")
    )
    second = run_import(owner, edited.encode(), kind=ImportKind.REVIEWS, store=taobao)
    assert counts(second) == (0, 1, 2, 0)

    import_undo(actor=owner, run=second)

    toner = Feedback.objects.get(external_id="1000000002")
    assert (toner.rating, toner.comment) == (3, "一般般，包装有点漏。")
    assert Feedback.objects.count() == 3

    import_undo(actor=owner, run=first)

    assert not Feedback.objects.exists()
    assert Order.objects.count() == 4  # the orders are the order import's, not this one's


def test_undo_is_refused_when_a_review_was_edited_since_and_changes_nothing(owner, taobao):
    run = run_import(owner, TAOBAO, kind=ImportKind.REVIEWS, store=taobao)
    Feedback.objects.filter(external_id="1000000003").update(comment="已电话回访，客户满意")

    with pytest.raises(Conflict, match="1000000003"):
        import_undo(actor=owner, run=run)

    assert Feedback.objects.count() == 3
    run.refresh_from_db()
    assert run.undone_at is None


def test_the_command_checks_then_imports_a_review_export_into_a_store(owner, taobao, tmp_path):
    path = tmp_path / "评价.csv"
    path.write_bytes(TAOBAO)
    out = io.StringIO()

    call_command("import", str(path), kind="reviews", store=taobao.name, dry_run=True, stdout=out)
    assert "3 rows ready, 0 rows with problems" in out.getvalue() and not Feedback.objects.exists()

    call_command("import", str(path), kind="reviews", store=taobao.name, stdout=out)
    assert "3 created, 0 updated, 0 unchanged, 0 rejected" in out.getvalue()
    assert Feedback.objects.filter(store=taobao).count() == 3


def test_the_commands_dry_run_names_a_review_whose_order_is_missing(owner, taobao, tmp_path):
    path = tmp_path / "评价.csv"
    path.write_bytes(TAOBAO.decode().replace("2024010512346", "777").encode())
    out = io.StringIO()

    call_command("import", str(path), kind="reviews", store=taobao.name, dry_run=True, stdout=out)

    assert "Order 777 is not imported yet: import the orders first." in out.getvalue()
    assert "2 rows ready, 1 row with problems" in out.getvalue()
    assert not Feedback.objects.exists()


# --- the pages -------------------------------------------------------------------------------------


def upload(client, content: bytes, *, store=None, name: str = "评价导出.csv"):
    data = io.BytesIO(content)
    data.name = name
    form = {"file": data, "mode": ImportMode.GOOD_ROWS, "kind": ImportKind.REVIEWS}
    if store is not None:
        form["store"] = store.pk
    return client.post(reverse("transfer:new"), form)


def token_of(response) -> str:
    match = re.search(r"/imports/draft/([0-9a-f]{32})/", response["Location"])
    assert match, getattr(response, "content", b"").decode()[:2000]
    return match.group(1)


def chosen(page: str) -> dict[str, str]:
    found = {}
    for name, select in re.findall(r'<select name="(col_\d+)".*?>(.*?)</select>', page, re.S):
        selected = re.search(r'<option value="([^"]*)" selected>', select)
        found[name] = selected.group(1) if selected else ""
    return found


def importer(staff_member, *codenames: str) -> Client:
    user = staff_member(None, "daoru", display_name="导入员")
    for codename in ("import_customers", *codenames):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")
def test_a_review_export_is_uploaded_guessed_checked_and_imported_through_the_pages(
    staff_member, taobao, django_capture_on_commit_callbacks
):
    client = importer(staff_member, "add_feedback")
    token = token_of(upload(client, TAOBAO, store=taobao))
    assert client.session[DRAFTS_SESSION_KEY][token]["kind"] == ImportKind.REVIEWS

    page = client.get(reverse("transfer:draft", args=[token])).content.decode()
    mapping = chosen(page)
    assert mapping == {
        "col_0": "review_id",  # 评价ID
        "col_1": "order_no",  # 订单编号
        "col_2": "line_no",  # 子订单编号
        "col_3": "product",  # 宝贝名称
        "col_4": "sku_code",  # 商家编码
        "col_5": "rating",  # 评价结果
        "col_6": "comment",  # 初评内容
        "col_7": "reviewed_at",  # 初评时间
        "col_8": "followup",  # 追评内容
        "col_9": "",  # 追评时间: the time of the first review is the review's
        "col_10": "buyer",  # 买家昵称
    }
    assert 'data-problem="mapping"' not in page and f'<option value="{taobao.pk}" selected>' in page

    form = {**mapping, "mode": ImportMode.GOOD_ROWS, "store": taobao.pk}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("transfer:draft", args=[token]), {**form, "action": "check"})
    check = client.get(response["Location"]).content.decode()
    assert re.search(r'data-count="good">3<', check) and 'id="check-clean"' in check
    assert not Feedback.objects.exists()

    posted = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', check))
    assert posted["store"] == str(taobao.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("transfer:draft", args=[token]), {**posted, "action": "import"})

    run = Import.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))
    assert (run.kind, run.options, counts(run)) == (ImportKind.REVIEWS, {"store": taobao.pk}, (3, 0, 0, 0))
    detail = client.get(response["Location"]).content.decode()
    assert 'data-kind="reviews"' in detail and 'id="import-undo"' in detail


@pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")
def test_the_check_page_lists_a_review_whose_order_is_missing_and_writes_nothing(
    owner_client, taobao, django_capture_on_commit_callbacks
):
    token = token_of(
        upload(owner_client, TAOBAO.decode().replace("2024010512346", "777").encode(), store=taobao)
    )
    mapping = chosen(owner_client.get(reverse("transfer:draft", args=[token])).content.decode())

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**mapping, "mode": ImportMode.GOOD_ROWS, "store": taobao.pk, "action": "check"},
        )

    check = owner_client.get(response["Location"]).content.decode()
    assert re.search(r'data-count="good">2<', check) and re.search(r'data-count="bad">1<', check)
    assert "Order 777 is not imported yet: import the orders first." in check
    assert not Feedback.objects.exists()


@pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")
def test_reviews_without_a_store_are_told_to_choose_one(owner_client, taobao):
    token = token_of(upload(owner_client, TAOBAO))

    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    assert "Which store are these reviews from?" in page

    response = owner_client.post(
        reverse("transfer:draft", args=[token]),
        {**chosen(page), "mode": ImportMode.GOOD_ROWS, "store": "", "action": "import"},
    )
    assert response.status_code == 400 and "Which store are these reviews from?" in response.content.decode()
    assert not Import.objects.filter(kind=ImportKind.REVIEWS).exists()


@pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")
def test_an_importer_who_may_not_add_feedback_is_not_offered_review_exports(staff_member, taobao):
    client = importer(staff_member, "add_order")

    page = client.get(reverse("transfer:new")).content.decode()
    assert 'value="orders"' in page and 'value="reviews"' not in page

    response = upload(client, TAOBAO, store=taobao)
    assert response.status_code == 400 and 'data-error="kind"' in response.content.decode()
    assert not client.session.get(DRAFTS_SESSION_KEY)


@pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")
def test_a_review_draft_is_not_found_once_the_feedback_permission_is_gone(staff_member, taobao):
    client = importer(staff_member, "add_feedback")
    token = token_of(upload(client, TAOBAO, store=taobao))
    user = client.session["_auth_user_id"]
    Permission.objects.get(codename="add_feedback").user_set.remove(user)

    assert client.get(reverse("transfer:draft", args=[token])).status_code == 404


def test_a_rating_whose_formula_gives_an_error_is_the_rows_problem(taobao):
    from kebu.transfer.customers import Problem

    rows = csv_rows(TAOBAO)
    rows[1][rows[0].index("评价结果")] = "#N/A"

    check = review_file_check(xlsx_with_formula_errors(rows), store=taobao)

    reason = "The cell's formula gives an error (#N/A): fix it in the sheet and import again."
    assert [problems for _n, _cells, problems in check.bad] == [[Problem(2, "评价结果", "#N/A", reason)]]
