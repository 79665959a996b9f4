"""Search keys for Chinese names: full pinyin and initials, so `zhangsan` and `zs` find 张三."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

_KEEP = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Case- and width-folded text for prefix search: NFKC, lower case, surrounding space trimmed."""
    return unicodedata.normalize("NFKC", text or "").strip().lower()


@lru_cache(maxsize=200_000)
def pinyin_keys(name: str) -> tuple[str, str]:
    """(full pinyin, initials) of a name, ASCII lower case without spaces: 张三 → ("zhangsan", "zs").

    Latin letters and digits pass through, so "Amy 王" → ("amywang", "aw")."""
    text = fold(name)
    if not text:
        return "", ""
    syllables = [s for s in lazy_pinyin(text, style=Style.NORMAL, errors=lambda chars: chars.split()) if s]
    words = [_KEEP.sub("", s) for s in syllables]
    words = [w for w in words if w]
    full = "".join(words)
    initials = "".join(w[0] for w in words)
    return full[:200], initials[:50]
