"""Provinces, cities and districts as a sheet writes them, read as the list (GB/T 2260) names them."""

from __future__ import annotations

import pytest

from kebu.core.divisions import address_split, names_as_listed


@pytest.mark.parametrize(
    ("cells", "want"),
    [
        (("广东", "深圳", "南山区"), ("广东省", "深圳市", "南山区")),
        ((" 浙江省\u3000", "杭州市", "西湖区"), ("浙江省", "杭州市", "西湖区")),
        (("上海", "上海", "浦东新区"), ("上海市", "市辖区", "浦东新区")),
        (("上海市", "上海市", ""), ("上海市", "市辖区", "")),
        (("内蒙古", "呼和浩特", ""), ("内蒙古自治区", "呼和浩特市", "")),
        (("新疆", "", ""), ("新疆维吾尔自治区", "", "")),
        # A part not under the part before it is kept as written, for the caller to refuse.
        (("广东", "杭州", "西湖区"), ("广东省", "杭州", "西湖区")),
        (("广东", "深圳", "西湖区"), ("广东省", "深圳市", "西湖区")),
        (("火星", "深圳", ""), ("火星", "深圳", "")),
    ],
)
def test_names_written_short_or_in_full_are_read_as_the_list_names_them(cells, want):
    assert names_as_listed(*cells) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("浙江省 杭州市 西湖区 文三路1号", ("浙江省", "杭州市", "西湖区", "文三路1号")),
        ("广东深圳市南山区科技园", ("广东省", "深圳市", "南山区", "科技园")),
        ("上海 上海市 浦东新区 张江路 88 号", ("上海市", "市辖区", "浦东新区", "张江路 88 号")),
        ("上海浦东新区张江路", ("上海市", "市辖区", "浦东新区", "张江路")),
        # The longest name wins: 内蒙古自治区 is not 内蒙古 followed by a street called 自治区….
        ("内蒙古自治区呼和浩特市新城区 xx路", ("内蒙古自治区", "呼和浩特市", "新城区", "xx路")),
        # A street that starts like a province is not one: a province must be followed by its city.
        ("山西路 12 号", ("", "", "", "山西路 12 号")),
        ("", ("", "", "", "")),
    ],
)
def test_a_whole_address_is_split_into_the_names_the_list_has(text, want):
    assert address_split(text) == want
