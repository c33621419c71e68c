"""Region names for GB/T 2260 codes."""
from scoring.regions import province_name, region_name


def test_listed_prefecture_municipality_and_unlisted_prefecture():
    assert province_name("320500") == "江苏省"
    assert region_name("110105") == "北京市"  # a district of a municipality is the city
    assert region_name("640200") == "石嘴山市"
    unlisted = region_name("329900")
    assert unlisted.startswith("江苏省") and "329900" in unlisted


def test_an_unknown_province_is_named_by_its_code():
    assert province_name("990000") == "990000"
