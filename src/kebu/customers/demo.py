"""Demo customers for a cosmetics-and-tea shop: realistic zh_CN data in bulk, for trying Kebu out and
for the benchmarks in ``bench/``.

The loader writes straight to the tables with ``executemany`` in batches, one transaction per batch,
because the services' per-row path (validation, duplicate checks, one INSERT per child, an event)
would take hours for a million customers. What it must not skip is what the services guarantee
about the data: every derived and lookup column is filled by the same functions the services call
(``pinyin_keys``, ``phone_lookup``, ``phone_last4_lookup``, ``text_lookup``, ``customer_no_format`` on
the ``customer_no`` sequence), and ``tests/test_demo.py`` recomputes them to prove it.

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
import string
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from faker.providers.person.zh_CN import Provider as ZhPerson

from kebu.core import divisions
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
from kebu.customers.services import CUSTOMER_NO_SEQUENCE, customer_no_format

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
DEMO_STAFF = [("demo_sales1", "小李"), ("demo_sales2", "小张"), ("demo_sales3", "小陈"), ("demo_service1", "阿芳")]

# A name pool rather than a fresh name per row: pinyin_keys costs ~80 µs per distinct name, which
# for a million distinct names would be most of the time budget. 50,000 names drawn with the
# surname frequencies still gives realistic repeats (there are ~300,000 张伟 in China).
NAME_POOL_SIZE = 50_000
COMPANY_POOL_SIZE = 2_000

_SOURCE_WEIGHTS = {
    "淘宝": 25, "天猫": 10, "京东": 6, "拼多多": 10, "抖音": 12, "微信": 15,
    "小红书": 8, "线下": 5, "转介绍": 4, "官网": 2, "其他": 3,
}  # fmt: skip
_TYPE_WEIGHTS = {
    CustomerType.INDIVIDUAL: 88, CustomerType.RETAILER: 5, CustomerType.WHOLESALER: 4, CustomerType.COMPANY: 3,
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
# "Directly administered county-level areas" and Chongqing's "县" are real entries but no customer
# writes them; a municipality's only city level is "市辖区", which the address form also offers.
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
_COMPANY_SUFFIXES = ["商贸有限公司", "贸易有限公司", "化妆品店", "茶行", "美容院", "百货商行", "电子商务有限公司"]
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
_EMAIL_DOMAINS = [("qq.com", 50), ("163.com", 25), ("126.com", 10), ("foxmail.com", 5), ("sina.com", 5), ("gmail.com", 5)]
_ALNUM = string.ascii_lowercase + string.digits
_HEX = "0123456789ABCDEF"


class _Weighted:
    """Weighted choice by bisecting cumulative weights: ~10x faster than ``Random.choices`` per call."""

    def __init__(self, weights: dict[Any, float]) -> None:
        self.items = list(weights)
        self.cumulative: list[float] = []
        total = 0.0
        for item in self.items:
            total += weights[item]
            self.cumulative.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> Any:
        return self.items[bisect(self.cumulative, rng.random() * self.total)]


@dataclass
class _Person:
    name: str
    gender: str
    pinyin: str  # computed lazily by pinyin_keys, which caches; "" until first use


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
        rng = self.rng
        surnames = _Weighted(dict(ZhPerson.last_names))
        male, female = list(ZhPerson.first_names_male), list(ZhPerson.first_names_female)
        anyone = list(ZhPerson.first_names)
        single = {id(names): [g for g in names if len(g) == 1] for names in (male, female, anyone)}
        self.people: list[tuple[str, str]] = []
        for _ in range(NAME_POOL_SIZE):
            roll = rng.random()
            gender, given = (
                (Gender.FEMALE, female) if roll < 0.62 else (Gender.MALE, male) if roll < 0.92 else ("", anyone)
            )
            # The provider's given names are 1 or 2 characters; two single ones make a modern name
            # (浩宇, 欣怡), never longer than two.
            first = rng.choice(given)
            if len(first) == 1 and rng.random() < 0.55:
                first += rng.choice(single[id(given)])
            name = surnames.pick(rng) + first
            self.people.append((name, gender))
        self.surnames = surnames
        self.companies = [
            rng.choice(["杭州", "广州", "深圳", "上海", "义乌", "泉州", "苏州", "成都"])
            + rng.choice(_COMPANY_WORDS)
            + rng.choice(_COMPANY_SUFFIXES)
            for _ in range(COMPANY_POOL_SIZE)
        ]
        self.source = _Weighted(_SOURCE_WEIGHTS)
        self.customer_type = _Weighted(_TYPE_WEIGHTS)
        self.stage = _Weighted(_STAGE_WEIGHTS)
        self.tag = _Weighted(_TAG_WEIGHTS)
        self.prefix = _Weighted(_MOBILE_PREFIXES)
        self.email_domain = _Weighted(dict(_EMAIL_DOMAINS))
        self.province = _Weighted({p: w for p, w in _PROVINCE_WEIGHTS.items() if p in set(divisions.provinces())})
        self.cities: dict[str, _Weighted] = {}
        self.districts: dict[tuple[str, str], list[str]] = {}
        for province in divisions.provinces():
            names = divisions.cities(province)
            ordered = [c["name"] for p in divisions.tree() if p["name"] == province for c in p.get("children", [])]
            weights = {}
            for position, city in enumerate(ordered):
                # The first city listed is the provincial capital.
                weights[city] = 0.05 if city in _RARE_CITY_LEVELS else _BIG_CITIES.get(city, 3 if position == 0 else 1)
            self.cities[province] = _Weighted(weights)
            for city in names:
                self.districts[(province, city)] = divisions.districts(province, city)

    # --- small parts ----------------------------------------------------------------------------

    def mobile(self) -> str:
        """An 11-digit mainland mobile number on a prefix that is really in use."""
        return self.prefix.pick(self.rng) + f"{int(self.rng.random() * 100_000_000):08d}"

    def region(self) -> tuple[str, str, str]:
        rng = self.rng
        province = self.province.pick(rng)
        city = self.cities[province].pick(rng)
        districts = self.districts[(province, city)]
        return province, city, districts[int(rng.random() * len(districts))] if districts else ""

    def street(self) -> str:
        rng = self.rng
        road = f"{_STREETS[int(rng.random() * len(_STREETS))]}{int(rng.random() * 999) + 1}号"
        roll = rng.random()
        if roll < 0.55:
            unit = int(rng.random() * 4) + 1
            room = (int(rng.random() * 30) + 1) * 100 + int(rng.random() * 4) + 1
            return f"{road} {int(rng.random() * 30) + 1}栋{unit}单元{room}"
        if roll < 0.85:
            estate = _ESTATES[int(rng.random() * len(_ESTATES))]
            room = (int(rng.random() * 33) + 1) * 100 + int(rng.random() * 6) + 1
            return f"{road}{estate}{int(rng.random() * 20) + 1}号楼{room}室"
        word = _COMPANY_WORDS[int(rng.random() * len(_COMPANY_WORDS))]
        building = _BUILDINGS[int(rng.random() * len(_BUILDINGS))]
        return f"{road}{word}{building}{int(rng.random() * 28) + 2}楼"

    def digits(self, low: int, high: int) -> str:
        return str(self.rng.randint(low, high))

    # --- one customer ---------------------------------------------------------------------------

    def customer(self, today: date) -> dict[str, Any]:
        """Raw values of one customer; lookups and derived columns are computed by the caller."""
        rng = self.rng
        customer_type = self.customer_type.pick(rng)
        if customer_type == CustomerType.COMPANY and rng.random() < 0.6:
            name, gender = self.companies[int(rng.random() * len(self.companies))], ""
        else:
            name, gender = self.people[int(rng.random() * len(self.people))]
            if rng.random() < 0.15:
                gender = Gender.UNKNOWN  # not every merchant fills it in
        pinyin = pinyin_keys(name)[0]
        source = self.source.pick(rng)

        phones: list[tuple[str, str]] = []
        roll = rng.random()
        if roll < 0.98:
            phones.append((self.mobile(), CustomerPhone.Label.MOBILE))
            if roll < 0.06:
                second = self.mobile()
                if second != phones[0][0]:
                    label = CustomerPhone.Label.WORK if rng.random() < 0.5 else CustomerPhone.Label.MOBILE
                    phones.append((second, label))

        addresses: list[tuple[str, str, str, str, str, str]] = []
        roll = rng.random()
        count = 0 if roll < 0.05 else 2 if roll < 0.12 else 1
        for _ in range(count):
            province, city, district = self.region()
            if rng.random() < 0.8 or customer_type == CustomerType.COMPANY:
                receiver, receiver_phone = name[:50], phones[0][0] if phones else ""
            else:
                receiver = self.people[int(rng.random() * len(self.people))][0]
                receiver_phone = self.mobile()
            addresses.append((province, city, district, self.street(), receiver, receiver_phone))

        socials: list[tuple[str, str]] = []
        if rng.random() < 0.6:
            roll = rng.random()
            if roll < 0.45:
                handle = "wxid_" + "".join(rng.choice(_ALNUM) for _ in range(14))
            elif roll < 0.85:
                sep = "_" if rng.random() < 0.3 else ""
                handle = f"{pinyin[:16] or 'wx'}{sep}{self.digits(1, 9999)}"
            else:
                handle = f"{pinyin_keys(name)[1] or 'wx'}{self.digits(1970, 2008)}{rng.choice(['', 'a', 'x', 'zz'])}"
            socials.append((SocialKind.WECHAT, handle))
        if rng.random() < (0.8 if source in ("淘宝", "天猫") else 0.12):
            roll = rng.random()
            if roll < 0.4:
                handle = "tb" + self.digits(1_000_000_000, 9_999_999_999)
            elif roll < 0.75:
                handle = rng.choice(_NICK_WORDS) + rng.choice(_NICK_NOUNS) + self.digits(1, 999)
            else:
                handle = f"{pinyin[:12] or 'tb'}_{self.digits(10, 99999)}"
            socials.append((SocialKind.TAOBAO, handle))
        if rng.random() < (0.85 if source == "小红书" else 0.08):
            if rng.random() < 0.5:
                handle = "小红薯" + "".join(rng.choice(_HEX) for _ in range(8))
            else:
                handle = self.digits(100_000_000, 9_999_999_999)
            socials.append((SocialKind.XIAOHONGSHU, handle))
        if source == "抖音" and rng.random() < 0.6:
            socials.append((SocialKind.DOUYIN, "dy" + "".join(rng.choice(_ALNUM) for _ in range(10))))
        if rng.random() < 0.04:
            socials.append((SocialKind.QQ, self.digits(10_000_000, 3_999_999_999)))

        tag_count = int(bisect((0.40, 0.72, 0.90), rng.random()))
        tags: list[str] = []
        if customer_type == CustomerType.WHOLESALER and rng.random() < 0.8:
            tags.append("批发")
        for _ in range(tag_count):
            tag = self.tag.pick(rng)
            if tag not in tags and len(tags) < 3:
                tags.append(tag)

        birthday = None
        lunar = False
        if rng.random() < 0.5:
            age = 18 + int(rng.betavariate(2.0, 3.5) * 50)
            day_of_year = int(rng.random() * 365)
            # At least 18 years back, so never in the future and never older than the form allows.
            birthday = date(today.year - age, 1, 1) + timedelta(days=day_of_year)
            lunar = rng.random() < 0.12

        email = ""
        if rng.random() < 0.2:
            domain = self.email_domain.pick(rng)
            if domain == "qq.com" or not pinyin.isascii() or not pinyin:
                local = self.digits(10_000, 3_999_999_999)
            else:
                local = f"{pinyin[:20]}{self.digits(1, 9999) if rng.random() < 0.8 else ''}"
            email = f"{local}@{domain}"

        notes = _NOTES[int(rng.random() * len(_NOTES))] if rng.random() < 0.12 else ""
        owner_roll = rng.random()
        return {
            "name": name,
            "gender": gender,
            "customer_type": customer_type,
            "stage": self.stage.pick(rng),
            "source": source,
            "phones": phones,
            "addresses": addresses,
            "socials": socials,
            "tags": tags,
            "birthday": birthday,
            "birthday_is_lunar": lunar and birthday is not None,
            "email": email,
            "notes": notes,
            "owner_roll": owner_roll,  # < 0.8 means owned; which owner is chosen from the roll
            "created_jitter": rng.random(),
            "updated_roll": rng.random(),
            "archived_roll": rng.random(),
            "referrer_roll": rng.random(),
        }


def _references() -> _References:
    """The source channels (seeded by migration), the demo tags and the demo staff, found or created."""
    sources = {}
    for position, name in enumerate(_SOURCE_WEIGHTS):
        sources[name] = SourceChannel.objects.get_or_create(name=name, defaults={"position": position})[0].pk
    tags = {name: Tag.objects.get_or_create(name=name, defaults={"color": color})[0].pk for name, color in DEMO_TAGS.items()}
    User = get_user_model()
    owners = []
    for username, display_name in DEMO_STAFF:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, display_name=display_name, is_active=True)
            user.set_unusable_password()
            user.save()
        owners.append(user.pk)
    return _References(sources=sources, tags=tags, owners=owners)


def _insert_sql(model: type[Model], field_names: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in field_names)
    placeholders = ", ".join(["%s"] * len(field_names))
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"


def _customer_columns() -> tuple[list[str], dict[str, Any]]:
    """The customer columns the loader fills, and constants (field defaults, adapted once) for any
    other concrete field, so that a column added later with a default does not break the load."""
    filled = [
        "id", "customer_no", "name", "name_pinyin", "name_initials", "gender", "birthday", "birthday_is_lunar",
        "email", "email_lookup", "customer_type", "stage", "source", "referrer", "owner", "notes", "province",
        "city", "primary_phone", "archived_at", "version", "created_at", "updated_at", "created_by", "updated_by",
    ]  # fmt: skip
    constants = {
        field.name: field.get_db_prep_save(field.get_default(), connection)
        for field in Customer._meta.concrete_fields
        if field.name not in filled
    }
    return filled, constants


def _reserve_ids(cursor: Any, count: int) -> list[int]:
    """``count`` customer ids nobody else will use, taken inside the batch's transaction.

    PostgreSQL: drawn from the table's own identity sequence, so concurrent inserts from the app
    cannot collide with them and no ``setval`` is needed afterwards. SQLite: the batch holds the write
    lock (IMMEDIATE), so max(id) + 1 is safe; ``sqlite_sequence`` is consulted too because the table is
    AUTOINCREMENT and ids of deleted rows above max(id) must never come back."""
    table = Customer._meta.db_table
    if connection.vendor == "postgresql":
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
        )
        return sorted(row[0] for row in cursor.fetchall())
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}")
    top = cursor.fetchone()[0]
    if connection.vendor == "sqlite":
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        top = max(top, row[0] if row else 0)
    return list(range(top + 1, top + 1 + count))


def _reserve_numbers(count: int) -> list[str]:
    """``count`` customer numbers from the ``customer_no`` sequence, skipping any already taken
    (numbers kept from an imported sheet), as ``customer_no_next`` does one at a time."""
    numbers: list[str] = []
    while len(numbers) < count:
        need = count - len(numbers)
        first = sequence_next(name=CUSTOMER_NO_SEQUENCE, count=need)
        candidates = [customer_no_format(first + k) for k in range(need)]
        taken = set(Customer.objects.filter(customer_no__in=candidates).values_list("customer_no", flat=True))
        numbers.extend(c for c in candidates if c not in taken)
    return numbers


def _sqlite_indexes_drop(tables: Sequence[str]) -> list[str]:
    """Drop the secondary indexes of ``tables`` and return the SQL that recreates them exactly.

    Indexes SQLite made for UNIQUE clauses of the table itself (no SQL in sqlite_master) cannot be
    dropped and stay; they are filled in key order (ids, customer numbers), which is cheap."""
    with connection.cursor() as cursor:
        marks = ", ".join(["%s"] * len(tables))
        cursor.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})",
            list(tables),
        )
        found = cursor.fetchall()
        for name, _sql in found:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    return [sql for _name, sql in found]


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
    how many were written. Safe on a database that already holds customers. Customer numbers come
    from the same sequence as ``customer_create``, so customers created afterwards continue the
    numbering.

    Two ways of writing, with the same rows:

    - Batches (PostgreSQL; SQLite for small loads or when adding fewer customers than the table
      holds): one transaction per ``batch_size`` customers, indexes and foreign keys checked as
      usual. A failure loses the batch in flight only, with the numbers it reserved.
    - Bulk (SQLite, at least ``BULK_PATH_FROM`` customers and no fewer than already exist): one
      transaction for the whole load, holding the write lock throughout. Foreign-key enforcement is
      switched off for it and proved afterwards with ``foreign_key_check`` (as Django's
      ``loaddata`` does); the secondary indexes of the five tables are dropped first and recreated
      from their own SQL at the end, because building an index from sorted data is ~4x cheaper
      than keeping 20 indexes up to date row by row. Inside one transaction a crash or error
      rolls everything back, indexes included: the database is never left without them.
    """
    if count <= 0:
        return 0
    with transaction.atomic():
        refs = _references()
    through = Customer.tags.through
    tables = [model._meta.db_table for model in (Customer, CustomerPhone, Address, SocialAccount, through)]
    loader = _Loader(seed=seed, count=count, refs=refs, actor_id=getattr(actor, "pk", None))

    if not _bulk_path_possible(count) or not connection.disable_constraint_checking():
        written = 0
        while written < count:
            size = min(batch_size, count - written)
            with transaction.atomic():
                loader.batch(size)
            written += size
            if progress is not None:
                progress(written)
    else:
        try:
            with transaction.atomic():
                indexes = _sqlite_indexes_drop(tables)
                written = 0
                while written < count:
                    size = min(batch_size, count - written)
                    loader.batch(size)
                    written += size
                    if progress is not None:
                        progress(written)
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
    return count


