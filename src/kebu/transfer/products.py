"""Importing a product sheet: a row is one SKU with its product's fields beside it (the layout the export
writes, and the one a supplier's price list or a marketplace's item export has).

A row matches the SKU with its code. A known SKU gets the row's non-blank cells (price, cost, colour,
size, spec, on sale; its product's name, category, brand and usage cycle); an unknown one is added to
the product of that name, or makes the product. So the same sheet imported twice changes nothing, and
next month's price list moves only the prices that moved. Undo puts every value back and removes what
the import made, unless orders have been taken for it since."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kebu.core.errors import Conflict, ValidationFailed
from kebu.core.text import list_join
from kebu.orders.models import AfterSale, Brand, Category, OrderLine, Product, Sku
from kebu.orders.services.products import (
    SEPARATOR,
    SKU_IMPORT_FIELDS,
    ProductInput,
    SkuInput,
    catalogue_import_update,
    category_by_path,
    category_path_levels,
    product_create,
    sku_add,
)
from kebu.transfer.aside import aside_note
from kebu.transfer.cells import (
    CellError,
    as_written,
    days_correction,
    days_parse,
    money_correction,
    money_parse,
    normalized,
    text_correction,
    text_parse,
)
from kebu.transfer.corrections import Correction, corrections_note
from kebu.transfer.customers import FileCheck, Problem
from kebu.transfer.headers import PRODUCT_HEADERS, headers_match, mapping_one_column_each
from kebu.transfer.models import Import, ImportKind, ImportRow, ImportRowAction
from kebu.transfer.readers import Cell

UNDO_CONFLICTS_SHOWN = 10
_YES = {"是", "在售", "上架", "出售中", "y", "yes", "true", "1", "on sale"}
_NO = {"否", "下架", "停售", "仓库中", "n", "no", "false", "0", "off sale"}


def product_headers_match(headers: Sequence[str]) -> dict[int, str]:
    return headers_match(headers, vocabulary=PRODUCT_HEADERS)


def product_mapping_check(headers: Sequence[str], mapping: Mapping[int, str]) -> None:
    """Raise ``ValidationFailed`` unless a column holds the SKU code (what tells SKUs apart), or when two
    columns feed one field."""
    mapping_one_column_each(headers, mapping)
    if "sku_code" not in mapping.values():
        raise ValidationFailed(
            _("No column was recognised as the SKU code (headers: %(headers)s).")
            % {"headers": list_join(headers[:20])}
        )


@dataclass
class ProductRow:
    """One row read: the SKU code, and each non-blank cell's value by field (``price_cny``, ``color``,
    ``category``, ``name`` …)."""

    number: int
    code: str
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)  # transfer.corrections


def product_row_read(
    number: int, cells: Sequence[Cell], *, mapping: Mapping[int, str], headers: Sequence[str]
) -> ProductRow:
    columns = {key: index for index, key in mapping.items()}
    row = ProductRow(number, "")

    def cell(key: str) -> Cell:
        index = columns.get(key)
        return None if index is None else cells[index]

    def problem(key: str, reason: str) -> None:
        index = columns.get(key)
        where = headers[index] if index is not None else ""
        row.problems.append(Problem(number, where, "" if index is None else normalized(cells[index]), reason))

    def corrected(key: str, taken: str, reason: str) -> None:
        index = columns[key]
        row.corrections.append(Correction(number, headers[index], as_written(cells[index]), taken, reason))

    def text(key: str, max_length: int, *, free: bool = False) -> str:
        try:
            value = text_parse(raw := cell(key), max_length=max_length, free=free)
        except CellError as exc:
            problem(key, str(exc))
            return ""
        if not free and (reason := text_correction(raw, value)):
            corrected(key, value, reason)
        return value

    row.code = text("sku_code", 64)
    if not row.code:
        problem("sku_code", _("Enter the SKU code."))
    for key, target, length in (
        ("product", "name", 100),
        ("color", "color", 30),
        ("size", "size", 30),
        ("spec", "spec", 60),
        ("category", "category", 200),
        ("brand", "brand", 50),
    ):
        if value := text(key, length, free=key == "product"):
            row.values[target] = value
    for key, target in (("price", "price_cny"), ("cost", "cost_cny")):
        if normalized(cell(key)):
            try:
                amount = money_parse(cell(key))
            except CellError as exc:
                problem(key, str(exc))
                continue
            if amount < 0:
                problem(key, _("Cannot be negative."))
            else:
                row.values[target] = amount
                if found := money_correction(cell(key), amount):
                    corrected(key, *found)
    if normalized(cell("usage_cycle_days")):
        try:
            days = days_parse(cell("usage_cycle_days"))
        except CellError as exc:
            problem("usage_cycle_days", str(exc))
        else:
            if 1 <= days <= 3650:
                row.values["usage_cycle_days"] = days
                if found := days_correction(cell("usage_cycle_days"), days):
                    corrected("usage_cycle_days", *found)
            else:
                problem("usage_cycle_days", _("Enter between 1 and 3650 days, or leave it empty."))
    if on_sale := text("on_sale", 20).lower():
        if on_sale in _YES or on_sale in _NO:
            row.values["is_active"] = on_sale in _YES
        else:
            problem("on_sale", _("Write 是 (on sale) or 否 (off sale)."))
    return row


# --- writing ---------------------------------------------------------------------------------------


def product_batch_import(
    run: Import, batch: Sequence[tuple[int, list[Cell]]], *, mapping: dict[int, str]
) -> list[ProductRow]:
    """Import ``batch`` inside the caller's transaction, counting onto ``run``; each row in a savepoint,
    so a row the catalogue refuses is rejected alone. Returns its rows as the import took them, a
    rejected one with its problems."""
    rows = [product_row_read(n, cells, mapping=mapping, headers=run.headers) for n, cells in batch]
    rejected = [row for row in rows if row.problems]
    journal: list[ImportRow] = []
    for row in rows:
        if row.problems:
            continue
        try:
            with transaction.atomic():
                entry, made = _row_import(run, row)
        except ValidationFailed as exc:
            reasons = [str(m) for messages in exc.field_errors.values() for m in messages] or [
                str(exc.message)
            ]
            row.problems = [Problem(row.number, "", "", reason) for reason in reasons]
            rejected.append(row)
            continue
        aside_note(run, made)  # only now: a row rolled back made nothing
        if entry is None:
            run.unchanged += 1
            continue
        journal.append(entry)
        if entry.action == ImportRowAction.CREATED:
            run.created += 1
        else:
            run.updated += 1
    journal += [ImportRow.rejection(run, [row.number], row.problems) for row in rejected]
    run.rejected += len(rejected)
    ImportRow.objects.bulk_create(journal)
    corrections_note(run, [c for row in rows if not row.problems for c in row.corrections])
    return rows


def _row_import(run: Import, row: ProductRow) -> tuple[ImportRow | None, list[Category | Brand]]:
    """The row's journal entry (None when it changed nothing), and the categories and brands it had
    to make on the way."""
    actor, values = run.created_by, row.values
    made: list[Category | Brand] = []
    category = None
    if "category" in values:
        category, made_levels = _category_made(actor=actor, path=values["category"])
        made += made_levels
    sku = Sku.objects.select_related("product").filter(code=row.code).first()
    if sku is None:
        if "name" not in values or "price_cny" not in values:
            raise ValidationFailed(_("A new SKU needs its product's name and a price."))
        data = SkuInput(
            code=row.code,
            price_cny=values["price_cny"],
            cost_cny=values.get("cost_cny"),
            color=values.get("color", ""),
            size=values.get("size", ""),
            spec=values.get("spec", ""),
            is_active=values.get("is_active", True),
        )
        product = Product.objects.filter(name=values["name"]).order_by("pk").first()
        product_made = product is None
        if product is None:
            if brand_name := values.get("brand", "").strip()[:50]:
                # Made here rather than inside product_create, which would find it, to know it was made.
                brand, brand_made = Brand.objects.get_or_create(name=brand_name)
                made += [brand] if brand_made else []
            product = product_create(
                actor=actor,
                data=ProductInput(
                    name=values["name"],
                    category=category,
                    brand_name=values.get("brand", ""),
                    usage_cycle_days=values.get("usage_cycle_days"),
                    skus=[data],
                ),
            )
            sku = product.skus.get()
        else:
            sku = sku_add(actor=actor, product=product, data=data)
        detail: dict[str, Any] = {"sku": sku.pk, "product": product.pk, "product_created": product_made}
        entry = ImportRow(run=run, row=row.number, action=ImportRowAction.CREATED, detail=json.dumps(detail))
        return entry, made
    product_values: dict[str, Any] = {}
    if "name" in values:
        product_values["name"] = values["name"]
    if category is not None:
        product_values["category_id"] = category.pk
    if "brand" in values:
        brand, brand_made = Brand.objects.get_or_create(name=values["brand"])
        product_values["brand_id"] = brand.pk
        made += [brand] if brand_made else []
    if "usage_cycle_days" in values:
        product_values["usage_cycle_days"] = values["usage_cycle_days"]
    sku_values = {name: values[name] for name in SKU_IMPORT_FIELDS if name in values}
    if sku_values.get("is_active") is False and not sku.product.is_active:
        # The export writes 否 on every SKU of a product off sale, whatever the SKU's own flag: read back,
        # it tells nothing new, and must not leave the SKUs off sale when the product is put back on.
        del sku_values["is_active"]
    sku_values = {k: v for k, v in sku_values.items() if getattr(sku, k) != v}
    product_values = {k: v for k, v in product_values.items() if getattr(sku.product, k) != v}
    if not sku_values and not product_values:
        return None, made
    before = catalogue_import_update(
        actor=actor, sku=sku, sku_values=sku_values, product_values=product_values
    )
    detail = {
        "sku": sku.pk,
        "product": sku.product_id,
        "before": _jsonable(before),
        "after": _jsonable({"sku": sku_values, "product": product_values}),
    }
    entry = ImportRow(run=run, row=row.number, action=ImportRowAction.UPDATED, detail=json.dumps(detail))
    return entry, made


def _category_made(*, actor: Any, path: str) -> tuple[Category, list[Category]]:
    """``category_by_path``, and the levels of the path it had to make. The levels are told by their
    stored paths, read before and after: a level this reading of the path misses is only not noted
    (left behind by undo), never one the shop had taken for the import's."""
    levels = [name[:50] for name in category_path_levels(path)]  # as category_by_path names them
    paths = [SEPARATOR.join(levels[: i + 1]) for i in range(len(levels))]
    known = set(Category.objects.filter(path__in=paths).values_list("pk", flat=True))
    category = category_by_path(actor=actor, path=path)
    if len(known) == len(paths):  # the common case: a catalogue's categories are there after its first sheet
        return category, []
    return category, list(Category.objects.filter(path__in=paths).exclude(pk__in=known))


