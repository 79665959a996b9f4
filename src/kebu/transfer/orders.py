"""Importing an order sheet: a marketplace's order export, or Kebu's own. A row is one order line, the
order's fields repeated on each of its lines (the rows of one order come one after the other); a file
that has a row per order is the same with one line each.

An order is matched by its store and order number, so the same export imported twice, or next week's
overlapping export, adds each order once; one already in Kebu that the newer export reports further
along (paid, shipped, signed for, completed; or cancelled before payment) is moved on as by hand, and
takes the sheet's changed details (notes, delivery method, carrier and tracking number, address, payment
method), never its lines or amounts: a sheet that differs there is refused for that order, saying what
differs. The importer changes an order already in Kebu only as its page would let them: one they may not
see, or may not change, is left as it is with a note, and the contact details they see masked are never
taken. The buyer is matched to a customer by customer number, phone, or marketplace buyer ID
(旺旺/会员名), or, named with none of them (a masked phone), by name and street address together, unless
the digits the masked phone shows end none of that customer's phones; and
becomes a new customer when none has them, owned as the customer import's are, named
by the sheet's customer (Kebu's own export's Customer) or else its receiver. A buyer the sheet names by
such a key needs no name or phone; a new one does, and its order is refused saying which column to fill
in (``_new_buyer_unnamed``). A new order whose buyer is a customer the importer may not see, or would be
a new one when they may not add customers, is refused, saying so and nothing of that customer
(``_Known.buyer_problem``). A new order in a deactivated store is refused on its store's cell; one
already in such a store is matched as any other. Each order is checked as ``order_create`` checks it,
and its address is the sheet's, blank too (not the buyer's default). A batch's orders are written together
(``orders_create_checked``), with the customers' figures, stages and audit entries as ``order_create``
would leave them, in the batch's transaction. A new order the sheet reports closed after payment (交易关闭
with its payment time) is made as it happened: paid, then refunded in full through the after-sale
services; one closed before payment is cancelled. A new order of which the sheet gives an amount
refunded (退款金额, Kebu's own Refunded) is made at its status, then refunded that much the same way (in
full, it closes): each line gives back what the sheet says was refunded of it (Kebu's own Line
refunded), else the refund is spread over the lines; lines it says came back (Kebu's own Line returned,
退货数量) make the refund a return naming them, so that their returned quantities come back too. One the
sheet gives no amount refunded of but whose after-sale status (售后状态, 退款状态) says the refund is over is
refunded what was paid the same way (only the lines it says it of, in a sheet with a row per sub-order),
and the corrections say so; one whose after-sale is under way gets a note. An order
already in Kebu is never refunded by an import: a sheet saying more was refunded, or more returned, gets
a note. Undo deletes the orders the import made, their refunds, and the customers it made for them, puts
the orders it moved on or changed back, and rebuilds the figures of the customers they belonged to."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Field, Prefetch, ProtectedError
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kebu.core.errors import Conflict, KebuError, ValidationFailed
from kebu.core.lookup import phone_last4_lookup
from kebu.core.masking import MASK
from kebu.core.phone import clean_digits, parse_phone
from kebu.core.text import fold, list_join
from kebu.customers.events import customer_stage_put_back_event
from kebu.customers.models import Address, Customer, CustomerPhone, CustomField, SocialKind
from kebu.customers.services import SocialInput, customers_import_create
from kebu.orders.models import (
    COUNTED_STATUSES,
    AfterSale,
    AfterSaleReason,
    DeliveryMethod,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Platform,
    Sku,
    Store,
)
from kebu.orders.selectors import order_visible_queryset
from kebu.orders.services.aftersales import (
    AfterSaleLineInput,
    fen_shares,
    line_refund_bases,
    order_refund,
)
from kebu.orders.services.metrics import figures_recompute
from kebu.orders.services.orders import (
    ORDER_DETAIL_FIELDS,
    CheckedOrder,
    LineInput,
    OrderInput,
    order_cancel,
    order_check,
    order_complete,
    order_create,
    order_deliver,
    order_detail_fields_for,
    order_details_update,
    order_fields_edited_by_hand,
    order_pay,
    order_ship,
    orders_create_checked,
    skus_load,
)
from kebu.orders.services.stores import store_closed_message
from kebu.transfer.cells import (
    CENT,
    CellError,
    as_written,
    code_check,
    date_correction,
    formula_error_refuse,
    moment_parse,
    money_correction,
    money_parse,
    normalized,
    text_correction,
    text_parse,
)
from kebu.transfer.corrections import Correction, corrections_note
from kebu.transfer.customers import (
    CustomerRow,
    FileCheck,
    Problem,
    References,
    _labels_everywhere,
    customer_row_read,
)
from kebu.transfer.headers import ORDER_HEADERS, header_key, headers_match, mapping_one_column_each
from kebu.transfer.models import Import, ImportKind, ImportRow, ImportRowAction
from kebu.transfer.readers import Cell
from kebu.transfer.sheetxml import FormulaError
from kebu.transfer.versions import versions_changed_since, versions_undone_record

if TYPE_CHECKING:
    from kebu.transfer.imports import _Allowed as CustomersAllowed
    from kebu.transfer.imports import _Matches

logger = logging.getLogger(__name__)

# A sheet's order: (its store as the sheet names it, lowercased; its order number). See ``order_key``.
OrderKey = tuple[str, str]

UNDO_CONFLICTS_SHOWN = 10
ZERO = Decimal("0.00")
_HAN = re.compile(r"[\u3400-\u9fff]")
# An order sheet's buyer columns -> the customer fields they feed.
BUYER_FIELDS = {
    "customer_no": "customer_no",
    "customer_name": "name",  # Kebu's own export's Customer; else the receiver names the buyer (_buyer)
    "receiver": "name",
    "phone": "phone",
    "buyer": "wangwang",  # on a Taobao store; see _BUYER_ACCOUNT
    "email": "email",
    "province": "province",
    "city": "city",
    "district": "district",
    "address": "address",
}
_STATUS_WORDS = {
    "等待买家付款": OrderStatus.PENDING,
    "待付款": OrderStatus.PENDING,
    "未付款": OrderStatus.PENDING,
    "买家已付款": OrderStatus.PAID,
    "等待卖家发货": OrderStatus.PAID,
    # Taobao/Tmall's 订单状态 as its export words it, both halves (read with a plain comma, as NFKC makes
    # its full-width one).
    "买家已付款,等待卖家发货": OrderStatus.PAID,
    "卖家已发货,等待买家确认": OrderStatus.SHIPPED,
    "待发货": OrderStatus.PAID,
    "已付款": OrderStatus.PAID,
    "卖家已发货": OrderStatus.SHIPPED,
    "等待买家确认收货": OrderStatus.SHIPPED,
    "已发货": OrderStatus.SHIPPED,
    "待收货": OrderStatus.SHIPPED,
    "已签收": OrderStatus.DELIVERED,
    "交易成功": OrderStatus.COMPLETED,
    "已完成": OrderStatus.COMPLETED,
    "交易完成": OrderStatus.COMPLETED,
    "等待出库": OrderStatus.PAID,  # JD
    "等待确认收货": OrderStatus.SHIPPED,
    "已发货,待签收": OrderStatus.SHIPPED,  # Pinduoduo
    "完成": OrderStatus.COMPLETED,
    "待支付": OrderStatus.PENDING,  # Douyin
    "备货中": OrderStatus.PAID,  # Douyin: paid, being packed (its 待发货)
    "等待付款": OrderStatus.PENDING,
    # Pinduoduo's order status once an order was refunded in full: before shipping, or after (both
    # halves in one cell, as its 已发货，待签收). Paid, then refunded in full: closed.
    "未发货,退款成功": OrderStatus.CLOSED,
    "已发货,退款成功": OrderStatus.CLOSED,
    "已签收,退款成功": OrderStatus.CLOSED,
    "取消": OrderStatus.CANCELLED,
    # Shopify's financial status, WooCommerce's order status
    "authorized": OrderStatus.PENDING,
    "partially_paid": OrderStatus.PAID,
    "partially_refunded": OrderStatus.PAID,  # paid; what went back is its Refunded Amount
    "refunded": OrderStatus.CLOSED,
    "voided": OrderStatus.CANCELLED,
    "processing": OrderStatus.PAID,
    "on-hold": OrderStatus.PENDING,
    "failed": OrderStatus.CANCELLED,
    # Closed: paid and refunded in full when the sheet gives a payment time, else closed before payment
    # and read as cancelled (order_rows_read).
    "交易关闭": OrderStatus.CLOSED,
    "已关闭": OrderStatus.CLOSED,
    "已取消": OrderStatus.CANCELLED,
}
# Closed statuses whose words say the buyer was refunded, so paid: closed after payment even where the
# sheet has no payment time (Pinduoduo's has none; its 订单成交时间 is when the buyer paid).
_REFUNDED_STATUSES = frozenset({"未发货,退款成功", "已发货,退款成功", "已签收,退款成功", "refunded"})
# An after-sale status (售后状态, 退款状态) in a marketplace's words, lower case and read with a plain comma
# (as NFKC makes its full-width one): the refund is over (``_REFUNDED``), under way (``_UNDER_WAY``: nothing
# is refunded yet, and it may come to nothing), or there was none or it came to nothing (``_NO_REFUND``).
# A word not here is its cell's problem: read as no refund, an order refunded in a word Kebu does not know
# would count as the buyer's spend, the very mistake the column is read to avoid.
_REFUNDED, _UNDER_WAY, _NO_REFUND = "refunded", "under_way", "no_refund"
_AFTERSALE_WORDS = {
    # Pinduoduo's order export: 无售后或售后取消, 售后处理中, 退款中, 退款成功 (the states its order list
    # filters by), and 退货退款成功 for a return and refund over.
    "无售后或售后取消": _NO_REFUND,
    "无售后": _NO_REFUND,
    "售后取消": _NO_REFUND,
    "售后处理中": _UNDER_WAY,
    "退款中": _UNDER_WAY,
    "退款成功": _REFUNDED,
    "退货退款成功": _REFUNDED,
    # Douyin shop's order export, a row per sub-order: "-" where there is none. Its words as tools that
    # read the export take them; 售后完成 is read as the refund done, as those tools read it, and is not
    # confirmed against Douyin's own documentation (a re-shipment over is 补寄成功, no money back).
    "-": _NO_REFUND,
    "售后关闭": _NO_REFUND,
    "售后失败": _NO_REFUND,
    "补寄成功": _NO_REFUND,
    "售后待处理": _UNDER_WAY,
    "待商家处理": _UNDER_WAY,
    "待退货": _UNDER_WAY,
    "待买家退货": _UNDER_WAY,
    "待收退货": _UNDER_WAY,
    "待商家收货": _UNDER_WAY,
    "已退款": _REFUNDED,
    "已全额退款": _REFUNDED,
    "退款完成": _REFUNDED,
    "售后完成": _REFUNDED,
    # Taobao/Tmall's 退款状态 (its item report): its open platform's words for a refund's states, of which
    # 没有申请退款 and 退款成功 are seen in its exports.
    "没有申请退款": _NO_REFUND,
    "退款关闭": _NO_REFUND,
    "买家已经申请退款,等待卖家同意": _UNDER_WAY,
    "卖家已经同意退款,等待买家退货": _UNDER_WAY,
    "买家已经退货,等待卖家确认收货": _UNDER_WAY,
    "卖家拒绝退款": _UNDER_WAY,  # the buyer may ask again or call the platform in; nothing went back yet
    # A sheet of one's own, in English.
    "none": _NO_REFUND,
    "in progress": _UNDER_WAY,
    "refunded": _REFUNDED,
}
_PAYMENT_WORDS = {
    "支付宝": PaymentMethod.ALIPAY,
    "微信": PaymentMethod.WECHAT,
    "微信支付": PaymentMethod.WECHAT,
    "花呗": PaymentMethod.HUABEI,
    "银行卡": PaymentMethod.BANK_CARD,
    "货到付款": PaymentMethod.COD,
    "现金": PaymentMethod.CASH,
    "转账": PaymentMethod.BANK_TRANSFER,
    "银行转账": PaymentMethod.BANK_TRANSFER,
    "赊账": PaymentMethod.CREDIT,
}
# How an order goes, in the marketplaces' words (Taobao's 运送方式, Youzan's and Weidian's 配送方式) and
# Shopify's and WooCommerce's default shipping names, lower case; Kebu's own labels, in either language,
# are read by ``_word``. Post (平邮, EMS) goes as a parcel with a tracking number: express. A carrier's
# name (中通快递, 圆通速递, 顺丰速运) is a parcel by that carrier (``_delivery_word``). There is no "other" to
# fall back on, as an unknown payment word does: a word not here is the order's problem, not a parcel,
# since taking a pick-up for a parcel is the very mistake the column is read to avoid.
_DELIVERY_WORDS = {
    "快递发货": DeliveryMethod.EXPRESS,
    "普通快递": DeliveryMethod.EXPRESS,
    "顺丰": DeliveryMethod.EXPRESS,
    "ems": DeliveryMethod.EXPRESS,
    "平邮": DeliveryMethod.EXPRESS,
    "邮政": DeliveryMethod.EXPRESS,
    "express delivery": DeliveryMethod.EXPRESS,
    "standard": DeliveryMethod.EXPRESS,
    "standard shipping": DeliveryMethod.EXPRESS,
    "flat rate": DeliveryMethod.EXPRESS,
    "free shipping": DeliveryMethod.EXPRESS,
    "物流": DeliveryMethod.FREIGHT,
    "物流发货": DeliveryMethod.FREIGHT,
    "货运": DeliveryMethod.FREIGHT,
    "大件物流": DeliveryMethod.FREIGHT,
    "快运": DeliveryMethod.FREIGHT,
    "logistics": DeliveryMethod.FREIGHT,
    "同城": DeliveryMethod.SAME_CITY,
    "同城送": DeliveryMethod.SAME_CITY,
    "同城急送": DeliveryMethod.SAME_CITY,
    "送货上门": DeliveryMethod.SAME_CITY,
    "送货到家": DeliveryMethod.SAME_CITY,
    "商家配送": DeliveryMethod.SAME_CITY,
    "商家送货": DeliveryMethod.SAME_CITY,
    "门店配送": DeliveryMethod.SAME_CITY,
    "即时配送": DeliveryMethod.SAME_CITY,
    "local delivery": DeliveryMethod.SAME_CITY,
    "上门自提": DeliveryMethod.PICKUP,
    "到店自提": DeliveryMethod.PICKUP,
    "门店自提": DeliveryMethod.PICKUP,
    "买家自提": DeliveryMethod.PICKUP,
    "自取": DeliveryMethod.PICKUP,
    "到店自取": DeliveryMethod.PICKUP,
    "到店取货": DeliveryMethod.PICKUP,
    "门店取货": DeliveryMethod.PICKUP,
    "pick up": DeliveryMethod.PICKUP,
    "local pickup": DeliveryMethod.PICKUP,
    "store pickup": DeliveryMethod.PICKUP,
    "无需物流": DeliveryMethod.NONE,
    "无需快递": DeliveryMethod.NONE,
    "无需发货": DeliveryMethod.NONE,
    "虚拟发货": DeliveryMethod.NONE,
    "虚拟物品": DeliveryMethod.NONE,
    "电子凭证": DeliveryMethod.NONE,
    "no shipping": DeliveryMethod.NONE,
    "no shipping required": DeliveryMethod.NONE,
}
_CARRIER_ENDINGS = ("快递", "速递", "速运")


@dataclass(frozen=True)
class Marketplace:
    """An export whose headers are its own: told by a few header words no one else uses together, read
    column by column (compared as ``headers.header_key`` compares them)."""

    name: str
    signature: frozenset[str]
    columns: Mapping[str, str]


MARKETPLACES = (
    Marketplace(
        "Shopify",
        frozenset({"name", "financialstatus", "lineitemname"}),
        {
            "name": "order_no",
            "createdat": "ordered_at",
            "paidat": "paid_at",
            "fulfilledat": "shipped_at",
            "financialstatus": "status",
            "email": "email",
            "shippingname": "receiver",
            "shippingphone": "phone",
            "lineitemname": "title",
            "lineitemsku": "sku_code",
            "lineitemquantity": "quantity",
            "lineitemprice": "unit_price",
            "shipping": "shipping",
            "discountamount": "discount",
            # "Total" includes tax, which Kebu does not keep: the amount paid is taken as the amount due.
            "refundedamount": "refunded",
            "paymentmethod": "payment_method",
            "notes": "buyer_message",
        },
    ),
    Marketplace(
        "WooCommerce",
        frozenset({"ordernumber", "orderstatus", "itemname", "ordertotalamount"}),
        {
            "ordernumber": "order_no",
            "orderdate": "ordered_at",
            "orderstatus": "status",
            "email(billing)": "email",
            "firstname(billing)": "receiver",
            "lastname(billing)": "receiver_family_name",
            "phone(billing)": "phone",
            "itemname": "title",
            "sku": "sku_code",
            "quantity": "quantity",
            "quantity(-refund)": "quantity",
            "itemcost": "unit_price",
            "ordershippingamount": "shipping",
            "cartdiscountamount": "discount",
            "orderrefundamount": "refunded",
            "paymentmethodtitle": "payment_method",
            "customernote": "buyer_message",
        },
    ),
)


def order_headers_match(headers: Sequence[str]) -> dict[int, str]:
    """Column index -> field: a marketplace's own columns when its headers say which it is, else the
    order words (``headers.ORDER_HEADERS``) in Chinese and English."""
    keys = [header_key(h) for h in headers]
    for marketplace in MARKETPLACES:
        if marketplace.signature <= set(keys):
            found: dict[int, str] = {}
            for index, key in enumerate(keys):
                target = marketplace.columns.get(key)
                if target is not None and target not in found.values():
                    found[index] = target
            return found
    return headers_match(headers, vocabulary=ORDER_HEADERS)


def order_mapping_check(headers: Sequence[str], mapping: Mapping[int, str]) -> None:
    """Raise ``ValidationFailed`` unless the columns give an order number and what was bought, or when two
    columns feed one field."""
    mapping_one_column_each(headers, mapping)
    if "order_no" not in mapping.values() or not {"title", "sku_code"} & set(mapping.values()):
        raise ValidationFailed(
            _("An order sheet needs an order number column and an item or SKU column (headers: %(headers)s).")
            % {"headers": list_join(headers[:20])}
        )


def order_key(
    mapping: Mapping[int, str], *, store: Store | None = None
) -> Callable[[Sequence[Cell]], OrderKey]:
    """What tells a row's order apart from the sheet's others: its store and its order number. Two
    stores of one shop may each have an order 1001 (Kebu's own export of the shop has both, one under
    the other), and they are two orders. The store is the row's store cell, compared as it is looked up
    (by name, case aside), or the store chosen on upload when the sheet has no store column or the
    cell is blank; but a blank cell under a row of the same order number is that row's store (a sheet
    that names the store on an order's first line only). So the function is called on the rows in
    their order, once each, as ``groupby`` does."""
    number_at = next(i for i, key in mapping.items() if key == "order_no")
    store_at = next((i for i, key in mapping.items() if key == "store"), None)
    chosen = store.name.lower() if store is not None else ""
    above: list[OrderKey] = []  # the key of the row above

    def key(cells: Sequence[Cell]) -> OrderKey:
        named = " ".join(normalized(cells[store_at]).split()).lower() if store_at is not None else ""
        number = normalized(cells[number_at])
        if not named and above and above[0][1] == number:
            named = above[0][0]
        above[:] = [(named or chosen, number)]
        return above[0]

    return key


def order_groups(
    rows: Iterable[tuple[int, list[Cell]]], mapping: Mapping[int, str], *, store: Store | None = None
) -> Iterator[list[tuple[int, list[Cell]]]]:
    """The rows, an order's lines together (consecutive rows with the same store and order number,
    ``order_key``)."""
    key = order_key(mapping, store=store)
    for _key, group in groupby(rows, key=lambda row: key(row[1])):
        yield list(group)


def order_batches(
    groups: Iterator[list[tuple[int, list[Cell]]]], *, size: int
) -> Iterator[list[list[tuple[int, list[Cell]]]]]:
    """The orders of ``groups`` (``order_groups``) a batch at a time, as the import writes them: whole
    orders (an order's lines are never split between two batches), about ``size`` rows each."""
    while True:
        batch: list[list[tuple[int, list[Cell]]]] = []
        while sum(len(g) for g in batch) < size and (group := next(groups, None)) is not None:
            batch.append(group)
        if not batch:
            return
        yield batch


def order_numbers_split(
    rows: Iterable[tuple[int, list[Cell]]], mapping: Mapping[int, str], *, store: Store | None = None
) -> dict[OrderKey, list[int]]:
    """The orders (``order_key``) whose rows are not together in the sheet, each with the first row of
    every run after its first. An order's lines are the consecutive rows with its store and number: a
    later run of the same order would be taken for the order already imported and its lines lost
    without a word, so every run of such an order is refused instead, naming the rows. One pass over the
    sheet, keeping a hash per order rather than the orders."""
    order_of = order_key(mapping, store=store)
    seen: set[int] = set()
    split: dict[OrderKey, list[int]] = {}
    for key, group in groupby(rows, key=lambda row: order_of(row[1])):
        first = next(group)[0]  # groupby moves past the rest of the run by itself
        if key[1] and hash(key) in seen:
            split.setdefault(key, []).append(first)
        seen.add(hash(key))
    return split


# ``order_check``'s fields (``ValidationFailed.field_errors``' keys) -> the columns of an order sheet that
# give them (``order_rows_read``'s keys), the first with a value counting. The order's are on its first
# row, where a blank cell gave nothing: the value checked was Kebu's own (a payment time the order time,
# an amount paid the amount due, the store chosen on upload), and its problem is the order's as a whole.
# A field not here (``lines``: an order's amount as a whole; ``customer``: its buyer archived) has none.
_ORDER_FIELD_COLUMNS = {
    "order_no": ("order_no",),
    "store": ("store",),
    "status": ("status",),
    "payment_method": ("payment_method",),
    "delivery_method": ("delivery_method",),
    "ordered_at": ("ordered_at",),
    "paid_at": ("paid_at",),
    "shipped_at": ("shipped_at",),
    "delivered_at": ("delivered_at",),
    "completed_at": ("completed_at",),
    "shipping_cny": ("shipping",),
    "discount_cny": ("discount", "coupon"),  # discount and coupon together more than the order is worth
    "coupon_cny": ("coupon",),
    "paid_cny": ("paid",),
}
# A line's (``lines.<i>.<field>``), on the line's own row, and there a blank cell too when no column of
# the field has a value: a blank unit price is the cell to fill in.
_LINE_FIELD_COLUMNS = {
    "sku_code": ("sku_code",),
    "title": ("title",),
    # the line's amount too large: its quantity, else its price
    "quantity": ("quantity", "unit_price", "goods_total"),
    "unit_price_cny": ("unit_price", "goods_total"),
    "discount_cny": ("line_discount",),
}


@dataclass
class OrderCells:
    """Where an order's values are in the sheet: its rows as read, the column of each field, and the row
    of each of its lines (their places in ``rows``, in the order of ``OrderRows.lines``). So that a
    refusal ``order_check`` words by field is told on the cell the merchant corrects (``problem``)."""

    rows: Sequence[tuple[int, Sequence[Cell]]]
    columns: Mapping[str, int]
    headers: Sequence[str]
    lines: list[int] = field(default_factory=list)

    def problem(self, key: str, reason: str) -> Problem | None:
        """``reason``, of ``order_check``'s field ``key``, on the cell it was read from
        (``_ORDER_FIELD_COLUMNS``, ``_LINE_FIELD_COLUMNS``); None when no cell gave it."""
        if key.startswith("lines."):
            line, _dot, name = key.removeprefix("lines.").partition(".")
            if not line.isdigit() or int(line) >= len(self.lines):
                return None
            number, cells = self.rows[self.lines[int(line)]]
            columns, blank = _LINE_FIELD_COLUMNS.get(name, ()), True
        else:
            number, cells = self.rows[0]
            columns, blank = _ORDER_FIELD_COLUMNS.get(key, ()), False
        found = [
            (index, normalized(cells[index])) for c in columns if (index := self.columns.get(c)) is not None
        ]
        index, value = next(((i, v) for i, v in found if v), found[0] if found and blank else (None, ""))
        if index is None:
            return None
        return Problem(number, self.headers[index], value, reason)


@dataclass
class OrderRows:
    """One order read from its rows: the order (without its customer), the buyer as a customer row, the
    row numbers, and every problem."""

    numbers: list[int]
    order_no: str = ""
    store: Store | None = None
    data: dict[str, Any] = field(default_factory=dict)
    lines: list[LineInput] = field(default_factory=list)
    buyer: CustomerRow | None = None
    problems: list[Problem] = field(default_factory=list)
    # What the journal notes of it when the import makes it: the buyer's details left out, an after-sale
    # the sheet shows under way.
    warnings: list[Problem] = field(default_factory=list)
    # Cells taken otherwise than written, the buyer's with them (transfer.corrections).
    corrections: list[Correction] = field(default_factory=list)
    status_text: str = ""  # the status as the sheet words it (交易关闭)
    # What the sheet says was refunded of it (退款金额); None when it does not say (no column, a blank cell).
    refunded_cny: Decimal | None = None
    # What it says was refunded of each line (Kebu's own export's Line refunded), in the order of
    # ``lines``, a blank cell nothing; None when it says it of no line (no column, every cell blank or 0:
    # a sheet that says 0 of every line says no more than one without the column, and its refund is
    # spread as theirs is).
    line_refunds: list[Decimal] | None = None
    # Where each line's refunded cell is (row, column, value; the reason left blank), in the order of
    # ``lines``: a problem of what its lines say was refunded is told there.
    line_refund_cells: list[Problem] = field(default_factory=list)
    # Where its amount refunded is (退款金额, Refunded, a marketplace's Refunded Amount), as those; None
    # when the sheet gives none. See ``refund_cell``.
    refunded_cell: Problem | None = None
    # The sheet gives no amount refunded of the order, only of its lines: ``refunded_cny`` is what they
    # add up to (None for one closed after payment, which is everything paid refunded).
    refunded_from_lines: bool = False
    # How many of each line it says came back (Kebu's own export's Line returned, 退货数量), in the order
    # of ``lines``, a blank cell none; None when it says it of no line (no column, every cell blank or 0).
    line_returns: list[int] | None = None
    # The first of those cells that says some came back, as ``line_refund_cells``: a problem or a note of
    # what came back is told there.
    returned_cell: Problem | None = None
    # Which of its lines the after-sale status says were refunded (售后状态 退款成功), in the order of
    # ``lines``, when the sheet gives no amount refunded of it or of a line, and it is paid and not closed
    # (closed is refunded in full already); None otherwise. All of them: refunded in full, what was paid;
    # some (Douyin's row per sub-order): those lines, what was paid for them. See ``_refunded``.
    refunded_by_status: list[bool] | None = None
    # Where each line's after-sale status is, as ``line_refund_cells``.
    aftersale_cells: list[Problem] = field(default_factory=list)
    # The refund ``_refunded`` recorded for ``refunded_by_status``, for the journal's note.
    refunded_by_status_cny: Decimal | None = None
    # Its store is deactivated: a problem of the store's cell, unless the order is already in that store
    # (an old store's export imported again), which is known only once the order is matched.
    closed_store: Problem | None = None
    # Where its values are in the sheet; None for an order not read from one.
    cells: OrderCells | None = None

    @property
    def number(self) -> int:
        """The order's first row: where its problems are reported."""
        return self.numbers[0]

    def field_problems(self, exc: KebuError) -> list[Problem]:
        """The reasons of ``exc`` (``order_check``'s, by field), each on the cell of the sheet that gave
        its field (``OrderCells.problem``), else on the order's first row as a whole."""
        reasons = [(key, str(m)) for key, messages in exc.field_errors.items() for m in messages]
        problems = []
        for key, reason in reasons or [("", str(exc.message))]:
            found = self.cells.problem(key, reason) if self.cells is not None else None
            problems.append(found or Problem(self.number, "", "", reason))
        return problems

    def line_refund_problem(self, reason: str, line: int | None = None) -> Problem:
        """``reason`` on the refunded cell of ``line`` (its index in ``lines``), by default of the first
        line the sheet says something was refunded of."""
        if line is None:
            line = next((i for i, amount in enumerate(self.line_refunds or ()) if amount), 0)
        return replace(self.line_refund_cells[line], reason=reason)

    @property
    def refund_cell(self) -> Problem:
        """Where the sheet says what was refunded of it (row, column, value; the reason left blank): its
        amount refunded, or, when only its lines say it (``refunded_from_lines``), the first line's
        refunded cell that gives one. A problem or a note of its refund is told there, so that the report
        marks the cell to correct."""
        if self.refunded_cell is not None and not self.refunded_from_lines:
            return self.refunded_cell
        return self.line_refund_problem("")

    @property
    def has_refund(self) -> bool:
        """Whether the import, making it, records a refund of it (``_refunded``): the sheet reports it
        closed after payment, gives an amount refunded, of it or of a line, or an after-sale status that
        says it was refunded."""
        refunds = (self.refunded_cny, *(self.line_refunds or ()))
        return self.refunded_in_full or any(refunds) or self.refunded_by_status is not None

    @property
    def refunded_in_full(self) -> bool:
        """Whether everything paid for it was refunded, the sheet giving no other amount: it reports it
        closed after payment, or an after-sale status says every line of it was refunded."""
        by_status = self.refunded_by_status
        return self.data.get("status") == OrderStatus.CLOSED or (by_status is not None and all(by_status))

    @property
    def refunded_by_status_cells(self) -> list[Problem]:
        """The after-sale status cells that say its lines were refunded (``refunded_by_status``)."""
        flags = self.refunded_by_status or ()
        return [cell for cell, refunded in zip(self.aftersale_cells, flags, strict=False) if refunded]


def _names_joined(
    group: Sequence[tuple[int, list[Cell]]], columns: Mapping[str, int]
) -> Sequence[tuple[int, list[Cell]]]:
    """A sheet that splits the receiver's name into given and family name (WooCommerce's billing first
    and last name) gives one name: family name first and no space when it is written in Chinese
    characters (慧 + 陈 → 陈慧), as it is written, else given name first (Hui Chen)."""
    given_at, family_at = columns.get("receiver"), columns.get("receiver_family_name")
    if given_at is None or family_at is None:
        return group
    joined = []
    for number, cells in group:
        given, family = normalized(cells[given_at]), normalized(cells[family_at])
        error = next((c for c in (cells[given_at], cells[family_at]) if isinstance(c, FormulaError)), None)
        if error is not None:
            name: Cell = error  # refused in the receiver's column, not joined into a name
        elif given and family and _HAN.search(given + family):
            name = family + given
        else:
            name = " ".join(part for part in (given, family) if part)
        joined.append((number, [*cells[:given_at], name, *cells[given_at + 1 :]]))
    return joined


def order_rows_read(
    group: Sequence[tuple[int, list[Cell]]],
    *,
    mapping: Mapping[int, str],
    headers: Sequence[str],
    store: Store | None,
    stores: Mapping[str, Store],
    references: References,
    definitions: Sequence[CustomField] | None = None,
    split: Mapping[OrderKey, list[int]] | None = None,
) -> OrderRows:
    columns = {key: index for index, key in mapping.items()}
    group = _names_joined(group, columns)
    first_number, first = group[0]
    where = OrderCells(group, columns, headers)
    order = OrderRows(numbers=[number for number, _cells in group], store=store, cells=where)

    def at(number: int, cells: Sequence[Cell], key: str, reason: str) -> Problem:
        index = columns.get(key)
        where = headers[index] if index is not None else ""
        value = "" if index is None else normalized(cells[index])
        return Problem(number, where, value, reason)

    def problem(number: int, cells: Sequence[Cell], key: str, reason: str) -> None:
        order.problems.append(at(number, cells, key, reason))

    def corrected(number: int, cells: Sequence[Cell], index: int, found: tuple[str, str]) -> None:
        order.corrections.append(Correction(number, headers[index], as_written(cells[index]), *found))

    def text(
        number: int,
        cells: Sequence[Cell],
        key: str,
        length: int,
        *,
        free: bool = False,
        noted: bool = True,
        code: bool = False,
    ) -> str:
        """The cell's text; ``noted``: a change to it is a correction (once a cell, as some are read
        twice); ``code``: an identifier, refused when a spreadsheet rounded it (``code_check``)."""
        index = columns.get(key)
        try:
            if code and index is not None:
                code_check(cells[index])
            value = text_parse(None if index is None else cells[index], max_length=length, free=free)
        except CellError as exc:
            problem(number, cells, key, str(exc))
            return ""
        if noted and not free and index is not None and (reason := text_correction(cells[index], value)):
            corrected(number, cells, index, (value, reason))
        return value

    def money(number: int, cells: Sequence[Cell], key: str) -> Any:
        index = columns.get(key)
        if index is None or not normalized(cells[index]):
            return None
        try:
            amount = money_parse(cells[index])
        except CellError as exc:
            problem(number, cells, key, str(exc))
            return None
        if found := money_correction(cells[index], amount):
            corrected(number, cells, index, found)
        return amount

    def count(number: int, cells: Sequence[Cell], key: str) -> int | None:
        """A whole number of items, none or more; None for a blank cell and one refused."""
        if not (written := text(number, cells, key, 10, noted=False)):
            return None
        try:
            value = Decimal(written)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite() or value != value.to_integral_value():
            problem(number, cells, key, _("Enter a whole number of items."))
            return None
        if value < 0:
            problem(number, cells, key, _("The quantity cannot be negative."))
            return None
        return int(value)

    def unit_price_of(number: int, cells: Sequence[Cell], goods: Decimal, quantity: str) -> Decimal | None:
        """The unit price a line's item total (商品总价) gives for its quantity; None, and the reason on
        the total's cell, when it does not share out to the fen. A quantity that is not a whole number
        of one or more gives none: ``order_check`` refuses the quantity."""
        try:
            units = Decimal(quantity)
        except InvalidOperation:
            return None
        if not units.is_finite() or units < 1 or units != units.to_integral_value():
            return None
        each = goods / units
        if each != each.quantize(CENT):
            reason = _(
                "¥%(total)s does not share out into %(quantity)s equal prices to the fen: add a unit price "
                "column."
            )
            problem(number, cells, "goods_total", reason % {"total": goods, "quantity": quantity})
            return None
        if units != 1:
            why = _("The item total divided by the quantity: the unit price.")
            corrected(number, cells, columns["goods_total"], (str(each.quantize(CENT)), why))
        return each.quantize(CENT)

    def aftersale(number: int, cells: Sequence[Cell]) -> str:
        """What a row's after-sale status says (``_AFTERSALE_WORDS``); "" for a blank cell, no column, and
        a word Kebu does not know, which is the cell's problem."""
        if not (written := text(number, cells, "aftersale_status", 40, noted=False)):
            return ""
        if (found := _AFTERSALE_WORDS.get(written.lower())) is None:
            reason = _(
                "“%(value)s” is not an after-sale status Kebu knows: write %(refunded)s if everything paid "
                "for it was refunded, or leave the cell blank if nothing was."
            )
            problem(number, cells, "aftersale_status", reason % {"value": written, "refunded": "退款成功"})
            return ""
        return found

    order.order_no = text(first_number, first, "order_no", 40, code=True)
    if not order.order_no:
        # Without it a second import could not tell the order is already in, and the lines of orders
        # without numbers one under another would be taken for one order.
        if not order.problems:  # else its cell says why it was not taken (code_check)
            problem(
                first_number,
                first,
                "order_no",
                _("Enter the order number: a later import of the same sheet knows the order by it."),
            )
    elif split and (again := split.get(order_key(mapping, store=store)(first))):
        problem(
            first_number,
            first,
            "order_no",
            _(
                "The rows of order %(no)s are not together (it appears again from row %(rows)s): put an "
                "order's lines one under the other, e.g. sort the sheet by order number, and import again."
            )
            % {"no": order.order_no, "rows": list_join(again)},
        )
    if store_name := text(first_number, first, "store", 50):
        order.store = stores.get(store_name.lower())
        if order.store is None:
            message = _("“%(value)s” is not one of the shop's stores (%(known)s).")
            known = list_join(s.name for s in stores.values())
            problem(first_number, first, "store", message % {"value": store_name, "known": known})
    elif order.store is None:
        problem(first_number, first, "store", _("Which store? Add a store column or choose the store."))
    if order.store is not None and not order.store.is_active:
        order.closed_store = at(first_number, first, "store", store_closed_message(order.store))
    for key in ("ordered_at", "paid_at", "shipped_at", "delivered_at", "completed_at"):
        index = columns.get(key)
        if index is not None and normalized(first[index]):
            try:
                order.data[key] = moment_parse(first[index])
            except CellError as exc:
                problem(first_number, first, key, str(exc))
            else:
                if found := date_correction(first[index], order.data[key]):
                    corrected(first_number, first, index, found)
    if "ordered_at" not in order.data:
        problem(first_number, first, "ordered_at", _("Enter the order time."))
    # The status is taken, not its text: no correction of how it was written (已发货，待签收).
    if status := text(first_number, first, "status", 20, noted=False):
        order.status_text = status
        word = status.lower().removeprefix("wc-")
        found = _STATUS_WORDS.get(status) or _STATUS_WORDS.get(word) or _word(OrderStatus, word)
        if found is None:
            problem(
                first_number,
                first,
                "status",
                _("“%(value)s” is not an order status Kebu knows.") % {"value": status},
            )
        order.data["status"] = found or OrderStatus.PAID
        # A time the sheet gives for a later step says the order took it: Pinduoduo's 已签收 stays with
        # the buyer's 确认收货时间, which completes the sale. Taken at its status, the order kept its
        # signing-for at the shipping time and lost the completion.
        reached = next((step for key, step in _STEP_TIMES if key in order.data), None)
        if found in _FLOW[1:-1] and reached is not None and _FLOW.index(reached) > _FLOW.index(found):
            order.data["status"] = reached
            why = _("The sheet gives the time of a later step (%(column)s): the order is taken at that step.")
            column = headers[columns[next(key for key, step in _STEP_TIMES if step == reached)]]
            status_at = columns["status"]
            corrected(
                first_number, first, status_at, (str(OrderStatus(reached).label), why % {"column": column})
            )
    else:
        # No status column: the order got as far as the last step the sheet gives a time for (a shipped
        # time says it was shipped; taken as only paid, its shipped time was dropped and it could not be
        # returned until marked shipped again by hand).
        order.data["status"] = next(
            (status for key, status in _STEP_TIMES if key in order.data), OrderStatus.PENDING
        )
    if method := text(first_number, first, "payment_method", 20):
        order.data["payment_method"] = (
            _PAYMENT_WORDS.get(method) or _word(PaymentMethod, method) or PaymentMethod.OTHER
        )
    # A blank cell, or no column, leaves the order as order_create makes it: a parcel.
    if way := text(first_number, first, "delivery_method", 40, noted=False):
        index = columns["delivery_method"]
        if (delivery := _delivery_word(way)) is None:
            labels = list_join(label for _value, label in DeliveryMethod.choices)
            reason = _("“%(value)s” is not one of: %(choices)s.") % {"value": way, "choices": labels}
            problem(first_number, first, "delivery_method", reason)
        else:
            order.data["delivery_method"] = delivery
            # A word of the sheet's own (上门自提, EMS) is a correction; Kebu's label in either language
            # (an export made in English, imported in Chinese) is none.
            if as_written(first[index]).lower() not in _labels_everywhere(DeliveryMethod, delivery):
                why = _("Taken as the choice Kebu has for this word.")
                corrected(first_number, first, index, (str(DeliveryMethod(delivery).label), why))
    for key, target in (
        ("shipping", "shipping_cny"),
        ("discount", "discount_cny"),
        ("coupon", "coupon_cny"),
        ("paid", "paid_cny"),
    ):
        if (amount := money(first_number, first, key)) is not None:
            order.data[target] = amount
    refunded_status = order.status_text.lower().removeprefix("wc-") in _REFUNDED_STATUSES
    if order.data["status"] == OrderStatus.CLOSED and (
        ("paid_at" not in order.data and not refunded_status) or order.data.get("paid_cny") == 0
    ):
        # Closed before it was paid. The payment time tells the two closings apart: an export fills the
        # amount of an unpaid order too (Taobao's 买家实际支付金额), never its payment time.
        order.data["status"] = OrderStatus.CANCELLED
    if order.data["status"] in (OrderStatus.PENDING, OrderStatus.CANCELLED):
        # Nothing was paid (or it was given back): an export's "total" column is then what was due.
        order.data.pop("paid_cny", None)
    for key, target, length, free in (
        ("carrier", "carrier", 30, False),
        ("tracking_no", "tracking_no", 40, False),
        # As written (full-width punctuation, line breaks): the words of a person, as a customer's notes.
        ("receiver", "receiver_name", 50, True),
        ("buyer_message", "buyer_message", 1000, True),
        ("seller_notes", "seller_notes", 2000, True),
    ):
        if value := text(first_number, first, key, length, free=free):
            order.data[target] = value
    codes = {text(n, cells, "sku_code", 64, noted=False) for n, cells in group} - {""}
    known = set(Sku.objects.filter(code__in=codes).values_list("code", flat=True)) if codes else set()
    line_refunds: list[Decimal | None] = []
    line_returns: list[int] = []
    line_aftersales: list[str] = []  # what each line's after-sale status says, in the order of ``lines``
    for place, (number, cells) in enumerate(group):
        code = text(number, cells, "sku_code", 64)
        title = text(number, cells, "title", 200)
        variant = text(number, cells, "variant", 130)
        quantity = text(number, cells, "quantity", 10) or "1"
        price = money(number, cells, "unit_price")
        if price is None and (goods := money(number, cells, "goods_total")) is not None:
            price = unit_price_of(number, cells, goods, quantity)
        off = money(number, cells, "line_discount") or 0
        line_refunded = money(number, cells, "line_refunded")
        if line_refunded is not None and line_refunded < 0:
            problem(number, cells, "line_refunded", _("The amount cannot be negative."))
            line_refunded = None  # the order is refused for it: nothing more to say of it
        line_returned = count(number, cells, "line_returned") or 0
        line_aftersale = aftersale(number, cells)
        try:
            bought = Decimal(quantity)
        except InvalidOperation:
            bought = None  # order_check refuses it
        if line_returned and bought is not None and bought.is_finite() and line_returned > bought:
            message = _("%(returned)d returned is more than the %(bought)s bought.")
            problem(number, cells, "line_returned", message % {"returned": line_returned, "bought": quantity})
        if line_returned and order.returned_cell is None:
            order.returned_cell = at(number, cells, "line_returned", "")
        if code in known:
            order.lines.append(
                LineInput(
                    sku_code=code, title=title, quantity=quantity, unit_price_cny=price, discount_cny=off
                )
            )
            line_refunds.append(line_refunded)
            line_returns.append(line_returned)
            line_aftersales.append(line_aftersale)
            order.line_refund_cells.append(at(number, cells, "line_refunded", ""))
            order.aftersale_cells.append(at(number, cells, "aftersale_status", ""))
            where.lines.append(place)
        elif title or code:
            # A SKU the catalogue does not have is kept as the line's text, not refused.
            label = " ".join(part for part in (title or code, variant) if part)
            order.lines.append(
                LineInput(title=label, quantity=quantity, unit_price_cny=price, discount_cny=off)
            )
            line_refunds.append(line_refunded)
            line_returns.append(line_returned)
            line_aftersales.append(line_aftersale)
            order.line_refund_cells.append(at(number, cells, "line_refunded", ""))
            order.aftersale_cells.append(at(number, cells, "aftersale_status", ""))
            where.lines.append(place)
        else:
            problem(number, cells, "title", _("Enter the item or its SKU code."))
    if any(line_refunds):
        order.line_refunds = [amount or ZERO for amount in line_refunds]
    if any(line_returns):
        order.line_returns = line_returns
    refunded = money(first_number, first, "refunded")
    if refunded is None and order.line_refunds is not None:
        # Only its lines say what was refunded: their sum, unless it is closed after payment, which is
        # everything paid refunded (the lines leave the shipping out), their sum at most that.
        order.refunded_from_lines = True
        if order.data["status"] != OrderStatus.CLOSED:
            refunded = sum(order.line_refunds, ZERO)
    if refunded is not None:
        order.refunded_cny = refunded
        if not order.refunded_from_lines:
            order.refunded_cell = at(first_number, first, "refunded", "")
        if wrong := _refund_problem(order, order.data.get("paid_cny")):
            order.problems.append(replace(order.refund_cell, reason=wrong))
    # An after-sale status says what the sheet gives no amount of: that lines were refunded (in full, the
    # lines all: Pinduoduo's and Taobao's say it of the order on each of its rows), or that an after-sale
    # is under way. Of an order paid and not closed only: nothing was paid of one awaiting payment or
    # cancelled, and one closed is refunded in full already. An amount refunded, when the sheet gives one,
    # says how much (a refund of part of it) and is taken.
    paid_open = order.data["status"] in _FLOW[1:]
    if paid_open and order.refunded_cny is None and _REFUNDED in line_aftersales:
        order.refunded_by_status = [said == _REFUNDED for said in line_aftersales]
    under_way = []
    if paid_open and _UNDER_WAY in line_aftersales and not order.refunded_in_full:
        reason = _(
            "Order %(no)s: an after-sale of it is under way in the file, so nothing of it was refunded. Once "
            "it is over, record the refund, if any, as an after-sale on the order: an import records no "
            "refund of an order already in Kebu."
        ) % {"no": order.order_no}
        under_way.append(replace(order.aftersale_cells[line_aftersales.index(_UNDER_WAY)], reason=reason))
    returned = order.returned_cell
    if returned is not None and not order.refunded_cny and not order.refunded_in_full:
        order.problems.append(replace(returned, reason=_returned_unrefunded(order)))
    order.buyer = _buyer(
        first_number,
        first,
        mapping=mapping,
        headers=headers,
        references=references,
        store=order.store,
        definitions=definitions,
    )
    order.problems += order.buyer.problems
    order.warnings = [*order.buyer.warnings, *under_way]
    order.corrections += order.buyer.corrections
    if len(order.corrections) > 1:  # row by row, in the sheet's order of columns, as the merchant reads
        order.corrections.sort(key=lambda c: (c.row, headers.index(c.column)))
    if order.buyer.data is not None:
        # The parcel's address as the sheet has it: the order keeps its own copy.
        if order.buyer.data.addresses:
            address = order.buyer.data.addresses[0]
            if order.data.get("receiver_name"):
                # A new buyer's address is the parcel's, to whom it went: the customer's name is theirs
                # only when the sheet names no one else (``_buyer``).
                address.receiver = order.data["receiver_name"]
            order.data.update(
                ship_province=address.province,
                ship_city=address.city,
                ship_district=address.district,
                ship_address=address.detail,
            )
        if order.buyer.data.phones:
            order.data["receiver_phone"] = order.buyer.data.phones[0].number
    return order


def _returned_unrefunded(order: OrderRows) -> str:
    """Why ``order``, whose lines the sheet says came back, is refused when nothing of it was refunded:
    a return in Kebu is a return and refund (退货退款), and the merchant knows which cell is wrong."""
    return _(
        "Order %(no)s: items returned, but nothing refunded. A return gives money back: give the amount "
        "refunded, or correct the quantity returned."
    ) % {"no": order.order_no}


def _refund_problem(order: OrderRows, paid: Decimal | None) -> str | None:
    """What is wrong with the amount the sheet says was refunded of ``order``, given what was paid (None
    when the sheet has no amount paid: known once the order is checked, ``_order_checked``): a refund of
    an order not paid, more than was paid, or less than everything of one it reports closed after
    payment. Closed is refunded in full in Kebu (and in Kebu's own export); an export saying 交易关闭 and
    less refunded contradicts itself on the money the customer's figures are made of, and guessing which
    is right would put them wrong one way or the other, so the merchant corrects the one that is wrong."""
    refunded, status = order.refunded_cny, order.data["status"]
    if refunded is None:
        return None
    if refunded < 0:
        return _("The amount cannot be negative.")
    if refunded and status in (OrderStatus.PENDING, OrderStatus.CANCELLED):
        return _(
            "Order %(no)s is not paid in the file (awaiting payment, cancelled, or closed without a payment "
            "time): nothing of it can have been refunded. If it was paid, give its status and payment time."
        ) % {"no": order.order_no}
    if paid is None:
        return None
    if refunded > paid:
        return _("Order %(no)s: %(refunded)s refunded is more than the %(paid)s paid.") % {
            "no": order.order_no,
            "refunded": refunded,
            "paid": paid,
        }
    if status == OrderStatus.CLOSED and refunded < paid:
        return _(
            "Order %(no)s is closed in the file, which is everything paid (%(paid)s) refunded, but "
            "%(refunded)s was refunded: correct its status or the amount refunded."
        ) % {"no": order.order_no, "refunded": refunded, "paid": paid}
    return None


def order_store_check(store: Store | None) -> None:
    """``ValidationFailed`` on ``store`` if the store chosen for a sheet's orders (those whose row names
    none) is deactivated: chosen for the whole file, it would be refused for every new order in it."""
    if store is not None and not store.is_active:
        message = store_closed_message(store)
        raise ValidationFailed(message, field_errors={"store": [message]})


def closed_store_orders_refuse(orders: Sequence[OrderRows]) -> None:
    """Refuse, on its store's cell, each of ``orders`` that names a deactivated store and is not already
    in it: such a store takes no new order, while one of its orders met again (an old store's export
    imported again) is matched as ever. One query, none when no order names such a store."""
    closed = [(o, o.store.pk, o.closed_store) for o in orders if o.store and o.closed_store]
    if not closed:
        return
    found = set(
        Order.objects.filter(
            store_id__in={store_id for _o, store_id, _p in closed},
            order_no__in={order.order_no for order, _s, _p in closed},
        ).values_list("store_id", "order_no")
    )
    for order, store_id, problem in closed:
        if (store_id, order.order_no) not in found:
            order.problems.append(problem)


def _delivery_word(value: str) -> str | None:
    """The delivery method ``value`` names (``_DELIVERY_WORDS``, Kebu's labels, a carrier's name)."""
    word = value.lower()
    found = _DELIVERY_WORDS.get(word) or _word(DeliveryMethod, word)
    if found is None and word.endswith(_CARRIER_ENDINGS):
        found = DeliveryMethod.EXPRESS
    return found


def _word(choices: Any, value: str) -> str | None:
    """The choice ``value`` names, by its code or its label in any language Kebu speaks: a sheet
    exported by someone reading Kebu in English is imported by someone reading it in Chinese."""
    return _labels_any_language(choices).get(value.lower())


@functools.cache
def _labels_any_language(choices: Any) -> dict[str, str]:
    """Each choice's code and its label in every language of ``settings.LANGUAGES``, lowercased -> its
    value. Read once: the labels are the translation catalogues', which do not change while Kebu runs."""
    found: dict[str, str] = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            for value, label in choices.choices:
                found.setdefault(str(label).lower(), value)
    for value in choices.values:
        found.setdefault(value.lower(), value)
    return found


# The times of an order's steps, the latest first, each with the status it reaches.
_STEP_TIMES = (
    ("completed_at", OrderStatus.COMPLETED),
    ("delivered_at", OrderStatus.DELIVERED),
    ("shipped_at", OrderStatus.SHIPPED),
    ("paid_at", OrderStatus.PAID),
)


# A store's platform -> the customer column its buyer IDs go to; other platforms' IDs are kept as an
# account of kind "other" named after the platform.
_BUYER_ACCOUNT = {
    Platform.TAOBAO: "wangwang",
    Platform.TMALL: "wangwang",
    Platform.DOUYIN: "douyin",
    Platform.XIAOHONGSHU: "xiaohongshu",
    Platform.WECHAT: "wechat",
}


def _buyer(
    number: int,
    cells: Sequence[Cell],
    *,
    mapping: Mapping[int, str],
    headers: Sequence[str],
    references: References,
    store: Store | None,
    definitions: Sequence[CustomField] | None = None,
) -> CustomerRow:
    """The order's buyer as a customer row, their marketplace ID an account of the store's platform. A
    phone a marketplace masked (138****5678) says nothing."""
    platform = store.platform if store is not None else Platform.TAOBAO
    account = _BUYER_ACCOUNT.get(platform)
    buyer_mapping = {
        index: account if key == "buyer" else BUYER_FIELDS[key]
        for index, key in mapping.items()
        if key in BUYER_FIELDS and (key != "buyer" or account)
    }
    named = next((i for i, key in mapping.items() if key == "customer_name"), None)
    receiver = next((i for i, key in mapping.items() if key == "receiver"), None)
    if named is not None and receiver is not None:
        # Kebu's own export names the customer beside the parcel's receiver, who may be someone else (a
        # gift) or no one (an order without an address): the customer's name is the buyer's, the
        # receiver's only where the sheet leaves it blank.
        del buyer_mapping[receiver if normalized(cells[named]) else named]
    phone = next((i for i, key in buyer_mapping.items() if key == "phone"), None)
    tail = ""
    if phone is not None and "*" in (masked := normalized(cells[phone])):
        tail = "".join(ch for ch in masked.rsplit("*", 1)[1] if ch.isdigit())
        cells = [None if i == phone else cell for i, cell in enumerate(cells)]
    # A buyer the sheet names by a key (a customer number, an account, an email) needs no name or phone
    # to be found; only a new one does (``_new_buyer_unnamed``).
    row = customer_row_read(
        number,
        cells,
        mapping=buyer_mapping,
        headers=headers,
        references=references,
        definitions=definitions,
        key_enough=True,
    )
    if row.problems:
        # A buyer's contact detail Kebu cannot take (a virtual number with an extension, an address
        # without its province) is left out, and said so; the order itself does not depend on it.
        bad = {headers.index(p.column) for p in row.problems if p.column in headers}
        kept = {i: key for i, key in buyer_mapping.items() if i not in bad}
        if bad and kept:
            again = customer_row_read(
                number,
                cells,
                mapping=kept,
                headers=headers,
                references=references,
                definitions=definitions,
                key_enough=True,
            )
            if not again.problems:
                again.warnings = row.problems
                row = again
    buyer = next((i for i, key in mapping.items() if key == "buyer"), None)
    handle = ""
    if buyer is not None and account is None:  # else the buyer's row read it as the platform's account
        try:
            formula_error_refuse(cells[buyer])
            handle = normalized(cells[buyer])[:100]
        except CellError as exc:
            row.warnings = [
                *row.warnings,
                Problem(number, headers[buyer], normalized(cells[buyer]), str(exc)),
            ]
    if handle and row.data is not None:
        label = str(Platform(platform).label)
        row.data.socials = [
            *row.data.socials,
            SocialInput(kind=SocialKind.OTHER, kind_label=label, handle=handle),
        ]
    row.masked_phone_tail = tail if len(tail) >= 4 else ""
    return row


# --- writing ---------------------------------------------------------------------------------------


def order_batch_import(
    run: Import,
    groups: Sequence[Sequence[tuple[int, list[Cell]]]],
    *,
    mapping: dict[int, str],
    split: Mapping[OrderKey, list[int]] | None = None,
) -> list[OrderRows]:
    """Import the orders of ``groups`` inside the caller's transaction, counting onto ``run``. An order
    the services refuse is rejected alone. Returns the batch's orders, a rejected one with its problems.

    The batch's orders are checked one by one and written together (``orders_create_checked``): the
    same rows, figures, stages and audit entries as ``order_create`` for each, in a few statements. A
    batch with an order on credit (whose limit check depends on the orders before it), or one whose
    write meets a unique key taken since it was checked, goes through ``order_create`` order by order,
    each in its own savepoint: an order number someone saved meanwhile, or a customer number a new buyer
    of the batch was just given and a later row of the batch names."""
    orders = orders_read(run, groups, mapping=mapping, split=split)
    if any(not o.problems and o.data.get("payment_method") == PaymentMethod.CREDIT for o in orders):
        journal = _orders_one_by_one(run, orders)
    else:
        try:
            with transaction.atomic():
                journal = _orders_together(run, orders)
        except IntegrityError as exc:
            # Rare, and slower: say so, so that one happening every batch is seen.
            logger.warning("import %s: a batch of orders written one by one (%s)", run.pk, exc)
            journal = _orders_one_by_one(run, orders)
    ImportRow.objects.bulk_create(journal)
    corrections_note(run, [c for order in orders if not order.problems for c in order.corrections])
    return orders


# What an order batch counts onto its import.
COUNTED = ("created", "updated", "unchanged", "noted", "rejected")


def orders_read(
    run: Import,
    groups: Sequence[Sequence[tuple[int, list[Cell]]]],
    *,
    mapping: dict[int, str],
    split: Mapping[OrderKey, list[int]] | None = None,
) -> list[OrderRows]:
    """The orders of ``groups`` read for ``run``, with what every order asks for read once."""
    store = Store.objects.filter(pk=run.options.get("store")).first() if run.options.get("store") else None
    stores = {s.name.lower(): s for s in Store.objects.all()}
    references = References.load()
    definitions = list(CustomField.objects.filter(is_active=True))
    orders = [
        order_rows_read(
            g,
            mapping=mapping,
            headers=run.headers,
            store=store,
            stores=stores,
            references=references,
            definitions=definitions,
            split=split,
        )
        for g in groups
    ]
    closed_store_orders_refuse(orders)
    return orders


@dataclass(frozen=True)
class _Allowed:
    """What the importer may do to an order already in Kebu, as its page and the API let them: move it on
    or change its details at all (``orders.change_order``), and which details (``order_detail_fields_for``:
    the contact details only to someone who sees them). An import from the terminal under no one's name
    may do everything: whoever runs it holds the database."""

    change: bool
    details: frozenset[str]

    @classmethod
    def of(cls, actor: Any) -> _Allowed:
        if actor is None:
            return cls(True, frozenset(ORDER_DETAIL_FIELDS))
        change = actor.is_active and actor.has_perm("orders.change_order")
        return cls(change, frozenset(order_detail_fields_for(actor=actor)))


@dataclass
class _Known:
    """What a batch's orders are matched against: the (store, order number) pairs already in Kebu, those
    of them the importer may not see, what the importer may do to the others, and the existing customers
    with any of their buyers' keys, those of them the importer may not see, what the importer may do to
    customers (``imports._Allowed``: add one, for a new buyer) and whose a new buyer is."""

    existing: dict[tuple[int, str], Order]  # (store, order number) -> the order, with its lines
    matches: _Matches
    # A buyer known by name alone (a masked phone, no buyer ID) and the parcel's address -> the customers
    # of that name with that address (``_address_key``).
    by_address: dict[tuple[str, ...], list[_AtAddress]]
    matched: dict[int, Customer]
    hidden: set[int]  # the ids of existing orders the importer may not see
    allowed: _Allowed
    buyers_hidden: set[int]  # the ids of matched customers the importer may not see
    customers: CustomersAllowed
    owner: Any  # of a new buyer

    @classmethod
    def load(cls, orders: Sequence[OrderRows], *, run: Import) -> _Known:
        from kebu.transfer.imports import _Allowed as CustomersAllowed
        from kebu.transfer.imports import _customers_hidden, _Keys, _matches_load, _new_owner

        numbers = {o.order_no for o in orders if o.order_no}
        stores = {o.store.pk for o in orders if o.store is not None}
        # Read whole, lines and all, for the batch at once: an order met again is compared with the sheet.
        found = (
            Order.objects.filter(order_no__in=numbers, store_id__in=stores)
            .select_related("customer", "store")
            .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("position", "pk")))
        )
        existing = {(order.store_id, order.order_no): order for order in found}
        buyers = [o.buyer for o in orders if not o.problems and o.buyer is not None]
        keys = [_Keys.of(buyer) for buyer in buyers]
        matches = _matches_load(keys)
        wanted = {cid for k in keys if not k.name and (cid := matches.find(k)) is not None}
        addresses = {key for b, k in zip(buyers, keys, strict=True) if k.name and (key := _address_key(b))}
        by_address = _customers_by_address(addresses)
        wanted |= {at.customer_id for found in by_address.values() for at in found}
        actor = run.created_by
        customers = CustomersAllowed.of(actor)
        return cls(
            existing,
            matches,
            by_address,
            Customer.objects.in_bulk(wanted),
            _orders_hidden(actor, [order.pk for order in existing.values()]),
            _Allowed.of(actor),
            _customers_hidden(run, wanted),
            customers,
            _new_owner(run, customers),
        )

    def customer(self, customer_id: int) -> Customer:
        return self.matched.get(customer_id) or Customer.objects.get(pk=customer_id)

    def buyer_find(self, buyer: CustomerRow, keys: Any) -> int | None:
        """The customer who is ``buyer`` (``keys``: its ``imports._Keys``): by its keys, or, known by name
        alone, the one customer of that name with the parcel's address."""
        if not keys.name:
            return self.matches.find(keys)
        found = self.by_address.get(_address_key(buyer) or ("",), [])
        if buyer.masked_phone_tail:
            # 王伟 at a campus parcel station is two people when their masked phones end differently.
            tail = phone_last4_lookup(buyer.masked_phone_tail)
            found = [at for at in found if not at.last4 or tail in at.last4]
        return found[0].customer_id if len(found) == 1 else None

    def buyer_learn(self, buyer: CustomerRow, keys: Any, customer_id: int, customer_no: str = "") -> None:
        """A new buyer of the batch (made, or a stand-in id below zero, under the sheet's customer number
        unless ``customer_no``): later orders with their keys are theirs."""
        self.matches.learn(keys, customer_id, customer_no or buyer.customer_no)
        if keys.name and (key := _address_key(buyer)):
            found = self.by_address.setdefault(key, [])
            at = next((at for at in found if at.customer_id == customer_id), None)
            if at is None:
                found.append(at := _AtAddress(customer_id))
            if buyer.masked_phone_tail:
                at.last4.add(phone_last4_lookup(buyer.masked_phone_tail))

    def buyer_problem(self, customer_id: int | None) -> str:
        """Why a new order may not be the buyer's (``customer_id``: the customer matched, None for a new
        one), or "" when it may: the order would go to a customer the importer may not see, or make one
        when they may not add customers. Said as the new-customer form tells of a phone a customer they
        cannot see has: that one has it, and nothing of who."""
        if customer_id is not None and customer_id in self.buyers_hidden:
            return _(
                "A customer you cannot see already has this buyer's customer number, phone, account or "
                "email: the order was not imported."
            )
        if customer_id is None and not self.customers.add:
            return _("This order's buyer is not in Kebu yet, and your role may not add customers.")
        return ""

    def buyer_owned(self, order: OrderRows) -> None:
        """Give the new buyer of ``order`` its owner (``imports._new_owner``), as the new-customer form."""
        assert order.buyer is not None and order.buyer.checked is not None
        if "owner" not in order.buyer.provided:
            order.buyer.checked.data.owner = self.owner


