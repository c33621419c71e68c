"""The same job on a Dask cluster: ``scoring score --engine dask``.

The cluster is a ``LocalCluster`` of worker processes started for the run, or an existing one
(``--scheduler tcp://host:8786``: ``dask scheduler`` / ``dask worker`` on plain hosts, or
dask-kubernetes / dask-yarn). What runs where, step by step, and why the results equal the local
engine's byte for byte:

1. **Intake** — the driver reads and validates the submission (a converted dataset or any file)
   exactly as the local engine does; the as-of date is fixed here, for every partition.
2. **Partitions** — policies by policy year × province (the layout of ``scoring convert``), each
   with its own service records, inspections and claims. The staff table travels whole: a
   person may serve in several provinces. Partitions go to the workers as they are needed.
3. **Partition-local rules** (:attr:`scoring.rules.context.Kind.local`: a policy's findings read only
   that policy, its records and the staff table) — per partition on the workers, by the same
   functions as the local engine. A task whose worker dies is run again by Dask; it is a pure
   function of its partition, so the retry gives the same findings.
4. **Cross-partition rules**, global by design — duplicate photos across enterprises, one person
   at two enterprises on one day, boilerplate reports per provider, rate peers, market
   concentration per prefecture, loss-ratio cells and their credibility, an enterprise's
   accident history across years, insurer grades and blacklist candidates — run on the driver
   over the whole submission once the partitions' findings are back (the insurer pass reads
   them).
5. **Findings** are put in :func:`scoring.rules.run.finding_order`, which does not depend on
   which worker found what; rules that cannot be checked are listed in the rulebook's order.
6. **Features, track records, the model, the shift check, the global ranking and capacity cut,
   SHAP for the flagged policies only, and every output** — the driver, by the local engine's
   code on the same inputs.

This is the plan for a submission given as files: the driver reads it whole, as the local
engine does, and the cluster takes over the rulebook's partition-local work, a few partitions in
flight per worker (:data:`IN_FLIGHT_PER_WORKER`). A dataset written by ``scoring convert`` is
run out of core instead (the second half of this module): the workers read the service records
partition by partition, and the driver never holds them whole.
"""
from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from scoring.messages import both, render
from scoring.rules.kinds import KINDS
from scoring.errors import OptionError
from scoring.engines.base import Engine, Prepared
from scoring.schema import DateBounds
from scoring.submission.dataset import is_dataset
from scoring.submission.intake import Submission, load_submission
from scoring.submission.dataset import partition_keys as convert_keys
from scoring.rules.book import Rule, Rulebook
from scoring.rules.run import RuleResults, rule_findings, rule_order, sorted_results

#: Memory limit per worker of a LocalCluster started for the run (Dask spills to disk above 60%).
DEFAULT_WORKER_MEMORY = "4GiB"
#: Partitions in flight per worker: enough to keep every worker busy, few enough that the
#: driver holds only a handful of partition copies at a time.
IN_FLIGHT_PER_WORKER = 2
#: Buckets of the cross-partition keys (step 3 of the out-of-core plan): the driver counts one
#: bucket's pairs at a time.
BUCKETS = 16
#: Seconds to wait for a scheduler given with ``--scheduler``.
CONNECT_TIMEOUT = 20


@contextlib.contextmanager
def cluster(scheduler: str | None = None, workers: int | None = None, memory_limit: str | None = None) -> Iterator:
    """A ``distributed.Client``: to ``scheduler`` if given, else to a LocalCluster of ``workers``
    single-threaded worker processes (default 2) started for the run and closed after it, each
    limited to ``memory_limit`` (default: the environment's ``SCORING_DASK_WORKER_MEMORY``, else
    :data:`DEFAULT_WORKER_MEMORY`; Dask spills to disk as a worker nears it). Workers of an
    existing cluster have the limit they were started with (``dask worker --memory-limit``)."""
    import os

    try:
        from distributed import Client, LocalCluster
    except ImportError as e:
        raise OptionError(*render('dask.cluster')) from e

    memory_limit = memory_limit or os.environ.get("SCORING_DASK_WORKER_MEMORY", DEFAULT_WORKER_MEMORY)

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise OptionError(*render('dask.cluster.2', scheduler=scheduler, connect_timeout=CONNECT_TIMEOUT, e=e)) from e
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                      dashboard_address=None) as lc, Client(lc) as client:
        yield client


