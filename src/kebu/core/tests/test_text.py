"""Search keys for names: full pinyin and initials, so `zhangsan` and `zs` find 张三."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from kebu.core.text import fold, list_join, name_tidy, pinyin_keys


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("张三", ("zhangsan", "zs")),
        ("欧阳娜娜", ("ouyangnana", "oynn")),
        ("Amy 王", ("amywang", "aw")),
        ("  李 四 ", ("lisi", "ls")),
        ("ＡＢＣ", ("abc", "a")),
        ("王2号", ("wang2hao", "w2h")),
        ("吕布", ("lvbu", "lb")),
        ("", ("", "")),
        ("   ", ("", "")),
        ("!!!", ("", "")),
    ],
)
def test_pinyin_keys(name, keys):
    assert pinyin_keys(name) == keys


def test_heteronyms_take_the_common_reading():
    # 单 reads "dan" as a word and "shan" as a surname; a merchant typing either is a fair guess,
    # so only the shape is promised here.
    full, initials = pinyin_keys("单田芳")
    assert full.endswith("tianfang") and initials.endswith("tf")


def test_keys_are_capped_to_their_columns():
    full, initials = pinyin_keys("张" * 500)

    assert len(full) == 200
    assert len(initials) == 50


def test_fold_lowercases_narrows_and_trims():
    assert fold("  ＺｈａｎｇＳａｎ@Example.COM ") == "zhangsan@example.com"
    assert fold(None) == ""  # type: ignore[arg-type]


_ASCII_KEY = re.compile(r"[0-9a-z]*")


@given(st.text(max_size=300))
def test_pinyin_keys_are_ascii_lowercase_without_spaces_for_any_text(text):
    full, initials = pinyin_keys(text)

    for key in (full, initials):
        assert _ASCII_KEY.fullmatch(key), key
        assert key.isascii() and key == key.lower() and " " not in key
    assert len(initials) <= len(full)


def _in_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


# GB2312's 6,763 hanzi: the characters of everyday names, all of which pypinyin reads. (Rarer CJK
# characters such as the unit 兙 have no reading there and give no initial.) A few are units read in two
# syllables (瓩 qianwa), so "at least one initial each".
_COMMON_HANZI = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5).filter(_in_gb2312)


@given(st.text(alphabet=_COMMON_HANZI, min_size=1, max_size=40))
def test_every_common_chinese_character_gives_an_initial(text):
    full, initials = pinyin_keys(text)

    assert len(initials) >= len(text)
    assert full.startswith(initials[0])


@pytest.mark.parametrize(("language", "joined"), [("en", "VIP, 老客, 3"), ("zh-hans", "VIP、老客、3")])
def test_a_list_in_a_sentence_is_joined_as_the_active_language_writes_one(language, joined):
    with translation.override(language):
        assert list_join(["VIP", "老客", 3]) == joined


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("李  娜", "李娜"),
        ("欧阳\u3000娜娜", "欧阳娜娜"),
        ("  张三 ", "张三"),
        ("Amy  Wang", "Amy Wang"),
        ("Amy 王", "Amy 王"),
        ("杭州 青禾 贸易有限公司", "杭州青禾贸易有限公司"),
        ("", ""),
    ],
)
def test_a_name_is_kept_without_the_spaces_a_sheet_or_a_form_put_in_it(written, kept):
    assert name_tidy(written) == kept
