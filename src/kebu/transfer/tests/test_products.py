"""Importing a product sheet: SKUs matched by code, new ones added to their product or making it, a
price list that moves only what moved, undo, and the rows the catalogue refuses."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.http import QueryDict

from kebu.audit.models import AuditEntry
from kebu.core.errors import Conflict
from kebu.core.jobs import job_run
from kebu.customers.models import Customer
from kebu.customers.services import CustomerInput, PhoneInput, customer_create
from kebu.orders.models import Brand, Category, Product, Sku
from kebu.orders.tests.factories import make_catalogue, make_order
from kebu.transfer.exports import export_build, export_write
from kebu.transfer.imports import customer_import_start, import_rejected_rows, import_undo
from kebu.transfer.models import Import, ImportKind, ImportMode
from kebu.transfer.tests.sheets import csv_rows, xlsx_with_formula_errors

pytestmark = pytest.mark.django_db

HEADER = "商品名称,类目,品牌,SKU编码,颜色,规格,价格,成本,使用周期,在售\n"


def sheet(*lines: str) -> bytes:
    return (HEADER + "".join(line + "\n" for line in lines)).encode("utf-8")


def run_import(owner, data: bytes, *, mode: str = ImportMode.GOOD_ROWS) -> Import:
    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=data, file_name="商品.csv", mode=mode, kind=ImportKind.PRODUCTS, enqueue=False
        )
    job_run(run.job_id)
    run.refresh_from_db()
    return run


def counts(run: Import) -> tuple[int, int, int, int]:
    return run.created, run.updated, run.unchanged, run.rejected


def test_a_product_import_is_audited_as_a_product_import_with_its_kind(owner):
    from kebu.audit.models import AuditEntry

    run = run_import(owner, sheet("玻尿酸面霜,护肤/面霜,,CREAM-50,,50ml,199,80,60,是"))

    entries = AuditEntry.objects.filter(target_type="transfer.import", target_id=str(run.pk))
    started = entries.order_by("seq")[0]
    assert (started.action, started.data["kind"]) == ("product.import", "products")


def catalogue() -> list[tuple]:
    return [
        (
            s.code,
            s.product.name,
            s.product.category.path if s.product.category else "",
            s.price_cny,
            s.cost_cny,
            s.color,
            s.spec,
            s.is_active,
            s.product.usage_cycle_days,
            s.product.brand.name if s.product.brand else "",
        )
        for s in Sku.objects.select_related("product__category", "product__brand").order_by("code")
    ]


PRICE_LIST = sheet(
    "玻尿酸面霜,护肤/面霜,润百颜,CREAM-50,,50g,199.00,80,60,是",
    "玻尿酸面霜,护肤/面霜,润百颜,CREAM-100,,100g,￥359.00,140,60,是",
    "明前龙井,茶叶,,TEA-250,,250g,128,,30,在售",
    "无价之宝,茶叶,,TEA-X,,,,,,",  # a new SKU without a price
)


def test_a_sheet_makes_products_with_their_skus_categories_and_brands(owner):
    run = run_import(owner, PRICE_LIST)

    assert counts(run) == (3, 0, 0, 1)
    cream = Product.objects.get(name="玻尿酸面霜")
    assert sorted(cream.skus.values_list("code", "price_cny")) == [
        ("CREAM-100", Decimal("359.00")),
        ("CREAM-50", Decimal("199.00")),
    ]
    assert (cream.category.path, cream.brand.name, cream.usage_cycle_days) == ("护肤 › 面霜", "润百颜", 60)
    [(number, _cells, problems)] = import_rejected_rows(run)
    assert number == 5 and "price" in problems[0].reason


def test_the_same_sheet_again_changes_nothing_and_a_new_price_list_moves_only_prices(owner):
    run_import(owner, PRICE_LIST)
    before = catalogue()
    assert counts(run_import(owner, PRICE_LIST)) == (0, 0, 3, 1)
    assert catalogue() == before

    newer = run_import(owner, sheet(",,,CREAM-50,,,209.00,,,", ",,,TEA-250,,,,,,否"))

    assert counts(newer) == (0, 2, 0, 0)
    cream = Sku.objects.get(code="CREAM-50")
    assert cream.price_cny == Decimal("209.00") and cream.cost_cny == Decimal("80.00")  # blank says nothing
    assert Sku.objects.get(code="TEA-250").is_active is False


def test_a_product_the_import_changes_takes_a_new_version_so_a_page_read_before_cannot_undo_it(owner):
    from kebu.orders.services.products import ProductInput, SkuInput, product_update

    run_import(owner, PRICE_LIST)
    cream = Product.objects.get(name="玻尿酸面霜")
    assert cream.version == 2  # made with CREAM-50, then CREAM-100 added to it
    run_import(owner, PRICE_LIST)
    assert Product.objects.get(pk=cream.pk).version == 2  # nothing changed, nothing moved

    run_import(owner, sheet(",,,CREAM-50,,,209.00,,,"))  # the SKU's price only

    assert Product.objects.get(pk=cream.pk).version == 3
    assert Sku.objects.get(code="CREAM-50").price_cny == Decimal("209.00")
    stale = ProductInput(
        name="玻尿酸面霜",
        skus=[SkuInput(code="CREAM-50", price_cny="199.00"), SkuInput(code="CREAM-100", price_cny="359.00")],
    )
    with pytest.raises(Conflict):
        product_update(actor=owner, product=cream, data=stale, expected_version=2)
    assert Sku.objects.get(code="CREAM-50").price_cny == Decimal("209.00")


def test_undoing_an_import_moves_the_versions_of_the_products_it_touched_on(owner):
    run_import(owner, PRICE_LIST)
    run = run_import(owner, sheet(",,,CREAM-50,,,209.00,,,", "明前龙井,,,TEA-500,,500g,240,,,"))
    versions = dict(Product.objects.values_list("name", "version"))

    import_undo(actor=owner, run=run)

    after = dict(Product.objects.values_list("name", "version"))
    assert after == {"玻尿酸面霜": versions["玻尿酸面霜"] + 1, "明前龙井": versions["明前龙井"] + 1}
    assert not Sku.objects.filter(code="TEA-500").exists()


def test_undo_puts_prices_back_and_removes_what_the_import_made(owner):
    run_import(owner, PRICE_LIST)
    before = catalogue()
    run = run_import(
        owner,
        sheet(",,,CREAM-50,,,209.00,,,", "玻尿酸面霜,,,CREAM-30,,30g,129,,,", "新品,茶叶,,NEW-1,,,9.9,,,"),
    )
    assert counts(run) == (2, 1, 0, 0)

    import_undo(actor=owner, run=run)

    assert catalogue() == before
    assert not Product.objects.filter(name="新品").exists()


def side_tables() -> tuple[list, list]:
    """The catalogue's categories and brands: what a product sheet makes on the side."""
    return (
        sorted(Category.objects.values_list("path", "parent__path", "root__path")),
        sorted(Brand.objects.values_list("name", flat=True)),
    )


