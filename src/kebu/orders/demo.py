"""Demo orders for the demo customers of a cosmetics-and-tea shop: a catalogue, six stores and orders
with lines, refunds and credit, in bulk, for trying Kebu out and for the benchmarks in ``bench/``.

Like the customer demo (``kebu.customers.demo``, whose helpers it shares) it writes straight to the
tables with ``executemany``: ``order_create`` costs milliseconds an order, hours for ten million. What
it keeps from the services is what they guarantee about the data: amounts add up (lines to goods,
goods less discounts plus shipping to the amount due), refunds stay within what was paid and move the
order and its lines as ``aftersale_complete`` moves them (closed when refunded in full), what a credit
customer owes is a suffix of their debts by due date (payments settle the oldest first), the shipping
address is the customer's default address encrypted with the keyring exactly as the model field
encrypts it, times are whole seconds and never in the future. Each customer's figures are then
rebuilt by :func:`kebu.orders.services.metrics.figures_recompute`, the source of truth, so the demo's
figures are the services' figures (``tests/test_demo.py`` checks all of this).

What the orders look like:

- spend is Pareto-distributed: a customer's share of the orders follows a Pareto(α≈1.2) weight times
  their stage, type and tenure, so a fifth of the buyers place most orders; leads place none,
  churned customers stopped a year ago, archived ones before they were archived;
- a customer re-buys when what they bought runs out: the gap after an order is the usage cycle of
  its main product (jittered), compressed for the heavy buyers to fit their time with the shop;
- the calendar is warped by demand: 双11 (and its pre-sale), 618, 双12, 3·8, the weeks before 春节
  (and the courier stop after it), weekends, and the hours of the day Chinese shoppers buy;
- 1–4 lines (mostly 1–2), wholesalers buy cartons at trade prices; coupons, 满减 on festival days,
  shipping per platform; statuses follow from the times (recent orders are paid or shipped, older
  ones completed, a few unpaid ones pending or cancelled);
- about 5% of orders carry a completed refund (refund before shipping, return, or partial refund);
- a quarter of the wholesalers buy on credit (赊账) with terms of 30–60 days, some paying late.

Determinism: two ``Random`` streams seeded from ``seed``, consumed customer by customer (who orders
how often, what and when) and then order by order in time order (everything else), so the same
customers, seed and ``now`` give the same orders whatever the batch size. Ids and the KB order
numbers of manual stores come from the database, as in the customer demo.
"""

from __future__ import annotations

import gc
import math
import random
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.db.models import DateTimeField, DecimalField, Model
from django.utils import timezone

from kebu.core.bulk import ids_reserve, insert_sql
from kebu.core.crypto import context_of, keyring
from kebu.core.models import ShopSettings
from kebu.core.services import sequence_next
from kebu.customers.demo import _sqlite_indexes_drop, _Weighted
from kebu.customers.models import Address, Customer, CustomerType, Gender, Stage
from kebu.orders.models import (
    COUNTED_STATUSES,
    AfterSale,
    AfterSaleKind,
    AfterSaleLine,
    AfterSaleReason,
    AfterSaleStatus,
    Brand,
    Category,
    CreditPayment,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Platform,
    Product,
    Sku,
    Store,
)
from kebu.orders.services.aftersales import fen_shares
from kebu.orders.services.metrics import figures_recompute
from kebu.orders.services.orders import ORDER_NO_SEQUENCE
from kebu.orders.services.products import SEPARATOR


class OrdersDemoError(RuntimeError):
    """The demo could not load its orders as prepared."""


DEFAULT_BATCH_SIZE = 10_000
# From this many orders (and no fewer than the table holds) SQLite loads in one transaction and builds
# the indexes afterwards, as the customer demo does (see demo_orders_load).
BULK_PATH_FROM = 50_000
SPAN_DAYS = 3 * 365
DAY = 86400

# --- the catalogue -------------------------------------------------------------------------------------

# Top categories: (name, SKU code prefix).
_ROOTS = {"护肤": "HF", "彩妆": "CZ", "茶叶": "CY", "茶具": "CJ", "礼盒": "LH"}
# (top, sub or "", brand, product, usage cycle in days or None, popularity, variants): one SKU per
# variant, written "[colour|]spec price cost" (the spec may be empty), separated by ";". Brands are
# made up.
_CATALOGUE: tuple[tuple[str, str, str, str, int | None, int, str], ...] = (
    ("护肤", "洁面", "素肌良品", "氨基酸洁面乳", 60, 9, "100g 69 22; 150g 89 29"),
    ("护肤", "洁面", "清研", "温和卸妆水", 45, 6, "200ml 79 25; 400ml 129 41"),
    ("护肤", "洁面", "花间集", "洁面慕斯", 60, 3, "150ml 98 30"),
    ("护肤", "爽肤水", "雪域本草", "玻尿酸补水爽肤水", 60, 8, "100ml 89.5 28; 200ml 139 45"),
    ("护肤", "爽肤水", "清研", "舒缓修护精华水", 60, 4, "150ml 128 40"),
    ("护肤", "爽肤水", "素肌良品", "敏感肌修护喷雾", 45, 5, "50ml 59 17; 150ml 109 33"),
    ("护肤", "精华", "雪域本草", "烟酰胺美白精华", 50, 7, "30ml 199 58; 50ml 299 86"),
    ("护肤", "精华", "花间集", "玻色因抗初老精华", 60, 4, "30ml 329 95; 50ml 469 136"),
    ("护肤", "精华", "清研", "修护精华油", 60, 2, "15ml 169 48"),
    ("护肤", "精华", "素肌良品", "积雪草舒缓精华", 50, 5, "30ml 159 45; 旅行装 10ml 59 16"),
    ("护肤", "面霜", "雪域本草", "玻尿酸保湿面霜", 60, 8, "50g 199 80; 旅行装 15g 69 25"),
    ("护肤", "面霜", "素肌良品", "敏感肌修护霜", 60, 6, "50g 178 55"),
    ("护肤", "面霜", "花间集", "人参紧致面霜", 75, 3, "50g 368 110"),
    ("护肤", "面霜", "清研", "清爽控油乳液", 60, 4, "100ml 118 36"),
    ("护肤", "面膜", "雪域本草", "玻尿酸补水面膜", 30, 9, "5片 69 18; 10片 119 32; 30片 299 85"),
    ("护肤", "面膜", "清研", "清洁泥膜", 45, 3, "100g 99 28"),
    ("护肤", "面膜", "花间集", "睡眠面膜", 45, 3, "80ml 129 37"),
    ("护肤", "防晒", "清研", "轻薄防晒乳 SPF50+", 45, 7, "50ml 128 38; 100ml 198 58"),
    ("护肤", "防晒", "素肌良品", "敏感肌物理防晒", 45, 3, "40ml 149 44"),
    ("护肤", "眼霜", "花间集", "淡纹紧致眼霜", 90, 3, "15g 268 76"),
    ("护肤", "眼霜", "雪域本草", "咖啡因眼部精华", 90, 3, "20ml 159 45"),
    ("彩妆", "口红", "花间集", "丝绒哑光口红", 120, 6,
     "#01 正红|3.5g 129 32; #02 豆沙|3.5g 129 32; #03 枫叶红|3.5g 129 32; #04 奶茶|3.5g 129 32"),
    ("彩妆", "口红", "清研", "水润唇釉", 120, 4,
     "#10 蜜桃|4ml 89 22; #12 玫瑰|4ml 89 22; #15 番茄|4ml 89 22"),
    ("彩妆", "口红", "素肌良品", "润唇膏", 60, 3, "无色|4g 39 9; 淡粉|4g 45 11"),
    ("彩妆", "粉底", "花间集", "持妆粉底液", 90, 4,
     "象牙白|30ml 239 62; 自然色|30ml 239 62; 小麦色|30ml 239 62"),
    ("彩妆", "粉底", "清研", "气垫BB霜", 90, 4,
     "01 亮白|15g 169 44; 02 自然|15g 169 44; 02 自然|替换芯 79 20"),
    ("彩妆", "粉底", "花间集", "定妆散粉", 120, 2, "8g 139 35"),
    ("彩妆", "眼影", "花间集", "九色眼影盘", 180, 2, "大地色| 199 50; 玫瑰色| 199 50"),
    ("彩妆", "眼影", "清研", "防水眼线笔", 90, 2, "黑色| 59 14; 棕色| 59 14"),
    ("彩妆", "眼影", "清研", "纤长睫毛膏", 90, 2, "黑色| 89 22"),
    ("茶叶", "绿茶", "西湖云雾", "明前龙井", 30, 10, "50g 168 70; 250g 698 300; 500g 1280 560"),
    ("茶叶", "绿茶", "太湖春", "碧螺春", 30, 5, "100g 198 85; 250g 458 200"),
    ("茶叶", "绿茶", "云雾山", "黄山毛峰", 30, 4, "100g 128 50; 250g 298 120"),
    ("茶叶", "绿茶", "云雾山", "信阳毛尖", 30, 3, "250g 268 110"),
    ("茶叶", "乌龙茶", "御茗轩", "安溪铁观音", 30, 7, "125g 108 42; 250g 198 80; 500g 368 150"),
    ("茶叶", "乌龙茶", "御茗轩", "武夷大红袍", 30, 6, "125g 258 100; 250g 468 190"),
    ("茶叶", "乌龙茶", "茶语时光", "冻顶乌龙", 30, 3, "150g 188 72"),
    ("茶叶", "乌龙茶", "茶语时光", "凤凰单丛 蜜兰香", 30, 3, "250g 238 95"),
    ("茶叶", "红茶", "御茗轩", "正山小种", 30, 5, "100g 128 50; 250g 288 115"),
    ("茶叶", "红茶", "山水间", "滇红金芽", 30, 4, "100g 158 62; 250g 358 140"),
    ("茶叶", "红茶", "山水间", "祁门红茶", 30, 2, "250g 268 105"),
    ("茶叶", "普洱", "山水间", "普洱熟茶饼", 60, 5, "357g 298 110; 七饼一提 1980 720"),
    ("茶叶", "普洱", "山水间", "古树普洱生茶饼", 90, 3, "357g 468 170"),
    ("茶叶", "普洱", "茶语时光", "小青柑普洱", 45, 4, "250g 168 60; 500g 298 110"),
    ("茶叶", "白茶", "太湖春", "福鼎白牡丹", 60, 4, "100g 158 60; 300g 茶饼 398 150"),
    ("茶叶", "白茶", "太湖春", "白毫银针", 60, 2, "100g 368 150"),
    ("茶叶", "白茶", "御茗轩", "寿眉饼", 90, 3, "350g 238 85"),
    ("茶叶", "花草茶", "茶语时光", "桂花乌龙三角包", 30, 6, "20包 49 15; 60包 129 40"),
    ("茶叶", "花草茶", "茶语时光", "菊花枸杞茶", 30, 4, "30包 39 11"),
    ("茶叶", "花草茶", "茶语时光", "蜜桃乌龙冷泡茶", 30, 5, "15包 45 13; 45包 119 36"),
    ("茶叶", "花草茶", "山水间", "玫瑰花茶", 45, 3, "100g 59 18"),
    ("茶具", "茶杯", "匠心陶坊", "青瓷品茗杯", None, 4, "单只 39 12; 四只装 139 45"),
    ("茶具", "茶杯", "匠心陶坊", "玻璃公道杯", None, 3, "300ml 59 18"),
    ("茶具", "茶杯", "匠心陶坊", "便携快客杯", None, 3, "一壶二杯 89 28; 一壶三杯 119 38"),
    ("茶具", "茶壶", "匠心陶坊", "宜兴紫砂壶 西施", None, 2, "200ml 398 150; 280ml 468 180"),
    ("茶具", "茶壶", "匠心陶坊", "白瓷盖碗", None, 3, "150ml 69 20"),
    ("茶具", "茶壶", "匠心陶坊", "玻璃飘逸杯", None, 3, "500ml 79 24"),
    ("礼盒", "", "西湖云雾", "龙井茶礼盒", None, 3, "250g×2 888 380; 125g×2 498 210"),
    ("礼盒", "", "雪域本草", "护肤三件套礼盒", None, 3, "水+乳+霜 459 150"),
    ("礼盒", "", "御茗轩", "新春茶礼四色组合", None, 2, "4×100g 598 230"),
    ("礼盒", "", "花间集", "口红礼盒", None, 2, "3支装 359 90"),
)  # fmt: skip