def partition_keys(sub: Submission) -> np.ndarray:
    """Per policy, its partition: ``"<policy year>/<province>"`` (the convert layout)."""
    k = convert_keys(sub["policies"])
    return k["policy_year"].astype(str).to_numpy(dtype=object) + "/" + k["province"].to_numpy(dtype=object)


def partitions(sub: Submission, largest_first: bool = False) -> Iterator[tuple[str, Submission]]:
    """The submission cut into partitions (each a :class:`Submission` of its policies with their
    service records, inspections and claims, and the whole staff table), in key order or, with
    ``largest_first``, by their count of policies, most first (the longest tasks start first, so
    no worker is left running one alone at the end), one at a time: a partition is cut when it
    is about to be sent, so the driver never holds a second copy of the whole submission."""
    keys = partition_keys(sub)
    pol = sub["policies"]
    codes, names = pd.factorize(keys, sort=True)
    svc_code = codes[sub.service_policy_pos]
    pid_code = pd.Series(codes, index=pol["policy_id"].to_numpy())
    by_pid = {t: pid_code.reindex(sub[t]["policy_id"].to_numpy()).to_numpy() for t in ("inspections", "claims")}
    order = np.argsort(-np.bincount(codes, minlength=len(names)), kind="stable") if largest_first else range(len(names))
    for k in order:
        name = names[k]
        tables = {**sub.tables,
                  "policies": pol[codes == k].reset_index(drop=True),
                  "services": sub["services"][svc_code == k].reset_index(drop=True),
                  **{t: sub[t][by_pid[t] == k].reset_index(drop=True) for t in by_pid}}
        yield str(name), dataclasses.replace(sub, tables=tables)


def _local_findings(part: Submission, rulebook: Rulebook, as_of, rules: list[Rule]):
    """On a worker: the findings of the partition-local ``rules`` on one partition."""
    table, not_checkable, _ = rule_findings(part, rulebook, as_of, rules=rules)
    return table, not_checkable


def run_rules_dask(client, sub: Submission, rulebook: Rulebook, as_of, progress=None, spill=None) -> RuleResults:
    """:func:`scoring.rules.run.run_rules` with the partition-local rules on the cluster (steps 3-5
    of the module's plan): the same findings, in the same order."""
    local = [r for r in rulebook.rules if KINDS[r.kind].local]
    glob = [r for r in rulebook.rules if not KINDS[r.kind].local]
    if progress:
        progress(f"{len(local)} partition-local rules on the cluster, per policy year × province")
    # a bounded window of partitions in flight: each is cut, sent, checked and dropped in turn
    results, _ = _windowed(client, ((f"rules-{name}", _local_findings, (part, rulebook, as_of, local))
                                    for name, part in partitions(sub, largest_first=True)))
    tables, not_checkable = [], {}
    for key in sorted(results):
        table, nc = results.pop(key)
        if table is not None:
            tables.append(table)
        for x in nc:  # every partition reports the same structurally uncheckable rules
            not_checkable.setdefault(x["rule_code"], x)
    prior = pa.concat_tables(tables, promote_options="default") if tables else None
    del tables
    if progress:
        progress(f"{len(glob)} cross-partition rules on the whole submission")
    table, nc_global, cells = rule_findings(sub, rulebook, as_of, rules=glob, prior=prior)
    del prior
    box = [table]
    del table
    return sorted_results(box, _not_checkable(rulebook, not_checkable, nc_global), rulebook, cells, spill=spill)


def _not_checkable(rulebook: Rulebook, partitions: dict[str, dict], whole: list[dict]) -> list[dict]:
    """The rules that could not be checked, from the partitions (each reports the same
    structurally uncheckable rules: one entry per rule) and the whole, in the rulebook's order."""
    rank: dict[str, int] = {}
    for i, r in enumerate(rule_order(rulebook.rules)):
        rank.setdefault(r.code, i)
    return sorted([*partitions.values(), *whole], key=lambda x: rank[x["rule_code"]])


