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
3. **Partition-local rules** (:attr:`scoring.checks.Kind.local`: a policy's findings read only
   that policy, its records and the staff table) — per partition on the workers, by the same
   functions as the local engine. A task whose worker dies is run again by Dask; it is a pure
   function of its partition, so the retry gives the same findings.
4. **Cross-partition rules**, global by design — duplicate photos across enterprises, one person
   at two enterprises on one day, boilerplate reports per provider, rate peers, market
   concentration per prefecture, loss-ratio cells and their credibility, an enterprise's
   accident history across years, insurer grades and blacklist candidates — run on the driver
   over the whole submission once the partitions' findings are back (the insurer pass reads
   them).
5. **Findings** are put in :func:`scoring.rulebook.finding_order`, which does not depend on
   which worker found what; rules that cannot be checked are listed in the rulebook's order.
6. **Features, track records, the model, the shift check, the global ranking and capacity cut,
   SHAP for the flagged policies only, and every output** — the driver, by the local engine's
   code on the same inputs.

The driver therefore holds the whole submission and its findings, as the local engine does;
what the cluster takes over is the rulebook's partition-local work, a few partitions in flight
per worker (:data:`IN_FLIGHT_PER_WORKER`).
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from .checks import KINDS
from .errors import OptionError
from .intake import Submission
from .dataset import partition_keys as convert_keys
from .rulebook import Rule, Rulebook, RuleResults, rule_findings, rule_order, sorted_results

#: Memory limit per worker of a LocalCluster started for the run (Dask spills to disk above 60%).
DEFAULT_WORKER_MEMORY = "4GiB"
#: Partitions in flight per worker: enough to keep every worker busy, few enough that the
#: driver holds only a handful of partition copies at a time.
IN_FLIGHT_PER_WORKER = 2
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
        raise OptionError("--engine dask 需要 Dask：pip install \"ancx-scoring[dask]\"",
                          "--engine dask needs Dask: pip install \"ancx-scoring[dask]\"") from e

    memory_limit = memory_limit or os.environ.get("SCORING_DASK_WORKER_MEMORY", DEFAULT_WORKER_MEMORY)

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise OptionError(f"无法连接 Dask 调度器 {scheduler}（{CONNECT_TIMEOUT} 秒内无响应或地址无效）：{e}",
                              f"cannot reach the Dask scheduler at {scheduler} (no answer within {CONNECT_TIMEOUT} s, or not an address): {e}") from e
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


def partitions(sub: Submission) -> Iterator[tuple[str, Submission]]:
    """The submission cut into partitions (each a :class:`Submission` of its policies with their
    service records, inspections and claims, and the whole staff table), in key order, one at a
    time: a partition is cut when it is about to be sent, so the driver never holds a second
    copy of the whole submission."""
    keys = partition_keys(sub)
    pol = sub["policies"]
    codes, names = pd.factorize(keys, sort=True)
    svc_code = codes[sub.service_policy_pos]
    pid_code = pd.Series(codes, index=pol["policy_id"].to_numpy())
    by_pid = {t: pid_code.reindex(sub[t]["policy_id"].to_numpy()).to_numpy() for t in ("inspections", "claims")}
    for k, name in enumerate(names):
        tables = {**sub.tables,
                  "policies": pol[codes == k].reset_index(drop=True),
                  "services": sub["services"][svc_code == k].reset_index(drop=True),
                  **{t: sub[t][by_pid[t] == k].reset_index(drop=True) for t in by_pid}}
        yield str(name), dataclasses.replace(sub, tables=tables)


def _local_findings(part: Submission, rulebook: Rulebook, as_of, rules: list[Rule]):
    """On a worker: the findings of the partition-local ``rules`` on one partition."""
    table, not_checkable, _ = rule_findings(part, rulebook, as_of, rules=rules)
    return table, not_checkable


def run_rules_dask(client, sub: Submission, rulebook: Rulebook, as_of, progress=None) -> RuleResults:
    """:func:`scoring.rulebook.run_rules` with the partition-local rules on the cluster (steps 3-5
    of the module's plan): the same findings, in the same order."""
    local = [r for r in rulebook.rules if KINDS[r.kind].local]
    glob = [r for r in rulebook.rules if not KINDS[r.kind].local]
    if progress:
        progress(f"{len(local)} partition-local rules on the cluster, per policy year × province")
    # a bounded window of partitions in flight: each is cut, sent, checked and dropped in turn
    from distributed import as_completed

    window = IN_FLIGHT_PER_WORKER * max(1, len(client.scheduler_info()["workers"]))
    todo = partitions(sub)
    done = as_completed()
    results: dict[str, tuple] = {}

    def send() -> None:
        for name, part in todo:
            done.add(client.submit(_local_findings, part, rulebook, as_of, local, key=f"rules-{name}", pure=False))
            return

    for _ in range(window):
        send()
    for fut in done:
        results[str(fut.key)[len("rules-"):]] = fut.result()
        fut.release()
        send()
    tables, not_checkable = [], {}
    for name in sorted(results):
        table, nc = results.pop(name)
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
    rank: dict[str, int] = {}
    for i, r in enumerate(rule_order(rulebook.rules)):
        rank.setdefault(r.code, i)
    merged = sorted([*not_checkable.values(), *nc_global], key=lambda x: rank[x["rule_code"]])
    return sorted_results(table, merged, rulebook, cells)
