"""Demo feedback and reviews (评价): about one delivered or completed order in eight over the last year
has a review of one of its products a few days after delivery, mostly five stars, a few bad ones; those
from marketplace stores are imported reviews carrying the marketplace's review id, the others were
entered by the customer's owner. Bulk inserts: well under a second at 40,000 orders."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction

from kebu.engagement.models import Feedback, FeedbackSource
from kebu.orders.models import Order, OrderLine, OrderStatus, Platform

SHARE = 0.12
DAYS_BACK = 365
MAX_REVIEWS = 6000
MARKETPLACES = {Platform.TAOBAO, Platform.TMALL, Platform.JD, Platform.PINDUODUO, Platform.DOUYIN}
RATINGS = ((5, 62), (4, 20), (3, 9), (2, 4), (1, 5))
COMMENTS = {
    5: (
        "很好用，已经回购了",
        "包装精美，送人很有面子",
        "茶香浓郁，回甘好",
        "物流很快，客服态度好",
        "质地清爽不油腻",
    ),
    4: ("还不错，就是快递慢了点", "效果可以，价格略贵", "味道好，包装有点简单"),
    3: ("一般般，没有想象中好", "用着还行，再观察"),
    2: ("有点油，不太适合我", "茶叶碎末比较多"),
    1: ("收到就漏了，很失望", "用了过敏，差评", "和描述不符"),
}


@transaction.atomic
def demo_feedback(*, rng: random.Random, now: datetime) -> int:
    """Add the demo reviews; returns how many."""
    orders = list(
        Order.objects.filter(
            status__in=[OrderStatus.DELIVERED, OrderStatus.COMPLETED],
            ordered_at__gte=now - timedelta(days=DAYS_BACK),
        )
        .values_list(
            "pk",
            "customer_id",
            "customer__owner_id",
            "store_id",
            "store__platform",
            "delivered_at",
            "ordered_at",
        )
        .order_by("pk")
    )
    chosen = rng.sample(orders, min(MAX_REVIEWS, int(len(orders) * SHARE)))
    if not chosen:
        return 0
    products: dict[int, list[int]] = defaultdict(list)
    for order_id, product_id in OrderLine.objects.filter(
        order_id__in=[c[0] for c in chosen], product__isnull=False
    ).values_list("order_id", "product_id"):
        products[order_id].append(product_id)
    reviews = []
    for order_id, customer_id, owner_id, store_id, platform, delivered_at, ordered_at in chosen:
        rating = rng.choices([r[0] for r in RATINGS], weights=[r[1] for r in RATINGS])[0]
        reviewed = min((delivered_at or ordered_at) + timedelta(days=rng.uniform(0.5, 10)), now).replace(
            microsecond=0
        )
        imported = platform in MARKETPLACES
        reviews.append(
            Feedback(
                customer_id=customer_id,
                order_id=order_id,
                product_id=rng.choice(products[order_id]) if products.get(order_id) else None,
                rating=rating,
                comment=rng.choice(COMMENTS[rating]) if rng.random() < 0.8 else "",
                source=FeedbackSource.IMPORTED if imported else FeedbackSource.ENTERED,
                store_id=store_id,
                external_id=f"RV{order_id:010d}" if imported else "",
                reviewed_at=reviewed,
                created_at=reviewed,
                created_by_id=None if imported else owner_id,
            )
        )
    Feedback.objects.bulk_create(reviews, batch_size=1000)
    return len(reviews)