def test_undo_removes_the_categories_and_brands_the_import_made(owner):
    make_catalogue(actor=owner)  # 护肤 › 面霜 and 茶叶, the brand 润百颜
    before = (catalogue(), side_tables())
    run = run_import(
        owner,
        sheet(
            "玻尿酸面霜,护肤/面霜/保湿,润百颜,CREAM-30,,30g,129,,,",  # a level under one the shop has
            "新品,零食/坚果,三只松鼠,NUT-1,,,29.9,,,",  # a new product, category and brand
            ",洗护/洗发,阿道夫,TONER-100,,,,,,",  # moves an existing product to a new category and brand
        ),
    )
    assert counts(run) == (2, 1, 0, 0)
    assert Category.objects.count() == 3 + 5 and Brand.objects.count() == 1 + 2

    import_undo(actor=owner, run=run)

    assert (catalogue(), side_tables()) == before
    entry = AuditEntry.objects.get(action="import.undo", target_id=str(run.pk))
    assert {k: v for k, v in entry.data.items() if k.startswith(("categories", "brands"))} == {
        "categories_deleted": 5,
        "categories_kept": 0,
        "brands_deleted": 2,
        "brands_kept": 0,
    }


def test_undo_keeps_a_category_and_brand_a_product_made_by_hand_uses_since_and_says_so(owner):
    from kebu.orders.services.products import ProductInput, SkuInput, product_create
    from kebu.transfer.aside import aside_kept_text

    run = run_import(owner, PRICE_LIST)  # makes 护肤, 护肤 › 面霜, 茶叶 and 润百颜
    cream = Category.objects.get(path="护肤 › 面霜")
    product_create(
        actor=owner,
        data=ProductInput(
            name="手工面霜",
            category=cream,
            brand_name="润百颜",
            skus=[SkuInput(code="HAND-1", price_cny="9")],
        ),
    )

    import_undo(actor=owner, run=run)

    assert list(Product.objects.values_list("name", flat=True)) == ["手工面霜"]
    assert side_tables() == ([("护肤", None, "护肤"), ("护肤 › 面霜", "护肤", "护肤")], ["润百颜"])
    entry = AuditEntry.objects.get(action="import.undo", target_id=str(run.pk))
    assert (entry.data["categories_deleted"], entry.data["categories_kept"]) == (1, 2)
    assert (entry.data["brands_deleted"], entry.data["brands_kept"]) == (0, 1)
    run.refresh_from_db()
    assert aside_kept_text(run) == (
        "2 categories the import made were kept: they have been used since. "
        "1 brand the import made was kept: it has been used since."
    )


