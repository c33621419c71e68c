"""One date parser for data and the command line."""
import datetime as dt

import pyarrow as pa

from scoring.submission.parsing import parse_bool, parse_day, parse_float


def test_parse_day_takes_the_formats_the_data_takes_and_nothing_else():
    for text in ("2025-03-29", "2025/03/29", "2025年03月29日", " 2025-03-29 ", "2025-3-29"):
        assert parse_day(text) == dt.date(2025, 3, 29), text
    for text in ("20250329", "2025-02-30", "29/03/2025", "2025-03-29T10:00", "", None, "明天"):
        assert parse_day(text) is None, text


def test_thousands_separators_parse_where_they_group_by_three_and_text_is_refused():
    values, bad, big = parse_float(pa.array(["1.5", "2e3", "1,234.50", "1,00", "abc", "1e999"], pa.string()))
    assert values[:3].tolist() == [1.5, 2000.0, 1234.5]
    assert bad.tolist() == [False, False, False, True, True, True] and big.tolist()[-1]


def test_yes_no_words_in_both_languages():
    values, bad = parse_bool(pa.array(["是", "否", "true", "FALSE", "1", "0", "也许"], pa.string()))
    assert values[:6].tolist() == [True, False, True, False, True, False]
    assert bad.tolist() == [False] * 6 + [True]
