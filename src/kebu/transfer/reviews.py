"""Importing a marketplace's review export (评价导出): Taobao/Tmall 评价管理, JD, Pinduoduo, Douyin, or any
sheet with an order number and a rating. A row is one review of one order line.

A review belongs to an order already in Kebu, found by its store and order number: a review of an order
not imported yet is rejected ("import the orders first"), never guessed. The customer is that order's
buyer, never a nickname (nicknames are not identities). The product is the line whose SKU code (商家编码)
or item name the row gives, among the order's lines; when none matches, the review stays on the order
without a product. Ratings are 1 to 5 stars; 好评 is 5, 中评 3 and 差评 1. A 追评 is appended to the
comment, marked 追评.

Each review is saved through ``feedback_import_row``, matched again by its store and review id: the
export's own (评价ID), or, when the export has none, one made from the order number and the line (子订单编号,
else SKU code, else item name), since a marketplace takes one review per order line. So the same export
imported twice, or next month's overlapping one, keeps one review each. Undo deletes the reviews the
import made and puts back the ones it changed, unless they were changed again since."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kebu.core.errors import Conflict, ValidationFailed
from kebu.core.text import list_join
from kebu.engagement.models import Feedback
from kebu.engagement.services.feedback import feedback_import_row
from kebu.orders.models import Order, OrderLine, Product, Store
from kebu.transfer.cells import CellError, formula_error_refuse, moment_parse, normalized, text_parse
from kebu.transfer.customers import FileCheck, Problem
from kebu.transfer.headers import REVIEW_HEADERS, headers_match, mapping_one_column_each
from kebu.transfer.models import Import, ImportRow, ImportRowAction
from kebu.transfer.readers import Cell, table_read

UNDO_CONFLICTS_SHOWN = 10
COMMENT_MAX = 2000  # Feedback.comment's limit
REVIEW_ID_MAX = 64  # Feedback.external_id's
FOLLOWUP_MARK = "追评："  # what a 追评 appended to the comment starts with, as the marketplaces label it
# Taobao's verdicts, and the system's own "默认好评" when the buyer left none in time.
_VERDICTS = {"好评": 5, "默认好评": 5, "系统默认好评": 5, "中评": 3, "差评": 1}
_CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_STARS = re.compile(r"[★☆]+")
_NUMBER = re.compile(r"(\d+(?:\.0+)?|[一二两三四五])\s*(?:星|分|颗星|stars?)?", re.IGNORECASE)


def review_headers_match(headers: Sequence[str]) -> dict[int, str]:
    return headers_match(headers, vocabulary=REVIEW_HEADERS)


def review_mapping_check(headers: Sequence[str], mapping: Mapping[int, str]) -> None:
    """Raise ``ValidationFailed`` unless the columns give an order number and a rating (what a review is
    of, and what it says), or when two columns feed one field."""
    mapping_one_column_each(headers, mapping)
    if not {"order_no", "rating"} <= set(mapping.values()):
        raise ValidationFailed(
            _("A review sheet needs an order number column and a rating column (headers: %(headers)s).")
            % {"headers": list_join(headers[:20])}
        )


def rating_parse(cell: Cell) -> int:
    """A rating of 1 to 5 stars: a number (5, 5.0, 5星, 5分, 五星), stars (★★★★☆ is 4), or Taobao's
    verdict (好评 5, 中评 3, 差评 1)."""
    formula_error_refuse(cell)
    text = normalized(cell)
    if not text:
        raise CellError(_("Enter the rating: 1 to 5 stars, or 好评, 中评 or 差评."))
    if text in _VERDICTS:
        return _VERDICTS[text]
    if _STARS.fullmatch(text):
        value = text.count("★") if len(text) <= 5 else 0  # out of five, or out of what?
    elif found := _NUMBER.fullmatch(text):
        word = found[1]
        value = _CHINESE_DIGITS[word] if word in _CHINESE_DIGITS else int(float(word))
    else:
        value = 0
    if not 1 <= value <= 5:
        raise CellError(
            _("“%(value)s” is not a rating: write 1 to 5 (stars), or 好评, 中评 or 差评.")
            % {"value": text[:40]}
        )
    return value


@dataclass
class ReviewRow:
    """One row read: the order it is of (by store and number), the review id (the export's, or made from
    the order line), what identifies the product, and the rating, comment and time."""

    number: int
    order_no: str = ""
    order_column: str = ""  # the header of the order number's column, for the report
    store: Store | None = None
    review_id: str = ""
    line_no: str = ""
    sku_code: str = ""
    product_name: str = ""
    rating: int | None = None
    comment: str = ""
    reviewed_at: datetime | None = None
    order: Order | None = None
    product: Product | None = None
    problems: list[Problem] = field(default_factory=list)


def review_row_read(
    number: int,
    cells: Sequence[Cell],
    *,
    mapping: Mapping[int, str],
    headers: Sequence[str],
    store: Store | None,
    stores: Mapping[str, Store],
) -> ReviewRow:
    """The row's cells as a review, every problem of its own cells noted; the order is looked up later,
    for a batch at once (``reviews_attach``)."""
    columns = {key: index for index, key in mapping.items()}
    row = ReviewRow(number, store=store)

    def cell(key: str) -> Cell:
        index = columns.get(key)
        return None if index is None else cells[index]

    def problem(key: str, reason: str) -> None:
        index = columns.get(key)
        where = headers[index] if index is not None else ""
        row.problems.append(Problem(number, where, "" if index is None else normalized(cells[index]), reason))

    def text(key: str, max_length: int, *, free: bool = False) -> str:
        try:
            return text_parse(cell(key), max_length=max_length, free=free)
        except CellError as exc:
            problem(key, str(exc))
            return ""

    row.order_no = text("order_no", 64)
    row.order_column = headers[columns["order_no"]] if "order_no" in columns else ""
    if not row.order_no:
        problem("order_no", _("Enter the order number the review is of."))
    if store_name := text("store", 50):
        row.store = stores.get(store_name.lower())
        if row.store is None:
            known = list_join(s.name for s in stores.values())
            problem(
                "store",
                _("“%(value)s” is not one of the shop's stores (%(known)s).")
                % {"value": store_name, "known": known},
            )
    elif row.store is None:
        problem("store", _("Which store? Add a store column or choose the store."))
    row.line_no = text("line_no", 64)
    row.sku_code = text("sku_code", 64)
    row.product_name = text("product", 200, free=True)
    try:
        row.rating = rating_parse(cell("rating"))
    except CellError as exc:
        problem("rating", str(exc))
    comment = text("comment", COMMENT_MAX, free=True)
    followup = text("followup", COMMENT_MAX, free=True)
    if followup:
        comment = f"{comment}\n{FOLLOWUP_MARK}{followup}" if comment else FOLLOWUP_MARK + followup
        if len(comment) > COMMENT_MAX:
            # The pipeline refuses over-long text rather than cutting what a customer wrote.
            problem(
                "followup",
                _("With its 追评 the comment is longer than %(max)s characters (%(count)s).")
                % {"max": COMMENT_MAX, "count": len(comment)},
            )
    row.comment = comment
    if normalized(cell("reviewed_at")):
        try:
            row.reviewed_at = moment_parse(cell("reviewed_at"))
        except CellError as exc:
            problem("reviewed_at", str(exc))
        else:
            if row.reviewed_at > timezone.now():
                problem("reviewed_at", _("The review time is in the future."))
    else:
        problem("reviewed_at", _("Enter the review time."))
    row.review_id = text("review_id", REVIEW_ID_MAX)
    if not row.review_id and row.order_no:
        row.review_id = review_id_derive(row.order_no, row.line_no or row.sku_code or row.product_name)
    return row


def review_id_derive(order_no: str, line: str) -> str:
    """A review id for an export that has none: the order number and the order line (sub-order number,
    SKU code or item name), so the same review in next month's export gets the same id. Too long for the
    column, the line part is a digest."""
    derived = f"{order_no}#{line}"
    if len(derived) <= REVIEW_ID_MAX:
        return derived
    digest = hashlib.sha256(derived.encode("utf-8")).hexdigest()
    room = REVIEW_ID_MAX - len(order_no) - 1
    return f"{order_no}#{digest[:room]}" if room >= 16 else digest


def _plain(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _product_of(order: Order, row: ReviewRow) -> Product | None:
    """The product of the order line the row names: by SKU code, else by item name (the line's title or
    product name, exactly, else the one line whose name the row's contains or the other way round). A
    row that names no line, of an order with one product, is of that product."""
    lines = [(line, line.product) for line in order.lines.all() if line.product is not None]
    if row.sku_code:
        code = row.sku_code.lower()
        for line, product in lines:
            if line.sku_code.lower() == code:
                return product
    if row.product_name:
        name = _plain(row.product_name)
        exact = {p.pk: p for line, p in lines if name in (_plain(line.title), _plain(p.name))}
        if len(exact) == 1:
            return next(iter(exact.values()))
        near = {p.pk: p for line, p in lines if _plain(p.name) in name or name in _plain(line.title)}
        if len(near) == 1:
            return next(iter(near.values()))
    if not row.sku_code and not row.product_name:
        products = {p.pk: p for _line, p in lines}
        if len(products) == 1:
            return next(iter(products.values()))
    return None


def reviews_attach(rows: Sequence[ReviewRow]) -> None:
    """Give each good row its order (one query for the batch) and the product among that order's lines;
    a row whose order is not in Kebu gets its problem."""
    wanted = [row for row in rows if not row.problems and row.store is not None]
    if not wanted:
        return
    lines = (
        OrderLine.objects.filter(product__isnull=False).select_related("product").order_by("position", "pk")
    )
    orders = {
        (order.store_id, order.order_no): order
        for order in Order.objects.filter(
            order_no__in={row.order_no for row in wanted},
            store_id__in={row.store.pk for row in wanted if row.store is not None},
        )
        .select_related("customer")
        .prefetch_related(Prefetch("lines", queryset=lines))
    }
    for row in wanted:
        assert row.store is not None
        row.order = orders.get((row.store.pk, row.order_no))
        if row.order is None:
            row.problems.append(
                Problem(
                    row.number,
                    row.order_column,
                    row.order_no,
                    _("Order %(no)s is not imported yet: import the orders first.") % {"no": row.order_no},
                )
            )
            continue
        row.product = _product_of(row.order, row)


def review_rows_check(
    rows: Iterable[tuple[int, list[Cell]]],
    *,
    mapping: Mapping[int, str],
    headers: Sequence[str],
    store: Store | None,
    batch_rows: int = 1000,
) -> list[ReviewRow]:
    """The rows with problems (what all or nothing refuses a file for, and what the check lists), every
    row read and its order looked for; nothing written."""
    stores = _stores()
    bad: list[ReviewRow] = []
    pending = iter(rows)
    while batch := list(islice(pending, batch_rows)):
        read = [
            review_row_read(n, cells, mapping=mapping, headers=headers, store=store, stores=stores)
            for n, cells in batch
        ]
        reviews_attach(read)
        bad += [row for row in read if row.problems]
    return bad


def _stores() -> dict[str, Store]:
    return {s.name.lower(): s for s in Store.objects.all()}


# --- writing ---------------------------------------------------------------------------------------


def _snapshot(feedback: Feedback) -> dict[str, Any]:
    """What an import writes into a review, as the journal keeps it (and undo compares it)."""
    return {
        "customer": feedback.customer_id,
        "order": feedback.order_id,
        "product": feedback.product_id,
        "rating": int(feedback.rating),
        "comment": feedback.comment,
        "reviewed_at": feedback.reviewed_at.astimezone(UTC).isoformat(),
    }


def review_batch_import(
    run: Import, batch: Sequence[tuple[int, list[Cell]]], *, mapping: dict[int, str]
) -> None:
    """Import ``batch`` inside the caller's transaction, counting onto ``run``; each review in a savepoint,
    so a row the feedback service refuses is rejected alone."""
    store = Store.objects.filter(pk=run.options.get("store")).first() if run.options.get("store") else None
    stores = _stores()
    rows = [
        review_row_read(n, cells, mapping=mapping, headers=run.headers, store=store, stores=stores)
        for n, cells in batch
    ]
    reviews_attach(rows)
    good = [row for row in rows if not row.problems]
    before: dict[tuple[int | None, str], dict[str, Any]] = {
        (fb.store_id, fb.external_id): _snapshot(fb)
        for fb in Feedback.objects.filter(
            external_id__in={row.review_id for row in good},
            store_id__in={row.store.pk for row in good if row.store is not None},
        ).exclude(external_id="")  # spelled as the unique index's condition, so the index serves it
    }
    rejected = [row for row in rows if row.problems]
    journal: list[ImportRow] = []
    for row in good:
        assert row.store is not None and row.order is not None
        key = (row.store.pk, row.review_id)
        try:
            with transaction.atomic():
                feedback, created = feedback_import_row(
                    actor=run.created_by,
                    store=row.store,
                    external_id=row.review_id,
                    customer=row.order.customer,
                    order=row.order,
                    product=row.product,
                    rating=row.rating,
                    comment=row.comment,
                    reviewed_at=row.reviewed_at,
                )
        except ValidationFailed as exc:
            reasons = [str(m) for messages in exc.field_errors.values() for m in messages] or [
                str(exc.message)
            ]
            row.problems = [Problem(row.number, "", "", reason) for reason in reasons]
            rejected.append(row)
            continue
        after = _snapshot(feedback)
        earlier = before.get(key)
        before[key] = after  # a later row of the file with the same review sees this one
        if not created and earlier == after:
            run.unchanged += 1
            continue
        detail: dict[str, Any] = {"feedback": feedback.pk, "review": row.review_id, "after": after}
        if created:
            run.created += 1
            action = ImportRowAction.CREATED
        else:
            run.updated += 1
            action = ImportRowAction.UPDATED
            detail["before"] = earlier
        journal.append(
            ImportRow(
                run=run,
                row=row.number,
                action=action,
                customer_id=feedback.customer_id,
                detail=json.dumps(detail, ensure_ascii=False),
            )
        )
    journal += [ImportRow.rejection(run, [row.number], row.problems) for row in rejected]
    run.rejected += len(rejected)
    ImportRow.objects.bulk_create(journal)


# --- undo ------------------------------------------------------------------------------------------


def review_import_undo(run: Import) -> dict[str, int]:
    """Put the reviews back as they were before ``run`` (inside the caller's transaction): the ones it
    made are deleted, the ones it changed get their old rating, comment, time, order and product.
    ``Conflict``, naming the reviews, when that would lose later work: a review changed since (it no
    longer holds what the import wrote; reviews carry no version, so the values are compared)."""
    entries = [
        (action, json.loads(detail))
        for action, detail in run.journal.filter(
            action__in=[ImportRowAction.CREATED, ImportRowAction.UPDATED]
        )
        .order_by("-row")
        .values_list("action", "detail")
    ]
    now = {fb.pk: fb for fb in Feedback.objects.filter(pk__in={d["feedback"] for _a, d in entries})}
    blocked: list[str] = []
    seen: set[int] = set()
    for _action, detail in entries:  # newest first: only the import's last word must still be there
        pk = detail["feedback"]
        if pk in seen or pk not in now:  # deleted since: nothing left to put back
            continue
        seen.add(pk)
        if _snapshot(now[pk]) != detail["after"]:
            blocked.append(now[pk].external_id)
    if blocked:
        shown = sorted(blocked)[:UNDO_CONFLICTS_SHOWN]
        message = ngettext(
            "Undoing would lose later work on %(count)d review (%(reviews)s): changed since the import.",
            "Undoing would lose later work on %(count)d reviews (%(reviews)s): changed since the import.",
            len(blocked),
        ) % {"count": len(blocked), "reviews": list_join(shown) + ("…" if len(blocked) > len(shown) else "")}
        raise Conflict(message)
    restored = 0
    for action, detail in entries:  # newest first: each review ends as it was before the import's first row
        if action != ImportRowAction.UPDATED or detail["feedback"] not in now:
            continue
        before = detail["before"]
        Feedback.objects.filter(pk=detail["feedback"]).update(
            customer_id=before["customer"],
            order_id=before["order"] if Order.objects.filter(pk=before["order"]).exists() else None,
            product_id=before["product"] if Product.objects.filter(pk=before["product"]).exists() else None,
            rating=before["rating"],
            comment=before["comment"],
            reviewed_at=datetime.fromisoformat(before["reviewed_at"]),
        )
        restored += 1
    made = [d["feedback"] for action, d in entries if action == ImportRowAction.CREATED]
    deleted = Feedback.objects.filter(pk__in=made).delete()[1].get("engagement.Feedback", 0)
    return {"deleted": deleted, "restored": restored}


def review_file_check(
    data: bytes | Path,
    *,
    sheet: str | None = None,
    mapping: dict[int, str] | None = None,
    store: Store | None = None,
) -> FileCheck:
    """``customers.customer_file_check`` for a review export: every row read and its order looked for,
    nothing written."""
    table = table_read(data, sheet=sheet)
    if mapping is None:
        mapping = review_headers_match(table.headers)
    review_mapping_check(table.headers, mapping)
    check = FileCheck(headers=table.headers, mapping=mapping)
    stores = _stores()
    while batch := list(islice(table.rows, 1000)):
        rows = [
            review_row_read(number, cells, mapping=mapping, headers=table.headers, store=store, stores=stores)
            for number, cells in batch
        ]
        reviews_attach(rows)
        for row, (_number, cells) in zip(rows, batch, strict=True):
            if row.problems:
                check.bad.append((row.number, cells, row.problems))
            else:
                check.good += 1
    return check
