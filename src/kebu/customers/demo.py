"""Demo customers for a cosmetics-and-tea shop: realistic zh_CN data in bulk, for trying Kebu out and
for the benchmarks in ``bench/``.

The loader writes straight to the tables with ``executemany`` in batches, one transaction per batch,
because the services' per-row path (validation, duplicate checks, one INSERT per child, an event)
would take hours for a million customers. What it must not skip is what the services guarantee
about the data: every derived and lookup column is filled by the same functions the services call
(``pinyin_keys``, ``phone_lookup``, ``phone_last4_lookup``, ``text_lookup``, ``customer_no_format`` on
the ``customer_no`` sequence), personal data is encrypted with the same keyring the model fields use,
and ``tests/test_demo.py`` recomputes them to prove it.

Deliberately left out, so that the load stays fast and the timeline honest:

- no ``CustomerEvent("customer.created")`` rows: a timeline entry claims a person created the
  customer, which is not true of demo data, and it would add a million rows nobody reads;
- no consents (a demo customer has given nobody permission to market to them), no custom-field
  values, no idempotency keys.

Determinism: everything generated comes from ``random.Random(seed)`` consumed customer by customer,
so the same seed gives the same names, phones, addresses… whatever the batch size, and loading
``n`` customers gives the first ``n`` of a larger load. Ids, customer numbers and times depend on
the database and the clock, not on the seed.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from faker.providers.person.zh_CN import Provider as ZhPerson

from kebu.accounts.roles import role_assign
from kebu.core import divisions
from kebu.core.bulk import column_of, ids_reserve, insert_sql
from kebu.core.crypto import context_of, keyring
from kebu.core.indexes import sqlite_indexes
from kebu.core.lookup import phone_last4_lookup, phone_lookup, text_lookup
from kebu.core.services import sequence_next
from kebu.core.text import pinyin_keys
from kebu.customers.models import (
    Address,
    Customer,
    CustomerPhone,
    CustomerType,
    Gender,
    SocialAccount,
    SocialKind,
    SourceChannel,
    Stage,
    Tag,
    TagColor,
)
from kebu.customers.services import CUSTOMER_NO_SEQUENCE, customer_no_format, region_of

DEFAULT_BATCH_SIZE = 5000
# From this many customers (and no fewer than the table holds) SQLite loads in one transaction and
# builds the indexes afterwards; see demo_customers_load.
BULK_PATH_FROM = 20_000

DEMO_TAGS: dict[str, str] = {
    "敏感肌": TagColor.PINK,
    "茶友": TagColor.GREEN,
    "老客户": TagColor.BLUE,
    "批发": TagColor.ORANGE,
    "团购": TagColor.TEAL,
    "爱砍价": TagColor.RED,
    "需回访": TagColor.PURPLE,
    "学生": TagColor.GRAY,
    "宝妈": TagColor.PINK,
    "送礼": TagColor.ORANGE,
}
# (username, display name): created once, with unusable passwords, so nobody can log in as them.
DEMO_STAFF = [
    ("demo_sales1", "小李"),
    ("demo_sales2", "小张"),
    ("demo_sales3", "小陈"),
    ("demo_service1", "阿芳"),
]

# A name pool rather than a fresh name per row: pinyin_keys costs ~80 µs per distinct name, which
# for a million distinct names would be most of the time budget. 50,000 names drawn with the
# surname frequencies still gives realistic repeats (there are ~300,000 张伟 in China).
NAME_POOL_SIZE = 50_000
COMPANY_POOL_SIZE = 2_000

# Plain strings, not the TextChoices members: cheaper to compare and to bind a million times.
_MOBILE, _WORK = CustomerPhone.Label.MOBILE.value, CustomerPhone.Label.WORK.value
_COMPANY, _WHOLESALER = CustomerType.COMPANY.value, CustomerType.WHOLESALER.value
_WECHAT, _TAOBAO, _QQ = SocialKind.WECHAT.value, SocialKind.TAOBAO.value, SocialKind.QQ.value
_XIAOHONGSHU, _DOUYIN = SocialKind.XIAOHONGSHU.value, SocialKind.DOUYIN.value

_SOURCE_WEIGHTS = {
    "淘宝": 25, "天猫": 10, "京东": 6, "拼多多": 10, "抖音": 12, "微信": 15,
    "小红书": 8, "线下": 5, "转介绍": 4, "官网": 2, "其他": 3,
}  # fmt: skip
_TYPE_WEIGHTS = {
    CustomerType.INDIVIDUAL: 88, CustomerType.RETAILER: 5,
    CustomerType.WHOLESALER: 4, CustomerType.COMPANY: 3,
}  # fmt: skip
_STAGE_WEIGHTS = {
    Stage.LEAD: 10, Stage.NEW: 25, Stage.CONVERTED: 20, Stage.REPEAT: 20,
    Stage.MEMBER: 12, Stage.VIP: 5, Stage.CHURNED: 8,
}  # fmt: skip
_TAG_WEIGHTS = {
    "老客户": 20, "需回访": 16, "敏感肌": 14, "茶友": 14, "送礼": 10,
    "爱砍价": 8, "宝妈": 8, "学生": 6, "团购": 5, "批发": 2,
}  # fmt: skip
# Population in millions (2020 census), raised for the coastal provinces and big cities where an
# online cosmetics-and-tea shop sells most.
_PROVINCE_WEIGHTS = {
    "广东省": 126 * 2.2, "浙江省": 65 * 2.4, "江苏省": 85 * 2.0, "上海市": 25 * 3.0, "北京市": 22 * 3.0,
    "山东省": 101 * 1.2, "福建省": 41 * 1.5, "四川省": 84, "河南省": 99, "湖北省": 58, "湖南省": 66,
    "河北省": 74, "安徽省": 61, "天津市": 14 * 1.5, "重庆市": 32 * 1.2, "辽宁省": 43, "陕西省": 40,
    "江西省": 45, "广西壮族自治区": 50, "云南省": 47, "贵州省": 39, "山西省": 35, "黑龙江省": 31,
    "吉林省": 24, "内蒙古自治区": 24, "新疆维吾尔自治区": 26 * 0.6, "甘肃省": 25 * 0.7, "海南省": 10,
    "宁夏回族自治区": 7, "青海省": 6 * 0.7, "西藏自治区": 4 * 0.5,
}  # fmt: skip
_BIG_CITIES = {
    "深圳市": 5, "广州市": 5, "杭州市": 5, "苏州市": 4, "南京市": 4, "宁波市": 3, "成都市": 5, "武汉市": 4,
    "青岛市": 3, "厦门市": 3, "东莞市": 3, "佛山市": 3, "温州市": 2, "无锡市": 2, "长沙市": 3, "郑州市": 3,
    "西安市": 3, "济南市": 3, "合肥市": 3, "福州市": 2, "大连市": 2, "沈阳市": 2, "昆明市": 2,
}  # fmt: skip
# "Directly administered county-level areas" and Chongqing's "县" are real entries but rarely what a
# customer writes. A municipality's only city level is "市辖区", as the address form offers it; the
# customer's derived city is then the municipality (services.region_of).
_RARE_CITY_LEVELS = {"省直辖县级行政区划", "自治区直辖县级行政区划", "县"}

_MOBILE_PREFIXES = {
    **{str(p): 3 for p in range(130, 140)},
    **{str(p): 2 for p in (150, 151, 152, 153, 155, 156, 157, 158, 159)},
    **{str(p): 1 for p in (170, 171, 173, 175, 176, 177, 178)},
    **{str(p): 3 for p in range(180, 190)},
    **{str(p): 1 for p in (191, 193, 195, 198, 199)},
}
_STREETS = [
    "文三路", "文二西路", "教工路", "天目山路", "延安路", "解放路", "人民路", "中山路", "建设路", "长江路",
    "黄河路", "和平路", "新华路", "学院路", "科技路", "滨江大道", "世纪大道", "南京东路", "淮海中路",
    "建国路", "朝阳北路", "深南大道", "华强北路", "天河路", "体育西路", "珠江路", "北京西路", "湖滨路",
    "东风路", "五一路", "红旗路", "幸福路", "光明路", "胜利路", "友谊路", "迎宾大道", "金沙江路", "创业路",
]  # fmt: skip
_ESTATES = [
    "阳光花园", "锦绣家园", "翠苑", "金色港湾", "绿城桂花园", "万科城", "保利花园", "碧桂园", "华润城",
    "滨江花园", "世纪新城", "东方名苑", "龙湖天街", "恒大名都", "紫金小区", "桃源新村",
]  # fmt: skip
_BUILDINGS = ["大厦", "中心", "广场", "商务楼", "创业园"]
_COMPANY_WORDS = [
    "茗香", "雅韵", "清韵", "佳人", "丽颜", "芳华", "馨悦", "御茶", "美妍", "素雅", "青禾", "云岭",
    "玉露", "兰亭", "花漾", "悦己", "臻品", "汇丰", "鸿运", "聚源",
]  # fmt: skip
_COMPANY_SUFFIXES = [
    "商贸有限公司",
    "贸易有限公司",
    "化妆品店",
    "茶行",
    "美容院",
    "百货商行",
    "电子商务有限公司",
]
_NICK_WORDS = [
    "爱喝茶的", "不熬夜的", "小仙女", "快乐的", "安静的", "努力的", "元气", "佛系", "追光的", "温柔的",
]  # fmt: skip
_NICK_NOUNS = ["小猫", "兔子", "鱼", "橘子", "柠檬", "茉莉", "桃桃", "小熊", "月亮", "芒果"]
_NOTES = [
    "喜欢乌龙茶，不爱太苦的。",
    "敏感肌，只用无香精款，推荐前先发成分表。",
    "每月初补货，提前一周微信提醒。",
    "双十一大客户，记得发优惠券。",
    "要开发票，抬头见上次订单。",
    "送礼为主，需要礼盒包装和贺卡。",
    "对快递要求高，只发顺丰。",
    "上次收到货有破损，已补发，注意包装。",
    "宝宝对花粉过敏，别推荐花茶。",
    "老客户介绍来的，给新人价。",
    "晚上九点后才方便回消息。",
    "喜欢普洱和白茶，收藏老茶。",
    "砍价厉害，底价不能再低。",
    "拿货做微商，按批发价。",
]
_EMAIL_DOMAINS = [
    ("qq.com", 50),
    ("163.com", 25),
    ("126.com", 10),
    ("foxmail.com", 5),
    ("sina.com", 5),
    ("gmail.com", 5),
]


class _Weighted:
    """Weighted choice by bisecting cumulative weights: ~10x faster than ``Random.choices`` per call."""

    def __init__(self, weights: Mapping[Any, float]) -> None:
        self.items = list(weights)
        self.cumulative: list[float] = []
        total = 0.0
        for item in self.items:
            total += weights[item]
            self.cumulative.append(total)
        self.total = total

    def pick(self, random_: Callable[[], float]) -> Any:
        return self.items[bisect(self.cumulative, random_() * self.total)]


@dataclass
class _References:
    """Ids of rows the customers point at, found or created before the load."""

    sources: dict[str, int]
    tags: dict[str, int]
    owners: list[int]


class _Generator:
    """Draws one customer's raw values at a time from a single ``Random(seed)`` stream."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.random = self.rng.random
        rng = self.rng
        surnames = _Weighted(dict(ZhPerson.last_names))
        male, female = list(ZhPerson.first_names_male), list(ZhPerson.first_names_female)
        anyone = list(ZhPerson.first_names)
        single = {id(names): [g for g in names if len(g) == 1] for names in (male, female, anyone)}
        self.people: list[tuple[str, str]] = []
        for _ in range(NAME_POOL_SIZE):
            roll = rng.random()
            gender, given = (
                (Gender.FEMALE.value, female)
                if roll < 0.62
                else (Gender.MALE.value, male)
                if roll < 0.92
                else ("", anyone)
            )
            # The provider's given names are 1 or 2 characters; two single ones make a modern name
            # (浩宇, 欣怡), never longer than two.
            first = rng.choice(given)
            if len(first) == 1 and rng.random() < 0.55:
                first += rng.choice(single[id(given)])
            name = surnames.pick(rng.random) + first
            self.people.append((name, gender))
        self.surnames = surnames
        self.companies = [
            rng.choice(["杭州", "广州", "深圳", "上海", "义乌", "泉州", "苏州", "成都"])
            + rng.choice(_COMPANY_WORDS)
            + rng.choice(_COMPANY_SUFFIXES)
            for _ in range(COMPANY_POOL_SIZE)
        ]
        self.source = _Weighted(_SOURCE_WEIGHTS)
        self.customer_type = _Weighted({kind.value: weight for kind, weight in _TYPE_WEIGHTS.items()})
        self.stage = _Weighted({stage.value: weight for stage, weight in _STAGE_WEIGHTS.items()})
        self.tag = _Weighted(_TAG_WEIGHTS)
        self.prefix = _Weighted(_MOBILE_PREFIXES)
        self.email_domain = _Weighted(dict(_EMAIL_DOMAINS))
        self.province = _Weighted(
            {p: w for p, w in _PROVINCE_WEIGHTS.items() if p in set(divisions.provinces())}
        )
        self.cities: dict[str, _Weighted] = {}
        self.districts: dict[tuple[str, str], list[str]] = {}
        for province in divisions.provinces():
            names = divisions.cities(province)
            ordered = [
                c["name"] for p in divisions.tree() if p["name"] == province for c in p.get("children", [])
            ]
            weights = {}
            for position, city in enumerate(ordered):
                # The first city listed is the provincial capital.
                weights[city] = (
                    0.05 if city in _RARE_CITY_LEVELS else _BIG_CITIES.get(city, 3 if position == 0 else 1)
                )
            self.cities[province] = _Weighted(weights)
            for city in names:
                self.districts[(province, city)] = divisions.districts(province, city)

    # --- small parts ------------------------------------------------------------------------------
    # ``seq[int(random() * len(seq))]`` rather than ``Random.choice``/``randint``: a third of the cost,
    # and at a million customers the generator is half the load time.

    def one(self, items: Sequence[Any]) -> Any:
        return items[int(self.random() * len(items))]

    def number(self, low: int, high: int) -> str:
        return str(low + int(self.random() * (high - low + 1)))

    def mobile(self) -> str:
        """An 11-digit mainland mobile number on a prefix that is really in use."""
        return self.prefix.pick(self.random) + f"{int(self.random() * 100_000_000):08d}"

    def region(self) -> tuple[str, str, str]:
        province = self.province.pick(self.random)
        city = self.cities[province].pick(self.random)
        districts = self.districts[(province, city)]
        return province, city, self.one(districts) if districts else ""

    def street(self) -> str:
        random_ = self.random
        road = f"{self.one(_STREETS)}{int(random_() * 999) + 1}号"
        roll = random_()
        if roll < 0.55:
            room = (int(random_() * 30) + 1) * 100 + int(random_() * 4) + 1
            return f"{road} {int(random_() * 30) + 1}栋{int(random_() * 4) + 1}单元{room}"
        if roll < 0.85:
            room = (int(random_() * 33) + 1) * 100 + int(random_() * 6) + 1
            return f"{road}{self.one(_ESTATES)}{int(random_() * 20) + 1}号楼{room}室"
        return f"{road}{self.one(_COMPANY_WORDS)}{self.one(_BUILDINGS)}{int(random_() * 28) + 2}楼"

    # --- one customer -------------------------------------------------------------------------------

    def customer(self, today: date) -> dict[str, Any]:
        """Raw values of one customer; lookups and derived columns are computed by the caller."""
        random_ = self.random
        customer_type = self.customer_type.pick(self.random)
        if customer_type == _COMPANY and random_() < 0.6:
            name, gender = self.one(self.companies), ""
        else:
            name, gender = self.one(self.people)
            if random_() < 0.15:
                gender = ""  # not every merchant fills it in
        full, initials = pinyin_keys(name)
        source = self.source.pick(self.random)

        phones: list[tuple[str, str]] = []
        roll = random_()
        if roll < 0.98:  # the rest came in through WeChat or a marketplace without a phone
            phones.append((self.mobile(), _MOBILE))
            if roll < 0.06:
                second = self.mobile()
                if second != phones[0][0]:
                    label = _WORK if random_() < 0.5 else _MOBILE
                    phones.append((second, label))

        addresses: list[tuple[str, str, str, str, str, str]] = []
        roll = random_()
        for _ in range(0 if roll < 0.05 else 2 if roll < 0.12 else 1):
            province, city, district = self.region()
            if random_() < 0.8 or customer_type == _COMPANY:
                receiver, receiver_phone = name[:50], phones[0][0] if phones else ""
            else:  # sent to a family member or a friend
                receiver, receiver_phone = self.one(self.people)[0], self.mobile()
            addresses.append((province, city, district, self.street(), receiver, receiver_phone))

        socials: list[tuple[str, str]] = []
        if random_() < 0.6:
            roll = random_()
            if roll < 0.45:
                handle = "wxid_" + format(self.rng.getrandbits(56), "014x")
            elif roll < 0.85:
                handle = f"{full[:16] or 'wx'}{'_' if random_() < 0.3 else ''}{self.number(1, 9999)}"
            else:
                handle = f"{initials or 'wx'}{self.number(1970, 2008)}{self.one(('', 'a', 'x', 'zz'))}"
            socials.append((_WECHAT, handle))
        if random_() < (0.8 if source in ("淘宝", "天猫") else 0.12):
            roll = random_()
            if roll < 0.4:
                handle = "tb" + self.number(1_000_000_000, 9_999_999_999)
            elif roll < 0.75:
                handle = self.one(_NICK_WORDS) + self.one(_NICK_NOUNS) + self.number(1, 999)
            else:
                handle = f"{full[:12] or 'tb'}_{self.number(10, 99999)}"
            socials.append((_TAOBAO, handle))
        if random_() < (0.85 if source == "小红书" else 0.08):
            # The default nickname, or the numeric 小红书号.
            handle = (
                "小红薯" + format(self.rng.getrandbits(32), "08X")
                if random_() < 0.5
                else self.number(100_000_000, 9_999_999_999)
            )
            socials.append((_XIAOHONGSHU, handle))
        if source == "抖音" and random_() < 0.6:
            socials.append((_DOUYIN, "dy" + format(self.rng.getrandbits(40), "010x")))
        if random_() < 0.04:
            socials.append((_QQ, self.number(10_000_000, 3_999_999_999)))

        tags: list[str] = []
        if customer_type == _WHOLESALER and random_() < 0.8:
            tags.append("批发")
        for _ in range(bisect((0.40, 0.72, 0.90), random_())):  # 0–3 tags: 40%, 32%, 18%, 10%
            tag = self.tag.pick(self.random)
            if tag not in tags and len(tags) < 3:
                tags.append(tag)

        birthday = None
        lunar = False
        if random_() < 0.5:
            roll = random_()
            # Mostly 20–35, as a cosmetics shop's buyers are; at least 18, so never in the future.
            age = (
                20 + int(roll * 16)
                if roll < 0.6
                else 36 + int(random_() * 20)
                if roll < 0.92
                else 18 + int(random_() * 50)
            )
            birthday = date(today.year - age, 1, 1) + timedelta(days=int(random_() * 365))
            lunar = random_() < 0.12

        email = ""
        if random_() < 0.2:
            domain = self.email_domain.pick(self.random)
            if domain == "qq.com" or not full:
                local = self.number(10_000, 3_999_999_999)
            else:
                local = f"{full[:20]}{self.number(1, 9999) if random_() < 0.8 else ''}"
            email = f"{local}@{domain}"

        return {
            "name": name,
            "gender": gender,
            "customer_type": customer_type,
            "stage": self.stage.pick(self.random),
            "source": source,
            "phones": phones,
            "addresses": addresses,
            "socials": socials,
            "tags": tags,
            "birthday": birthday,
            "birthday_is_lunar": lunar,
            "email": email,
            "notes": self.one(_NOTES) if random_() < 0.12 else "",
            "owner_roll": random_(),  # < 0.8: owned, the owner chosen from the roll
            "created_jitter": random_(),
            "updated_roll": random_(),
            "archived_roll": random_(),
            "referrer_roll": random_(),
        }


