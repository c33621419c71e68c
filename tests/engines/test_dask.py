"""`scoring score --engine dask`: the same results as the local engine, byte for byte, with the
cross-partition rules seeing across partitions, and a worker that dies mid-run retried."""
import json

import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from datasets.synth import write_submission
from scoring.cli import app
from scoring.engines.dask import partition_keys, partitions
from scoring import load_submission

from ..helpers import world

pytestmark = pytest.mark.slow  # Dask clusters of worker processes

WorkerPlugin = pytest.importorskip("distributed").WorkerPlugin

OUTPUTS = ("policy_scores.csv", "findings.csv", "explanations.jsonl", "insurer_summary.csv", "rate_adequacy.csv", "rejected.csv",
           "estimates.csv")


REPORT = "现场检查发现消防通道堵塞且应急照明损坏，已要求立即清理并建立日常巡查制度，复查时确认整改完成"


def _cross_province(folder):
    """Plant what only a global step can see: a photo reused by service records of two provinces,
    one person at two enterprises of two provinces on one day, and one agency's report text at
    five enterprises of five partitions."""
    pol = pd.read_csv(folder / "policies.csv", dtype=str, keep_default_na=False)
    svc = pd.read_csv(folder / "services.csv", dtype=str, keep_default_na=False)
    prov = svc["policy_id"].map(pol.set_index("policy_id")["region_code"].str[:2])
    year = svc["policy_id"].map(pol.set_index("policy_id")["start_date"].str[:4])
    has_photo = svc["photo_hashes"] != ""
    a = svc.index[has_photo & (prov == prov.iloc[0]) & (year == "2024")][0]
    b = svc.index[has_photo & (prov != prov.iloc[a]) & (year == "2024")][0]
    svc.loc[b, "photo_hashes"] = svc.loc[a, "photo_hashes"].split(";")[0] + ";" + svc.loc[b, "photo_hashes"]
    c = svc.index[(prov == prov.iloc[a]) & (year == "2023")][3]
    d = svc.index[(prov != prov.iloc[a]) & (year == "2023")][3]
    svc.loc[d, "service_date"] = svc.loc[c, "service_date"]
    svc.loc[d, "staff_ids"] = svc.loc[c, "staff_ids"].split(";")[0]
    svc.loc[[c, d], "onsite_hours"] = "7"  # 14 hours on site in one day, at two enterprises
    key = year + "/" + prov
    ent = svc["policy_id"].map(pol.set_index("policy_id")["enterprise_id"])
    text = svc.index[(svc["provider_type"] == "agency")].to_series().groupby(key).first().iloc[:5].to_numpy()
    assert len(set(key[text])) == 5 and len(set(ent[text])) == 5
    svc.loc[text, "agency_id"] = svc.loc[text[0], "agency_id"]
    svc.loc[text, "report_summary"] = REPORT
    svc.to_csv(folder / "services.csv", index=False)
    return (svc.loc[[a, b], "service_id"].tolist(), svc.loc[[c, d], "service_id"].tolist(),
            svc.loc[text, "service_id"].tolist())


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dask")
    sub = write_submission(world(900, 21), tmp / "s")
    photo_pair, staff_pair, text = _cross_province(sub)
    runner = CliRunner()
    for engine, out in (("local", "local"), ("dask", "dask")):
        args = ["score", str(sub), "--out", str(tmp / out), "--quiet", "--engine", engine]
        r = runner.invoke(app, args + (["--workers", "2"] if engine == "dask" else []))
        assert r.exit_code == 0, r.output
        assert ("引擎 Dask，2 个工作进程 / engine Dask, 2 workers" in r.output) == (engine == "dask")
    return tmp, sub, photo_pair, staff_pair, text


def test_dask_engine_gives_byte_identical_results(scored):
    tmp, sub = scored[:2]
    for name in OUTPUTS:
        assert (tmp / "local" / name).read_bytes() == (tmp / "dask" / name).read_bytes(), name
    run_local = json.loads((tmp / "local" / "run.json").read_text(encoding="utf-8"))
    run_dask = json.loads((tmp / "dask" / "run.json").read_text(encoding="utf-8"))
    assert run_local["engine"] == {"name": "local", "workers": 1}
    assert run_dask["engine"] == {"name": "dask", "workers": 2}
    assert run_dask["not_checkable"] == run_local["not_checkable"]
    assert "Dask" in (tmp / "dask" / "report.html").read_text(encoding="utf-8")
    # the submission really spans several partitions, so the equality above is not a triviality
    assert len(set(partition_keys(load_submission(sub)))) >= 10