# (name, platform): the shop's channels; ordered as the store list shows them.
DEMO_STORES = (
    ("天猫旗舰店", Platform.TMALL.value),
    ("淘宝店", Platform.TAOBAO.value),
    ("拼多多店", Platform.PINDUODUO.value),
    ("抖音小店", Platform.DOUYIN.value),
    ("微信私域", Platform.WECHAT.value),
    ("线下门店", Platform.OFFLINE.value),
)
_TMALL, _TAOBAO, _PDD, _DOUYIN, _WECHAT, _OFFLINE = range(6)
# Where a customer came from decides where they mostly buy (customers.demo's source channels).
_HOME_STORE = {
    "淘宝": _TAOBAO, "天猫": _TMALL, "京东": _TMALL, "拼多多": _PDD, "抖音": _DOUYIN, "微信": _WECHAT,
    "小红书": _TMALL, "线下": _OFFLINE, "转介绍": _WECHAT, "官网": _WECHAT,
}  # fmt: skip
_STORE_WEIGHTS = {_TMALL: 30, _TAOBAO: 25, _PDD: 14, _DOUYIN: 15, _WECHAT: 11, _OFFLINE: 5}
_PAYMENTS = {
    _TMALL: {"alipay": 72, "huabei": 22, "bank_card": 6},
    _TAOBAO: {"alipay": 75, "huabei": 20, "bank_card": 5},
    _PDD: {"wechat": 62, "alipay": 33, "bank_card": 5},
    _DOUYIN: {"wechat": 38, "alipay": 37, "other": 25},  # 抖音支付
    _WECHAT: {"wechat": 88, "bank_transfer": 8, "alipay": 4},
    _OFFLINE: {"wechat": 45, "alipay": 30, "cash": 18, "bank_card": 7},
}
# Refunds differ by channel: Pinduoduo's and Douyin's buyers return the most, a shop counter the least.
# Scaled so that ~5% of all orders carry one (unpaid, credit and too recent orders have none).
_REFUND_RATE = {_TMALL: 0.053, _TAOBAO: 0.058, _PDD: 0.085, _DOUYIN: 0.075, _WECHAT: 0.033, _OFFLINE: 0.012}
# (carrier, tracking prefix, digits after it).
_CARRIERS = {
    "顺丰速运": ("SF", 13), "中通快递": ("78", 13), "圆通速递": ("YT", 13), "韵达快递": ("43", 13),
    "申通快递": ("77", 13), "极兔速递": ("JT", 13), "京东快递": ("JDVA", 11), "邮政EMS": ("11", 11),
}  # fmt: skip
_CARRIER_WEIGHTS = {
    "marketplace": {"中通快递": 26, "圆通速递": 22, "韵达快递": 17, "顺丰速运": 14, "申通快递": 9,
                    "极兔速递": 7, "京东快递": 3, "邮政EMS": 2},
    "pinduoduo": {"极兔速递": 30, "中通快递": 24, "韵达快递": 20, "圆通速递": 14, "申通快递": 12},
    "own": {"顺丰速运": 55, "中通快递": 20, "京东快递": 15, "邮政EMS": 10},
}  # fmt: skip
_FREIGHT_CARRIERS = (("德邦快递", "DPK", 12), ("安能物流", "AN", 12))
_COUPONS = (("NEW10", 1000, 0), ("M199-20", 2000, 19900), ("SHOP5", 500, 0), ("VIP30", 3000, 29900))
_BUYER_MESSAGES = (
    "请尽快发货，谢谢！",
    "不要放快递柜，放门卫就行。",
    "送人的，不要放价格单。",
    "可以发顺丰吗？差价我补。",
    "周末在家，工作日请放驿站。",
    "多送几个小样呗～",
    "包装好一点，送礼用。",
    "麻烦备注生产日期新一点的。",
)
_SELLER_NOTES = ("已补发小样。", "客户要开发票，抬头已确认。", "老客户，优先发货。", "地址已电话确认。")
_REASONS = {
    AfterSaleKind.REFUND.value: {"changed_mind": 50, "price": 20, "damaged": 15, "quality": 10, "other": 5},
    AfterSaleKind.RETURN.value: {"changed_mind": 35, "quality": 20, "not_as_described": 15, "size": 10,
                                 "damaged": 12, "wrong_item": 8},
}  # fmt: skip
_REASON_DETAILS = {
    "changed_mind": "七天无理由退货",
    "price": "活动降价，申请退差价",
    "damaged": "快递外箱破损，瓶身有裂",
    "quality": "用后过敏发红",
    "not_as_described": "颜色和图片不一样",
    "wrong_item": "发错规格",
    "size": "容量选错了",
    "other": "不想要了",
}
# Favourite top category by who the customer is.
_TASTES = {
    Gender.FEMALE.value: {"护肤": 46, "彩妆": 20, "茶叶": 24, "茶具": 4, "礼盒": 6},
    Gender.MALE.value: {"护肤": 12, "彩妆": 2, "茶叶": 60, "茶具": 14, "礼盒": 12},
    "": {"护肤": 30, "彩妆": 10, "茶叶": 42, "茶具": 9, "礼盒": 9},
    "trade": {"护肤": 32, "彩妆": 10, "茶叶": 58},
}
# Stage and type scale a customer's share of the orders; leads buy nothing.
_STAGE_WEIGHT = {
    Stage.NEW.value: 0.4, Stage.CONVERTED.value: 0.6, Stage.REPEAT.value: 1.4, Stage.MEMBER.value: 1.8,
    Stage.VIP.value: 4.0, Stage.CHURNED.value: 0.7,
}  # fmt: skip
_TYPE_WEIGHT = {
    CustomerType.WHOLESALER.value: 2.5,
    CustomerType.RETAILER.value: 1.6,
    CustomerType.COMPANY.value: 1.3,
}
PARETO_ALPHA = 1.2
# A Pareto draw is unbounded; past this a "customer" would order several times a day for three years.
PARETO_CAP = 60.0
CREDIT_SHARE = 0.25  # of wholesalers
# The hours Chinese shoppers buy (local time): a late-evening peak, few orders before dawn.
_HOURS = (0.9, 0.5, 0.25, 0.12, 0.08, 0.1, 0.2, 0.45, 0.7, 0.9, 1.1, 1.1,
          1.2, 1.1, 1.0, 1.0, 1.0, 0.95, 0.9, 1.1, 1.5, 1.7, 1.6, 1.2)  # fmt: skip