def _address_key(buyer: CustomerRow) -> tuple[str, ...] | None:
    """A buyer's name with the address the parcel went to (``_street_key``); None without a street, or
    with the name or the street masked. Marketplaces mask the buyer's phone (138****5678), and
    Pinduoduo and Douyin give no buyer ID, so for a repeat buyer of theirs the name is all the sheet has
    besides the address, and a name alone is not enough (two 王伟 are two people); the same name at the
    same street address is the same buyer. A masked one says nothing: 王** at a family's address is
    any of them."""
    if buyer.data is None or not buyer.data.name or not buyer.data.addresses:
        return None
    address = buyer.data.addresses[0]
    if not address.detail or "*" in address.detail or "*" in buyer.data.name:  # MASK is asterisks too
        return None
    return _street_key(buyer.data.name, address)


def _street_key(name: str, address: Any) -> tuple[str, ...]:
    """``name`` with ``address``'s parts as compared: width and case folded, without spaces. A sheet's
    cells are read folded (NFKC), an address typed into the customer's page is kept as typed: 解放大道１００号
    in full-width digits is the street the sheet writes 解放大道 100 号."""
    parts = (address.province, address.city, address.district, address.detail)
    return (name, *("".join(fold(part).split()) for part in parts))


@dataclass
class _AtAddress:
    """A customer at a name and street (``_address_key``), with the lookups of the last four digits of
    the phones they have, or a batch's masked buyer showed: what a masked phone is compared with."""

    customer_id: int
    last4: set[str] = field(default_factory=set)


