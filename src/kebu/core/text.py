"""Text helpers: search keys for Chinese names (full pinyin and initials, so `zhangsan` and `zs` find
张三), lists written into a sentence as the reader's language writes them, and the names of the records
Kebu gives a new shop in the reader's language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import get_language
from pypinyin import Style, lazy_pinyin

_KEEP = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Case- and width-folded text for prefix search: NFKC, lower case, surrounding space trimmed."""
    return unicodedata.normalize("NFKC", text or "").strip().lower()


# Han characters (the basic block, extension A and the compatibility ideographs): a name of them has no
# spaces, however a sheet or a form spaced it out.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_BETWEEN_HAN = re.compile(f"(?<=[{_HAN}]) (?=[{_HAN}])")


def name_tidy(name: str) -> str:
    """A customer's name as kept: no space at either end, one between words, and none between two
    Chinese characters ("李  娜" and "李 娜" are 李娜, as a sheet aligning two-character names spaces
    them; "Amy  Wang" is "Amy Wang"), so one person is not two customers, nor missed by a search."""
    return _BETWEEN_HAN.sub("", " ".join(name.split()))


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


def list_join(values: Iterable[object]) -> str:
    """``values`` as a list inside a sentence in the active language: "a, b, c" in English, "a、b、c" in
    Chinese. The enumeration comma (顿号) is Chinese punctuation, not a word to translate, so it follows
    the language rather than the catalogue. For messages only: where "、" is a data format (the tags of
    an export cell, which the import splits), it stays whatever the language."""
    separator = "、" if (get_language() or "").startswith("zh") else ", "
    return separator.join(str(value) for value in values)


def seeded_name(*, name: str, default: Promise, seeded: str) -> str:
    """The name of a record Kebu gave a new shop (a follow-up plan, a role), as the reader sees it: while
    it is still called by its default, in any of the shop's languages or as it was seeded (``seeded``,
    written in Chinese by a migration), that default in the reader's language; once the shop renamed it,
    as written. The name is compared rather than flagged, so there is no flag to fall out of step with the
    text: a record renamed back to its default reads as the default again."""
    names = {seeded}
    for code, _label in settings.LANGUAGES:
        with translation.override(code):
            names.add(str(default))
    if name.strip() not in names:
        return name
    shown = str(default)
    if (get_language() or "").startswith("zh"):
        with translation.override("en"):
            if shown == str(default):  # not in the catalogue yet: the Chinese name it was seeded with
                return seeded
    return shown
