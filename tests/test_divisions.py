"""The shipped GB/T 2260 table is a sound tree."""

import pytest

from canaries.divisions import Level, UnknownDivisionError, division_table


def test_table_is_a_consistent_tree() -> None:
    table = division_table()
    assert len(table) > 3000
    provinces = [d for d in table.all() if d.level is Level.PROVINCE]
    assert len(provinces) == 34  # 23 provinces, 5 autonomous regions, 4 municipalities, 2 SARs
    for division in table.all():
        assert len(division.code) == 6 and division.code.isdigit()
        if division.parent_code is None:
            assert division.code.endswith("0000")
            continue
        parent = table.get(division.parent_code)
        assert division.code[:2] == parent.code[:2]
        if parent.level is Level.PREFECTURE:
            assert division.code[:4] == parent.code[:4]
            assert division.level is Level.COUNTY


def test_known_divisions_and_unknown_codes() -> None:
    table = division_table()
    names = [d.name for d in table.ancestors("330106")]
    assert names == ["西湖区", "杭州市", "浙江省"]
    assert [d.name for d in table.ancestors("110105")] == ["朝阳区", "北京市"]
    assert "150000" in table and table.get("150000").name == "内蒙古自治区"
    with pytest.raises(UnknownDivisionError):
        table.get("999999")