def _customers_by_address(keys: set[tuple[str, ...]]) -> dict[tuple[str, ...], list[_AtAddress]]:
    """``keys`` (``_address_key``) -> the customers of that name who have that address: the addresses of
    the customers of those names (a few each; the street is encrypted, so compared here)."""
    if not keys:
        return {}
    names = {key[0] for key in keys}
    found: dict[tuple[str, ...], list[_AtAddress]] = {}
    for address in (
        Address.objects.filter(customer__name__in=names).select_related("customer").order_by("customer_id")
    ):
        key = _street_key(address.customer.name, address)
        if key in keys and all(at.customer_id != address.customer_id for at in found.get(key, [])):
            found.setdefault(key, []).append(_AtAddress(address.customer_id))
    everyone = [at for ats in found.values() for at in ats]
    phones = CustomerPhone.objects.filter(customer_id__in={at.customer_id for at in everyone})
    last4: dict[int, set[str]] = {}
    for customer_id, lookup in phones.values_list("customer_id", "last4_lookup"):
        last4.setdefault(customer_id, set()).add(lookup)
    for at in everyone:
        at.last4 |= last4.get(at.customer_id, set())
    return found


def _new_buyer_unnamed(run: Import, order: OrderRows) -> Problem:
    """Why a new order is refused whose buyer the sheet names only by a key no customer has (a customer
    number from another shop's Kebu, an account), with neither a name nor a phone: a new customer needs
    one. Told on the cell of the buyer's name (else of the phone), naming each column that would do."""
    assert order.buyer is not None
    columns = [header for key in ("customer_name", "receiver", "phone") if (header := _column(run, key))]
    where = (
        list_join(columns) if columns else _("the buyer's name or phone (the sheet has no column for them)")
    )
    if order.buyer.customer_no:
        reason = _(
            "No customer has the customer number %(number)s, and a new customer needs a name or a phone: "
            "fill in %(columns)s."
        ) % {"number": order.buyer.customer_no, "columns": where}
    else:
        reason = _(
            "No customer has this buyer's account or email, and a new customer needs a name or a phone: "
            "fill in %(columns)s."
        ) % {"columns": where}
    return Problem(order.number, columns[0] if columns else "", "", reason)


