"""Result files: rounded numbers, neutralised formulas, a byte-order mark, the same bytes each time."""
import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa

from scoring.writers import BOM, json_line, neutralise, round_sig, write_csv


def test_round_sig_keeps_six_significant_digits_without_float_noise():
    got = round_sig([0.1234567, 300000.4, 1234567.0, 0.1 + 0.2, -2.5e-7, 0.0, np.nan])
    assert got[:4].tolist() == [0.123457, 300000.0, 1234570.0, 0.3]
    assert got[4] == 0.0 and got[5] == 0.0 and np.isnan(got[6])  # below 1e-6 rounds to 0


def test_formula_starts_are_quoted_and_plain_numbers_are_not():
    values = pa.array(["=1+1", "+86 138", "-2", "-1.5e3", "@SUM(A1)", "\tx", "正常文本", None], pa.string())
    assert neutralise(values).to_pylist() == ["'=1+1", "'+86 138", "-2", "-1.5e3", "'@SUM(A1)", "'\tx", "正常文本", None]


def test_write_csv_starts_with_a_bom_quotes_text_and_gives_the_same_bytes_twice():
    df = pd.DataFrame({"policy_id": ["P1", "=HYPERLINK(\"x\")"], "p": [0.12345678, None], "n": [1, 2],
                       "note": ["含,逗号", "换\n行"]})
    a, b = io.BytesIO(), io.BytesIO()
    write_csv(df, a)
    write_csv(df, b)
    data = a.getvalue()
    assert data == b.getvalue() and data.startswith(BOM)
    back = pd.read_csv(io.BytesIO(data[len(BOM):]), dtype=str, keep_default_na=False)
    assert back["policy_id"].tolist() == ["P1", "'=HYPERLINK(\"x\")"]
    assert back["p"].tolist() == ["0.123457", ""] and back["note"].tolist() == ["含,逗号", "换\n行"]


def test_a_json_line_is_one_line_of_valid_json_keeping_chinese():
    line = json_line({"reason": "保单无服务记录\n第二行", "p": 0.5})
    assert line.endswith("\n") and "\n" not in line[:-1] and "保单" in line
    assert json.loads(line)["reason"] == "保单无服务记录\n第二行"