def _planted_found(out, planted) -> None:
    f = pd.read_csv(out / "findings.csv", dtype=str, keep_default_na=False)
    for code, ids in zip(("INTEGRITY_DUPLICATE_PHOTO", "INTEGRITY_STAFF_OVERLAP", "INTEGRITY_DUPLICATE_REPORT"), planted):
        assert set(ids) <= set(f.loc[f["rule_code"] == code, "service_id"]), code


def test_cross_partition_rules_see_across_partitions(scored):
    tmp, _, *planted = scored
    _planted_found(tmp / "dask", planted)


@pytest.fixture(scope="module")
def dataset(scored, tmp_path_factory):
    """The planted submission converted: what the out-of-core path reads."""
    tmp, sub = scored[:2]
    ds = tmp_path_factory.mktemp("dataset") / "ds"
    r = CliRunner().invoke(app, ["convert", str(sub), "--out", str(ds)])
    assert r.exit_code == 0, r.output
    return ds


def test_a_converted_dataset_is_scored_out_of_core_with_the_same_bytes(scored, dataset, tmp_path):
    tmp, _, *planted = scored
    r = CliRunner().invoke(app, ["score", str(dataset), "--out", str(tmp_path / "o"), "--quiet", "--engine", "dask", "--workers", "2"])
    assert r.exit_code == 0, r.output
    for name in OUTPUTS:  # the local engine on the original files
        assert (tmp / "local" / name).read_bytes() == (tmp_path / "o" / name).read_bytes(), name
    _planted_found(tmp_path / "o", planted)
    run = json.loads((tmp_path / "o" / "run.json").read_text(encoding="utf-8"))
    local = json.loads((tmp / "local" / "run.json").read_text(encoding="utf-8"))
    for key in ("tables", "out_of_scope", "as_of", "not_checkable", "model_shift"):
        assert run[key] == local[key], key


def test_the_driver_holds_only_the_records_that_share_a_key(scored, dataset):
    """Out of core, the driver's service table is pass two's records: those holding a photo, a
    staff-day or a text that enough enterprises share; the features are the local engine's."""
    from scoring.engines import choose
    from scoring.engines.dask import load_dataset
    from scoring.jobs import prepare
    from scoring import load_rulebook
    from scoring.submission.intake import latest_date_of

    _, sub, photo_pair, staff_pair, _ = scored
    whole = prepare(load_submission(sub))
    driver, read = load_dataset(dataset), load_submission(dataset)
    # what run.json says of the input: the same counts, digests and absent columns as the dataset read whole
    assert driver.counts == read.counts and driver.files == read.files and driver.absent == read.absent
    assert list(driver.counts) == list(read.counts) and driver.present == read.present
    with choose("dask", workers=2) as engine:
        prep = engine.prepare(driver, load_rulebook(), latest_date_of(driver))
    held = set(prep.sub["services"]["service_id"])
    assert len(held) < 0.1 * len(whole.sub["services"])
    assert set(photo_pair) | set(staff_pair) <= held
    pd.testing.assert_frame_equal(prep.features, whole.features)
    pd.testing.assert_frame_equal(prep.rules.findings, whole.rules.findings)
    assert prep.out_of_scope == whole.out_of_scope