def _references() -> _References:
    """The source channels (seeded by migration), the demo tags and the demo staff, found or created."""
    sources = {}
    for position, name in enumerate(_SOURCE_WEIGHTS):
        sources[name] = SourceChannel.objects.get_or_create(name=name, defaults={"position": position})[0].pk
    tags = {
        name: Tag.objects.get_or_create(name=name, defaults={"color": color})[0].pk
        for name, color in DEMO_TAGS.items()
    }
    User = get_user_model()
    owners = []
    for username, display_name in DEMO_STAFF:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, display_name=display_name, is_active=True)
            user.set_unusable_password()
            user.save()
            # Sales staff, so that an admin who gives one a password can see Kebu as they would.
            role_assign(user=user, key="sales")
        owners.append(user.pk)
    return _References(sources=sources, tags=tags, owners=owners)


# --- rows ----------------------------------------------------------------------------------------------

_CUSTOMER_FIELDS = [
    "id", "customer_no", "name", "name_pinyin", "name_initials", "gender", "birthday", "birthday_is_lunar",
    "email", "email_lookup", "customer_type", "stage", "source", "referrer", "owner", "notes", "province",
    "city", "primary_phone", "archived_at", "version", "created_at", "updated_at", "created_by", "updated_by",
]  # fmt: skip
_PHONE_FIELDS = ["customer", "number", "number_lookup", "last4_lookup", "label", "position"]
_ADDRESS_FIELDS = ["customer", "province", "city", "district", "detail", "receiver", "receiver_phone"]
_ADDRESS_FIELDS.append("is_default")
_SOCIAL_FIELDS = ["customer", "kind", "kind_label", "handle", "handle_lookup"]
_TAG_FIELDS = ["customer", "tag"]


