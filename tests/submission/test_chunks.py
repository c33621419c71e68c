"""`scoring convert` reads the services file in chunks: the dataset, rejected.csv and the balance
are those of reading it whole, whatever the file holds and wherever the chunks fall."""
import json

import pandas as pd
import pytest

from scoring.submission import chunks
from scoring.submission import convert, dataset
from scoring.submission.dataset import read_table_dir

from ..helpers import set_cell, write

TABLE_DIRS = ("policies", "services", "staff", "inspections", "claims")


def _hostile(sub, lines: bool) -> None:
    """Faults a careless or hostile sender leaves in a services file, far apart in it."""
    services = pd.read_csv(sub / "services.csv", dtype=str, keep_default_na=False)
    set_cell(sub, "services", 30, "service_id", services.loc[1500, "service_id"])  # one id twice, 1,470 rows apart
    set_cell(sub, "services", 1700, "service_id", services.loc[1500, "service_id"])  # and a third time
    set_cell(sub, "services", 40, "policy_id", "PNOPE")  # no such policy
    set_cell(sub, "services", 50, "onsite_hours", "-1")
    set_cell(sub, "policies", 3, "employees", "0")  # a rejected policy: its services follow it out
    if not lines:
        return
    set_cell(sub, "services", 20, "report_summary", "第一行\n第二行")  # a quoted value over two lines
    set_cell(sub, "services", 60, "agency_id", "A\nB")  # a line break where none belongs
    text = (sub / "services.csv").read_text(encoding="utf-8").split("\n")
    text[7] += ",extra"  # a record with one field too many
    text[900] += ",x,y"
    text.insert(12, "")  # a blank line
    (sub / "services.csv").write_text("\n".join(text), encoding="utf-8")


def _refused(svc: pd.DataFrame) -> None:
    """The three copies of one id, wherever their chunks, the unknown and the rejected policy and
    the bad cell are refused, each message naming its row."""
    dup = svc[svc["column"] == "service_id"]
    assert len(dup) == 3 and dup["message_en"].str.contains("3").all()
    assert (svc["message_en"].str.contains("PNOPE")).sum() == 1 and (svc["column"] == "onsite_hours").sum() == 1
    assert svc["message_en"].str.contains("rejected").sum() >= 1
    assert svc.apply(lambda r: f" {r['row']}" in r["message_en"].split(":")[0], axis=1).all()


def _convert_both(sub, tmp_path, monkeypatch, rows: int = 7):
    monkeypatch.setattr(chunks, "CHUNK_ROWS", rows)
    streamed = tmp_path / "streamed"
    assert convert.streamable(sub) is not None
    convert.convert(sub, streamed)
    monkeypatch.setattr(convert, "streamable", lambda s: None)
    whole = tmp_path / "whole"
    convert.convert(sub, whole)
    return streamed, whole