def test_undo_keeps_a_category_and_brand_a_later_import_would_put_back(owner):
    make_catalogue(actor=owner)  # 明前龙井 (TEA-250) in 茶叶
    first = run_import(owner, sheet("新品,零食/坚果,三只松鼠,NUT-1,,,29.9,,,"))
    nuts = Category.objects.get(path="零食 › 坚果")
    Product.objects.filter(name="明前龙井").update(category=nuts, brand=Brand.objects.get(name="三只松鼠"))
    second = run_import(owner, sheet(",茶叶,润百颜,TEA-250,,,,,,"))  # moves it back out: journals 坚果
    assert counts(second) == (0, 1, 0, 0)

    import_undo(
        actor=owner, run=first
    )  # nothing refers to 坚果 or 三只松鼠 now, but the second import's undo will
    import_undo(actor=owner, run=second)

    tea = Product.objects.select_related("category", "brand").get(name="明前龙井")
    assert (tea.category.path, tea.brand.name) == ("零食 › 坚果", "三只松鼠")
    entry = AuditEntry.objects.get(action="import.undo", target_id=str(first.pk))
    assert (entry.data["categories_kept"], entry.data["brands_kept"]) == (2, 1)


def test_undo_refuses_when_a_price_changed_since_or_a_new_sku_was_ordered(owner):
    shop = make_catalogue(actor=owner)
    run = run_import(owner, sheet(",,,CREAM-50,,,209.00,,,", "玻尿酸面霜,,,CREAM-30,,30g,129,,,"))
    customer = customer_create(
        actor=owner, data=CustomerInput(name="王小明", phones=[PhoneInput(number="13812345678")])
    )
    make_order(actor=owner, customer=customer, store=shop.store, lines=[("CREAM-30", 1)])
    Sku.objects.filter(code="CREAM-50").update(price_cny=Decimal("219.00"))

    with pytest.raises(Conflict, match="CREAM-30, CREAM-50"):
        import_undo(actor=owner, run=run)
    assert Sku.objects.get(code="CREAM-50").price_cny == Decimal("219.00")


def test_undo_refuses_when_a_new_sku_was_sent_as_an_exchanges_replacement(owner):
    from kebu.orders.models import AfterSaleKind
    from kebu.orders.services.aftersales import (
        AfterSaleLineInput,
        ReplacementInput,
        aftersale_approve,
        aftersale_complete,
        aftersale_receive,
        aftersale_request,
    )

    # given a SKU the import made, sent in exchange for a cream bought before
    shop = make_catalogue(actor=owner)
    customer = customer_create(
        actor=owner, data=CustomerInput(name="王小明", phones=[PhoneInput(number="13812345678")])
    )
    order = make_order(
        actor=owner, customer=customer, store=shop.store, lines=[("CREAM-50", 1)], status="shipped"
    )
    run = run_import(owner, sheet("玻尿酸面霜,,,CREAM-30,,30g,129,,,"))
    exchange = aftersale_request(
        actor=owner,
        order=order,
        kind=AfterSaleKind.EXCHANGE,
        reason="size",
        lines=[AfterSaleLineInput(order.lines.get().pk, 1)],
    )
    received = aftersale_receive(actor=owner, aftersale=aftersale_approve(actor=owner, aftersale=exchange))
    aftersale_complete(actor=owner, aftersale=received, replacement=ReplacementInput(sku_code="CREAM-30"))

    # then undoing the import is refused, naming the SKU, instead of failing on the after-sale's link
    with pytest.raises(Conflict, match="CREAM-30"):
        import_undo(actor=owner, run=run)
    assert Sku.objects.filter(code="CREAM-30").exists()


def test_all_or_nothing_imports_nothing_from_a_sheet_with_a_bad_row(owner):
    run = run_import(
        owner, sheet("面霜,,,A-1,,,1x9,,,", "面霜,,,A-2,,,19,,,"), mode=ImportMode.ALL_OR_NOTHING
    )

    assert run.refused and counts(run) == (0, 0, 0, 1) and not Sku.objects.exists()