@dataclass(frozen=True)
class _Plan:
    """Everything fixed before the first row: references, reserved keys, the time span."""

    seed: int
    refs: _References
    actor_id: Any
    ids: Sequence[int]
    numbers: Sequence[str]
    start: datetime  # creation times rise with the ids from here to ``now``, as in a real ledger
    now: datetime
    today: date
    # SQLite stores datetimes as naive text in the connection's zone (``start`` and ``now`` are
    # already in it) and dates as ISO text, as its ``adapt_*_value`` do, minus their per-call settings
    # look-ups; PostgreSQL takes the objects.
    text_datetimes: bool
    # Any Customer column added later gets its default (adapted once) rather than breaking the load.
    constants: tuple[Any, ...]


@dataclass
class _Batch:
    customers: list[tuple[Any, ...]]
    phones: list[tuple[Any, ...]]
    addresses: list[tuple[Any, ...]]
    socials: list[tuple[Any, ...]]
    tags: list[tuple[int, int]]


def _batches(plan: _Plan, batch_size: int) -> Iterator[_Batch]:
    """The load's rows, batch by batch, from one ``Random(seed)`` stream, with every derived and
    lookup column filled the way ``customers.services`` fills it."""
    generator = _Generator(plan.seed)
    refs, now, actor_id, text = plan.refs, plan.now, plan.actor_id, plan.text_datetimes
    ids, numbers, constants, owners = plan.ids, plan.numbers, plan.constants, refs.owners
    count = len(ids)
    step = (plan.now - plan.start).total_seconds() / count
    ring = keyring()

    def seal(model: type[Model], field_name: str) -> Callable[[str], str]:
        context = context_of(model, field_name)
        return lambda value: ring.encrypt(value, context=context) if value else value

    seal_email, seal_notes = seal(Customer, "email"), seal(Customer, "notes")
    seal_primary, seal_number = seal(Customer, "primary_phone"), seal(CustomerPhone, "number")
    seal_detail, seal_receiver = seal(Address, "detail"), seal(Address, "receiver_phone")
    seal_handle = seal(SocialAccount, "handle")
    done = 0
    while done < count:
        size = min(batch_size, count - done)
        batch = _Batch(customers=[], phones=[], addresses=[], socials=[], tags=[])
        for index in range(done, done + size):
            raw = generator.customer(plan.today)
            customer_id = ids[index]
            created = plan.start + timedelta(seconds=step * (index + raw["created_jitter"]))
            updated = created
            if raw["updated_roll"] < 0.3:
                updated = created + (now - created) * raw["updated_roll"] / 0.3
            archived = updated if raw["archived_roll"] < 0.01 else None
            name, email, birthday = raw["name"], raw["email"], raw["birthday"]
            name_pinyin, name_initials = pinyin_keys(name)
            owner_roll = raw["owner_roll"]
            owner = owners[int(owner_roll / 0.8 * len(owners))] if owner_roll < 0.8 else None
            referrer = None
            if raw["source"] == "转介绍" and index > 0:
                referrer = ids[int(raw["referrer_roll"] * index)]
            province = city = ""
            for position, address in enumerate(raw["addresses"]):
                prov, cty, district, detail, receiver, receiver_phone = address
                if position == 0:
                    province, city = region_of(prov, cty)
                receiver_e164 = "+86" + receiver_phone if receiver_phone else ""
                batch.addresses.append(
                    (
                        customer_id,
                        prov,
                        cty,
                        district,
                        seal_detail(detail),
                        receiver,
                        seal_receiver(receiver_e164),
                        position == 0,
                    )
                )
            primary = ""
            for position, (national, label) in enumerate(raw["phones"]):
                e164 = "+86" + national
                if position == 0:
                    primary = e164
                batch.phones.append(
                    (
                        customer_id,
                        seal_number(e164),
                        phone_lookup(e164),
                        phone_last4_lookup(national),
                        label,
                        position,
                    )
                )
            for kind, handle in raw["socials"]:
                batch.socials.append((customer_id, kind, "", seal_handle(handle), text_lookup(handle)))
            for tag in raw["tags"]:
                batch.tags.append((customer_id, refs.tags[tag]))
            if text:
                created_db: Any = str(created.replace(tzinfo=None))
                updated_db: Any = created_db if updated is created else str(updated.replace(tzinfo=None))
                archived_db: Any = str(archived.replace(tzinfo=None)) if archived else None
                birthday_db: Any = birthday.isoformat() if birthday else None
            else:
                created_db, updated_db, archived_db, birthday_db = created, updated, archived, birthday
            batch.customers.append(
                (
                    customer_id, numbers[index], name, name_pinyin, name_initials, raw["gender"],
                    birthday_db, raw["birthday_is_lunar"], seal_email(email),
                    text_lookup(email) if email else "", raw["customer_type"], raw["stage"],
                    refs.sources[raw["source"]], referrer, owner, seal_notes(raw["notes"]), province, city,
                    seal_primary(primary), archived_db, 1, created_db, updated_db, actor_id, actor_id,
                    *constants,
                )
            )  # fmt: skip
        done += size
        yield batch