# Spring Festival (春节) moves with the lunar calendar; years outside the table have no 年货节 peak.
SPRING_FESTIVAL = {
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
}

# Plain strings, not the TextChoices members: cheaper to compare and to bind ten million times.
_PENDING, _PAID, _SHIPPED = OrderStatus.PENDING.value, OrderStatus.PAID.value, OrderStatus.SHIPPED.value
_DELIVERED, _COMPLETED = OrderStatus.DELIVERED.value, OrderStatus.COMPLETED.value
_CANCELLED, _CLOSED = OrderStatus.CANCELLED.value, OrderStatus.CLOSED.value
_COUNTED = frozenset(status.value for status in COUNTED_STATUSES)
_REFUND, _RETURN = AfterSaleKind.REFUND.value, AfterSaleKind.RETURN.value
_AS_COMPLETED = AfterSaleStatus.COMPLETED.value
_CREDIT = PaymentMethod.CREDIT.value
_WHOLESALER, _RETAILER = CustomerType.WHOLESALER.value, CustomerType.RETAILER.value
assert all(reason in AfterSaleReason.values for weights in _REASONS.values() for reason in weights)


def _seasons(day: date) -> tuple[float, int, bool]:
    """How busy ``day`` is (1 = an ordinary weekday), its promotion level (0 none, 1 pre-sale, 2 the
    festival itself) and whether gift boxes sell (the weeks before 春节)."""
    weight, promo, gifts = 1.0, 0, False
    if day.weekday() >= 5:
        weight *= 1.2
    month_day = (day.month, day.day)
    if month_day == (11, 11):
        weight, promo = weight * 10, 2
    elif (10, 20) <= month_day <= (11, 10):
        weight, promo = weight * 1.6, 1
    elif month_day == (11, 12):
        weight *= 1.8
    elif month_day == (12, 12):
        weight, promo = weight * 3, 2
    elif month_day == (6, 18):
        weight, promo = weight * 6, 2
    elif (6, 1) <= month_day <= (6, 17):
        weight, promo = weight * 1.7, 1
    elif month_day == (3, 8):
        weight, promo = weight * 2.5, 2
    elif month_day == (5, 20):
        weight *= 1.8
    for year in (day.year, day.year + 1):
        festival = SPRING_FESTIVAL.get(year)
        if festival is None:
            continue
        before = (festival - day).days
        if 3 <= before <= 25:  # 年货节: tea and gift boxes for the family
            weight, gifts = weight * 1.8, True
        elif -6 <= before <= 2:  # couriers stop for the holiday
            weight *= 0.35
    return weight, promo, gifts


class _Calendar:
    """Seconds since the epoch ↔ "demand time": one unit per ordinary day, more on festival days and at
    busy hours. A customer's purchases are spaced evenly in demand time and so crowd around 双11 and
    thin out at 4 a.m. in calendar time, without any per-order rejection sampling."""

    def __init__(self, *, start: datetime, now: datetime, zone: Any) -> None:
        first, last = start.astimezone(zone).date(), now.astimezone(zone).date()
        days = [first + timedelta(days=k) for k in range((last - first).days + 2)]
        self.starts = [int(datetime.combine(d, clock_time(), tzinfo=zone).timestamp()) for d in days]
        self.lengths = [b - a for a, b in zip(self.starts, self.starts[1:], strict=False)]
        self.dates = days[:-1]
        seasons = [_seasons(d) for d in self.dates]
        self.weights = [w for w, _p, _g in seasons]
        self.promo = [p for _w, p, _g in seasons]
        self.gifts = [g for _w, _p, g in seasons]
        self.cumulative = [0.0]
        for weight in self.weights:
            self.cumulative.append(self.cumulative[-1] + weight)
        total = sum(_HOURS)
        self.hour_weights = [h / total for h in _HOURS]
        self.hour_cumulative = [0.0]
        for weight in self.hour_weights:
            self.hour_cumulative.append(self.hour_cumulative[-1] + weight)
        self.now = int(now.timestamp())
        self.origin = self.starts[0]
        self.now_demand = self.demand(self.now)

    def day_of(self, moment: int) -> int:
        return min(bisect_right(self.starts, moment) - 1, len(self.weights) - 1)

    def demand(self, moment: int) -> float:
        day = self.day_of(max(moment, self.origin))
        into = (max(moment, self.origin) - self.starts[day]) / self.lengths[day] * 24
        hour = min(int(into), 23)
        fraction = self.hour_cumulative[hour] + self.hour_weights[hour] * (into - hour)
        return self.cumulative[day] + self.weights[day] * fraction

    def moment(self, demand: float) -> int:
        """The inverse of :meth:`demand`, to the second (rounded down, so never past ``now``)."""
        cumulative = self.cumulative
        day = min(max(bisect_right(cumulative, demand) - 1, 0), len(self.weights) - 1)
        fraction = min(max((demand - cumulative[day]) / self.weights[day], 0.0), 1.0)
        hours = self.hour_cumulative
        hour = min(bisect_right(hours, fraction) - 1, 23)
        into = hour + (fraction - hours[hour]) / self.hour_weights[hour]
        return min(self.starts[day] + int(into / 24 * self.lengths[day]), self.now)


# --- the references: catalogue and stores --------------------------------------------------------------


@dataclass
class _Catalogue:
    """The SKUs as the generator needs them, in catalogue order (an SKU is its index here)."""

    ids: list[int] = field(default_factory=list)
    product_ids: list[int] = field(default_factory=list)
    root_ids: list[int | None] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    prices: list[int] = field(default_factory=list)  # fen
    cycles: list[float] = field(default_factory=list)  # days until the customer needs more
    popularity: list[float] = field(default_factory=list)


