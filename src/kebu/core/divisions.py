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