# --- keys ------------------------------------------------------------------------------------------------


def _reserve_numbers(count: int) -> list[str]:
    """``count`` customer numbers from the ``customer_no`` sequence (the one ``customer_create``
    uses), skipping any already taken (numbers kept from an imported sheet), as ``customer_no_next``
    does one at a time."""
    table = connection.ops.quote_name(Customer._meta.db_table)
    column = connection.ops.quote_name(column_of(Customer, "customer_no"))
    numbers: list[str] = []
    with connection.cursor() as cursor:
        while len(numbers) < count:
            need = count - len(numbers)
            first = sequence_next(name=CUSTOMER_NO_SEQUENCE, count=need)
            candidates = [customer_no_format(first + k) for k in range(need)]
            taken: set[str] = set()
            for start in range(0, need, 5000):
                # Plain SQL: the ORM spends longer preparing 5,000 parameters than the database answering.
                chunk = candidates[start : start + 5000]
                marks = ", ".join(["%s"] * len(chunk))
                query = f"SELECT {column} FROM {table} WHERE {column} IN ({marks})"  # noqa: S608
                cursor.execute(query, chunk)
                taken.update(row[0] for row in cursor.fetchall())
            numbers.extend(c for c in candidates if c not in taken)
    return numbers


# --- writing ---------------------------------------------------------------------------------------------


