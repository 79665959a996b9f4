"""Test data for orders, made through the services as the product makes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from kebu.orders.models import Category, Order, OrderStatus, Sku, Store
from kebu.orders.services.orders import LineInput, OrderInput, order_create
from kebu.orders.services.products import ProductInput, SkuInput, category_create, product_create


@dataclass
class Catalogue:
    store: Store
    skincare: Category  # 护肤 (top)
    cream: Category  # 护肤 › 面霜
    tea: Category  # 茶叶 (top)
    cream_sku: Sku  # CREAM-50, ¥199.00
    toner_sku: Sku  # TONER-100, ¥89.50
    tea_sku: Sku  # TEA-250, ¥128.00


def make_catalogue(*, actor: Any) -> Catalogue:
    skincare = category_create(actor=actor, name="护肤")
    cream = category_create(actor=actor, name="面霜", parent=skincare)
    tea = category_create(actor=actor, name="茶叶")
    face = product_create(
        actor=actor,
        data=ProductInput(
            name="玻尿酸面霜",
            category=cream,
            brand_name="润百颜",
            usage_cycle_days=60,
            skus=[SkuInput(code="CREAM-50", price_cny="199.00", cost_cny="80.00", spec="50g")],
        ),
    )
    toner = product_create(
        actor=actor,
        data=ProductInput(
            name="爽肤水",
            category=skincare,
            skus=[SkuInput(code="TONER-100", price_cny="89.50", spec="100ml")],
        ),
    )
    leaf = product_create(
        actor=actor,
        data=ProductInput(
            name="明前龙井",
            category=tea,
            usage_cycle_days=30,
            skus=[SkuInput(code="TEA-250", price_cny="128.00")],
        ),
    )
    return Catalogue(
        store=Store.objects.order_by("pk").first() or Store.objects.create(name="默认店铺"),
        skincare=skincare,
        cream=cream,
        tea=tea,
        cream_sku=face.skus.get(),
        toner_sku=toner.skus.get(),
        tea_sku=leaf.skus.get(),
    )


def make_order(
    *,
    actor: Any,
    customer: Any,
    store: Store,
    lines: list[tuple[str, int]] | None = None,
    status: str = OrderStatus.PAID,
    ordered_at: datetime | None = None,
    payment_method: str = "alipay",
    shipping_cny: Decimal | str = "0",
    **fields: Any,
) -> Order:
    """An order through ``order_create``; ``lines`` are (SKU code, quantity)."""
    data = OrderInput(
        customer=customer,
        store=store,
        lines=[LineInput(sku_code=code, quantity=qty) for code, qty in (lines or [("CREAM-50", 1)])],
        status=status,
        ordered_at=ordered_at,
        payment_method=payment_method if status != OrderStatus.PENDING else "",
        shipping_cny=shipping_cny,
        **fields,
    )
    return order_create(actor=actor, data=data)


def make_discounted_order(*, actor: Any, store: Store, customer: Any, **fields: Any) -> Order:
    """The reviewer's order: 961.00 of goods in three lines (3 creams at 122.00 less 2.00 = 364.00, a
    tea at 397.00, 2 toners at 100.00), a 30.00 order discount, a 10.00 coupon and 12.00 shipping: 933.00
    due and paid, 921.00 of it for the goods."""
    data = OrderInput(
        customer=customer,
        store=store,
        lines=[
            LineInput(sku_code="CREAM-50", quantity=3, unit_price_cny="122.00", discount_cny="2.00"),
            LineInput(sku_code="TEA-250", quantity=1, unit_price_cny="397.00"),
            LineInput(sku_code="TONER-100", quantity=2, unit_price_cny="100.00"),
        ],
        status=fields.pop("status", OrderStatus.PAID),
        payment_method=fields.pop("payment_method", "alipay"),
        shipping_cny="12.00",
        discount_cny="30.00",
        coupon_code="NEW10",
        coupon_cny="10.00",
        **fields,
    )
    return order_create(actor=actor, data=data)