# ------------------------------------------------------------------------------ out of core
#
# A dataset written by ``scoring convert`` is read by the workers, not the driver: the service
# records (five or more per policy, most of a submission's bytes) never reach the driver whole.
#
# 1. **Driver** — reads and validates every table but the services (policies, staff,
#    inspections, claims), counts the service rows, hashes their files and reads their dates
#    (the default as-of date), then numbers the enterprises (exact keys for step 3).
# 2. **Pass one, per partition on the workers** — reads the partition's service records and
#    validates them against its policies (a dataset holds accepted rows only: a row refused here
#    means the dataset changed after conversion, and the run stops naming it); cuts them to the
#    as-of date; runs the partition-local rules; computes each policy's own features
#    (:func:`scoring.model.features.policy_features`), its service count and spend; and reads the keys
#    of the cross-partition service checks (:class:`scoring.rules.exchange.Exchange`), split into
#    :data:`BUCKETS` by key. The driver takes each result apart as it arrives: the findings go to
#    the run's scratch file (:mod:`scoring.spill`), read back memory-mapped in partition order,
#    and so do the key pairs, one scratch file per rule and bucket (they grow with the services:
#    the driver never holds them all).
# 3. **Driver** — keeps the keys that enough enterprises share, counted one bucket at a time,
#    each bucket read back from its file only when its turn comes.
# 4. **Pass two, per partition** — sends back whole only the records holding a kept key.
# 5. **Driver** — runs the cross-partition rules on those records and on the policies, with the
#    service counts and spend from pass one; completes the features with the market medians,
#    every rule's findings and the peers (:func:`scoring.model.features.market_features`); then the
#    model, the ranking, SHAP and the outputs as in step 6 above.
#
# A task is a pure function of its partition: a worker that dies is replaced and its task run
# again with the same result. Results go to the driver in partition order, and every table the
# driver assembles is put back in the order the local engine has (policies as validated; the
# records of step 4 by their row in the dataset), so the outputs are the same bytes.


@dataclasses.dataclass(frozen=True)
class DatasetSubmission(Submission):
    """A converted dataset (at ``path``) as the driver holds it: every table but the service
    records, which stay in the dataset (``services`` is an empty frame until pass two); their
    count, digest and absent columns are in ``counts``, ``files`` and ``absent`` as for a
    submission read whole, their latest date in ``services_latest``."""

    services_latest: np.datetime64 | None = None


def load_dataset(path) -> DatasetSubmission:
    """Step 1: the driver's part of the dataset at ``path``."""
    from pathlib import Path

    import pyarrow.dataset as pads

    from scoring.submission.dataset import PARTITIONS
    from scoring.submission.intake import AS_OF_COLUMNS, ORDER, TableCounts, validate
    from scoring.submission.dataset import dir_digest
    from scoring.submission.folder import read_submission
    from scoring.submission.raw import table_dir_raw
    from scoring.schema import TABLES

    path = Path(path)
    sub = validate(read_submission(path, without=("services",)), str(path))
    svc_dir = path / "services"
    counts, files, absent, latest = dict(sub.counts), dict(sub.files), dict(sub.absent), None
    if svc_dir.is_dir():
        ds = pads.dataset(svc_dir, format="parquet", partitioning="hive")
        head = ds.schema.empty_table()
        head = head.drop_columns([c for c in (*PARTITIONS, "_row") if c in head.column_names])
        raw = table_dir_raw(TABLES["services"], head, "services/", dir_digest(svc_dir))
        n = ds.count_rows()
        counts["services"] = TableCounts(rows_in=n, rows_rejected=0, lines_in=n)
        files["services"] = (raw.file, raw.sha256)
        absent["services"] = raw.absent_columns
        dates = ds.to_table(columns=[c for c in AS_OF_COLUMNS["services"] if c in ds.schema.names])
        latest = max((v for v in (pa.compute.max(col).as_py() for col in dates.columns) if v is not None), default=None)
    order = [t for t in ORDER if t in counts]
    present = frozenset(sub.present | ({"services"} if "services" in counts else set()))
    return DatasetSubmission(path=str(path), tables=sub.tables, present=present, rejected=sub.rejected,
                             counts={t: counts[t] for t in order}, files={t: files[t] for t in order if t in files},
                             absent={t: absent[t] for t in order if t in absent},
                             services_latest=None if latest is None else np.datetime64(latest, "D"))