class _Loader:
    """Turns generated customers into rows, batch by batch, with every derived column filled the way
    ``customers.services`` fills it."""

    def __init__(self, *, seed: int, count: int, refs: _References, actor_id: Any) -> None:
        self.generator = _Generator(seed)
        self.refs = refs
        self.actor_id = actor_id
        self.now = timezone.now()
        self.today = timezone.localdate()
        span_seconds = 3 * 365 * 86400
        # Creation times rise with the ids across the last three years, as in a real ledger.
        self.start = self.now - timedelta(seconds=span_seconds)
        self.step = span_seconds / count
        self.done = 0
        self.loaded_ids: list[int] = []
        filled, constants = _customer_columns()
        self.constant_values = tuple(constants.values())
        self.customer_sql = _insert_sql(Customer, filled + list(constants))
        self.phone_sql = _insert_sql(
            CustomerPhone, ["customer", "number", "number_lookup", "last4_lookup", "label", "position"]
        )
        self.address_sql = _insert_sql(
            Address, ["customer", "province", "city", "district", "detail", "receiver", "receiver_phone", "is_default"]
        )
        self.social_sql = _insert_sql(SocialAccount, ["customer", "kind", "kind_label", "handle", "handle_lookup"])
        self.tag_sql = _insert_sql(Customer.tags.through, ["customer", "tag"])

    def batch(self, size: int) -> None:
        """Write the next ``size`` customers; runs inside the caller's transaction."""
        adapt_dt = connection.ops.adapt_datetimefield_value
        adapt_date = connection.ops.adapt_datefield_value
        generator, refs, now, actor_id = self.generator, self.refs, self.now, self.actor_id
        owners, loaded_ids = refs.owners, self.loaded_ids
        customers, phones, addresses, socials, tags = [], [], [], [], []
        with connection.cursor() as cursor:
            numbers = _reserve_numbers(size)
            ids = _reserve_ids(cursor, size)
            for k in range(size):
                raw = generator.customer(self.today)
                customer_id = ids[k]
                created = self.start + timedelta(seconds=self.step * (self.done + k + raw["created_jitter"]))
                updated = created
                if raw["updated_roll"] < 0.3:
                    updated = created + (now - created) * raw["updated_roll"] / 0.3
                archived = adapt_dt(updated) if raw["archived_roll"] < 0.01 else None
                name = raw["name"]
                name_pinyin, name_initials = pinyin_keys(name)
                email = raw["email"]
                owner_roll = raw["owner_roll"]
                owner = owners[int(owner_roll / 0.8 * len(owners))] if owner_roll < 0.8 else None
                referrer = None
                if raw["source"] == "转介绍" and loaded_ids:
                    referrer = loaded_ids[int(raw["referrer_roll"] * len(loaded_ids))]
                province = city = ""
                for position, (prov, cty, district, detail, receiver, receiver_phone) in enumerate(raw["addresses"]):
                    if position == 0:
                        province, city = prov, cty
                    addresses.append(
                        (customer_id, prov, cty, district, detail, receiver,
                         "+86" + receiver_phone if receiver_phone else "", position == 0)
                    )  # fmt: skip
                primary = ""
                for position, (national, label) in enumerate(raw["phones"]):
                    e164 = "+86" + national
                    if position == 0:
                        primary = e164
                    phones.append(
                        (customer_id, e164, phone_lookup(e164), phone_last4_lookup(national), label, position)
                    )
                for kind, handle in raw["socials"]:
                    socials.append((customer_id, kind, "", handle, text_lookup(handle)))
                for tag in raw["tags"]:
                    tags.append((customer_id, refs.tags[tag]))
                birthday = raw["birthday"]
                created_db = adapt_dt(created)
                customers.append(
                    (
                        customer_id, numbers[k], name, name_pinyin, name_initials, raw["gender"],
                        adapt_date(birthday) if birthday else None, raw["birthday_is_lunar"],
                        email, text_lookup(email) if email else "", raw["customer_type"], raw["stage"],
                        refs.sources[raw["source"]], referrer, owner, raw["notes"], province, city, primary,
                        archived, 1, created_db, created_db if updated is created else adapt_dt(updated),
                        actor_id, actor_id, *self.constant_values,
                    )
                )  # fmt: skip
                loaded_ids.append(customer_id)
            cursor.executemany(self.customer_sql, customers)
            cursor.executemany(self.phone_sql, phones)
            cursor.executemany(self.address_sql, addresses)
            cursor.executemany(self.social_sql, socials)
            cursor.executemany(self.tag_sql, tags)
        self.done += size
