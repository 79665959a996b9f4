"""The customer sheet bench/transfer.py imports: N rows of the kind a Chinese shop exports from its old
ledger or a marketplace, written as a UTF-8-BOM CSV (what Excel's "CSV UTF-8" and WPS write) and as an
.xlsx (xlsxwriter, constant memory).

The people come from the product's own demo generator (``kebu.customers.demo``: surnames by frequency,
given names, mobile prefixes in use, real province/city pairs, streets, WeChat ids, tags, notes), so
this sheet and ``kebu demo`` describe the same shop. What the generator does not promise, and a sheet
being imported needs, is done here: every phone and every WeChat id distinct (a repeated one would make
two rows one customer), every phone valid, and every row carrying a phone or a WeChat id (a row with a
name alone is matched by that name, which among a million Chinese names is a coin toss). Runs in a child
process with Django set up, since the generator imports the models."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

HEADERS = ["客户编号", "姓名", "手机号", "微信号", "省份", "城市", "详细地址", "客户类型", "标签", "备注"]
# The sheet's words for the types: what a merchant's own sheet says (the import reads these).
_TYPE_WORDS = {"individual": "个人", "wholesaler": "批发商", "retailer": "零售商", "company": "公司"}
# How often a column is left blank, beyond what the generator leaves blank itself.
BLANK_TYPE = 0.45  # most sheets say nothing for an individual
NUMBERED = 0.10  # rows that carry the old ledger's own customer number
MUNICIPALITY_CITY = "市辖区"


def rows_generate(count: int, seed: int) -> list[list[Any]]:
    """``count`` rows under ``HEADERS``; the same seed gives the same rows. Phones are ints (as Excel
    holds them); the CSV writes them as digits."""
    from kebu.customers.demo import _Generator

    generator = _Generator(seed)
    random_ = generator.random
    today = date.today()
    seen: set[str] = set()
    seen_wechat: set[str] = set()
    rows: list[list[Any]] = []
    for index in range(count):
        person = generator.customer(today)
        phone = ""
        if person["phones"]:
            phone = generator.mobile()
            while phone in seen:
                phone = generator.mobile()
            seen.add(phone)
        wechat = next((handle for kind, handle in person["socials"] if kind == "wechat"), "")
        # Every WeChat id once too (the generator's pinyin-and-digits ids repeat), and one for a row
        # without a phone.
        while (wechat and wechat in seen_wechat) or (not phone and not wechat):
            wechat = "wxid_" + format(generator.rng.getrandbits(56), "014x")
        if wechat:
            seen_wechat.add(wechat)
        province = city = detail = ""
        if person["addresses"]:
            province, city, district, street, _receiver, _phone = person["addresses"][0]
            # A sheet names a municipality's city as the municipality (上海市 上海市 浦东新区 …).
            city = province if city == MUNICIPALITY_CITY else city
            detail = f"{district}{street}"
        customer_type = _TYPE_WORDS[person["customer_type"]]
        if person["customer_type"] == "individual" and random_() < BLANK_TYPE:
            customer_type = ""
        rows.append(
            [
                f"VIP{index + 1:07d}" if random_() < NUMBERED else "",
                person["name"],
                int(phone) if phone else "",
                wechat,
                province,
                city,
                detail,
                customer_type,
                "、".join(person["tags"]),
                person["notes"],
            ]
        )
    return rows


def csv_write(path: Path, rows: list[list[Any]], headers: list[str] = HEADERS) -> None:
    """UTF-8 with a BOM and CRLF line ends, as Excel's "CSV UTF-8" writes it."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(headers)
        writer.writerows(rows)