def _orders_hidden(actor: Any, order_ids: Sequence[int]) -> set[int]:
    """The orders of ``order_ids`` that ``actor`` may not see (``order_visible_queryset``: the orders of
    the customers they see), in one query for a batch; none under no one's name (``_Allowed``)."""
    if not order_ids or actor is None:
        return set()
    visible = order_visible_queryset(user=actor).filter(pk__in=order_ids).values_list("pk", flat=True)
    return set(order_ids) - set(visible)


class _CellRefused(ValidationFailed):
    """An order refused, once it is checked, for what cells of the sheet say (``problems``, each on its
    cell, or on the order's first row as a whole when no cell gave what it is about)."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(problems[0].reason)
        self.problems = list(problems)


@contextmanager
def _told_on_cells(order: OrderRows) -> Iterator[None]:
    """A refusal of ``order`` by the order services (``order_check``'s, ``order_create``'s), which word it
    by field, raised again as ``_CellRefused`` on the cells that gave those fields
    (``OrderRows.field_problems``), so that the report marks the cell to correct."""
    try:
        yield
    except _CellRefused:
        raise
    except ValidationFailed as exc:
        raise _CellRefused(*order.field_problems(exc)) from exc


def _refusal(order: OrderRows, exc: KebuError) -> None:
    if isinstance(exc, _CellRefused):
        order.problems = exc.problems
        return
    reasons = [str(m) for messages in exc.field_errors.values() for m in messages] or [str(exc.message)]
    order.problems = [Problem(order.numbers[0], "", "", reason) for reason in reasons]


def _journal_entry(
    run: Import,
    order: OrderRows,
    *,
    created: Order,
    made: bool,
    version: int | None,
    stage_before: str,
    customer_version_before: int,
    refund: Mapping[str, int] | None = None,
) -> ImportRow:
    """The entry of an order the import made. ``stage_before`` and ``customer_version_before``: its
    buyer's lifecycle stage and version as the batch found them, which undo puts back (``_stages_put_back``);
    ``refund``: what ``_refunded`` left of the refund it recorded, which undo takes back with it, and a
    note saying so."""
    notes = [[w.column, w.value, w.reason] for w in order.warnings]
    detail: dict[str, Any] = {"order": created.pk, "customer_created": made}
    if not made:
        detail["stage_before"] = stage_before
        detail["customer_version_before"] = customer_version_before
    if refund:
        detail |= refund
        notes.append(_refund_note(run, order, created))
    return ImportRow(
        run=run,
        row=order.numbers[0],
        action=ImportRowAction.CREATED,
        noted=bool(notes),
        customer=created.customer,
        version=version,
        detail=json.dumps(detail | {"left_out": notes}, ensure_ascii=False),
    )


def _refund_note(run: Import, order: OrderRows, created: Order) -> list[str]:
    """The journal's note on the refund ``_refunded`` recorded for ``created``: [column, value in the
    file, reason]. One closed after payment is told by its status, any other on the cell that gives what
    was refunded (``OrderRows.refund_cell``)."""
    values = {"no": order.order_no, "paid": created.paid_cny, "refunded": order.refunded_cny}
    if order.data["status"] == OrderStatus.CLOSED:
        message = _(
            "Order %(no)s was closed after payment in the export: it was recorded as paid, then refunded "
            "in full with an after-sale."
        )
        return [_status_column(run), order.status_text, message % values]
    if order.refunded_by_status is not None:
        cell = order.refunded_by_status_cells[0]
        values |= {"status": cell.value, "refunded": order.refunded_by_status_cny}
        if order.refunded_in_full:
            message = _(
                "Order %(no)s is “%(status)s” in the file's after-sale status, and the file gives no amount "
                "refunded: it was recorded as paid, then refunded in full (the %(paid)s paid) with an "
                "after-sale, which closes it."
            )
        else:
            message = _(
                "Order %(no)s: the file's after-sale status says some of its items were refunded, and the "
                "file gives no amount refunded: it was recorded with a refund after-sale of what was paid "
                "for those items (%(refunded)s of the %(paid)s paid)."
            )
        return [cell.column, cell.value, message % values]
    if order.refunded_cny == created.paid_cny:
        # Kebu's own export says Closed of such an order: a marketplace that keeps its 交易成功 does not.
        values["status"] = order.status_text or OrderStatus(order.data["status"]).label
        message = _(
            "Order %(no)s is “%(status)s” in the export with everything paid (%(paid)s) refunded: it was "
            "recorded as paid, then refunded in full with an after-sale, which closes it."
        )
    elif order.line_returns is not None:
        message = _(
            "Order %(no)s: items were returned and %(refunded)s of the %(paid)s paid was refunded in the "
            "export: it was recorded with a return and refund after-sale."
        )
    else:
        message = _(
            "Order %(no)s: %(refunded)s of the %(paid)s paid was refunded in the export: it was recorded "
            "with a refund after-sale."
        )
    return [order.refund_cell.column, order.refund_cell.value, message % values]


def _order_input(order: OrderRows, customer: Customer) -> OrderInput:
    """The order as ``order_create`` takes it; one closed after payment as it was before its refund
    (``_refunded``): at the last step the sheet gives a time for, paid at least. Any other is made at
    its status, and a refund the sheet gives is recorded after."""
    assert order.store is not None
    data = order.data
    if data["status"] == OrderStatus.CLOSED:
        reached = next((status for key, status in _STEP_TIMES if key in data), OrderStatus.PAID)
        data = {**data, "status": reached}
    return OrderInput(
        customer=customer,
        store=order.store,
        lines=order.lines,
        order_no=order.order_no,
        address_as_given=True,
        **data,
    )


def _order_checked(run: Import, order: OrderRows, customer: Customer, **context: Any) -> CheckedOrder:
    """``order_check`` of the order as ``_order_input`` gives it (``context``: its ``now``,
    ``numbers_taken`` and ``skus``). One closed after a payment that comes to nothing (no amount paid
    column, and nothing due) has nothing to refund: it is checked as closed unpaid, cancelled. The
    amount refunded is held against what was paid (``_refund_problem``) here when the sheet gave no
    amount paid, the order's amount due: refused, as on reading, on the cell that gives it (Shopify's and
    WooCommerce's exports have a refund column and none for the amount paid)."""
    with _told_on_cells(order):
        checked = order_check(actor=run.created_by, data=_order_input(order, customer), **context)
        if order.data["status"] == OrderStatus.CLOSED and not checked.order.paid_cny:
            order.data["status"] = OrderStatus.CANCELLED
            checked = order_check(actor=run.created_by, data=_order_input(order, customer), **context)
    if reason := _refund_problem(order, checked.order.paid_cny):
        raise _CellRefused(replace(order.refund_cell, reason=reason))
    if problem := _line_refunds_problem(order, checked):
        raise _CellRefused(problem)
    return checked


