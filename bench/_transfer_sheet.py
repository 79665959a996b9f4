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


def csv_write(path: Path, rows: list[list[Any]]) -> None:
    """UTF-8 with a BOM and CRLF line ends, as Excel's "CSV UTF-8" writes it."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
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
