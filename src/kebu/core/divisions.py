"""China's administrative divisions (province → city → district), from a dataset vendored in data/."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

# City-level entries that are not cities: a municipality's districts hang under "市辖区" (and
# Chongqing's counties under "县"); a merchant knows these places by the municipality's name.
PLACEHOLDER_CITIES = frozenset({"市辖区", "县"})

_PATH = Path(__file__).resolve().parent / "data" / "divisions.json"


@lru_cache(maxsize=1)
def tree() -> list[dict[str, Any]]:
    with _PATH.open(encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=1)
def _index() -> dict[str, dict[str, set[str]]]:
    return {
        p["name"]: {c["name"]: {d["name"] for d in c.get("children", [])} for c in p.get("children", [])}
        for p in tree()
    }


def provinces() -> list[str]:
    return [p["name"] for p in tree()]


def cities(province: str) -> list[str]:
    return sorted(_index().get(province, {}))


def districts(province: str, city: str) -> list[str]:
    return sorted(_index().get(province, {}).get(city, set()))


def is_valid(province: str, city: str = "", district: str = "") -> bool:
    """True if each given part exists under the part before it (empty trailing parts are allowed)."""
    cities_of = _index().get(province)
    if cities_of is None:
        return False
    if not city:
        return not district
    if city not in cities_of:
        return False
    return not district or district in cities_of[city]


def city_as_listed(province: str, city: str) -> str:
    """``city`` as the list names it. For Beijing, Tianjin, Shanghai and Chongqing the list (GB/T 2260)
    says 市辖区 where a sheet or a marketplace's address says the city's own name (上海市 上海市 浦东新区)."""
    cities_of = _index().get(province, {})
    if city == province and city not in cities_of and "市辖区" in cities_of:
        return "市辖区"
    return city


_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区", "省", "市")
_CITY_SUFFIXES = ("自治州", "地区", "盟", "市")


def _short(name: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _level(parent: tuple[str, ...]) -> tuple[list[str], tuple[str, ...]]:
    """The names one level below ``parent`` (() for the provinces, (province,) for its cities, (province,
    city) for the districts) and the suffixes a sheet may leave off them."""
    if not parent:
        return provinces(), _SUFFIXES
    if len(parent) == 1:
        return cities(parent[0]), _CITY_SUFFIXES
    return districts(parent[0], parent[1]), ()


@lru_cache(maxsize=4096)
def _words(parent: tuple[str, ...]) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    """Each way the names below ``parent`` are written (浙江省, 浙江) with the name it stands for, the
    first listed name winning; and the same pairs, longest word first (内蒙古自治区 before 内蒙古). Built
    once a level: an import asks the same questions for each of its rows."""
    names, suffixes = _level(parent)
    pairs = [(word, name) for name in names for word in (name, _short(name, suffixes))]
    exact: dict[str, str] = {}
    for word, name in pairs:
        exact.setdefault(word, name)
    return exact, tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


def _take(text: str, parent: tuple[str, ...]) -> tuple[str, str]:
    """The name below ``parent`` that ``text`` starts with, in full or short (浙江省 or 浙江), and the
    rest of ``text``; ("", text) when none does. The longest name wins (内蒙古自治区 before 内蒙古)."""
    text = text.lstrip(" \u3000")
    for word, name in _words(parent)[1]:
        if text.startswith(word):
            return name, text[len(word) :]
    return "", text


def _named(text: str, parent: tuple[str, ...]) -> str:
    """The name below ``parent`` that ``text`` is, in full or short (浙江省 or 浙江); "" when none is."""
    return _words(parent)[0].get(text.strip(" \u3000"), "")


def names_as_listed(province: str, city: str = "", district: str = "") -> tuple[str, str, str]:
    """A province, city and district written in cells of their own, as the list names them: 广东 is
    广东省, 深圳 is 深圳市, and a municipality's city (上海, 上海市) is 市辖区, as ``address_split`` reads
    them in one cell. A part the list does not have under the part before it is kept as written, for
    the caller to refuse."""
    listed_province = _named(province, ())
    if not listed_province:
        return province, city, district
    listed_city = _named(city, (listed_province,)) if city else ""
    municipality = "市辖区" in _index()[listed_province]
    if city and not listed_city and municipality and _named(city, ()) == listed_province:
        listed_city = "市辖区"
    if not listed_city:
        return listed_province, city, district
    listed_district = _named(district, (listed_province, listed_city)) if district else ""
    return listed_province, listed_city, listed_district or district


def address_split(text: str) -> tuple[str, str, str, str]:
    """A whole address in one cell, as marketplaces export it ("浙江省 杭州市 西湖区 文三路1号",
    "上海 上海市 浦东新区 …", "广东深圳市南山区…"), as (province, city, district, street) named as the
    list names them. A part not found is "" and stays in the street: nothing is guessed beyond the
    list's own names."""
    province, rest = _take(text, ())
    if not province:
        return "", "", "", text.strip()
    city, rest = _take(rest, (province,))
    if not city and "市辖区" in _index()[province]:
        # A municipality: its name may come again as the city ("上海 上海市 浦东新区"), or not at all.
        again, after = _take(rest, ())
        rest = after if again == province else rest
        city = "市辖区"
    if not city:
        # "山西路 12 号" starts like 山西 but is a street: a province must be followed by its city.
        return "", "", "", text.strip()
    district, rest = _take(rest, (province, city))
    return province, city, district, rest.strip(" \u3000")
