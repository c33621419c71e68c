"""Per-policy and per-service aggregates of a submission, computed once and shared.

Checks, features, the insurer summary and the pipeline all need the same few facts: where each
service's policy sits, the service cost recorded per policy, who provided each service, and
the qualification of each listed staff member. :class:`Aggregates` computes each on first
use; a :class:`~scoring.submission.intake.Submission` holds one (``sub.aggregates``), so a submission's
aggregates are computed once whoever asks first.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa

from scoring.schema import province_of
import pyarrow.compute as pc

from scoring.arrays import arrow


class Aggregates:
    """Aggregates of one validated submission (see the module docstring)."""

    def __init__(self, sub):
        self.sub = sub
        self._items: dict[str, np.ndarray] = {}

    def preset(self, **values: np.ndarray) -> None:
        """Per-policy totals computed elsewhere (``n_services``, ``spend``: a Dask run sums them per
        partition), in place of computing them from this submission's service records."""
        for name, value in values.items():
            if name not in ("n_services", "spend"):
                raise ValueError(f"not a per-policy total: {name}")
            self.__dict__[name] = value

    @property
    def n_policies(self) -> int:
        return len(self.sub["policies"])

    @cached_property
    def policy_pos(self) -> np.ndarray:
        """Each service's row in the policies table."""
        return self.sub.service_policy_pos

    @cached_property
    def n_services(self) -> np.ndarray:
        """Service records per policy (aligned with the policies table)."""
        return np.bincount(self.policy_pos, minlength=self.n_policies).astype(np.int64)

    @cached_property
    def spend(self) -> np.ndarray:
        """Service cost recorded per policy, yuan (aligned with the policies table)."""
        cost = self.sub["services"]["cost"].to_numpy(dtype=float, na_value=np.nan)
        return np.bincount(self.policy_pos, weights=np.nan_to_num(cost), minlength=self.n_policies)

    def item_count(self, item: str) -> np.ndarray:
        """Services of ``item`` per policy (for any item a rule names; each counted once)."""
        if item not in self._items:
            is_item = (self.sub["services"]["service_item"] == item).to_numpy()
            self._items[item] = np.bincount(self.policy_pos, weights=is_item, minlength=self.n_policies)
        return self._items[item]

    def ended(self, as_of) -> np.ndarray:
        """Policies whose period ended before ``as_of``."""
        return self.sub["policies"]["end_date"].to_numpy() < np.datetime64(as_of, "s")

    @cached_property
    def service_provider(self) -> pa.ChunkedArray | pa.Array:
        """Who provided each service, for the integrity checks: its agency, or ``insurer:<insurer_id>``
        when the insurer served with its own staff (text copied between its branches is copied)."""
        insurer = pa.array(self.sub["policies"]["insurer_id"].to_numpy(dtype=object)[self.policy_pos], pa.string())
        return pc.coalesce(arrow(self.sub["services"]["agency_id"]), pc.binary_join_element_wise("insurer:", insurer, ""))

    @cached_property
    def policy_provider(self) -> np.ndarray:
        """Who served each policy, for the model's peers and memory: the agency of its first service
        record, or ``insurer:<insurer_id>:<province>`` when the insurer served with its own staff
        (a provincial branch's staff is one provider). None for a policy without service records."""
        p = self.sub["policies"]
        first = np.full(self.n_policies, -1, dtype=np.int64)
        with_services, first_row = np.unique(self.policy_pos, return_index=True)
        first[with_services] = first_row
        has = first >= 0
        agency = pc.take(arrow(self.sub["services"]["agency_id"]), pa.array(first[has]))
        own = pc.binary_join_element_wise(
            "insurer:", pa.array(p["insurer_id"].to_numpy(dtype=object)[has], pa.string()), ":",
            pa.array(province_of(p["region_code"]).to_numpy(dtype=object)[has], pa.string()), "")
        out = np.full(self.n_policies, None, dtype=object)
        out[has] = pc.coalesce(agency, own).to_numpy(zero_copy_only=False)
        return out

    @cached_property
    def staff_long(self) -> pd.DataFrame:
        """One row per listed staff member of each service: ``i`` (service row) and ``staff``."""
        lists = pc.split_pattern(arrow(self.sub["services"]["staff_ids"]), ";")
        flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
        parent = pc.list_parent_indices(lists)
        keep = pc.not_equal(flat, "")
        return pd.DataFrame({"i": parent.filter(keep).to_numpy(), "staff": flat.filter(keep).to_pandas()})

    @cached_property
    def staff_qualification(self) -> pd.DataFrame:
        """:attr:`staff_long` with ``known`` (listed in the staff table) and ``none`` (no qualification)."""
        long, staff = self.staff_long, self.sub["staff"]
        idx = pc.index_in(arrow(long["staff"]), value_set=arrow(staff["staff_id"]))
        known = np.asarray(pc.is_valid(idx).to_numpy(zero_copy_only=False), dtype=bool)
        qual = np.full(len(long), None, dtype=object)
        qual[known] = staff["qualification"].to_numpy(dtype=object)[idx.filter(pc.is_valid(idx)).to_numpy()]
        return long.assign(known=known, none=(qual == "none"))

    @cached_property
    def unqualified(self) -> np.ndarray:
        """Services whose every listed staff member has no qualification (per service row)."""
        q, n = self.staff_qualification, len(self.sub["services"])
        i = q["i"].to_numpy()
        listed = np.bincount(i, minlength=n)
        none = np.bincount(i, weights=q["none"].to_numpy(), minlength=n)
        return (listed > 0) & (none == listed)