def _jsonable(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        part: {k: str(v) if isinstance(v, Decimal) else v for k, v in fields.items()}
        for part, fields in values.items()
    }


def _typed(model: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Journal values (amounts as text) back to what the columns hold."""
    return {k: model._meta.get_field(k).to_python(v) for k, v in values.items()}


# --- undo ------------------------------------------------------------------------------------------


def product_import_undo(run: Import) -> dict[str, int]:
    """Put the catalogue back as it was before ``run`` (inside the caller's transaction): values the
    import changed get their old ones, SKUs and products it made go. ``Conflict``, naming the SKUs, when
    that would lose later work: a value changed again since, or an order taken (or an exchange's
    replacement sent) for a SKU it made."""
    entries = [
        (action, json.loads(detail))
        for action, detail in run.journal.filter(
            action__in=[ImportRowAction.CREATED, ImportRowAction.UPDATED]
        )
        .order_by("-row")
        .values_list("action", "detail")
    ]
    made = [d["sku"] for action, d in entries if action == ImportRowAction.CREATED]
    skus = Sku.objects.select_related("product").in_bulk([d["sku"] for _action, d in entries])
    blocked = set(OrderLine.objects.filter(sku_id__in=made).values_list("sku_id", flat=True))
    blocked |= set(
        AfterSale.objects.filter(replacement_sku_id__in=made).values_list("replacement_sku_id", flat=True)
    )
    seen: set[int] = set()
    for action, detail in entries:  # only the newest change to each SKU is what it must still hold
        sku = skus.get(detail["sku"])
        if action != ImportRowAction.UPDATED or sku is None or sku.pk in seen:
            continue
        seen.add(sku.pk)
        after = detail["after"]
        if _typed(Sku, after["sku"]) != {k: getattr(sku, k) for k in after["sku"]} or _typed(
            Product, after["product"]
        ) != {k: getattr(sku.product, k) for k in after["product"]}:
            blocked.add(sku.pk)
    if blocked:
        codes = sorted(skus[pk].code for pk in blocked if pk in skus)
        shown = codes[:UNDO_CONFLICTS_SHOWN]
        message = ngettext(
            "Undoing would lose later work on %(count)d SKU (%(codes)s): changed since, or ordered.",
            "Undoing would lose later work on %(count)d SKUs (%(codes)s): changed since, or ordered.",
            len(codes),
        ) % {"count": len(codes), "codes": list_join(shown) + ("…" if len(codes) > len(shown) else "")}
        raise Conflict(message)
    restored = 0
    for action, detail in entries:  # newest first: each value ends as it was before the first change
        if action == ImportRowAction.UPDATED:
            before = detail["before"]
            Sku.objects.filter(pk=detail["sku"]).update(**_typed(Sku, before["sku"]))
            if before["product"]:
                Product.objects.filter(pk=detail["product"]).update(**_typed(Product, before["product"]))
            restored += 1
    Sku.objects.filter(pk__in=made).delete()
    # Every product touched takes a new version, as the import gave it one: an edit form opened on the
    # imported values must not save them back over the undone ones.
    Product.objects.filter(pk__in={d["product"] for _action, d in entries}).update(version=F("version") + 1)
    made_products = [
        d["product"] for action, d in entries if action == ImportRowAction.CREATED and d["product_created"]
    ]
    gone = Product.objects.filter(pk__in=made_products, skus__isnull=True).delete()[1]
    deleted_products = gone.get("orders.Product", 0)
    return {"deleted": len(made), "restored": restored, "products_deleted": deleted_products}


def product_file_check(
    data: bytes | Path, *, sheet: str | None = None, mapping: dict[int, str] | None = None, actor: Any = None
) -> FileCheck:
    """``customers.customer_file_check`` for a product sheet: every row rehearsed, nothing written."""
    from kebu.transfer.rehearsals import import_file_check  # the rehearsal imports this module

    return import_file_check(data, kind=ImportKind.PRODUCTS, sheet=sheet, mapping=mapping, actor=actor)