def demo_catalogue_ensure() -> _Catalogue:
    """The demo categories, brands, products and SKUs, found or created (by name, and by SKU code)."""
    catalogue = _Catalogue()
    roots: dict[str, Category] = {}
    subs: dict[tuple[str, str], Category] = {}
    brands: dict[str, Brand] = {}
    numbers: dict[str, int] = {}
    for position, name in enumerate(_ROOTS):
        root = Category.objects.filter(parent=None, name=name).first()
        if root is None:
            root = Category.objects.create(name=name, path=name, position=position)
        if root.root_id != root.pk:
            Category.objects.filter(pk=root.pk).update(root=root)
            root.root_id = root.pk
        roots[name] = root
    for top, sub, brand_name, product_name, cycle, popularity, variants in _CATALOGUE:
        root = roots[top]
        category = root
        if sub:
            category = subs.get((top, sub)) or Category.objects.filter(parent=root, name=sub).first()
            if category is None:
                category = Category.objects.create(
                    name=sub, parent=root, root=root, path=f"{top}{SEPARATOR}{sub}", position=len(subs)
                )
            subs[(top, sub)] = category
        brand = brands.get(brand_name) or Brand.objects.get_or_create(name=brand_name)[0]
        brands[brand_name] = brand
        product = Product.objects.filter(name=product_name, category=category).first()
        if product is None:
            product = Product.objects.create(
                name=product_name, category=category, brand=brand, usage_cycle_days=cycle
            )
        numbers[top] = numbers.get(top, 0) + 1
        for index, variant in enumerate(variants.split("; ")):
            label, price, cost = variant.rsplit(" ", 2)
            colour, _bar, spec = label.rpartition("|")
            code = f"{_ROOTS[top]}{numbers[top]:03d}{chr(ord('A') + index)}"
            sku = Sku.objects.filter(code=code).first() or Sku.objects.create(
                product=product,
                code=code,
                color=colour,
                spec=spec,
                price_cny=Decimal(price),
                cost_cny=Decimal(cost),
            )
            # A code the shop already used for something else keeps that product, as order_create would.
            owner = product if sku.product_id == product.pk else sku.product
            owner_category = owner.category
            catalogue.ids.append(sku.pk)
            catalogue.product_ids.append(owner.pk)
            catalogue.root_ids.append(owner_category.root_id or owner_category.pk if owner_category else None)
            catalogue.roots.append(top)
            catalogue.titles.append(owner.name)
            catalogue.codes.append(sku.code)
            catalogue.variants.append(sku.variant)
            catalogue.prices.append(int(sku.price_cny * 100))
            # Tea ware and gift boxes do not run out; a customer comes back for something else.
            catalogue.cycles.append(float(owner.usage_cycle_days or 75))
            # The first variant (the small size) sells best.
            catalogue.popularity.append(popularity / (1 + 0.6 * index))
    return catalogue


def demo_stores_ensure() -> list[int]:
    """The demo stores (天猫旗舰店, 淘宝店, …), found or created by name; their ids in DEMO_STORES order."""
    ids = []
    for position, (name, platform) in enumerate(DEMO_STORES):
        store = Store.objects.get_or_create(
            name=name, defaults={"platform": platform, "position": position + 1}
        )[0]
        ids.append(store.pk)
    return ids


# --- who buys, what and when -------------------------------------------------------------------------


@dataclass
class _Buyers:
    """Per customer (by position in id order), what the order generator needs."""

    ids: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    home: bytearray = field(default_factory=bytearray)  # the store they mostly buy in
    trade: bytearray = field(default_factory=bytearray)  # 2 wholesaler, 1 retailer, 0 other
    credit: dict[int, tuple[int, int]] = field(default_factory=dict)  # → (terms, days paid after due)
    addresses: list[tuple[str, str, str, str, str, str] | None] = field(default_factory=list)
    owed: dict[int, int] = field(default_factory=dict)  # fen still owed on credit, filled by _batches


@dataclass
class _Plan:
    seed: int
    actor_id: Any
    catalogue: _Catalogue
    stores: list[int]
    buyers: _Buyers
    calendar: _Calendar
    # One integer per order, sorted: (second since the origin << shift) | (customer << 8) | main SKU.
    keys: list[int]
    shift: int
    ordering: list[int]  # ids of the customers who place orders


def _addresses_read() -> dict[int, tuple[str, str, str, str, str, str]]:
    """Each customer's default address in the clear, as ``order_create`` copies it. Decrypted with the
    keyring directly: the model field does the same per value, with a queryset's overhead around it
    that costs more than the AES at a million addresses."""
    ring = keyring()
    phone_context, detail_context = context_of(Address, "receiver_phone"), context_of(Address, "detail")
    quote = connection.ops.quote_name
    table = quote(Address._meta.db_table)
    columns = ", ".join(
        quote(Address._meta.get_field(name).column)
        for name in ("customer", "receiver", "receiver_phone", "province", "city", "district", "detail")
    )
    interned: dict[str, str] = {}
    found = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE {quote('is_default')}")  # noqa: S608
        while rows := cursor.fetchmany(20_000):
            for customer_id, receiver, phone, province, city, district, detail in rows:
                # A million addresses name a few thousand places: share the strings.
                province = interned.setdefault(province, province)
                city = interned.setdefault(city, city)
                district = interned.setdefault(district, district)
                found[customer_id] = (
                    receiver,
                    ring.decrypt(phone, context=phone_context) if phone else "",
                    province,
                    city,
                    district,
                    ring.decrypt(detail, context=detail_context) if detail else "",
                )
    return found


def _plan(*, count: int, seed: int, now: datetime, actor_id: Any) -> _Plan:
    """Decide, customer by customer, how many orders each places, what they mainly buy and when."""
    rng = random.Random(seed)
    random_ = rng.random
    calendar = _Calendar(start=now - timedelta(days=SPAN_DAYS), now=now, zone=timezone.get_default_timezone())
    churn_before = calendar.now - ShopSettings.read().stage_churn_days * DAY
    addresses = _addresses_read()
    store_pick = _Weighted(_STORE_WEIGHTS)
    buyers = _Buyers()
    starts: list[int] = []
    ends: list[int] = []
    weights: list[float] = []
    tastes: list[str] = []
    origin, span = calendar.origin, calendar.now - calendar.origin
    rows = Customer.objects.order_by("pk").values_list(
        "pk", "name", "created_at", "archived_at", "stage", "customer_type", "gender", "source__name"
    )
    for pk, name, created, archived, stage, kind, gender, source in rows.iterator(chunk_size=20_000):
        start = max(math.ceil(created.timestamp()), origin)
        end = min(int(archived.timestamp()), calendar.now) if archived else calendar.now
        weight = min(rng.paretovariate(PARETO_ALPHA), PARETO_CAP)
        if stage == Stage.CHURNED:
            # The daily churn task marked them: their last order is older than the shop's churn days.
            end = min(end, churn_before - int(random_() * 150 * DAY))
        if stage == Stage.LEAD or end < start:
            weight = 0.0
        else:
            weight *= _STAGE_WEIGHT.get(stage, 1.0) * _TYPE_WEIGHT.get(kind, 1.0)
            weight *= 0.1 + (end - start) / span
        home = _HOME_STORE.get(source or "", -1)
        if home < 0:
            home = store_pick.pick(random_)
        trade = 2 if kind == _WHOLESALER else 1 if kind == _RETAILER else 0
        if trade and random_() < 0.7:
            home = _WECHAT if random_() < 0.7 else _OFFLINE
        if trade == 2 and random_() < CREDIT_SHARE:
            home = _WECHAT if home != _OFFLINE else home
            terms = (30, 30, 45, 60)[int(random_() * 4)]
            # Most pay about on time; some let their debts run for months.
            late = int(random_() * 9) - 6 if random_() < 0.6 else 10 + int(random_() * 80)
            buyers.credit[len(buyers.ids)] = (terms, late)
        buyers.ids.append(pk)
        buyers.names.append(name)
        buyers.home.append(home)
        buyers.trade.append(trade)
        buyers.addresses.append(addresses.get(pk))
        starts.append(start)
        ends.append(end)
        weights.append(weight)
        tastes.append("trade" if trade else gender if gender in _TASTES else "")
    catalogue = demo_catalogue_ensure()
    orders = _orders_per_customer(rng, weights, count)
    keys, shift = _order_keys(rng, calendar, catalogue, orders, starts, ends, tastes)
    # Ids rise with time, as in a ledger that grew order by order.
    keys.sort()
    return _Plan(
        seed=seed,
        actor_id=actor_id,
        catalogue=catalogue,
        stores=demo_stores_ensure(),
        buyers=buyers,
        calendar=calendar,
        keys=keys,
        shift=shift,
        ordering=[buyers.ids[index] for index, n in enumerate(orders) if n],
    )