def _writer(constant_fields: Sequence[str]) -> Callable[[_Batch], None]:
    """A function that inserts one batch into the five tables, in the caller's transaction."""
    statements = [
        (insert_sql(Customer, [*_CUSTOMER_FIELDS, *constant_fields]), "customers"),
        (insert_sql(CustomerPhone, _PHONE_FIELDS), "phones"),
        (insert_sql(Address, _ADDRESS_FIELDS), "addresses"),
        (insert_sql(SocialAccount, _SOCIAL_FIELDS), "socials"),
        (insert_sql(Customer.tags.through, _TAG_FIELDS), "tags"),
    ]

    def write(batch: _Batch) -> None:
        with connection.cursor() as cursor:
            for sql, name in statements:
                cursor.executemany(sql, getattr(batch, name))

    return write


def _sqlite_indexes_drop(tables: Sequence[str]) -> list[str]:
    """Drop the secondary indexes of ``tables`` and return the SQL that recreates them exactly.

    Indexes SQLite made for UNIQUE clauses of the table itself (no SQL in sqlite_master) cannot be
    dropped and stay; they are filled in key order (ids, customer numbers), which is cheap."""
    with connection.cursor() as cursor:
        found = [index for table in tables for index in sqlite_indexes(cursor, table)]
        for index in found:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(index.name)}")
    return [index.sql for index in found]


