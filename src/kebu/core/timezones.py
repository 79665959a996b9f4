"""The shop's time zone as its merchant reads it: 北京时间 / China Standard Time, else the offset from UTC.

``settings.TIME_ZONE`` is an IANA name (Asia/Shanghai) that no merchant says and no translation
catalogue holds. Python's zoneinfo has no localised names, and a library of them (Babel, ICU) for one
sentence is more than Kebu needs: the zones a Chinese shop runs on get their everyday name, any other the
offset it has on the day (UTC+9, UTC-3:30), which reads the same in every language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import pgettext

# Mainland China keeps one clock, whatever the city in the zone's name (and the old aliases for it).
CHINA_STANDARD_TIME = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"})


def time_zone_label(name: str | None = None, *, at: datetime | None = None) -> str:
    """How the reader says the time zone ``name`` (the shop's by default), in the active language."""
    name = name or settings.TIME_ZONE
    if name in CHINA_STANDARD_TIME:
        return pgettext("time zone", "China Standard Time")
    offset = (at or timezone.now()).astimezone(ZoneInfo(name)).utcoffset()
    minutes = round(offset.total_seconds() / 60) if offset is not None else 0
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