def _line_refunds_problem(order: OrderRows, checked: CheckedOrder) -> Problem | None:
    """What is wrong with what the sheet says was refunded of each of ``order``'s lines, now that their
    amounts are known: more than a line's amount (on its cell), or together more than the order's refund
    (everything paid, for one closed after payment; on the first line's cell that gives one). Held here,
    before anything is written, as ``_refund_problem``, so that ``_refunded`` never meets a refund the
    after-sale services refuse. Lines said to have come back with nothing refunded, once an order closed
    after payment proves to have had nothing paid."""
    refund = checked.order.paid_cny if order.refunded_in_full else order.refunded_cny or ZERO
    if order.returned_cell is not None and not refund:
        return replace(order.returned_cell, reason=_returned_unrefunded(order))
    if order.line_refunds is None:
        return None
    lines = zip(checked.lines, order.line_refunds, strict=True)
    for index, (line, refunded) in enumerate(lines):
        if refunded > line.amount_cny:
            reason = _(
                "Order %(no)s, line %(number)d: %(refunded)s refunded is more than the line's %(amount)s."
            ) % {"no": order.order_no, "number": index + 1, "refunded": refunded, "amount": line.amount_cny}
            return order.line_refund_problem(reason, index)
    if (lines_total := sum(order.line_refunds, ZERO)) > refund:
        reason = _(
            "Order %(no)s: its lines' refunds add up to %(lines)s, more than the %(refunded)s refunded."
        ) % {"no": order.order_no, "lines": lines_total, "refunded": refund}
        return order.line_refund_problem(reason)
    return None