def _orders_per_customer(rng: random.Random, weights: list[float], count: int) -> list[int]:
    """How many orders each customer places, ``count`` in all: one for every buyer, the rest shared in
    proportion to their weight (rounded at random, then corrected to the exact total). With fewer
    orders than buyers, ``count`` buyers drawn at random place one each."""
    random_ = rng.random
    buyers = [index for index, weight in enumerate(weights) if weight > 0]
    orders = [0] * len(weights)
    if not buyers:
        return orders
    if count <= len(buyers):
        for index in rng.sample(buyers, count):
            orders[index] = 1
        return orders
    extra = count - len(buyers)
    total = sum(weights)
    for index in buyers:
        share = extra * weights[index] / total
        whole = int(share)
        orders[index] = 1 + whole + (random_() < share - whole)
    missing = count - sum(orders)
    pick = _Weighted({index: weights[index] for index in buyers})
    while missing > 0:
        orders[pick.pick(random_)] += 1
        missing -= 1
    while missing < 0:
        index = pick.pick(random_)
        if orders[index] > 1:
            orders[index] -= 1
            missing += 1
    return orders


def _order_keys(
    rng: random.Random,
    calendar: _Calendar,
    catalogue: _Catalogue,
    orders: list[int],
    starts: list[int],
    ends: list[int],
    tastes: list[str],
) -> tuple[list[int], int]:
    """Each customer's orders as sortable integers (see ``_Plan.keys``), and the shift used.

    What they buy: mostly from their favourite top category, and more and more often what they bought
    before (up to three staples). When: the first order right after they became a customer, each next
    one when the main product of the last runs out (its usage cycle, jittered); heavy buyers, whose
    cycles do not fit their time with the shop, buy faster in proportion, as people who stock up and
    buy gifts do, and light buyers keep their rhythm and stop, or spread out over the years."""
    random_ = rng.random
    roots = catalogue.roots
    by_root = {
        root: _Weighted({k: catalogue.popularity[k] for k in range(len(roots)) if roots[k] == root})
        for root in _ROOTS
    }
    any_sku = _Weighted(dict(enumerate(catalogue.popularity)))
    taste_pick = {taste: _Weighted(weights) for taste, weights in _TASTES.items()}
    # Usage varies by ±30% (lognormal), drawn from a table: cheaper than a draw per order.
    jitter = [math.exp(0.3 * rng.gauss(0, 1)) for _ in range(1024)]
    cycles = catalogue.cycles
    demand, moment, now_demand, origin = (
        calendar.demand,
        calendar.moment,
        calendar.now_demand,
        calendar.origin,
    )
    customer_bits = max(len(orders) - 1, 1).bit_length()
    shift = customer_bits + 8
    if (calendar.now - origin).bit_length() + shift > 63 or len(cycles) > 256:
        raise ValueError("Too many customers or SKUs for the demo's order keys.")
    keys: list[int] = []
    append = keys.append
    for index, count in enumerate(orders):
        if not count:
            continue
        favourite = by_root[taste_pick[tastes[index]].pick(random_)]
        staples: list[int] = []
        bought: list[int] = []
        gaps: list[float] = []
        for _ in range(count):
            if staples and random_() < 0.6:
                sku = staples[int(random_() * len(staples))]
            else:
                sku = favourite.pick(random_) if random_() < 0.65 else any_sku.pick(random_)
                if len(staples) < 3 and sku not in staples:
                    staples.append(sku)
            bought.append(sku)
            gaps.append(cycles[sku] * jitter[int(random_() * 1024)])
        first = min(demand(starts[index]) + random_() * 0.3, now_demand)
        room = min(demand(ends[index]), now_demand) - first
        needed = sum(gaps) - gaps[-1]
        if needed <= 0 or room <= 0:
            scale = 0.0
        elif needed > room:
            scale = room / needed * (0.85 + 0.15 * random_())
        else:
            scale = 1 + (room / needed - 1) * random_() ** 3
        position = first
        base = index << 8
        for sku, gap in zip(bought, gaps, strict=True):
            append(((moment(position) - origin) << shift) | base | sku)
            position += gap * scale
    return keys, shift


# --- the rows ----------------------------------------------------------------------------------------

_ORDER_FIELDS = [
    "id", "order_no", "store", "customer", "status", "ordered_at", "paid_at", "shipped_at", "delivered_at",
    "completed_at", "cancelled_at", "closed_at", "goods_cny", "shipping_cny", "discount_cny", "coupon_code",
    "coupon_cny", "total_cny", "paid_cny", "refund_reserved_cny", "refunded_cny", "payment_method",
    "delivery_method", "carrier", "tracking_no", "receiver_name", "receiver_phone", "ship_province",
    "ship_city", "ship_district", "ship_address", "buyer_message", "seller_notes", "credit_due_date",
    "credit_taken_cny", "credit_outstanding_cny", "version", "created_at", "updated_at", "created_by",
]  # fmt: skip
_LINE_FIELDS = [
    "id", "order", "sku", "product", "root_category", "title", "sku_code", "variant", "quantity",
    "unit_price_cny", "discount_cny", "amount_cny", "returned_quantity", "refunded_cny", "position",
    "customer", "counted",
]  # fmt: skip
_AFTERSALE_FIELDS = [
    "id", "order", "customer", "kind", "status", "reason", "reason_detail", "amount_cny",
    "return_tracking_no", "resolution_note", "requested_at", "resolved_at", "version", "created_by",
]  # fmt: skip
_AFTERSALE_LINE_FIELDS = ["aftersale", "line", "quantity", "amount_cny"]
_PAYMENT_FIELDS = ["customer", "amount_cny", "method", "received_at", "note", "created_by"]
# Positions in the rows above that the writer fills in: what only the database can give.
_ORDER_NO = _ORDER_FIELDS.index("order_no")
_QUANTITY, _RETURNED, _REFUNDED = (
    _LINE_FIELDS.index(f) for f in ("quantity", "returned_quantity", "refunded_cny")
)


@dataclass
class _Batch:
    orders: list[list[Any]] = field(default_factory=list)
    manual: list[list[Any]] = field(default_factory=list)  # orders of manual stores: numbered KB… on write
    lines: list[list[Any]] = field(default_factory=list)
    aftersales: list[list[Any]] = field(default_factory=list)
    # (after-sale, line) by position in this batch, quantity, amount.
    aftersale_lines: list[tuple[int, int, int, Any]] = field(default_factory=list)
    payments: list[tuple[Any, ...]] = field(default_factory=list)


def _insert_sql_converting(
    model: type[Model], fields: Sequence[str], *, constants: Sequence[str] = ()
) -> str:
    """``_insert_sql`` for rows that carry money in fen and times in seconds since the epoch: the
    database converts them (``x / 100.0``; SQLite's ``datetime(x, 'unixepoch')``, PostgreSQL's
    ``to_timestamp(x)``), which costs it less than building ten million ``Decimal`` and ``datetime``
    values costs Python. SQLite ends with what Django's own adapters store (money as numbers, times as
    naive UTC text), PostgreSQL with exact numerics and timestamps."""
    sql = insert_sql(model, [*fields, *constants])
    head, _values = sql.split(" VALUES ")
    sqlite = connection.vendor == "sqlite"
    if sqlite and str(connection.timezone) != "UTC":
        raise NotImplementedError("The demo writes SQLite times in UTC, as Django does with USE_TZ.")
    moment = "datetime(%s, 'unixepoch')" if sqlite else "to_timestamp(%s)"
    values = []
    for name in [*fields, *constants]:
        field_ = model._meta.get_field(name)
        if name in constants:
            values.append("%s")
        elif isinstance(field_, DecimalField):
            values.append("(%s / 100.0)")
        elif isinstance(field_, DateTimeField):
            values.append(moment)
        else:
            values.append("%s")
    return f"{head} VALUES ({', '.join(values)})"