def test_all_or_nothing_writes_nothing_when_a_category_is_five_levels_deep(owner):
    # given: a new SKU in a new category, and a teapot filed five levels deep: every cell reads, and
    # only writing refuses the category
    data = sheet(
        "玻尿酸面霜,护肤/面霜,润百颜,CREAM-50,,50g,199.00,80,60,是",
        "紫砂壶,茶具/壶/宜兴/紫砂/朱泥,,POT-1,,,680.00,,,是",
    )

    # when
    run = run_import(owner, data, mode=ImportMode.ALL_OR_NOTHING)

    # then: refused, that row listed, and nothing made
    assert (run.refused, counts(run)) == (True, (0, 0, 0, 1))
    assert [row for row, _cells, _problems in import_rejected_rows(run)] == [3]
    assert not Sku.objects.exists() and not Product.objects.exists()
    assert not Category.objects.exists() and not Brand.objects.exists()


def test_all_or_nothing_takes_back_what_it_wrote_when_a_row_is_refused_after_the_check(owner, settings):
    # given: the catalogue, an earlier import that added TEA-1, and a sheet of one row a batch: a teapot
    # in a new category, a new price for CREAM-50, and a new price alone for TEA-1; once the check has
    # passed and the first two rows are written, someone undoes the earlier import, so TEA-1 is gone
    # when its row is written, and a new SKU needs a name
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}
    make_catalogue(actor=owner)
    earlier = run_import(owner, sheet("明前龙井,茶叶,,TEA-1,,,138,,,"))
    before = [sku for sku in catalogue() if sku[0] != "TEA-1"]
    categories = list(Category.objects.order_by("path").values_list("path", flat=True))

    def meanwhile(job) -> None:
        if Sku.objects.filter(code="POT-1").exists() and Sku.objects.filter(code="TEA-1").exists():
            import_undo(actor=owner, run=earlier)

    data = sheet("紫砂壶,茶具/壶,,POT-1,,,680.00,,,是", ",,,CREAM-50,,,219.00,,,", ",,,TEA-1,,,148.00,,,")
    with transaction.atomic():
        run = customer_import_start(
            actor=owner,
            data=data,
            file_name="商品.csv",
            mode=ImportMode.ALL_OR_NOTHING,
            kind=ImportKind.PRODUCTS,
            enqueue=False,
        )

    # when
    job_run(run.job_id, on_beat=meanwhile)

    # then: refused, that row listed, and nothing of the file left: the catalogue as the undo left it
    run.refresh_from_db()
    assert (run.refused, counts(run)) == (True, (0, 0, 0, 1))
    assert [row for row, _cells, _problems in import_rejected_rows(run)] == [4]
    assert catalogue() == before
    assert list(Category.objects.order_by("path").values_list("path", flat=True)) == categories
    undone = AuditEntry.objects.get(action="import.undo", target_id=str(run.pk))
    assert undone.data == {
        "deleted": 1,
        "restored": 1,
        "products_deleted": 1,
        "categories_deleted": 2,
        "categories_kept": 0,
        "all_or_nothing": True,
    }, undone.data


def test_an_exported_catalogue_imported_again_changes_nothing(owner, tmp_path):
    make_catalogue(actor=owner)
    before = catalogue()
    for file_format in ("xlsx", "csv"):
        path = tmp_path / f"products.{file_format}"
        export_write(
            export_build("products", user=owner, filters=QueryDict()),
            path,
            file_format=file_format,
            user=owner,
        )
        assert counts(run_import(owner, path.read_bytes())) == (0, 0, 3, 0)
    assert catalogue() == before


def test_a_category_whose_name_holds_a_slash_comes_back_to_itself_not_split_into_levels(owner, tmp_path):
    from kebu.orders.services.products import ProductInput, SkuInput, category_create, product_create

    # given categories named as merchants name them: 洗发/护发 under 个护, and 染发/烫发 at the top
    hair = category_create(actor=owner, name="洗发/护发", parent=category_create(actor=owner, name="个护"))
    perm = category_create(actor=owner, name="染发>烫发")
    for code, category in (("XF-01", hair), ("RF-01", perm)):
        product_create(
            actor=owner,
            data=ProductInput(name=code, category=category, skus=[SkuInput(code=code, price_cny="39")]),
        )
    paths = sorted(Category.objects.values_list("path", flat=True))
    before = catalogue()
    path = tmp_path / "products.xlsx"
    export_write(
        export_build("products", user=owner, filters=QueryDict()), path, file_format="xlsx", user=owner
    )

    # when the shop's own export is imported again
    run = run_import(owner, path.read_bytes())

    # then each product stays in its category, and no category is made
    assert counts(run) == (0, 0, 2, 0)
    assert catalogue() == before
    assert sorted(Category.objects.values_list("path", flat=True)) == paths