def _refunded(run: Import, order: OrderRows, created: Order) -> dict[str, int]:
    """For a new order the sheet reports refunded (``OrderRows.has_refund``), made as it was before its
    refund (``_order_input``): that refund, through the after-sale services as a refund by hand, dated at
    the last of its steps the sheet gives a time for (the payment's, at least). Each line gives back what
    the sheet says was refunded of it (Kebu's own export says it: a returned item's line, not the others,
    so the spend per category comes back as it went); a sheet that says it of no line has it spread over
    the lines (``aftersales._spread``). Lines the sheet says came back (Kebu's own Line returned, 退货数量)
    make it a return and refund naming them, with those quantities, recorded over (``order_refund``'s
    ``returned``), so that their returned quantities come back too; without what was refunded of each
    line, each gives back what an after-sale left to its default would, the units' share of what was
    paid for the goods (``line_refund_bases``: less the order's discount and coupon), and the rest of
    the refund is spread over every line (``_line_refunds_spread``). Everything paid for one closed
    after payment (its refunded column, if any, says the same: ``_refund_problem``), of which every line
    gives back what the sheet says and then its share of the rest, spread as well; else the amount the
    sheet gives, of which what passes the lines' refunds stays with the order (Kebu's own export: the
    shipping refunded with a returned item, which spreading would put on the lines kept). An after-sale
    status that says every line was refunded (``OrderRows.refunded_in_full``) is everything paid, as
    closed; one that says it of some lines is what was paid for those, on those lines
    (``line_refund_bases``), and both are listed among the corrections. In full, the
    after-sale closes the order. Returns what undo needs of it: the after-sale and the version it left
    the order at; nothing for an order without a refund."""
    closed = order.refunded_in_full
    amount = created.paid_cny if closed else order.refunded_cny
    shares: dict[int, Decimal] | None = None
    if order.refunded_by_status is not None and not closed:
        # Some of its lines, each what was paid for it, as an after-sale of all its units left empty
        # would give back (``line_refund_bases``).
        bases = line_refund_bases(created)
        said = zip(created.lines.order_by("position", "pk"), order.refunded_by_status, strict=True)
        shares = {line.pk: bases[line.pk].default(line.quantity) for line, refunded in said if refunded}
        amount = sum(shares.values(), ZERO)
    if not amount:
        return {}
    if order.refunded_by_status is not None:
        order.refunded_by_status_cny = amount
        _refund_by_status_corrections(run, order, amount, shares)
        detail = _(
            "Refunded as the file's after-sale status says; the file gives no amount, so what was paid was "
            "refunded (import of %(file)s)."
        )
    elif order.data["status"] == OrderStatus.CLOSED:
        detail = _("Closed in the marketplace after payment: refunded in full (import of %(file)s).")
    elif order.line_returns is not None:
        detail = _("Returned and refunded before the import, as its file says (import of %(file)s).")
    else:
        detail = _("Refunded before the import, as its file says (import of %(file)s).")
    steps = (created.completed_at, created.delivered_at, created.shipped_at, created.paid_at)
    returned: list[AfterSaleLineInput] = []
    if order.line_refunds is not None or order.line_returns is not None:
        lines = list(created.lines.order_by("position", "pk"))
        counts = order.line_returns or [0] * len(lines)
        if order.line_refunds is None:
            bases = line_refund_bases(created)
            due = [bases[line.pk].default(count) for line, count in zip(lines, counts, strict=True)]
            refunds = _line_refunds_spread(lines, due, amount)
        elif closed:
            refunds = _line_refunds_spread(lines, order.line_refunds, amount)
        else:
            refunds = order.line_refunds
        shares = {}
        for line, count, refund in zip(lines, counts, refunds, strict=True):
            if count:
                returned.append(AfterSaleLineInput(line_id=line.pk, quantity=count, amount_cny=refund))
            else:
                shares[line.pk] = refund
    aftersale = order_refund(
        actor=run.created_by,
        order=created,
        amount_cny=amount,
        reason=AfterSaleReason.OTHER,
        reason_detail=detail % {"file": run.file_name},
        lines=returned,
        refunded_at=next(moment for moment in steps if moment is not None),
        shares=shares,
        returned=bool(returned),
    )
    version = Order.objects.filter(pk=created.pk).values_list("version", flat=True).get()
    return {"aftersale": aftersale.pk, "order_version": version}


def _refund_by_status_corrections(
    run: Import, order: OrderRows, amount: Decimal, shares: Mapping[int, Decimal] | None
) -> None:
    """The after-sale status cells ``_refunded`` took a refund of what was paid from, the sheet giving
    no amount, among ``order``'s corrections (the validation report lists them): the order's first
    for a refund in full (``amount``), else each line's cell with what was paid for that line
    (``shares``, in the order of its lines). Once each, should the batch be written again order by
    order."""
    cells = order.refunded_by_status_cells
    if shares is None:
        taken = [(cells[0], amount)]
        why = _("The file gives no amount refunded: the amount paid is taken as refunded.")
    else:
        taken = list(zip(cells, shares.values(), strict=True))
        why = _("The file gives no amount refunded: what was paid for this item is taken as refunded.")
    for cell, refunded in taken:
        found = Correction(
            cell.row, cell.column, cell.value, _("Refunded %(amount)s") % {"amount": refunded}, why
        )
        if found not in order.corrections:
            order.corrections.append(found)
    order.corrections.sort(key=lambda c: (c.row, run.headers.index(c.column)))


def _line_refunds_spread(
    lines: Sequence[OrderLine], given: Sequence[Decimal], amount: Decimal
) -> list[Decimal]:
    """What each of ``lines`` gave back of a refund of ``amount`` of which the sheet says ``given`` of
    each (the units' share of what was paid, when it says only how many came back, 退货数量 alone; what it
    says was refunded of each line of an order closed after payment): at most the refund, in proportion
    (``fen_shares``) should they pass it; what is left of it goes over every line in proportion to what
    it has left, in whole fen, as ``aftersales._spread`` shares a refund that names no line, so that the
    spend per category moves with the total spent. Only what passes all the lines' money (the shipping)
    stays with the order."""
    fen = int(amount * 100)
    taken = [int(part * 100) for part in given]
    if sum(taken) > fen:
        taken = fen_shares(fen, taken)
    lefts = [max(int(line.amount_cny * 100) - part, 0) for line, part in zip(lines, taken, strict=True)]
    rest = fen_shares(min(fen - sum(taken), sum(lefts)), lefts)
    return [Decimal(part + more).scaleb(-2) for part, more in zip(taken, rest, strict=True)]


def _orders_together(run: Import, orders: Sequence[OrderRows]) -> list[ImportRow]:
    """Check every order, make the new buyers of those that pass in one go, then write the orders
    together. Counts onto ``run`` only once everything is written, so that the caller can roll the
    whole batch back and take it again order by order."""
    from kebu.transfer.imports import _Keys

    known = _Known.load(orders, run=run)
    now = timezone.now()
    # And the orders of the batch before, as order_create would find them. Every order has its number
    # (order_rows_read refuses a blank one), so a number here is one order.
    taken = set(known.existing)
    skus = skus_load(line.sku_code for o in orders if not o.problems for line in o.lines)
    passed: list[tuple[OrderRows, CheckedOrder, int]] = []  # the order, checked, its customer (< 0: new)
    new_buyers: dict[int, OrderRows] = {}  # a stand-in id -> the order whose buyer it is
    moved: list[ImportRow] = []
    counts = _Counts()
    for order in orders:
        if order.problems:
            continue
        assert order.store is not None and order.buyer is not None and order.buyer.checked is not None
        if (order.store.pk, order.order_no) in known.existing:
            moved += _order_again(run, order, known.existing[order.store.pk, order.order_no], counts, known)
            continue
        if (order.store.pk, order.order_no) in taken:
            counts.unchanged += 1
            continue
        keys = _Keys.of(order.buyer)
        customer_id = known.buyer_find(order.buyer, keys)
        if reason := known.buyer_problem(customer_id):
            order.problems = [Problem(order.number, "", "", reason)]
            continue
        if customer_id is None and order.buyer.checked.unnamed:
            order.problems = [_new_buyer_unnamed(run, order)]
            continue
        customer = known.customer(customer_id) if customer_id is not None and customer_id > 0 else Customer()
        try:
            checked = _order_checked(run, order, customer, now=now, numbers_taken=taken, skus=skus)
        except KebuError as exc:
            _refusal(order, exc)
            continue
        taken.add((order.store.pk, checked.order.order_no))
        if customer_id is None:
            # A new buyer: later orders of the batch with the same keys are theirs, as they would be once
            # order_create had made them. Not made yet, they are known by a stand-in id below zero.
            customer_id = -(len(new_buyers) + 1)
            new_buyers[customer_id] = order
            known.buyer_owned(order)
            known.buyer_learn(order.buyer, keys, customer_id)
        passed.append((order, checked, customer_id))
    made = customers_import_create(
        actor=run.created_by,
        rows=[(o.buyer.checked, o.buyer.customer_no) for o in new_buyers.values()],  # type: ignore[union-attr]
        import_id=run.pk,
    ).customers()
    customers = {**known.matched, **dict(zip(new_buyers, made, strict=True))}
    for _order, checked, customer_id in passed:
        if customer_id not in customers:
            customers[customer_id] = known.customer(customer_id)
        checked.order.customer = customers[customer_id]
    # Each buyer's stage and version before the batch's writes, which move copies of their own: undo
    # puts them back.
    stages = {customer_id: customers[customer_id].stage for _o, _c, customer_id in passed}
    versions = {customer_id: customers[customer_id].version for _o, _c, customer_id in passed}
    # An order refunded (closed after payment, or with an amount refunded) is refunded as soon as it is
    # written, as order by order, so that the orders after it find its customer's figures as they were
    # then: the orders up to it are written together, then its refund (the after-sale services), then the
    # next run. A refund moves no stage (stages never go down), so the version each order left its
    # customer at still holds.
    created: list[tuple[Order, int]] = []
    refunds: list[dict[str, int]] = []
    start = 0
    for end, (order, _checked, _customer_id) in enumerate(passed, start=1):
        if not order.has_refund and end < len(passed):
            continue
        part = passed[start:end]
        written = orders_create_checked(actor=run.created_by, checked=[checked for _o, checked, _c in part])
        paired = zip(part, written, strict=True)
        refunds += [_refunded(run, one, made_order) for (one, _c, _i), (made_order, _v) in paired]
        created += written
        start = end
    journal = moved + [
        _journal_entry(
            run,
            order,
            created=made_order,
            made=new_buyers.get(customer_id) is order,
            version=version,
            stage_before=stages[customer_id],
            customer_version_before=versions[customer_id],
            refund=refund,
        )
        for (order, _checked, customer_id), (made_order, version), refund in zip(
            passed, created, refunds, strict=True
        )
    ]
    rejected = [o for o in orders if o.problems]
    journal += [ImportRow.rejection(run, order.numbers, order.problems) for order in rejected]
    counts.created += len(created)
    counts.noted += sum(
        bool(order.warnings or refund) for (order, _c, _i), refund in zip(passed, refunds, strict=True)
    )
    counts.rejected += len(rejected)
    counts.onto(run)
    return journal


