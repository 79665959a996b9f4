"""The shop's time zone as a merchant reads it, never its IANA name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import translation

from kebu.core.timezones import time_zone_label

WINTER = datetime(2025, 1, 15, tzinfo=UTC)
SUMMER = datetime(2025, 7, 15, tzinfo=UTC)


@pytest.mark.parametrize(("language", "expected"), [("en", "China Standard Time"), ("zh-hans", "北京时间")])
def test_a_shop_in_mainland_china_reads_its_everyday_name(settings, language, expected):
    settings.TIME_ZONE = "Asia/Shanghai"
    with translation.override(language):
        assert time_zone_label() == expected
        assert time_zone_label("Asia/Chongqing") == expected


@pytest.mark.parametrize(
    ("name", "at", "expected"),
    [
        ("Asia/Tokyo", WINTER, "UTC+9"),
        ("Asia/Kolkata", WINTER, "UTC+5:30"),
        ("America/St_Johns", WINTER, "UTC-3:30"),
        ("Europe/Berlin", WINTER, "UTC+1"),
        ("Europe/Berlin", SUMMER, "UTC+2"),
        ("UTC", WINTER, "UTC"),
    ],
)
def test_another_zone_reads_as_its_offset_on_the_day(name, at, expected):
    assert time_zone_label(name, at=at) == expected