def _read_partition(part: DatasetSubmission, name: str, as_of) -> tuple[Submission, np.ndarray, dict]:
    """On a worker: partition ``name`` (its policies, inspections and claims as validated) with its
    service records read from the dataset and validated against its policies, cut to ``as_of``;
    the records' rows in the dataset; and the out-of-scope counts."""
    from pathlib import Path

    from scoring.submission.asof import in_scope, services_after
    from scoring.submission.dataset import partition_dir, read_table_dir
    from scoring.errors import SubmissionError
    from scoring.submission.intake import validate_one
    from scoring.submission.raw import table_dir_raw
    from scoring.schema import TABLES

    year, province = name.split("/")
    where = partition_dir(Path(part.path), "services", int(year), province)
    services, rows = part["services"], np.empty(0, dtype=np.int64)
    if where.is_dir():
        data, rows = read_table_dir(where, with_rows=True)
        label = f"services/{where.parent.name}/{where.name}/"
        services, rejected = validate_one(table_dir_raw(TABLES["services"], data, label, ""), part["policies"]["policy_id"].tolist())
        if len(rejected):
            r = rejected.iloc[0]
            raise SubmissionError(
                *render('dask.read_partition', path=part.path, label=label, v=len(rejected), v2_zh=r['message_zh'], v2_en=r['message_en']))
    rows = rows[~services_after(services, part["policies"], as_of)]  # the records in_scope keeps, in order
    part, oos = in_scope(dataclasses.replace(part, tables={**part.tables, "services": services}), as_of)
    return part, rows, oos


def _exchange_params(rule: Rule):
    """The rule's parameters at their strictest over its regional overrides: the keys a check can
    fire on anywhere (a superset is harmless: pass two's records are checked in full)."""
    k = KINDS[rule.kind]
    update = {}
    for name, stricter in k.stricter.items():
        values = [getattr(rule.parsed, name)] + [o.params[name] for o in rule.overrides if name in o.params]
        update[name] = (min if stricter == "lower" else max)(values)
    return rule.parsed.model_copy(update=update) if update else rule.parsed


def _keys(part: Submission, as_of, rules: list[Rule]):
    """Per exchange rule, each service record's (row, key) in ``part`` (cut to ``as_of``)."""
    from scoring.rules.context import Context

    ctx = Context(part, as_of)
    frame = ctx.frame("service")
    return {r.code: KINDS[r.kind].exchange.keys(ctx, frame, _exchange_params(r)) for r in rules}


def _kept(run: str, name: str):
    """Where a worker keeps a partition's records between the passes: its own local directory,
    which Dask removes with the worker (None outside a worker)."""
    from pathlib import Path

    try:
        from distributed import get_worker

        return Path(get_worker().local_directory) / "scoring" / run / name.replace("/", "-")
    except (ImportError, ValueError):
        return None


def _forget(run: str, dask_worker=None) -> None:
    """On every worker after the run: remove what pass one kept there."""
    import shutil
    from pathlib import Path

    if dask_worker is not None:
        shutil.rmtree(Path(dask_worker.local_directory) / "scoring" / run, ignore_errors=True)