@dataclass
class _Counts:
    """What a batch of orders did, added onto the import once the batch is written: a batch written
    together that fails is taken again order by order, and must not count twice."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    noted: int = 0
    rejected: int = 0

    def onto(self, run: Import) -> None:
        for name in COUNTED:
            setattr(run, name, getattr(run, name) + getattr(self, name))


def _order_again(
    run: Import, order: OrderRows, stored: Order, counts: _Counts, known: _Known
) -> list[ImportRow]:
    """An order already in Kebu (``stored``), met again: moved on and its details brought up to date,
    left as it was, or left with a note; refused, its problem on ``order``, when it cannot be (its lines
    or amounts differ, or it cannot move). Returns its journal entry, if any.

    One the importer may not see (``order_visible_queryset``) is left with a note before anything of it
    is compared: its page answers "not found" to them and the new-order form "this number already
    exists", so the note says no more than that; comparing it with the sheet would tell its lines,
    amounts and status, and changing it would be changing what they may not even see."""
    if stored.pk in known.hidden:
        reason = _(
            "Order %(no)s is already in %(store)s and is not one you may see: it was left as it is."
        ) % {"no": order.order_no, "store": stored.store}
        note = [_column(run, "order_no"), order.order_no, reason]
        entry: ImportRow | None = _left_as_it_is(run, order, [note])
    else:
        try:
            entry = _order_update(run, order, stored, known.allowed)
        except KebuError as exc:
            _refusal(order, exc)
            return []
    if entry is None:
        counts.unchanged += 1
        return []
    counts.updated += entry.action == ImportRowAction.UPDATED
    counts.unchanged += entry.action == ImportRowAction.UNCHANGED
    counts.noted += entry.noted
    return [entry]


# The way an order moves on, as an export reports it; a later export may report it further along.
_FLOW = (
    OrderStatus.PENDING,
    OrderStatus.PAID,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
)
# The fields of an order that moving it on may change.
MOVED_FIELDS = (
    "status",
    "paid_cny",
    "paid_at",
    "payment_method",
    "credit_due_date",
    "credit_taken_cny",
    "credit_outstanding_cny",
    "shipped_at",
    "carrier",
    "tracking_no",
    "delivered_at",
    "completed_at",
    "cancelled_at",
)
# What an import may change on an order already in Kebu, moving it on or bringing its details up to date:
# what the journal keeps and undo puts back.
RESTORED_FIELDS = MOVED_FIELDS + tuple(f for f in ORDER_DETAIL_FIELDS if f not in MOVED_FIELDS)


def _order_update(run: Import, order: OrderRows, stored: Order, allowed: _Allowed) -> ImportRow | None:
    """Bring an order already in Kebu (``stored``) up to what a sheet says of it, as the services that
    change an order by hand would, all or nothing; the journal's entry keeps what it was, for undo.

    - Its status moves on to the one a newer export reports (pay, ship, deliver, complete; cancel one
      never paid), at the times the export gives; a status going back (an older export) is left.
    - Its details (``ORDER_DETAIL_FIELDS``: notes, buyer message, delivery method, carrier and tracking
      number, the shipping address, the payment method) take the sheet's non-blank cells that differ, as a
      customer takes a customer sheet's; a masked cell (****, from an export by someone who may not see
      it) says nothing.
    - Its lines and amounts are not rewritten: the customer's figures are made of them. A sheet that
      says otherwise is refused (``ValidationFailed``, saying what differs), not taken for unchanged.
    - Nor is a refund recorded: refunds are worked in Kebu, as after-sales. Less refunded in the sheet
      than in Kebu is an export older than a refund recorded since, and says nothing; more comes with a
      note to record it (``_refunded_more_notes``).

    What the importer may not do by hand they may not do by a sheet either (``allowed``): without
    ``orders.change_order`` an order that would change is left as it is, with a note saying so; the
    contact details they see masked are never taken, with a note whenever the sheet gives one.

    None when there is nothing to change. A paid order the export reports closed is left as it is,
    with a note (an entry that changes nothing): what was paid comes back through an after-sale, which
    the merchant records."""
    status, target = stored.status, order.data["status"]
    forward = target in _FLOW and status in _FLOW and _FLOW.index(target) > _FLOW.index(status)
    # Closed after payment (refunded in full): an order awaiting payment in Kebu is cancelled, as one
    # closed unpaid is; only an order the import makes is recorded paid and refunded.
    closed = target in (OrderStatus.CANCELLED, OrderStatus.CLOSED)
    cancel = closed and status == OrderStatus.PENDING
    if closed and status in _FLOW[1:]:  # paid, not refunded in full (closed)
        return _closed_when_paid(run, order, status)
    if differences := _amounts_differences(stored, order, set(run.mapping.values())):
        raise ValidationFailed(
            _(
                "Order %(no)s was not updated: its lines or amounts in the file are not those in Kebu "
                "(%(differences)s). An import does not change what was bought or paid, which the "
                "customer's figures are made of: change the order in Kebu (a refund is an after-sale), "
                "or correct the file."
            )
            % {"no": order.order_no, "differences": "; ".join(differences)}
        )
    moving = forward or cancel
    # An order cancelled unpaid has nothing to record a refund on.
    refund_notes = [] if closed else _refunded_more_notes(order, stored)
    withheld = _withheld_notes(run, order, allowed.details) + refund_notes
    changes = _details_changed(stored, order, allowed.details)
    if not (moving or changes):
        return _left_as_it_is(run, order, withheld)  # most orders of an overlapping export: no savepoint
    if not allowed.change:
        unchangeable = _unchangeable_note(run, order, moving=moving, changes=changes)
        return _left_as_it_is(run, order, [unchangeable, *refund_notes])
    before = {name: getattr(stored, name) for name in RESTORED_FIELDS}
    version_before = stored.version
    stage_before = stored.customer.stage  # as the batch found it
    customer_version_before = stored.customer.version
    with transaction.atomic():
        # Read before the import writes a change of its own, which would then be the last word. Moving
        # on only brings details to the sheet's, so what differs after it differed before.
        edited = _edited_by_hand(stored) if changes else set()
        way = changes.get("delivery_method")
        if forward and way and "delivery_method" not in edited:
            # How the order goes, first: shipping a parcel asks for its carrier and tracking number, a
            # pick-up or an order with nothing to send for neither (order_ship).
            stored = _details_write(run, order, stored, {"delivery_method": way})
        if moving:
            stored = _order_move(run, order, stored, forward=forward, cancel=cancel)
            changes = _details_changed(stored, order, allowed.details)
        kept = [name for name in changes if name in edited]
        changes = {name: value for name, value in changes.items() if name not in kept}
        if changes:
            stored = _details_write(run, order, stored, changes)
    # One note for the address, not one for each of its parts.
    left_out = [_kept_note(run, order, name) for name in kept if name not in _ADDRESS[:3]] + withheld
    if not (moving or changes):
        return _left_as_it_is(run, order, left_out)
    detail: dict[str, Any] = {
        "order": stored.pk,
        "order_version": stored.version,
        "version_before": version_before,
        "before": before,
    }
    version = None
    if forward or cancel:  # paying an order may move its buyer's stage, which undo puts back
        detail["stage_before"] = stage_before
        detail["customer_version_before"] = customer_version_before
        version = Customer.objects.filter(pk=stored.customer_id).values_list("version", flat=True).first()
    if left_out:
        detail["left_out"] = left_out
    return ImportRow(
        run=run,
        row=order.numbers[0],
        action=ImportRowAction.UPDATED,
        noted=bool(left_out),
        customer_id=stored.customer_id,
        version=version,
        detail=json.dumps(detail, cls=DjangoJSONEncoder, ensure_ascii=False),
    )


def _left_as_it_is(run: Import, order: OrderRows, left_out: list[list[str]]) -> ImportRow | None:
    """The journal's entry for an order met again and left as it was: with its notes ([column, value in
    the file, reason]), or none without any (counted unchanged)."""
    if not left_out:
        return None
    return ImportRow(
        run=run,
        row=order.numbers[0],
        action=ImportRowAction.UNCHANGED,
        noted=True,
        detail=json.dumps({"left_out": left_out}, ensure_ascii=False),
    )


# The shipping address is one detail: a hand-corrected part keeps the whole of it.
_ADDRESS = ("ship_province", "ship_city", "ship_district", "ship_address")
# An order's detail -> the sheet's column it is read from, where the two are named apart.
_COLUMN_OF = {
    "receiver_name": "receiver",
    "receiver_phone": "phone",
    "ship_province": "address",
    "ship_city": "address",
    "ship_district": "address",
    "ship_address": "address",
}


def _edited_by_hand(stored: Order) -> set[str]:
    """The details to leave out: those corrected in Kebu since an import last changed the order, which
    an export older than the correction would otherwise put back."""
    edited = order_fields_edited_by_hand(stored)
    if edited & set(_ADDRESS):
        edited |= set(_ADDRESS)
    return edited


def _details_write(run: Import, order: OrderRows, stored: Order, changes: dict[str, str]) -> Order:
    """``order_details_update`` for the import; ``ValidationFailed`` naming the order when it refuses."""
    try:
        return order_details_update(actor=run.created_by, order=stored, changes=changes, import_id=run.pk)
    except KebuError as exc:
        raise ValidationFailed(
            _("Order %(no)s was not updated: %(reason)s")
            % {"no": order.order_no, "reason": " ".join(_reasons(exc))}
        ) from exc


def _withheld_notes(run: Import, order: OrderRows, allowed: frozenset[str]) -> list[list[str]]:
    """The note for the details the sheet gives (a non-blank cell, not masked) that the importer may not
    change, the contact details to someone who sees them masked (``order_detail_fields_for``): their
    columns, in the sheet's order, and not their values. Told from the sheet alone, never by comparing
    it with the order: a note that came only when a value differed would tell a masked user whether the
    phone they typed is the one Kebu has."""
    columns = {
        _COLUMN_OF.get(name, name)
        for name in ORDER_DETAIL_FIELDS
        if name not in allowed and (value := str(order.data.get(name, ""))) and not _masked(name, value)
    }
    if not columns:
        return []
    reason = _(
        "Order %(no)s is already in Kebu: the contact details in these columns, which your role sees "
        "masked, were left as Kebu has them."
    ) % {"no": order.order_no}
    headers = [
        run.headers[int(i)]
        for i, key in sorted(run.mapping.items(), key=lambda m: int(m[0]))
        if key in columns
    ]
    return [[list_join(headers), "", reason]]


def _refunded_more_notes(order: OrderRows, stored: Order) -> list[list[str]]:
    """The note for an order already in Kebu (``stored``) that the sheet says more was refunded of than
    Kebu has recorded: [column, value in the file, reason], or none. An import records no refund of an
    order it did not make, which would take a sheet's word over the after-sales worked in Kebu, and an
    export older than a refund recorded since (less refunded) says nothing. The same of the items it says
    came back (Line returned, 退货数量), counted over the order's lines and told on the first cell that
    says some came back. Each note is on a cell of the sheet, as the merchant finds it there."""
    notes = []
    if order.refunded_cny is not None and order.refunded_cny > stored.refunded_cny:
        reason = _(
            "Order %(no)s: %(file)s refunded in the file, %(kebu)s in Kebu. An import records no refund of "
            "an order already in Kebu: record the refund as an after-sale on the order."
        ) % {"no": order.order_no, "file": order.refunded_cny, "kebu": stored.refunded_cny}
        notes.append([order.refund_cell.column, order.refund_cell.value, reason])
    if order.refunded_by_status is not None:
        # Told when Kebu has less refunded than the status says: the order, when it says every line was
        # refunded; else a line it says was refunded and of which Kebu has refunded nothing.
        flagged = zip(stored.lines.all(), order.refunded_by_status, strict=False)
        if (
            stored.refunded_cny < stored.paid_cny
            if order.refunded_in_full
            else any(refunded and not line.refunded_cny for line, refunded in flagged)
        ):
            cell = order.refunded_by_status_cells[0]
            reason = _(
                "Order %(no)s is “%(status)s” in the file's after-sale status, and Kebu has %(kebu)s of the "
                "%(paid)s paid refunded. An import records no refund of an order already in Kebu: record "
                "the refund as an after-sale on the order."
            ) % {
                "no": order.order_no,
                "status": cell.value,
                "kebu": stored.refunded_cny,
                "paid": stored.paid_cny,
            }
            notes.append([cell.column, cell.value, reason])
    in_file = sum(order.line_returns or ())
    returned = order.returned_cell
    in_kebu = sum(line.returned_quantity for line in stored.lines.all())
    if returned is not None and in_file > in_kebu:
        reason = _(
            "Order %(no)s: %(file)d items returned in the file, %(kebu)d in Kebu. An import records no "
            "return of an order already in Kebu: record the return as an after-sale on the order."
        ) % {"no": order.order_no, "file": in_file, "kebu": in_kebu}
        notes.append([returned.column, returned.value, reason])
    return notes


def _kept_note(run: Import, order: OrderRows, name: str) -> list[str]:
    """The note for a detail left as it was corrected in Kebu: [column, value in the file, reason]."""
    reason = _(
        "Order %(no)s: “%(field)s” was corrected in Kebu after this order was last imported; the "
        "file's value was left out."
    ) % {"no": order.order_no, "field": _label(Order, name)}
    column = _column(run, _COLUMN_OF.get(name, name)) or _label(Order, name)
    value = str(order.data.get(name, ""))
    labels = dict(cast(Field, Order._meta.get_field(name)).flatchoices)  # a choice as it reads, not its code
    return [column, str(labels.get(value, value)), reason]


def _unchangeable_note(run: Import, order: OrderRows, *, moving: bool, changes: dict[str, str]) -> list[str]:
    """The note for an order the file would move on or change, left as it is because the importer may
    not change orders: what differs, by name (the values are the file's, the order's are on its page)."""
    names = (["status"] if moving else []) + [name for name in changes if name not in _ADDRESS[:3]]
    reason = _(
        "Order %(no)s was left as it is: the file differs from it (%(fields)s), and your role may not "
        "change orders."
    ) % {"no": order.order_no, "fields": list_join(_label(Order, name) for name in names)}
    return [_column(run, "order_no"), order.order_no, reason]


def _column(run: Import, key: str) -> str:
    """The header of the sheet's column for the field ``key``; blank when the sheet has none."""
    index = next((i for i, found in run.mapping.items() if found == key), None)
    return run.headers[int(index)] if index is not None else ""


def _reasons(exc: KebuError) -> list[str]:
    return [str(m) for messages in exc.field_errors.values() for m in messages] or [str(exc.message)]


def _order_move(run: Import, order: OrderRows, stored: Order, *, forward: bool, cancel: bool) -> Order:
    """Move ``stored`` on to the status the sheet reports, through the services that move an order by
    hand, at the times the export gives (inside the caller's transaction). ``ValidationFailed`` saying
    where the order stands when a service refuses."""
    actor, data, target = run.created_by, order.data, order.data["status"]
    status = stored.status
    # A step without its time in the export took place no later than the next step that has one.
    paid_at, shipped_at, delivered_at, completed_at = _times_filled(
        [data.get(key) for key in ("paid_at", "shipped_at", "delivered_at", "completed_at")]
    )
    try:
        if cancel:
            stored = order_cancel(actor=actor, order=stored, reason=_("Cancelled in the marketplace."))
        if forward and stored.status == OrderStatus.PENDING:
            stored = order_pay(
                actor=actor,
                order=stored,
                payment_method=data.get("payment_method") or PaymentMethod.OTHER,
                paid_cny=data.get("paid_cny"),
                paid_at=paid_at,
                allow_over_credit_limit=True,
            )
        if forward and target != OrderStatus.PAID and stored.status == OrderStatus.PAID:
            stored = order_ship(
                actor=actor,
                order=stored,
                # The export's, else what Kebu has (typed in while the order waited to be shipped).
                carrier=data.get("carrier") or stored.carrier,
                tracking_no=data.get("tracking_no") or stored.tracking_no,
                shipped_at=shipped_at,
                reported=True,
            )
        if target == OrderStatus.DELIVERED:
            stored = order_deliver(actor=actor, order=stored, delivered_at=delivered_at)
        if target == OrderStatus.COMPLETED:
            stored = order_complete(actor=actor, order=stored, completed_at=completed_at)
    except KebuError as exc:
        raise ValidationFailed(
            _("Order %(no)s is in Kebu as “%(status)s” and was not moved to “%(to)s”: %(reason)s")
            % {
                "no": order.order_no,
                "status": OrderStatus(status).label,
                "to": OrderStatus(target).label,
                "reason": " ".join(_reasons(exc)),
            }
        ) from exc
    return stored


def _plain(value: Any) -> str:
    """Text compared as the sheet's codes and names are read (``cells.text_parse``): full-width made
    plain, runs of spaces one."""
    return " ".join(normalized(value).split())


def _free(value: str) -> str:
    """Free text (notes, an address) compared as it is read: as written, only trimmed, one kind of line
    break (a browser sends a form's line breaks as \\r\\n)."""
    return (value or "").replace("\r\n", "\n").strip()


def _same_phone(one: str, other: str) -> bool:
    """Whether two ways of writing a number are the same number (138 1234 5678, +8613812345678)."""
    try:
        return parse_phone(one).e164 == parse_phone(other).e164
    except ValidationFailed:
        return clean_digits(one) == clean_digits(other)


def _masked(name: str, value: str) -> bool:
    """Whether a detail the sheet gives is masked: Kebu's own export writes ****, a marketplace's
    fewer stars (张**, 文三路***号), as the buyer's phone is read (``_buyer``). Notes and messages are
    the merchant's and buyer's own words, where a star is only a star."""
    if name in ("seller_notes", "buyer_message"):
        return MASK in value
    return "*" in value


def _details_changed(stored: Order, order: OrderRows, allowed: frozenset[str]) -> dict[str, str]:
    """The details of ``stored`` the sheet gives otherwise, of those ``allowed`` (``ORDER_DETAIL_FIELDS``
    the importer may change): a non-blank cell that differs. A masked cell says nothing; nor does
    "other" as the payment method (a word Kebu does not know is read so), nor a payment method before
    the order is paid (paying it sets one)."""
    data, changes = order.data, {}
    for name, free in (
        ("seller_notes", True),
        ("buyer_message", True),
        ("receiver_name", True),
        ("delivery_method", False),
        ("carrier", False),
        ("tracking_no", False),
    ):
        value = data.get(name, "")
        kept = _free(getattr(stored, name)) if free else _plain(getattr(stored, name))
        if value and not _masked(name, value) and value != kept:
            changes[name] = value
    phone = data.get("receiver_phone", "")
    if phone and not _same_phone(phone, stored.receiver_phone):
        changes["receiver_phone"] = phone
    address = {
        name: data.get(name, "") for name in ("ship_province", "ship_city", "ship_district", "ship_address")
    }
    given = address["ship_address"] and not _masked("ship_address", address["ship_address"])
    if given and any(_free(getattr(stored, name)) != value for name, value in address.items()):
        changes.update(address)  # the address is one: its parts go together
    method = data.get("payment_method", "")
    if (
        method
        and method != PaymentMethod.OTHER
        and method != stored.payment_method
        and stored.status in COUNTED_STATUSES
    ):
        changes["payment_method"] = method
    return {name: value for name, value in changes.items() if name in allowed}


def _label(model: type[Order] | type[OrderLine], name: str) -> str:
    """A field's name as the merchant reads it (its verbose name, translated)."""
    return str(cast(Field, model._meta.get_field(name)).verbose_name)