def test_a_dataset_changed_after_conversion_is_refused_naming_the_partition(dataset, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    ds = tmp_path / "ds"
    shutil.copytree(dataset, ds)
    part = sorted((ds / "services").glob("policy_year=*/province=*/*.parquet"))[3]
    t = pq.read_table(part)
    hours = t["onsite_hours"].to_pylist()
    hours[0] = -5.0
    pq.write_table(t.set_column(t.column_names.index("onsite_hours"), "onsite_hours", pa.array(hours, t["onsite_hours"].type)), part)
    r = CliRunner().invoke(app, ["score", str(ds), "--out", str(tmp_path / "o"), "--quiet", "--engine", "dask", "--workers", "1"])
    assert r.exit_code != 0
    where = f"services/{part.parent.parent.name}/{part.parent.name}/"
    assert where in r.output and "转换后被改动" in r.output and "changed after conversion" in r.output
    assert not (tmp_path / "o").exists()


def test_partitions_hold_every_row_once():
    sub = load_submission(write_submission(world(900, 21), __import__("tempfile").mkdtemp()))
    parts = list(partitions(sub))
    for table in ("policies", "services", "inspections", "claims"):
        ids = pd.concat([p[table]["policy_id"] for _, p in parts])
        assert len(ids) == len(sub[table]) and set(ids) == set(sub[table]["policy_id"])
    for _, p in parts:  # a partition is one policy year of one province, with its own records only
        assert len(set(partition_keys(p))) == 1
        assert set(p["services"]["policy_id"]) <= set(p["policies"]["policy_id"])
        assert len(p["staff"]) == len(sub["staff"])
    big = [(name, len(p["policies"])) for name, p in partitions(sub, largest_first=True)]
    assert sorted(n for n, _ in big) == [n for n, _ in parts]  # the same partitions, most policies first
    assert [c for _, c in big] == sorted((c for _, c in big), reverse=True) and big[0][1] > big[-1][1]


def test_unknown_engine_is_refused(tmp_path):
    sub = write_submission(world(200, 5), tmp_path / "s")
    r = CliRunner().invoke(app, ["score", str(sub), "--out", str(tmp_path / "o"), "--engine", "spark", "--quiet"])
    assert r.exit_code != 0 and "--engine" in r.output and not (tmp_path / "o").exists()


class _DieOnce(WorkerPlugin):
    """A worker plugin: the first worker to start a task of ``prefix`` exits on the spot (as a killed
    process would), once per marker file; its nanny starts a new worker and Dask runs the task again."""

    def __init__(self, marker: str, prefix: str = "rules-"):
        self.marker = marker
        self.prefix = prefix

    def setup(self, worker):
        self.worker = worker

    def transition(self, key, start, finish, **kw):
        import os

        if finish == "executing" and str(key).startswith(self.prefix):
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.close(fd)
            os._exit(1)

    def teardown(self, worker):
        pass


@pytest.mark.parametrize("source, prefix", [("files", "rules-"), ("dataset", "one-"), ("dataset", "two-")])
def test_a_worker_that_dies_mid_run_is_replaced_and_results_do_not_change(scored, dataset, tmp_path, source, prefix):
    """A worker killed during a partition-local rules task (files), or during either pass of the
    out-of-core path (a converted dataset)."""
    import cloudpickle
    from distributed import Client, LocalCluster
    import sys

    tmp, sub = scored[:2]
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "died"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, Client(lc) as client:
        client.register_plugin(_DieOnce(str(marker), prefix), name="die-once")
        r = CliRunner().invoke(app, ["score", str(sub if source == "files" else dataset), "--out", str(tmp_path / "o"), "--quiet",
                                     "--engine", "dask", "--scheduler", lc.scheduler_address])
        # what pass one kept on the workers of a cluster that outlives the run is gone
        left = client.run(lambda dask_worker: [str(p) for p in __import__("pathlib").Path(dask_worker.local_directory).glob("scoring/*/*")])
    assert r.exit_code == 0, r.output
    assert marker.exists()  # a worker did die during the run
    assert not [f for files in left.values() for f in files]
    for name in OUTPUTS:
        assert (tmp / "local" / name).read_bytes() == (tmp_path / "o" / name).read_bytes(), name
    run = json.loads((tmp_path / "o" / "run.json").read_text(encoding="utf-8"))
    assert run["engine"]["name"] == "dask" and run["engine"]["scheduler"] == lc.scheduler_address


@pytest.mark.parametrize("args, says", [
    (["--engine", "dask", "--workers", "0"], "--workers 应为不小于 1 的整数"),
    (["--workers", "2"], "--scheduler 和 --workers 只用于 --engine dask"),
    (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:9", "--workers", "2"], "只用于本机集群"),
])
def test_engine_options_that_cannot_work_are_refused_before_any_output(tmp_path, args, says):
    sub = write_submission(world(200, 5), tmp_path / "s")
    r = CliRunner().invoke(app, ["score", str(sub), "--out", str(tmp_path / "o"), "--quiet"] + args)
    assert r.exit_code == 2 and says in r.output and not (tmp_path / "o").exists()


def test_an_unreachable_scheduler_is_named_and_nothing_is_written(tmp_path, monkeypatch):
    import scoring.engines.dask as d
    from scoring import OptionError
    from scoring import score as run_score

    monkeypatch.setattr(d, "CONNECT_TIMEOUT", 1)
    sub = write_submission(world(200, 5), tmp_path / "s")
    steps = []
    with pytest.raises(OptionError) as e:
        run_score(sub, tmp_path / "o", engine="dask", scheduler="tcp://127.0.0.1:9", progress=steps.append)
    assert steps == []  # said before the submission is read
    assert "无法连接 Dask 调度器 tcp://127.0.0.1:9" in e.value.args[0] and "cannot reach" in str(e.value.args)
    assert not (tmp_path / "o").exists()


def test_worker_memory_is_a_setting(monkeypatch):
    from scoring.engines.dask import cluster

    monkeypatch.setenv("SCORING_DASK_WORKER_MEMORY", "1GiB")
    with cluster(workers=1) as client:
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
    assert limits == [2**30]


def test_without_dask_installed_the_engine_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    from scoring import OptionError
    from scoring import score as run_score

    real = builtins.__import__

    def no_distributed(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and (name == "distributed" or name.startswith("distributed.")):
            raise ImportError("No module named 'distributed'")
        return real(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    sub = write_submission(world(200, 5), tmp_path / "s")
    with pytest.raises(OptionError) as e:
        run_score(sub, tmp_path / "o", engine="dask")
    assert 'pip install "ancx-scoring[dask]"' in e.value.args[0] and not (tmp_path / "o").exists()


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    from pathlib import Path

    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


@pytest.mark.skipif(not __import__("pathlib").Path("/proc/self/stat").exists(), reason="needs /proc")
def test_killing_the_driver_leaves_no_worker_behind(tmp_path):
    """A regulator's job killed mid-run (SIGKILL, no clean-up possible) must not leave Dask
    worker processes running on the machine."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    sub = write_submission(world(3000, 8), tmp_path / "s")
    code = "from scoring.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "score", str(sub), "--out", str(tmp_path / "o"), "--engine", "dask",
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.time() + 60
    while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
        time.sleep(0.2)
        workers = _descendants(proc.pid)
    assert len(workers) >= 2, "the run ended before its cluster could be seen"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    def running(p: int) -> bool:  # exists and is not a zombie waiting for its parent to reap it
        try:
            return Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.time() + 30
    while time.time() < deadline and any(running(p) for p in workers):
        time.sleep(0.5)
    assert not [p for p in workers if running(p)]
    assert not (tmp_path / "o").exists()


def test_exchange_never_drops_a_staff_day_the_check_would_fire_on():
    """Pass one keeps a staff-day only if its hours or the span of its check-ins could reach the
    limits: the box of the check-ins bounds the farthest pair, and hours split over partitions
    and enterprises add up to the whole day's."""
    import numpy as np
    from hypothesis import given, settings, strategies as st

    from scoring.rules.exchange import Exchange
    from scoring.rules.kinds.integrity import _staff_day_could_fire
    from scoring.rules.context import haversine_km
    from scoring import load_rulebook

    rule = next(r for r in load_rulebook().rules if r.kind == "staff_overlap")
    p = rule.parsed
    point = st.tuples(st.floats(18, 53), st.floats(73, 135), st.floats(0, 12), st.integers(0, 3), st.integers(0, 2))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(point, min_size=2, max_size=8))
    def check(visits):
        lat, lon, hours, ent, part = (np.array(v) for v in zip(*visits))
        far = max(haversine_km(lat[i], lon[i], lat[j], lon[j]) for i in range(len(lat)) for j in range(len(lat)) if ent[i] != ent[j]) \
            if len(set(ent)) > 1 else 0.0
        fires = len(set(ent)) > 1 and (hours.sum() > p.max_hours or far > p.max_km)
        pairs = [Exchange.pairs(np.flatnonzero(part == k), np.full((part == k).sum(), 7, np.uint64), ent,
                                {"hours": hours[part == k], "lat": lat[part == k], "lon": lon[part == k]})
                 for k in range(3) if (part == k).any()]
        kept = Exchange.candidates(pairs, 2, _staff_day_could_fire, p)
        assert not fires or list(kept) == [7]

    check()


def test_exchange_summary_equals_pandas_group_by():
    """The keys' summary, reduced over sorted runs, is pandas' group-by: distinct enterprises over
    every partition (an enterprise in two partitions counted once), hours summed with missing as
    0, check-in boxes spanned with missing ignored (all missing: missing)."""
    import numpy as np
    import pandas as pd

    from scoring.rules.exchange import Exchange

    rng = np.random.default_rng(5)
    parts = []
    for _ in range(4):
        n = 300
        q = pd.DataFrame({"key": rng.integers(0, 60, n).astype(np.uint64) + np.uint64(2 ** 63),  # past int64
                          "ent": rng.integers(0, 9, n), "hours_sum": rng.random(n) * 5,
                          "lat_min": rng.random(n) * 30, "lat_max": rng.random(n) * 30 + 30})
        q.loc[rng.random(n) < 0.2, ["hours_sum", "lat_min"]] = np.nan
        q.loc[q["key"] == np.uint64(2 ** 63), "lat_max"] = np.nan  # a key whose boxes are all missing
        parts.append(q)
    every = pd.concat(parts, ignore_index=True)
    g = every.groupby("key", sort=True)
    expected = g.agg(hours_sum=("hours_sum", "sum"), lat_min=("lat_min", "min"), lat_max=("lat_max", "max"))
    expected["enterprises"] = g["ent"].nunique()
    got = Exchange.summary(parts)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    assert got["lat_max"].isna().any() and (got["enterprises"] > 1).any()
    plain = Exchange.summary([q[["key", "ent"]] for q in parts])
    assert list(plain.columns) == ["enterprises"] and plain["enterprises"].equals(expected["enterprises"])


def test_keys_hash_the_same_in_every_worker_process():
    """Pass one's keys are compared across worker processes: a string hashes alike in another
    interpreter (another hash seed), repeated strings alike within one call, whatever the mix of
    repeated and distinct strings (the strings are hashed one by one, not numbered first)."""
    import os
    import subprocess
    import sys

    import numpy as np

    from scoring.rules.exchange import hash_strings

    values = ["照片a1", "照片a1", "", "张三", "p" * 500, "张三", "x"]
    here = hash_strings(values)
    code = f"from scoring.rules.exchange import hash_strings; print(hash_strings({values!r}).tolist())"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "123"}).stdout
    assert [int(v) for v in there.strip()[1:-1].split(",")] == [int(v) for v in here]
    assert here[0] == here[1] and here[3] == here[5] and len(set(here.tolist())) == 5
    assert np.array_equal(hash_strings(values[3:]), here[3:])  # a string's hash does not depend on its neighbours


def test_candidates_counted_in_pieces_are_the_candidates_counted_whole(monkeypatch):
    """A bucket too large to count at once is counted in pieces of a key's pairs: the kept keys
    are the same, keys past int64 and keys in several partitions included."""
    import numpy as np
    import pandas as pd

    import scoring.rules.exchange as checks
    from scoring.rules.exchange import Exchange

    rng = np.random.default_rng(11)
    keys = rng.integers(0, 2 ** 64 - 1, 400, dtype=np.uint64)
    parts = []
    for _ in range(5):
        n = 700
        parts.append(pd.DataFrame({"key": keys[rng.integers(0, len(keys), n)], "ent": rng.integers(0, 30, n),
                                   "hours_sum": rng.random(n) * 6}))
    keep = lambda s, p: s["hours_sum"].to_numpy() > 10  # noqa: E731
    whole = Exchange.candidates(parts, 3, keep)
    monkeypatch.setattr(checks, "SUMMARY_ROWS", 300)
    assert len(list(Exchange.pieces(parts))) > 5
    pieced = Exchange.candidates(parts, 3, keep)
    assert 0 < len(whole) < len(keys) and np.array_equal(pieced, whole)
    assert np.array_equal(Exchange.candidates([q[["key", "ent"]] for q in parts], 2),
                          np.sort(Exchange.summary(parts).query("enterprises >= 2").index.to_numpy(dtype=np.uint64)))