def xlsx_write(path: Path, rows: list[list[Any]]) -> None:
    """One sheet, phones as numbers (how a merchant's Excel holds them), constant memory."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("客户")
    sheet.write_row(0, 0, HEADERS)
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value == "":
                continue
            if isinstance(value, int):
                sheet.write_number(number, column, value)
            else:
                sheet.write_string(number, column, value)
    book.close()


# --- the order sheet ---------------------------------------------------------------------------------------

# A Taobao seller's order export (订单报表), one row per line, the order's columns repeated on each line:
# the layout the import's Taobao preset recognises.
ORDER_HEADERS = [
    "订单编号",
    "买家会员名",
    "买家实际支付金额",
    "订单状态",
    "收货人姓名",
    "收货地址",
    "联系手机",
    "订单创建时间",
    "订单付款时间",
    "宝贝标题",
    "宝贝总数量",
    "价格",
    "物流公司",
    "物流单号",
    "邮费",
]
_ITEMS = [
    ("玻尿酸补水面霜 50g", 199),
    ("氨基酸洗面奶 120ml", 59),
    ("烟酰胺爽肤水 200ml", 89),
    ("补水面膜 10片装", 99),
    ("明前龙井 250g 礼盒", 128),
    ("云南普洱熟茶 357g", 168),
    ("防晒霜 SPF50+ 40ml", 139),
    ("护手霜 3支装", 45),
]
# Most of a shop's orders are paid and received; some are on their way, a few closed unpaid.
_STATUSES = [("交易成功", 0.85), ("卖家已发货", 0.10), ("交易关闭", 0.05)]
_CARRIERS = ["中通快递", "圆通速递", "韵达快递", "顺丰速运", "申通快递"]


def orders_generate(lines: int, seed: int) -> list[list[Any]]:
    """``lines`` rows under ``ORDER_HEADERS``; the same seed gives the same rows. An order has one to
    three lines; a buyer places about four orders on average, a few of them many more (buyers are drawn
    skewed towards the first ones), always under their own nick, phone, name and address, so the import
    makes one customer per buyer. Order times fall within the year to 2026-11-30, in order, to the
    second as a marketplace writes them."""
    from datetime import datetime, timedelta

    from kebu.customers.demo import _Generator

    generator = _Generator(seed + 1)
    random_ = generator.random
    buyers: list[tuple[str, str, str, str]] = []
    seen: set[str] = set()
    while len(buyers) < max(1, lines // 7):
        province, city, district = generator.region()
        phone = generator.mobile()
        if phone in seen:
            continue
        seen.add(phone)
        name = generator.one(generator.people)[0]
        city = province if city == MUNICIPALITY_CITY else city
        address = f"{province} {city} {district} {generator.street()}"
        buyers.append((f"tb{len(buyers) + 1:08d}", name, phone, address))
    end = datetime(2026, 11, 30, 23, 59, 59)  # fixed, so the same seed gives the same file on any day
    start = end - timedelta(days=365)
    span = (end - start).total_seconds()
    rows: list[list[Any]] = []
    number = 0
    while len(rows) < lines:
        number += 1
        nick, name, phone, address = buyers[int(len(buyers) * random_() ** 2)]
        count = min(lines - len(rows), 1 if random_() < 0.6 else 2 if random_() < 0.7 else 3)
        items = [(generator.one(_ITEMS), 1 if random_() < 0.8 else 2) for _ in range(count)]
        total = sum(price * quantity for (_title, price), quantity in items)
        ordered = start + timedelta(seconds=int(span * len(rows) / lines))
        roll, status = random_(), _STATUSES[-1][0]
        for word, share in _STATUSES:
            if roll < share:
                status = word
                break
            roll -= share
        paid = "" if status == "交易关闭" else f"{ordered + timedelta(minutes=1 + int(random_() * 30))}"
        carrier = generator.one(_CARRIERS) if paid else ""
        for (title, price), quantity in items:
            rows.append(
                [
                    f"3{seed:02d}{number:015d}",
                    nick,
                    f"{total:.2f}" if paid else "0.00",
                    status,
                    name,
                    address,
                    int(phone),
                    f"{ordered}",
                    paid,
                    title,
                    quantity,
                    f"{price:.2f}",
                    carrier,
                    f"ZT{number:012d}" if carrier else "",
                    "0.00",
                ]
            )
    return rows