def _bulk_path_possible(count: int) -> bool:
    """Whether to load with indexes built afterwards (see ``demo_customers_load``)."""
    if connection.vendor != "sqlite" or connection.in_atomic_block or count < BULK_PATH_FROM:
        return False
    return count >= Customer.objects.count()


def demo_customers_load(
    *,
    count: int,
    seed: int,
    actor: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Append ``count`` demo customers (with phones, addresses, social accounts and tags) and return
    how many were written. Safe on a database that already holds customers, and while the app runs.
    ``progress`` is called with the number written so far after each batch.

    Ids and customer numbers for the whole load are reserved first, in one short transaction:
    numbers from the ``customer_no`` sequence that ``customer_create`` uses (so customers created
    afterwards continue the numbering), ids from the table's own id sequence. A load that fails
    half-way leaves a gap in both, as any rolled-back insert does.

    Then two ways of writing, with the same rows:

    - Batches (PostgreSQL; SQLite for small loads or when adding fewer customers than the table
      holds): one transaction per ``batch_size`` customers, indexes and foreign keys checked as
      usual. A failure keeps the batches already committed.
    - Bulk (SQLite, at least ``BULK_PATH_FROM`` customers and no fewer than already exist): one
      transaction for the whole load, holding the write lock throughout. Foreign-key enforcement is
      switched off for it and proved afterwards with ``foreign_key_check`` (as Django's
      ``loaddata`` does); the secondary indexes of the five tables are dropped first and recreated
      from their own SQL at the end, because building an index from sorted data costs a fraction of
      keeping twenty of them up to date row by row. In one transaction a crash or an error rolls
      everything back, indexes included: the database is never left without them.
    """
    if count <= 0:
        return 0
    with transaction.atomic():
        refs = _references()
        ids = ids_reserve(count, Customer)
        numbers = _reserve_numbers(count)
    through = Customer.tags.through
    tables = [model._meta.db_table for model in (Customer, CustomerPhone, Address, SocialAccount, through)]
    now = timezone.now()
    start = now - timedelta(days=3 * 365)
    text_datetimes = connection.vendor == "sqlite"
    if text_datetimes:
        start, now = start.astimezone(connection.timezone), now.astimezone(connection.timezone)
    constants = {
        field.name: field.get_db_prep_save(field.get_default(), connection)
        for field in Customer._meta.concrete_fields
        if field.name not in _CUSTOMER_FIELDS
    }
    plan = _Plan(
        seed=seed,
        refs=refs,
        actor_id=getattr(actor, "pk", None),
        ids=ids,
        numbers=numbers,
        start=start,
        now=now,
        today=timezone.localdate(),
        text_datetimes=text_datetimes,
        constants=tuple(constants.values()),
    )
    write = _writer(list(constants))
    written = 0

    def step(batch: _Batch) -> None:
        nonlocal written
        write(batch)
        written += len(batch.customers)
        if progress is not None:
            progress(written)

    batches = _batches(plan, batch_size)
    if not (_bulk_path_possible(count) and connection.disable_constraint_checking()):
        for batch in batches:
            with transaction.atomic():
                step(batch)
    else:
        try:
            with transaction.atomic():
                indexes = _sqlite_indexes_drop(tables)
                for batch in batches:
                    step(batch)
                with connection.cursor() as cursor:
                    for sql in indexes:
                        cursor.execute(sql)
                connection.check_constraints(table_names=tables)
        finally:
            connection.enable_constraint_checking()

    if connection.vendor == "postgresql":
        # Fresh statistics, or the planner keeps the estimates of an empty table until autovacuum.
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return written