def _same(streamed, whole) -> pd.DataFrame:
    assert (streamed / "rejected.csv").read_bytes() == (whole / "rejected.csv").read_bytes()
    # the same record of the conversion; the files differ only in how rows are cut into parts
    recorded = [json.loads((d / "convert.json").read_text(encoding="utf-8")) for d in (streamed, whole)]
    assert [{k: v for k, v in r.items() if k != "files"} for r in recorded] == [{k: v for k, v in recorded[1].items() if k != "files"}] * 2
    for d, r in zip((streamed, whole), recorded):
        dataset.verify(d)
        assert sum(f["rows"] for f in r["files"].values()) == sum(t["rows_written"] for t in r["tables"].values())
    for name in TABLE_DIRS:
        if not (whole / name).exists():  # a table with no accepted row has no directory
            assert not (streamed / name).exists(), name
            continue
        a, b = read_table_dir(streamed / name), read_table_dir(whole / name)
        assert a.equals(b), name
    # every service row lies in the partition of its policy
    if not (streamed / "services").exists():
        return pd.read_csv(streamed / "rejected.csv", dtype=str, keep_default_na=False)
    svc = pd.read_parquet(streamed / "services")
    pol = pd.read_parquet(streamed / "policies")[["policy_id", "policy_year", "province"]]
    both = svc.merge(pol, on="policy_id", suffixes=("", "_p"))
    assert len(both) == len(svc) and (both["province"].astype(str) == both["province_p"].astype(str)).all()
    return pd.read_csv(streamed / "rejected.csv", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("kind", ["utf-8", "gb18030", "zh_headers"])
def test_chunked_csv_is_the_whole_file(tmp_path, monkeypatch, kind):
    kw = {"encoding": kind} if kind == "gb18030" else {"zh_headers": True} if kind == "zh_headers" else {}
    sub = write(tmp_path / "s", 400, 5, **kw)
    if kind == "utf-8":
        _hostile(sub, lines=True)
    elif kind == "gb18030":
        text = (sub / "services.csv").read_bytes().split(b"\n")
        text[7] += b",extra"
        (sub / "services.csv").write_bytes(b"\n".join(text))
    streamed, whole = _convert_both(sub, tmp_path, monkeypatch)
    rejected = _same(streamed, whole)
    svc = rejected[rejected["table"] == "services"]
    if kind == "utf-8":
        _refused(svc)
        # the malformed records and the misplaced line break too
        assert (svc["column"] == "").sum() == 2 and (svc["column"] == "agency_id").sum() == 1
    if kind == "gb18030":
        assert (svc["column"] == "").sum() == 1 and svc["row"].tolist() == ["8"]


def test_a_malformed_gbk_record_leaves_no_traceback(tmp_path, monkeypatch):
    """A GBK file is first tried as UTF-8: a malformed record in it then cannot be decoded for
    its report. The user's terminal must not show the traceback Arrow prints for that."""
    import sys

    unraised = []
    monkeypatch.setattr(sys, "unraisablehook", unraised.append)
    sub = write(tmp_path / "s", 200, 5, encoding="gb18030")
    text = (sub / "services.csv").read_bytes().split(b"\n")
    text[7] += b",extra"
    (sub / "services.csv").write_bytes(b"\n".join(text))
    for label in ("streamed", "whole"):
        if label == "whole":
            monkeypatch.setattr(convert, "streamable", lambda s: None)
        convert.convert(sub, tmp_path / label)
        rejected = pd.read_csv(tmp_path / label / "rejected.csv", dtype=str, keep_default_na=False)
        assert rejected["row"].tolist() == ["8"] and "SV000000007" in rejected["value"].iloc[0]
    assert [str(u.exc_value) for u in unraised] == []


def test_a_header_field_too_large_is_named_as_row_one(tmp_path, monkeypatch):
    from scoring.submission import csvfile as io
    from scoring import SubmissionError

    monkeypatch.setattr(io, "FIELD_LIMIT", 1000)
    sub = write(tmp_path / "s", 30, 3)
    lines = (sub / "services.csv").read_text(encoding="utf-8").split("\n")
    lines[0] += ',"' + "甲" * 1001 + '"'
    (sub / "services.csv").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(SubmissionError) as e:
        convert.convert(sub, tmp_path / "d")
    assert "services.csv" in str(e.value) and "第 1 行起的一个字段超过" in str(e.value)


def test_chunked_parquet_is_the_whole_file(tmp_path, monkeypatch):
    csv = write(tmp_path / "c", 400, 6)
    _hostile(csv, lines=False)
    sub = tmp_path / "s"
    sub.mkdir()
    for f in csv.glob("*.csv"):
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        df.replace("", None).to_parquet(sub / (f.stem + ".parquet"), index=False)
    rejected = _same(*_convert_both(sub, tmp_path, monkeypatch, rows=100_000))
    _refused(rejected[rejected["table"] == "services"])


def test_chunk_size_does_not_matter(tmp_path, monkeypatch):
    sub = write(tmp_path / "s", 400, 8)
    _hostile(sub, lines=True)
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 3)
    convert.convert(sub, tmp_path / "one")
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 10_000_000)
    convert.convert(sub, tmp_path / "all")
    _same(tmp_path / "one", tmp_path / "all")
    balance = json.loads((tmp_path / "one" / "convert.json").read_text(encoding="utf-8"))["tables"]["services"]
    assert balance["rows_in"] == balance["rows_written"] + balance["rows_rejected"]


def test_services_without_a_good_record(tmp_path, monkeypatch):
    sub = write(tmp_path / "s", 50, 9)
    header = (sub / "services.csv").read_text(encoding="utf-8").split("\n")[0]
    (sub / "services.csv").write_text(header + "\n1,2\n", encoding="utf-8")
    rejected = _same(*_convert_both(sub, tmp_path, monkeypatch))
    assert rejected[rejected["table"] == "services"]["row"].tolist() == ["2"]


def test_a_field_too_large_is_named_by_its_line_as_when_read_whole(tmp_path, monkeypatch):
    """A field longer than Arrow's block (an unpaired quote swallowing the file, or a hostile
    sender) is refused naming its line, streamed or not, instead of Arrow's block error."""
    from scoring import SubmissionError
    from scoring.submission.csvfile import FIELD_LIMIT

    sub = write(tmp_path / "s", 60, 3)
    lines = (sub / "services.csv").read_text(encoding="utf-8").split("\n")
    lines[5] = lines[5].replace(",", ',"' + "甲" * (FIELD_LIMIT + 1) + '",', 1)
    (sub / "services.csv").write_text("\n".join(lines), encoding="utf-8")
    messages = []
    for label in ("streamed", "whole"):
        if label == "whole":
            monkeypatch.setattr(convert, "streamable", lambda s: None)
        with pytest.raises(SubmissionError) as e:
            convert.convert(sub, tmp_path / label)
        messages.append(str(e.value))
    assert messages[0] == messages[1] and "第 6 行起的一个字段超过" in messages[0]