def _pass_one(part: DatasetSubmission, name: str, enterprise: np.ndarray, rulebook: Rulebook, as_of,
              local: list[Rule], exchange: list[Rule], run: str) -> dict:
    """Step 2 on a worker, for one partition (``enterprise``: its policies' enterprise numbers).
    The partition's records as of ``as_of`` (with their rows in the dataset) and their keys are
    kept in the worker's local directory for pass two."""
    import pickle

    from scoring.rules.exchange import Exchange
    from scoring.model.features import policy_features

    ent = pd.Series(enterprise, index=part["policies"]["policy_id"].to_numpy())
    part, rows, oos = _read_partition(part, name, as_of)
    table, not_checkable, _ = rule_findings(part, rulebook, as_of, rules=local) if local else (None, [], None)
    ent_of_service = ent.reindex(part["policies"]["policy_id"].to_numpy()).to_numpy()[part.service_policy_pos]
    keys = _keys(part, as_of, exchange)
    pairs = {code: _buckets(Exchange.pairs(k[0], k[1], ent_of_service, *k[2:])) for code, k in keys.items()}
    kept = _kept(run, name)
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        with open(kept.with_suffix(".part"), "wb") as f:
            pickle.dump((part["services"], rows, {code: k[:2] for code, k in keys.items()}), f, protocol=5)
        kept.with_suffix(".part").replace(kept)  # whole or absent, whatever happens to the worker
    agg = part.aggregates
    return {"findings": table, "not_checkable": not_checkable, "features": policy_features(part, as_of),
            "n_services": agg.n_services, "spend": agg.spend, "services_after": oos["services_after"], "pairs": pairs}