def _batches(plan: _Plan, batch_size: int, order_ids: Sequence[int]) -> Iterator[_Batch]:
    """The rows of the planned orders in time order, batch by batch, drawn from the second stream.

    One long loop on purpose: at ten million orders every function call and attribute look-up in it
    costs seconds, so the tables it reads are bound to local names first."""
    r = random.Random(plan.seed * 7919 + 1).random
    catalogue, buyers, calendar = plan.catalogue, plan.buyers, plan.calendar
    sku_ids, product_ids, root_ids = catalogue.ids, catalogue.product_ids, catalogue.root_ids
    titles, codes, variants, prices = catalogue.titles, catalogue.codes, catalogue.variants, catalogue.prices
    roots = catalogue.roots
    by_root = {
        root: _Weighted({k: catalogue.popularity[k] for k in range(len(roots)) if roots[k] == root})
        for root in _ROOTS
    }
    any_sku, gift_skus = _Weighted(dict(enumerate(catalogue.popularity))), by_root["礼盒"]
    store_ids, store_pick = plan.stores, _Weighted(_STORE_WEIGHTS)
    payment_pick = {store: _Weighted(weights) for store, weights in _PAYMENTS.items()}
    carrier_sets = {name: _Weighted(weights) for name, weights in _CARRIER_WEIGHTS.items()}
    carrier_pick = [
        carrier_sets[name]
        for name in ("marketplace", "marketplace", "pinduoduo", "marketplace", "own", "own")
    ]
    reason_pick = {kind: _Weighted(weights) for kind, weights in _REASONS.items()}
    refund_rates = [_REFUND_RATE[store] for store in range(len(DEMO_STORES))]
    ids, names, homes, trades = buyers.ids, buyers.names, buyers.home, buyers.trade
    credit, addresses, owed = buyers.credit, buyers.addresses, buyers.owed
    sqlite = connection.vendor == "sqlite"
    ring = keyring()
    phone_context, address_context = context_of(Order, "receiver_phone"), context_of(Order, "ship_address")
    message_context, notes_context = context_of(Order, "buyer_message"), context_of(Order, "seller_notes")
    sealed: dict[int, tuple[str, str, str, str, str, str]] = {}
    no_address = ("", "", "", "", "", "")
    starts, promos, gift_days, dates = calendar.starts, calendar.promo, calendar.gifts, calendar.dates
    last_day = len(promos) - 1
    pdd_days = [f"{day:%y%m%d}" for day in dates]
    zone = timezone.get_default_timezone()
    now, origin, today = calendar.now, calendar.origin, dates[-1]
    actor_id, keys, shift = plan.actor_id, plan.keys, plan.shift
    customer_mask = (1 << (shift - 8)) - 1
    total = len(keys)
    for done in range(0, total, batch_size):
        batch = _Batch()
        orders_append, lines_append = batch.orders.append, batch.lines.append
        for position in range(done, min(done + batch_size, total)):
            key = keys[position]
            ordered = (key >> shift) + origin
            index = (key >> 8) & customer_mask
            main = key & 255
            order_id, customer_id = order_ids[position], ids[index]
            trade, terms = trades[index], credit.get(index)
            day = min(bisect_right(starts, ordered) - 1, last_day)
            promo = promos[day]
            on_credit = terms is not None and r() < 0.8
            store = homes[index] if on_credit or r() < 0.82 else store_pick.pick(r)
            marketplace, offline = store < _WECHAT, store == _OFFLINE

            # Lines: the main SKU, then what goes with it; trade buyers take cartons at trade prices.
            roll = r()
            if trade:
                count = 1 + (roll > 0.35) + (roll > 0.7) + (roll > 0.9)
            else:
                count = 1 + (roll > 0.62) + (roll > 0.88) + (roll > 0.96)
            chosen = [main]
            for _ in range(count - 1):
                extra = by_root[roots[main]].pick(r) if r() < 0.5 else any_sku.pick(r)
                if extra not in chosen:
                    chosen.append(extra)
            if gift_days[day] and not trade and len(chosen) < 4 and r() < 0.15:
                extra = gift_skus.pick(r)
                if extra not in chosen:
                    chosen.append(extra)
            line_rows: list[list[Any]] = []
            amounts: list[int] = []
            goods = 0
            for line_position, sku in enumerate(chosen):
                roll = r()
                if trade == 2:
                    quantity = 2 + int(roll * 19)
                elif trade:
                    quantity = 1 + int(roll * 5)
                elif roll < (0.58 if promo == 2 else 0.78):
                    quantity = 1
                else:
                    quantity = 2 if roll < 0.93 else 3 + int(r() * 3)
                price = prices[sku] * 70 // 100 if trade else prices[sku]
                discount = 0
                if promo and marketplace and r() < 0.6:
                    discount = quantity * price * (10 + int(r() * 11)) // 10000 * 100  # 10–20%, whole yuan
                amount = quantity * price - discount
                amounts.append(amount)
                goods += amount
                line_rows.append(
                    [
                        None, order_id, sku_ids[sku], product_ids[sku], root_ids[sku], titles[sku],
                        codes[sku], variants[sku], quantity, price, discount, amount, 0, 0, line_position,
                    ]
                )  # fmt: skip
            order_discount = min(goods // 30000 * 3000, goods // 2) if promo == 2 and marketplace else 0
            coupon_code, coupon = "", 0
            if r() < 0.1:
                code, value, minimum = _COUPONS[int(r() * len(_COUPONS))]
                if goods - order_discount >= max(minimum, 2 * value):
                    coupon_code, coupon = code, value
            shipping = 0
            if trade == 2 and goods >= 300000:
                shipping = 3000 + int(r() * 6) * 1000
            elif store == _TAOBAO and goods < 4900:
                shipping = 600
            elif store == _WECHAT and goods < 9900:
                shipping = 1000
            due = goods - order_discount - coupon + shipping
            delivery = "express"
            if offline:
                delivery = "pickup" if r() < 0.85 else "same_city"
            elif trade == 2 and goods >= 300000:
                delivery = "freight"

            # What happened to it: each step only once its time has come, so nothing is in the future.
            status = _PENDING
            paid_at = shipped_at = delivered_at = completed_at = cancelled_at = closed_at = None
            if not on_credit and r() < 0.03:  # never paid: closed by the platform, or still waiting
                wait = 1800 if marketplace else DAY * (1 + int(r() * 3))
                if ordered + wait <= now:
                    status, cancelled_at = _CANCELLED, ordered + wait
            else:
                paid_at = ordered
                if not (offline or on_credit):
                    paid_at += 5 + int(r() * (600 if marketplace else 7200))
                if paid_at <= now:
                    status = _PAID
                else:
                    paid_at = None
            refund_roll = r() if status == _PAID and not on_credit else 1.0
            refund_early = refund_roll < refund_rates[store] * 0.25
            if status == _PAID and not refund_early:
                if delivery == "pickup":
                    shipped_at = delivered_at = completed_at = paid_at
                else:
                    shipped_at = paid_at + 7200 + int(r() * 46 * 3600)
                    delivered_at = shipped_at + (
                        4 * 3600 if delivery == "same_city" else DAY + int(r() * 3 * DAY)
                    )
                    completed_at = delivered_at + DAY + int(r() * 8 * DAY)
                if shipped_at > now:
                    shipped_at = delivered_at = completed_at = None
                elif delivered_at > now:
                    status, delivered_at, completed_at = _SHIPPED, None, None
                elif completed_at > now:
                    status, completed_at = _DELIVERED, None
                else:
                    status = _COMPLETED
            carrier = tracking = ""
            if shipped_at is not None and delivery in ("express", "freight"):
                if delivery == "freight":
                    carrier, prefix, digits = _FREIGHT_CARRIERS[int(r() * len(_FREIGHT_CARRIERS))]
                else:
                    carrier = carrier_pick[store].pick(r)
                    prefix, digits = _CARRIERS[carrier]
                tracking = f"{prefix}{int(r() * 10**digits):0{digits}d}"

            # A completed refund: before shipping (all of it), or after delivery (a return of some or
            # all, or a partial refund). A line's units give back their share of what was paid for the
            # goods, as the services' default does (``aftersales.line_refund_bases``).
            refunded = 0
            kind = ""
            requested = resolved = 0
            returned: list[tuple[int, int, int]] = []  # (line, quantity, fen)
            spread: list[int] = []  # a refund naming no line: each line's fen of it
            if refund_early:
                requested = paid_at + 600 + int(r() * 20 * 3600)  # type: ignore[operator]
                resolved = requested + 300 + int(r() * 6 * 3600)
                if resolved <= now:
                    kind, refunded = _REFUND, due
                    worth = fen_shares(min(max(due - shipping, 0), goods), amounts)
                    for line, share in enumerate(worth):
                        returned.append((line, line_rows[line][_QUANTITY], share))
            elif delivered_at is not None and refund_roll < refund_rates[store] and goods:
                kind = _RETURN if r() < 0.55 else _REFUND
                requested = delivered_at + DAY // 2 + int(r() * 6 * DAY)
                resolved = requested + (
                    DAY + int(r() * 4 * DAY) if kind == _RETURN else 3600 + int(r() * 2 * DAY)
                )
                worth = fen_shares(min(max(due - shipping, 0), goods), amounts)
                if resolved > now:
                    kind = ""
                elif kind == _RETURN and r() < (0.6 if len(amounts) == 1 else 0.3):
                    refunded = due  # everything back, shipping included
                    for line, share in enumerate(worth):
                        returned.append((line, line_rows[line][_QUANTITY], share))
                elif kind == _RETURN or r() < 0.5:
                    line = int(r() * len(amounts))
                    quantity = line_rows[line][_QUANTITY]
                    if kind == _RETURN:
                        back = quantity if quantity == 1 or r() < 0.75 else 1 + int(r() * (quantity - 1))
                        share = worth[line] * back // quantity
                    else:  # refund only, for one damaged or faulty item
                        back, share = 1, worth[line] // quantity * (30 + int(r() * 71)) // 100
                    returned.append((line, back, share))
                    refunded = share
                else:  # 退差价: the price dropped after they bought; no line named, shared as a service would
                    refunded = min(due, max(100, due * (5 + int(r() * 16)) // 10000 * 100))
                    spread = fen_shares(min(refunded, goods), amounts)
                if kind and refunded <= 0:
                    kind, returned, spread = "", [], []
            if kind:
                aftersale = len(batch.aftersales)
                for line, quantity, share in returned:
                    if share > 0:
                        batch.aftersale_lines.append((aftersale, len(batch.lines) + line, quantity, share))
                        line_rows[line][_REFUNDED] = share
                        if kind == _RETURN:
                            line_rows[line][_RETURNED] = quantity
                for line, share in enumerate(spread):
                    line_rows[line][_REFUNDED] += share
                if refunded == due:
                    status, closed_at = _CLOSED, resolved
                    if completed_at is not None and completed_at > resolved:
                        completed_at = None
                reason = reason_pick[kind].pick(r)
                back_tracking = f"YT{int(r() * 10**13):013d}" if kind == _RETURN and carrier else ""
                batch.aftersales.append(
                    [
                        None, order_id, customer_id, kind, _AS_COMPLETED, reason, _REASON_DETAILS[reason],
                        refunded, back_tracking, "", requested, resolved, 1, actor_id,
                    ]
                )  # fmt: skip

            # On credit: due after the customer's terms, settled once their usual delay has passed
            # (so what is still owed is their latest debts, as payments settle the oldest first).
            due_date = None
            outstanding = 0
            method = ""
            if paid_at is not None and terms is not None and on_credit:
                method = _CREDIT
                due_day = dates[day] + timedelta(days=terms[0])
                due_date = due_day.isoformat() if sqlite else due_day
                settled_on = due_day + timedelta(days=terms[1])
                if settled_on <= today:
                    received = int(datetime.combine(settled_on, clock_time(10), tzinfo=zone).timestamp())
                    received = min(max(received + int(r() * 8 * 3600), paid_at), now)
                    batch.payments.append((customer_id, due, "bank_transfer", received, "", actor_id))
                else:
                    outstanding = due
                    owed[index] = owed.get(index, 0) + due
            elif paid_at is not None:
                method = payment_pick[store].pick(r)

            # The shipping address, sealed once per customer and shared by their orders.
            address = sealed.get(index)
            if address is None:
                plain = addresses[index]
                if plain is None:
                    address = no_address
                else:
                    receiver, phone, province, city, district, detail = plain
                    address = (
                        receiver or names[index],
                        ring.encrypt(phone, context=phone_context) if phone else "",
                        province,
                        city,
                        district,
                        ring.encrypt(detail, context=address_context) if detail else "",
                    )
                sealed[index] = address
            message = notes = ""
            if marketplace and r() < 0.04:
                message = ring.encrypt(
                    _BUYER_MESSAGES[int(r() * len(_BUYER_MESSAGES))], context=message_context
                )
            if r() < 0.01:
                notes = ring.encrypt(_SELLER_NOTES[int(r() * len(_SELLER_NOTES))], context=notes_context)

            # Each marketplace's own numbering, unique by the order id inside it, rising with time as
            # theirs do; manual stores get Kebu's KB… numbers when written.
            serial = int(r() * 1_000_000)
            if store == _PDD:
                order_no: str | None = f"{pdd_days[day]}-{order_id:09d}{serial:06d}"
            elif store == _DOUYIN:
                order_no = f"6{order_id:012d}{serial:06d}"
            elif marketplace:
                order_no = f"{3 + store}{order_id:012d}{serial:06d}"
            else:
                order_no = None
            updated = max(ordered, paid_at or 0, shipped_at or 0, delivered_at or 0, completed_at or 0)
            updated = max(updated, cancelled_at or 0, resolved if kind else 0)
            row = [
                order_id, order_no, store_ids[store], customer_id, status, ordered, paid_at, shipped_at,
                delivered_at, completed_at, cancelled_at, closed_at, goods, shipping, order_discount,
                coupon_code, coupon, due, 0 if paid_at is None else due, refunded, refunded, method, delivery,
                carrier, tracking, *address, message, notes, due_date, due if method == _CREDIT else 0,
                outstanding, 1, ordered, updated,
                actor_id,
            ]  # fmt: skip
            if order_no is None:
                batch.manual.append(row)
            orders_append(row)
            line_counted = status in _COUNTED
            for line_row in line_rows:
                line_row.extend((customer_id, line_counted))
                lines_append(line_row)
        yield batch


# --- writing ---------------------------------------------------------------------------------------------

_TABLES: tuple[type[Model], ...] = (Order, OrderLine, AfterSale, AfterSaleLine, CreditPayment)


def _constants(model: type[Model], fields: Sequence[str]) -> dict[str, Any]:
    """Any column added to ``model`` later gets its default (adapted once) rather than breaking the load."""
    return {
        f.name: f.get_db_prep_save(f.get_default(), connection)
        for f in model._meta.concrete_fields
        if f.name not in fields and not f.primary_key
    }


def _writer() -> Callable[[_Batch], tuple[int, int]]:
    """A function that writes one batch in the caller's transaction and returns (orders, lines)."""
    constants = {model: _constants(model, fields) for model, fields in (
        (Order, _ORDER_FIELDS), (OrderLine, _LINE_FIELDS), (AfterSale, _AFTERSALE_FIELDS),
        (AfterSaleLine, _AFTERSALE_LINE_FIELDS), (CreditPayment, _PAYMENT_FIELDS),
    )}  # fmt: skip

    def statement(model: type[Model], fields: list[str]) -> tuple[str, tuple[Any, ...]]:
        sql = _insert_sql_converting(model, fields, constants=list(constants[model]))
        return sql, tuple(constants[model].values())

    orders_sql, order_extra = statement(Order, _ORDER_FIELDS)
    lines_sql, line_extra = statement(OrderLine, _LINE_FIELDS)
    aftersales_sql, aftersale_extra = statement(AfterSale, _AFTERSALE_FIELDS)
    aftersale_lines_sql, aftersale_line_extra = statement(AfterSaleLine, _AFTERSALE_LINE_FIELDS)
    payments_sql, payment_extra = statement(CreditPayment, _PAYMENT_FIELDS)

    def write(batch: _Batch) -> tuple[int, int]:
        if batch.manual:
            first = sequence_next(name=ORDER_NO_SEQUENCE, count=len(batch.manual))
            for number, row in enumerate(batch.manual, start=first):
                row[_ORDER_NO] = f"KB{number:08d}"
        line_ids = ids_reserve(len(batch.lines), OrderLine)
        for line_id, row in zip(line_ids, batch.lines, strict=True):
            row[0] = line_id
        aftersale_ids = ids_reserve(len(batch.aftersales), AfterSale)
        for aftersale_id, row in zip(aftersale_ids, batch.aftersales, strict=True):
            row[0] = aftersale_id
        with connection.cursor() as cursor:
            for sql, rows, extra in (
                (orders_sql, batch.orders, order_extra),
                (lines_sql, batch.lines, line_extra),
                (aftersales_sql, batch.aftersales, aftersale_extra),
                (payments_sql, batch.payments, payment_extra),
            ):
                if rows:
                    cursor.executemany(sql, [(*row, *extra) for row in rows] if extra else rows)
            if batch.aftersale_lines:
                cursor.executemany(
                    aftersale_lines_sql,
                    [
                        (aftersale_ids[a], line_ids[line], quantity, amount, *aftersale_line_extra)
                        for a, line, quantity, amount in batch.aftersale_lines
                    ],
                )
        return len(batch.orders), len(batch.lines)

    return write


def _credit_lines_write(buyers: _Buyers) -> None:
    """Give the credit customers their terms and a limit above what they owe (rounded up to ¥10,000,
    at least ¥20,000), as a shop sets them before selling on credit."""
    rows = []
    for index, (terms, _late) in buyers.credit.items():
        owed = buyers.owed.get(index, 0)
        limit = max(2_000_000, -(-owed * 3 // 2 // 1_000_000) * 1_000_000)
        rows.append((Decimal(limit).scaleb(-2), terms, buyers.ids[index]))
    if rows:
        table = connection.ops.quote_name(Customer._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET credit_limit_cny = %s, payment_terms_days = %s WHERE id = %s",  # noqa: S608
                [
                    (str(limit) if connection.vendor == "sqlite" else limit, terms, pk)
                    for limit, terms, pk in rows
                ],
            )


@contextmanager
def _sqlite_rollback_journal() -> Iterator[None]:
    """Run the bulk load through a rollback journal rather than the WAL, when nobody else is using the
    database, and go back to WAL afterwards.

    In WAL mode every page of a transaction goes to the log first, and finding a page again means
    searching the log's index: rebuilding the indexes from a 9 GB uncommitted log took 165 s and
    reading it all once more twice as long again (10M orders). With a rollback journal the new pages go
    straight into the database file and only the few pages that existed before are journaled; the load
    stays one atomic transaction (synchronous=FULL for it, as SQLite advises outside WAL). Leaving WAL
    needs the database to itself: when another connection has it open, SQLite refuses and the load
    simply runs in WAL. The connections of a running Kebu put WAL back on opening, should the switch
    back fail."""
    with connection.cursor() as cursor:
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
        switched = False
        if mode == "wal":
            try:
                switched = cursor.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
            except OperationalError:
                switched = False
        if switched:
            cursor.execute("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        if switched:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA synchronous={int(synchronous)}")
                cursor.execute("PRAGMA journal_mode=WAL")


def _references_check(plan: _Plan) -> None:
    """Prove, inside the bulk transaction (SQLite's write lock is held from its first statement), that
    every row the load points at exists, so that no foreign key can dangle with enforcement off.

    The other references are to rows this load reserves (orders, lines, after-sales); these are the
    ones read before: customers, catalogue, stores and the actor, which someone could have deleted in
    between. Cheaper than ``foreign_key_check`` over 26M rows afterwards, and as complete."""
    expected = [
        (Customer, set(plan.ordering)),
        (Sku, set(plan.catalogue.ids)),
        (Product, set(plan.catalogue.product_ids)),
        (Category, set(plan.catalogue.root_ids) - {None}),
        (Store, set(plan.stores)),
    ]
    if plan.actor_id is not None:
        expected.append((get_user_model(), {plan.actor_id}))
    for model, ids in expected:
        found = set(model._base_manager.values_list("pk", flat=True).iterator(chunk_size=50_000))
        if not ids <= found:
            raise OrdersDemoError(
                f"{len(ids - found)} {model._meta.verbose_name_plural} were deleted while the demo "
                "orders were being prepared; run it again."
            )


def _bulk_path_possible(count: int) -> bool:
    """Whether to load with indexes built afterwards (see ``demo_orders_load``)."""
    if connection.vendor != "sqlite" or connection.in_atomic_block or count < BULK_PATH_FROM:
        return False
    return count >= Order.objects.count()


@dataclass
class DemoOrdersResult:
    orders: int
    lines: int
    customers_with_orders: int
    # Seconds per phase: plan, write, indexes, checks, commit, recompute (what the benchmark reports).
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def load_seconds(self) -> float:
        return sum(v for k, v in self.seconds.items() if k != "recompute")


class _Stopwatch:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.last
        self.last = now


def demo_orders_load(
    *,
    count: int,
    seed: int,
    actor: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> DemoOrdersResult:
    """Append ``count`` demo orders (with lines, refunds and credit payments) for the customers in the
    database, creating the demo catalogue and stores first, then rebuild every customer's figures
    with ``figures_recompute``. Safe on a database that already holds orders. ``progress`` is called
    with the number of orders written so far after each batch; ``now`` (default: the clock) is the
    latest moment an order may have.

    Writing goes as in the customer demo: batches of ``batch_size`` orders, one transaction each
    (PostgreSQL; SQLite for small loads or when adding fewer orders than the table holds), or on
    SQLite from ``BULK_PATH_FROM`` orders one transaction for the whole load (an error or a crash rolls
    all of it back, indexes included), with the five tables' secondary indexes dropped first and
    rebuilt at the end, foreign-key enforcement off and every reference proved at the start instead
    (``_references_check``), and through a rollback journal when the database is not in use
    (``_sqlite_rollback_journal``)."""
    # The load makes tens of millions of lists and tuples and no reference cycle; the cyclic collector
    # would walk every live one again and again as they pile up (a third of the time at 10M orders).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load(count, seed, actor, batch_size, progress, now)
    finally:
        if collecting:
            gc.enable()


def _load(
    count: int,
    seed: int,
    actor: Any,
    batch_size: int,
    progress: Callable[[int], None] | None,
    now: datetime | None,
) -> DemoOrdersResult:
    watch = _Stopwatch()
    now = (now or timezone.now()).replace(microsecond=0)
    with transaction.atomic():
        plan = _plan(count=count, seed=seed, now=now, actor_id=getattr(actor, "pk", None))
        order_ids = ids_reserve(len(plan.keys), Order)
    watch.lap("plan")
    write = _writer()
    written = lines = 0

    def step(batch: _Batch) -> None:
        nonlocal written, lines
        orders_done, lines_done = write(batch)
        written += orders_done
        lines += lines_done
        if progress is not None:
            progress(written)

    batches = _batches(plan, batch_size, order_ids)
    tables = [model._meta.db_table for model in _TABLES]
    if not (_bulk_path_possible(len(plan.keys)) and connection.disable_constraint_checking()):
        for batch in batches:
            with transaction.atomic():
                step(batch)
        with transaction.atomic():
            _credit_lines_write(plan.buyers)
        watch.lap("write")
    else:
        try:
            with _sqlite_rollback_journal(), transaction.atomic():
                _references_check(plan)
                indexes = _sqlite_indexes_drop(tables)
                for batch in batches:
                    step(batch)
                _credit_lines_write(plan.buyers)
                watch.lap("write")
                with connection.cursor() as cursor:
                    for sql in indexes:
                        cursor.execute(sql)
                watch.lap("indexes")
            watch.lap("commit")
        finally:
            connection.enable_constraint_checking()
    if connection.vendor == "postgresql":
        # Fresh statistics, or the planner keeps the estimates of an empty table until autovacuum.
        with connection.cursor() as cursor:
            for table in [*tables, Customer._meta.db_table]:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
        watch.lap("commit")
    figures_recompute(actor=actor)
    watch.lap("recompute")
    return DemoOrdersResult(
        orders=written,
        lines=lines,
        customers_with_orders=len(plan.ordering),
        seconds=watch.seconds,
    )