def _amounts_differences(stored: Order, order: OrderRows, columns: set[str]) -> list[str]:
    """What the sheet says of the order's lines and amounts that is not what Kebu has, each in words
    ("line 1, quantity: 3 in the file, 2 in Kebu"). A column the sheet does not have, or a blank amount,
    says nothing; a SKU line's title is the marketplace's wording of it, not what was bought, and a line
    the catalogue did not know then or does not know now is compared by neither. What was refunded is not
    compared: a refund moves neither lines nor amounts, and an older export has less of it
    (``_refunded_more_notes``)."""
    found: list[str] = []

    def differs(what: Any, in_file: Any, in_kebu: Any) -> None:
        found.append(
            _("%(what)s: %(file)s in the file, %(kebu)s in Kebu")
            % {"what": what, "file": in_file, "kebu": in_kebu}
        )

    lines = list(stored.lines.all())
    if len(lines) != len(order.lines):
        differs(OrderLine._meta.verbose_name_plural, len(order.lines), len(lines))
        return found
    for number, (line, given) in enumerate(zip(lines, order.lines, strict=True), start=1):

        def where(name: str, number: int = number) -> str:
            return _("line %(number)d, %(field)s") % {
                "number": number,
                "field": _label(OrderLine, name),
            }

        if given.sku_code and line.sku_code:
            if given.sku_code != line.sku_code:
                differs(where("sku_code"), given.sku_code, line.sku_code)
        elif not given.sku_code and not line.sku_code and _plain(given.title) != _plain(line.title):
            differs(where("title"), given.title, line.title)
        if "quantity" in columns:
            try:
                quantity: Any = Decimal(str(given.quantity))
            except InvalidOperation:
                quantity = given.quantity
            if quantity != line.quantity:
                differs(where("quantity"), given.quantity, line.quantity)
        if given.unit_price_cny is not None and given.unit_price_cny != line.unit_price_cny:
            differs(where("unit_price_cny"), given.unit_price_cny, line.unit_price_cny)
        if "line_discount" in columns and given.discount_cny != line.discount_cny:
            differs(where("discount_cny"), given.discount_cny, line.discount_cny)
    amounts = ["shipping_cny", "discount_cny", "coupon_cny"]
    if stored.status in COUNTED_STATUSES:
        amounts.append("paid_cny")  # one not paid yet is paid with the sheet's amount, moving it on
    for name in amounts:
        if name in order.data and order.data[name] != getattr(stored, name):
            differs(_label(Order, name), order.data[name], getattr(stored, name))
    return found


def _times_filled(times: list[Any]) -> list[Any]:
    """Each missing time (None) of an order's steps, in order, taken from the next step that has one;
    the last steps' stay None (now, when they are taken)."""
    filled, later = [], None
    for moment in reversed(times):
        later = moment or later
        filled.append(later)
    return filled[::-1]


def _status_column(run: Import) -> str:
    """The header of the sheet's status column, where a note on an order's status is shown."""
    index = next((i for i, key in run.mapping.items() if key == "status"), None)
    return run.headers[int(index)] if index is not None else ""


def _closed_when_paid(run: Import, order: OrderRows, status: str) -> ImportRow:
    """The journal's note for a paid order the export reports closed: counted unchanged, shown with the
    import's notes; undo passes over it."""
    reason = _(
        "Order %(no)s is “%(status)s” in Kebu, and closed in the export: it was left as it is. A paid "
        "order is closed by refunding it: record the refund as an after-sale on the order."
    ) % {"no": order.order_no, "status": OrderStatus(status).label}
    return ImportRow(
        run=run,
        row=order.numbers[0],
        action=ImportRowAction.UNCHANGED,
        noted=True,
        detail=json.dumps(
            {"left_out": [[_status_column(run), order.status_text, reason]]}, ensure_ascii=False
        ),
    )


def _orders_one_by_one(run: Import, orders: Sequence[OrderRows]) -> list[ImportRow]:
    """Each order through ``order_create`` in a savepoint of its own, its new buyer made with it."""
    from kebu.transfer.imports import _Keys

    known = _Known.load(orders, run=run)
    journal: list[ImportRow] = []
    counts = _Counts()
    for order in orders:
        if order.problems:
            continue
        assert order.store is not None and order.buyer is not None and order.buyer.checked is not None
        if (order.store.pk, order.order_no) in known.existing:
            journal += _order_again(run, order, known.existing[order.store.pk, order.order_no], counts, known)
            continue
        buyer_keys = _Keys.of(order.buyer)
        customer_id = known.buyer_find(order.buyer, buyer_keys)
        if reason := known.buyer_problem(customer_id):
            order.problems = [Problem(order.number, "", "", reason)]
            continue
        if customer_id is None and order.buyer.checked.unnamed:
            order.problems = [_new_buyer_unnamed(run, order)]
            continue
        try:
            with transaction.atomic():
                made = customer_id is None
                if made:
                    known.buyer_owned(order)
                    [customer] = customers_import_create(
                        actor=run.created_by,
                        rows=[(order.buyer.checked, order.buyer.customer_no)],
                        import_id=run.pk,
                    ).customers()
                else:
                    customer = known.customer(customer_id)
                # As the batch found them: order_create moves its own copy.
                stage_before, customer_version_before = customer.stage, customer.version
                if order.has_refund:
                    # One closed that comes to nothing paid is cancelled; a refund is held against the
                    # amount paid, before anything of the order is written.
                    _order_checked(run, order, customer)
                with _told_on_cells(order):
                    created = order_create(
                        actor=run.created_by,
                        data=_order_input(order, customer),
                        allow_over_credit_limit=True,
                    )
                refund = _refunded(run, order, created)
        except KebuError as exc:
            _refusal(order, exc)
            continue
        if made:
            # Only now that the order's savepoint has committed: a refused order's buyer was rolled back.
            known.buyer_learn(order.buyer, buyer_keys, customer.pk, customer.customer_no)
            known.matched[customer.pk] = customer
        known.existing[order.store.pk, order.order_no] = created
        counts.created += 1
        counts.noted += bool(order.warnings or refund)
        version = Customer.objects.filter(pk=customer.pk).values_list("version", flat=True).first()
        journal.append(
            _journal_entry(
                run,
                order,
                created=created,
                made=made,
                version=version,
                stage_before=stage_before,
                customer_version_before=customer_version_before,
                refund=refund,
            )
        )
    rejected = [o for o in orders if o.problems]
    counts.rejected += len(rejected)
    counts.onto(run)
    return journal + [ImportRow.rejection(run, order.numbers, order.problems) for order in rejected]


def order_import_undo(run: Import, *, actor: Any) -> dict[str, int]:
    """Delete the orders ``run`` made, with the refunds it recorded for them (closed after payment, or
    refunded as the sheet said), and the customers it made for them, put the orders it moved on back as
    they were, put back the lifecycle stages its orders moved (``_stages_put_back``), and rebuild the
    figures of the customers who keep orders (inside the caller's transaction). ``Conflict``, naming
    the orders, when that would lose later work: an after-sale, a change to an order, or a later order of
    a customer the import made."""
    journal = [
        (action, customer_id, version, json.loads(detail))
        for action, customer_id, version, detail in run.journal.filter(
            action__in=[ImportRowAction.CREATED, ImportRowAction.UPDATED]
        )
        .order_by("row")
        .values_list("action", "customer_id", "version", "detail")
    ]
    entries = [(c, v, d) for action, c, v, d in journal if action == ImportRowAction.CREATED]
    moves = {d["order"]: d for action, _c, _v, d in journal if action == ImportRowAction.UPDATED}
    order_ids = [d["order"] for _c, _v, d in entries]
    # Its own refunds, and the version each left its order at (``_refunded``).
    refunds = {d["aftersale"]: d for _c, _v, d in entries if "aftersale" in d}
    refund_versions = {d["order"]: d["order_version"] for d in refunds.values()}
    made_customers = {c for c, _v, d in entries if d["customer_created"] and c is not None}
    left_at = {c: v for c, v, _d in entries if c in made_customers}  # the last row's: the import's last word
    now_at = dict(Customer.objects.filter(pk__in=left_at).values_list("pk", "version"))
    changed = versions_changed_since(
        model=Customer, left={c: v for c, v in left_at.items() if v is not None}, now=now_at
    )
    # Its orders not at the version it made them at (or its refund left them at): changed since, unless
    # only by later imports undone since (``versions_changed_since``).
    numbers: dict[int, str] = {}
    made_now: dict[int, int] = {}
    for pk, number, version in Order.objects.filter(pk__in=order_ids, version__gt=1).values_list(
        "pk", "order_no", "version"
    ):
        numbers[pk], made_now[pk] = number, version
    made_left = {pk: refund_versions.get(pk, 1) for pk in made_now}
    touched = [numbers[pk] for pk in versions_changed_since(model=Order, left=made_left, now=made_now)]
    touched += list(
        Order.objects.filter(pk__in=order_ids, customer_id__in=changed).values_list("order_no", flat=True)
    )
    touched += list(
        AfterSale.objects.filter(order_id__in=order_ids)
        .exclude(pk__in=refunds)
        .values_list("order__order_no", flat=True)
    )
    # A ticket linked to one of its refunds since (a ticket naming the order keeps the order anyway).
    touched += list(
        AfterSale.objects.filter(pk__in=refunds, tickets__isnull=False).values_list(
            "order__order_no", flat=True
        )
    )
    later = Order.objects.filter(customer_id__in=made_customers).exclude(pk__in=order_ids)
    touched += list(later.values_list("order_no", flat=True))
    # An order moved on, then changed again (an after-sale, a note, moved on by hand): its version moved.
    moved_now: dict[int, int] = {}
    for pk, number, version in Order.objects.filter(pk__in=moves).values_list("pk", "order_no", "version"):
        numbers[pk], moved_now[pk] = number, version
    moved_left = {pk: moves[pk]["order_version"] for pk in moved_now}  # one gone since has nothing to undo
    touched += [numbers[pk] for pk in versions_changed_since(model=Order, left=moved_left, now=moved_now)]
    if touched:
        shown = sorted(set(touched))[:UNDO_CONFLICTS_SHOWN]
        message = ngettext(
            "Undoing would lose later work on %(count)d order (%(orders)s): changed since, or its buyer.",
            "Undoing would lose later work on %(count)d orders (%(orders)s): changed since, or their buyers.",
            len(set(touched)),
        ) % {"count": len(set(touched)), "orders": list_join(shown)}
        raise Conflict(message + _later_imports_hint(run, order_ids=[*order_ids, *moves], numbers=touched))
    customers = set(Order.objects.filter(pk__in=[*order_ids, *moves]).values_list("customer_id", flat=True))
    try:
        AfterSale.objects.filter(pk__in=refunds).delete()
        deleted = Order.objects.filter(pk__in=order_ids).delete()[1].get("orders.Order", 0)
        Customer.objects.filter(pk__in=made_customers).delete()
    except ProtectedError as exc:  # a payment received on credit, say, since the import
        raise Conflict(
            _("Undoing would lose later work: records were added for these customers since.")
        ) from exc
    now = timezone.now()
    moves = {pk: move for pk, move in moves.items() if pk in moved_now}
    for pk, move in moves.items():
        before = {
            name: Order._meta.get_field(name).to_python(value) for name, value in move["before"].items()
        }
        if "credit_taken_cny" not in before:
            # A journal from before orders kept what went on credit: all of it did, by the rule of the
            # migration that added the column (orders 0014).
            on_credit = (
                before["payment_method"] == PaymentMethod.CREDIT or before["credit_outstanding_cny"] > 0
            )
            before["credit_taken_cny"] = before["paid_cny"] if on_credit else Decimal(0)
        # A new version, as a customer's (``customer_import_revert``): never the one before the import,
        # which the next import would give the order again. Written only over the version checked above:
        # an edit saved since (PostgreSQL reads without a lock) is later work, and refuses the undo.
        written = Order.objects.filter(pk=pk, version=moved_now[pk]).update(
            **before, version=moved_now[pk] + 1, updated_at=now
        )
        if not written:
            raise Conflict(
                _("Undoing would lose later work on order %(order)s: it was changed a moment ago.")
                % {"order": numbers[pk]}
            )
        OrderLine.objects.filter(order_id=pk).update(counted=before["status"] in COUNTED_STATUSES)
    # What the import that made or moved an order before needs to undo it after this one. (Journals from
    # before the version found was kept have none.)
    versions_undone_record(
        run=run,
        model=Order,
        versions=(
            (pk, move["version_before"], moved_now[pk] + 1)
            for pk, move in moves.items()
            if move.get("version_before") is not None
        ),
    )
    stages = _stages_put_back(run, journal, made_customers, actor=actor)
    figures_recompute(customer_ids=sorted(customers - made_customers))
    return {
        "deleted": deleted,
        "customers_deleted": len(made_customers),
        "restored": len(moves),
        "stages_restored": stages,
    }


def _later_imports_hint(run: Import, *, order_ids: Sequence[int], numbers: Sequence[str]) -> str:
    """The imports after ``run`` to undo first, as a sentence to add to its undo's refusal: those that
    made or moved orders of the buyers of ``numbers`` (of ``order_ids``, the orders ``run`` made or
    moved), as a newer export of the same store does. "" when none did: the work was done by hand."""
    from kebu.transfer.imports import _later_imports

    orders = Order.objects.filter(pk__in=order_ids, order_no__in=set(numbers))
    buyers = set(orders.values_list("customer_id", flat=True))
    later = _later_imports(run, buyers)
    if not later:
        return ""
    named = list_join(_("import #%(number)d") % {"number": pk} for pk in later)
    return " " + ngettext(
        "A later import changed them: undo %(imports)s first, then this one.",
        "Later imports changed them: undo %(imports)s first (newest first), then this one.",
        len(later),
    ) % {"imports": named}


def _stages_put_back(
    run: Import,
    journal: Sequence[tuple[str, int | None, int | None, dict[str, Any]]],
    made_customers: set[int],
    *,
    actor: Any,
) -> int:
    """Give each customer the import's orders moved up a stage the stage they had before its first
    order (the journal's ``stage_before``), unless they changed since its last one (their version moved:
    later work, which keeps the stage it left; later imports undone since are none). Stages otherwise
    only move up; this is undo. Returns how many were put back."""
    first: dict[int, str] = {}
    first_version: dict[int, int | None] = {}
    last: dict[int, int] = {}
    for _action, customer_id, version, detail in journal:  # in row order: the order they were written
        if customer_id is None or customer_id in made_customers or "stage_before" not in detail:
            continue
        first.setdefault(customer_id, detail["stage_before"])
        first_version.setdefault(customer_id, detail.get("customer_version_before"))
        if version is not None:
            last[customer_id] = version
    customers = list(Customer.objects.select_for_update().filter(pk__in=sorted(first)).order_by("pk"))
    now_at = {customer.pk: customer.version for customer in customers}
    changed = versions_changed_since(model=Customer, left=last, now=now_at)
    undone: list[tuple[int, int, int]] = []
    put_back = 0
    for customer in customers:
        before = first[customer.pk]
        if customer.stage == before or customer.pk not in last or customer.pk in changed:
            continue
        moved_to = customer.stage
        # A new version, as ``customer_import_revert`` gives: never the one before the import.
        Customer.objects.filter(pk=customer.pk).update(
            stage=before, version=customer.version + 1, updated_at=timezone.now()
        )
        if (version_then := first_version.get(customer.pk)) is not None:
            # An earlier import that made or changed them can then be undone after this one.
            undone.append((customer.pk, version_then, customer.version + 1))
        customer_stage_put_back_event(
            customer=customer, actor=actor, before=moved_to, after=before, import_id=run.pk
        )
        put_back += 1
    versions_undone_record(run=run, model=Customer, versions=undone)
    return put_back


def order_file_check(
    data: bytes | Path,
    *,
    sheet: str | None = None,
    mapping: dict[int, str] | None = None,
    store: Store | None = None,
    actor: Any = None,
) -> FileCheck:
    """``customers.customer_file_check`` for an order sheet: every order rehearsed as ``actor``'s import
    would write it, nothing written. Rows are counted as good by order; a bad order is listed by its
    first row."""
    from kebu.transfer.rehearsals import import_file_check  # the rehearsal imports this module

    return import_file_check(
        data, kind=ImportKind.ORDERS, sheet=sheet, mapping=mapping, store=store, actor=actor
    )