def test_a_new_category_written_with_kebus_separator_is_named_as_written(owner):
    run = run_import(owner, sheet("护发素,个护 › 洗发/护发,,HF-01,,,29,,,是"))

    assert counts(run) == (1, 0, 0, 0)
    assert Sku.objects.get(code="HF-01").product.category.path == "个护 › 洗发/护发"


def test_a_product_off_sale_exported_and_imported_again_keeps_its_skus_own_on_sale_flags(owner, tmp_path):
    # given a product taken off sale as a whole, its SKU still on sale of its own
    make_catalogue(actor=owner)
    Product.objects.filter(name="明前龙井").update(is_active=False)
    path = tmp_path / "products.csv"
    export_write(
        export_build("products", user=owner, filters=QueryDict()), path, file_format="csv", user=owner
    )
    assert "明前龙井" in (line := next(x for x in path.read_text("utf-8-sig").splitlines() if "TEA-250" in x))
    assert line.endswith(",No")  # off sale

    # when the export is imported again
    run = run_import(owner, path.read_bytes())

    # then nothing changed: put back on sale, the product sells its SKU again
    assert counts(run) == (0, 0, 3, 0)
    assert Sku.objects.get(code="TEA-250").is_active


def test_the_command_imports_products(owner, tmp_path):
    path = tmp_path / "商品.csv"
    path.write_bytes(PRICE_LIST)
    out = io.StringIO()

    call_command("import", str(path), kind="products", dry_run=True, stdout=out)
    assert "3 rows ready, 1 row with problems" in out.getvalue() and not Sku.objects.exists()
    call_command("import", str(path), kind="products", stdout=out)
    assert Sku.objects.count() == 3


def test_the_command_reads_kebus_own_product_export_as_products_without_being_told(owner, tmp_path):
    # given: the catalogue as `kebu export products` writes it
    make_catalogue(actor=owner)
    path = tmp_path / "商品.xlsx"
    call_command("export", "products", format="xlsx", output=str(path), stdout=io.StringIO())
    out = io.StringIO()

    # when: it is imported with no --kind
    call_command("import", str(path), stdout=out)

    # then: a product import, which finds every SKU already there, and says which kind it took it for
    assert "as a products sheet (--kind products)" in out.getvalue()
    run = Import.objects.get()
    assert run.kind == ImportKind.PRODUCTS
    assert (run.created, run.unchanged, run.rejected) == (0, Sku.objects.count(), 0)
    assert not Customer.objects.exists()


def test_a_price_whose_formula_gives_an_error_is_the_rows_problem_not_a_blank_price():
    from kebu.transfer.customers import Problem
    from kebu.transfer.products import product_file_check

    rows = csv_rows(sheet("面霜,护肤,,CREAM-50,,50ml,199.00,80.00,30,是"))
    rows[1][6] = "#DIV/0!"  # 价格

    check = product_file_check(xlsx_with_formula_errors(rows))

    reason = "The cell's formula gives an error (#DIV/0!): fix it in the sheet and import again."
    assert [problems for _n, _cells, problems in check.bad] == [[Problem(2, "价格", "#DIV/0!", reason)]]


def test_a_usage_cycle_written_with_its_unit_is_taken_in_days_and_reported_as_corrected():
    from kebu.transfer.products import product_file_check

    rows = ["30天", "45 日", "60 days", "90", "１２０"]
    data = sheet(*(f"面霜,护肤,,CREAM-{i},,50ml,199,80,{cycle},是" for i, cycle in enumerate(rows)))

    check = product_file_check(data)

    assert (check.good, check.bad) == (5, [])
    assert [(c.row, c.column, c.written, c.taken) for c in check.corrections] == [
        (2, "使用周期", "30天", "30"),
        (3, "使用周期", "45 日", "45"),
        (4, "使用周期", "60 days", "60"),
        (6, "使用周期", "１２０", "120"),
    ]
    reasons = [c.reason for c in check.corrections]
    assert reasons[:3] == ["The unit left out: the number of days."] * 3


def test_a_usage_cycle_in_months_is_refused_not_guessed_in_days():
    from kebu.transfer.products import product_file_check

    check = product_file_check(sheet("面霜,护肤,,CREAM-50,,50ml,199,80,1个月,是"))

    [(_number, _cells, [problem])] = check.bad
    assert (problem.column, problem.value) == ("使用周期", "1个月")
    assert "is in months: write the number of days" in problem.reason


def test_a_usage_cycle_of_30_days_is_imported_as_30(owner):
    run_import(owner, sheet("面霜,护肤,,CREAM-50,,50ml,199,80,30天,是"))

    assert Product.objects.get().usage_cycle_days == 30