def _buckets(pairs: pd.DataFrame) -> list[pd.DataFrame]:
    """A partition's (key, enterprise) pairs split by key into :data:`BUCKETS` parts: a key's
    pairs from every partition meet in one bucket, so the driver counts enterprises bucket by
    bucket and never holds every pair twice (step 3)."""
    b = (pairs["key"].to_numpy(dtype=np.uint64) % np.uint64(BUCKETS)).astype(np.intp)
    order = np.argsort(b, kind="stable")
    bounds = np.searchsorted(b[order], np.arange(BUCKETS + 1))
    return [pairs.iloc[order[lo:hi]].reset_index(drop=True) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _bucket(file) -> list[pd.DataFrame]:
    """One bucket's pairs from every partition, in partition order (the same sums every run), read
    back from the scratch file pass one appended them to as they arrived (step 3; None: no pairs)."""
    table = file.in_part_order() if file is not None else None
    return [table.to_pandas()] if table is not None else []


def _candidates(buckets: Iterable[list[pd.DataFrame]], rule: Rule) -> np.ndarray:
    """Step 3 for one exchange rule, bucket by bucket (each bucket's pairs from every partition,
    in partition order): the kept keys, sorted. A bucket is read only when its turn comes."""
    from scoring.rules.exchange import Exchange

    x, params = KINDS[rule.kind].exchange, _exchange_params(rule)
    kept = [Exchange.candidates(bucket, x.min_enterprises(params), x.keep, params) for bucket in buckets]
    return np.sort(np.concatenate(kept)) if kept else np.empty(0, dtype=np.uint64)


def _pass_two(part: DatasetSubmission, name: str, as_of, exchange: list[Rule], candidates: dict[str, np.ndarray],
              run: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Step 4 on a worker: the partition's records (as of ``as_of``) holding a kept key, with their
    rows in the dataset. What pass one kept on this worker is read back; on another worker (one
    that replaced a dead one, or was free first) the partition is read and keyed again."""
    import pickle

    kept = _kept(run, name)
    if kept is not None and kept.exists():
        with open(kept, "rb") as f:
            services, rows, keys = pickle.load(f)
        kept.unlink()
    else:
        part, rows, _ = _read_partition(part, name, as_of)
        services, keys = part["services"], {code: k[:2] for code, k in _keys(part, as_of, exchange).items()}
    hit = np.zeros(len(services), dtype=bool)
    for code, (at, k) in keys.items():
        if code in candidates:
            hit[at[np.isin(k, candidates[code])]] = True
    return services[hit].reset_index(drop=True), rows[hit]


def _name(key: str) -> str:
    """The partition a task key names (``"one-<run>-2024/32"`` → ``"2024/32"``)."""
    return key.rsplit("-", 1)[-1]


def _windowed(client, tasks: Iterator[tuple[str, Callable, tuple]], where: dict | None = None,
              take: Callable[[str, object], None] | None = None) -> tuple[dict, dict]:
    """Run ``(key, function, args)`` tasks with a bounded number in flight. Returns the results
    and the worker that ran each task, by key; ``where`` (a key's name → worker) asks for the
    same worker as before, where it is still there. ``take(name, result)``, if given, is handed
    each result as it arrives instead (the results returned are then empty)."""
    from distributed import as_completed

    window = IN_FLIGHT_PER_WORKER * max(1, len(client.scheduler_info()["workers"]))
    tasks = iter(tasks)
    done = as_completed(with_results=False)
    results: dict = {}
    ran: dict = {}

    def send() -> None:
        for key, fn, args in tasks:
            at = (where or {}).get(_name(key))
            place = {"workers": [at], "allow_other_workers": True} if at else {}
            with warnings.catch_warnings():  # a partition's policies are meant to travel with its task
                warnings.filterwarnings("ignore", message="Sending large graph")
                done.add(client.submit(fn, *args, key=key, pure=False, **place))
            return

    for _ in range(window):
        send()
    for fut in done:
        if take is None:
            results[str(fut.key)] = fut.result()
        else:
            take(_name(str(fut.key)), fut.result())
        who = client.who_has([fut]).get(fut.key)
        ran[_name(str(fut.key))] = next(iter(who)) if who else None
        fut.release()
        send()
    return results, ran


def prepare_dataset(client, sub: DatasetSubmission, rulebook: Rulebook, as_of, progress=None, spill=None):
    """Steps 2-5 of the out-of-core plan: the submission as known on ``as_of`` (its services the
    records of pass two), the rule results, the features and the out-of-scope counts: what
    :func:`scoring.jobs.prepare` gives for the same dataset read whole. The partitions'
    findings go to ``spill`` (a :class:`scoring.spill.Spill`; one in the system's temporary
    directory if none is given) as they arrive, and the findings returned are read from there."""
    import uuid

    from scoring.heap import release
    from scoring.spill import Spill

    def say(msg: str) -> None:
        release()
        if progress:
            progress(msg)

    run = uuid.uuid4().hex[:8]
    try:
        if spill is not None:
            return _prepare_dataset(client, sub, rulebook, as_of, say, run, spill)
        with Spill() as own:
            return _prepare_dataset(client, sub, rulebook, as_of, say, run, own)
    finally:
        with contextlib.suppress(Exception):  # a cluster that is gone has nothing left to remove
            client.run(_forget, run)


def _prepare_dataset(client, sub: DatasetSubmission, rulebook: Rulebook, as_of, say, run: str, spill):
    from scoring.submission.asof import in_scope
    from scoring.model.features import market_features, rule_roles
    from scoring.rules.apply import FINDING_COLUMNS
    from scoring.spill import string_schema

    local = [r for r in rulebook.rules if KINDS[r.kind].local]
    glob = [r for r in rulebook.rules if not KINDS[r.kind].local]
    exchange = [r for r in glob if KINDS[r.kind].exchange is not None]
    enterprises = pd.factorize(sub["policies"]["enterprise_id"])[1]  # numbered once, for every partition
    # a partition's tables (the staff table whole) and the rulebook go with its task: scattered
    # once instead, a task of pass two was cancelled when a worker holding them died
    say(both("dask.pass_one", n=len(local)))
    # each result is taken apart as it arrives: the pairs go to their buckets' scratch files, the
    # findings to theirs, each piece under its partition's name (read back in partition order)
    arrived: dict[str, dict] = {}
    pairs: dict[tuple[str, int], object] = {}  # per rule and bucket: its scratch file
    finding_file = spill.writer(string_schema(FINDING_COLUMNS))

    def take(name: str, result: dict) -> None:
        for code, buckets in result.pop("pairs").items():
            for b, piece in enumerate(buckets):
                if len(piece):
                    table = pa.Table.from_pandas(piece, preserve_index=False)
                    if (code, b) not in pairs:
                        pairs[code, b] = spill.writer(table.schema)
                    pairs[code, b].write(table, part=name)
        table = result.pop("findings")
        if table is not None:
            finding_file.write(table, part=name)
        arrived[name] = result

    _, ran = _windowed(client, ((f"one-{run}-{name}", _pass_one,
                                 (part, name, enterprises.get_indexer(part["policies"]["enterprise_id"]), rulebook, as_of,
                                  local, exchange, run))
                                for name, part in partitions(sub, largest_first=True)), take=take)
    candidates = {r.code: _candidates((_bucket(pairs.pop((r.code, b), None)) for b in range(BUCKETS)), r) for r in exchange}
    prior = finding_file.in_part_order()
    not_checkable, features, n_services, spend, after = {}, [], [], [], 0
    for name in sorted(arrived):
        p = arrived.pop(name)
        for x in p["not_checkable"]:
            not_checkable.setdefault(x["rule_code"], x)
        features.append(p["features"])
        n_services.append(p["n_services"])
        spend.append(p["spend"])
        after += p["services_after"]
    sub_in, out_of_scope = in_scope(sub, as_of)
    out_of_scope = {**out_of_scope, "services_after": int(after)}
    pids = sub_in["policies"]["policy_id"].to_numpy()
    features = pd.concat(features)
    at = features.index.get_indexer(pids)
    features = features.iloc[at]
    n_services, spend = np.concatenate(n_services)[at], np.concatenate(spend)[at]
    found = {k: int(len(v)) for k, v in candidates.items()}
    say(both("dask.pass_two", keys=", ".join(f"{k} {v:,}" for k, v in found.items())))
    wanted = {k: v for k, v in candidates.items() if len(v)}
    records = []
    if wanted:
        keep = [r for r in exchange if r.code in wanted]
        two, _ = _windowed(client, ((f"two-{run}-{name}", _pass_two, (part, name, as_of, keep, wanted, run))
                                    for name, part in partitions(sub)), where=ran)
        records = [v for v in two.values() if len(v[1])]
        del two
    if records:
        rows = np.concatenate([r for _, r in records])
        services = pd.concat([s for s, _ in records], ignore_index=True).iloc[np.argsort(rows, kind="stable")].reset_index(drop=True)
    else:
        services = sub_in["services"]
    say(f"驱动端持有服务记录 {len(services):,} 条 / service records on the driver: {len(services):,}")
    part = dataclasses.replace(sub_in, tables={**sub_in.tables, "services": services})
    part.aggregates.preset(n_services=n_services, spend=spend)
    say(f"{len(glob)} 条跨分区规则 / {len(glob)} cross-partition rules")
    table, nc_global, cells = rule_findings(part, rulebook, as_of, rules=glob, prior=prior)
    del prior
    box = [table]
    del table
    results = sorted_results(box, _not_checkable(rulebook, not_checkable, nc_global), rulebook, cells, spill=spill)
    features = market_features(features, sub_in["policies"]["industry"].to_numpy(dtype=object), results.findings, rule_roles(rulebook))
    return part, results, features, out_of_scope


class DaskEngine(Engine):
    """The job's reading and rules on a Dask cluster (``scheduler``, or a LocalCluster of ``workers``
    processes started on entry and stopped on exit): a converted dataset out of core, any other
    submission read by the driver with its partition-local rules on the workers."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        self.scheduler, self.workers, self.client, self._stack = scheduler, workers, None, None

    def __enter__(self) -> "DaskEngine":
        self._stack = contextlib.ExitStack()
        self.client = self._stack.enter_context(cluster(self.scheduler, self.workers))
        return self

    def __exit__(self, *exc) -> bool:
        self._stack.close()
        self.client = None
        return False

    def info(self) -> dict:
        n = len(self.client.scheduler_info()["workers"])
        return {"name": "dask", "workers": n, **({"scheduler": self.scheduler} if self.scheduler else {})}

    def load(self, submission, dates: DateBounds = DateBounds()) -> Submission:
        if is_dataset(submission):  # out of core: the workers read the service records
            return load_dataset(submission)
        return load_submission(submission, dates)

    def rules(self, sub: Submission, rulebook: Rulebook, as_of, progress=None, spill=None) -> RuleResults:
        return run_rules_dask(self.client, sub, rulebook, as_of, progress=progress, spill=spill)

    def prepare(self, sub: Submission, rulebook: Rulebook, as_of, progress=None, spill=None) -> Prepared:
        if isinstance(sub, DatasetSubmission):
            sub, rules, features, out_of_scope = prepare_dataset(self.client, sub, rulebook, as_of, progress=progress, spill=spill)
            return Prepared(sub, as_of, rules, features, out_of_scope)
        return super().prepare(sub, rulebook, as_of, progress, spill)

