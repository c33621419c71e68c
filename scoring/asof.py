"""As of a date: the submission as it was known then.

A run at an as-of date judges what was known on that date. Policies that start after it are
out of scope (not scored, not flagged); service records and inspections dated after it, or
belonging to such a policy, are not used by rules or features. :func:`in_scope` sets them
aside and counts them (``run.json`` → ``out_of_scope``).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .intake import Submission


def in_scope(sub: Submission, as_of) -> tuple[Submission, dict]:
    """The submission as known on ``as_of``: policies that start after it, and service records and
    inspections dated after it (or belonging to such a policy), are set aside and counted.

    Returns the submission in scope and the counts (``run.json`` → ``out_of_scope``).
    """
    day = np.datetime64(as_of, "D").astype("datetime64[s]")
    pol, svc, insp = sub["policies"], sub["services"], sub["inspections"]
    later = (pol["start_date"].to_numpy() > day)
    gone = set(pol.loc[later, "policy_id"])
    svc_out = (svc["service_date"].to_numpy() > day) | svc["policy_id"].isin(gone).to_numpy()
    insp_out = (insp["inspection_date"].to_numpy() > day) | insp["policy_id"].isin(gone).to_numpy()
    counts = {"as_of": str(np.datetime64(as_of, "D")), "policies_not_started": int(later.sum()),
              "services_after": int(svc_out.sum()), "inspections_after": int(insp_out.sum())}
    if not (later.any() or svc_out.any() or insp_out.any()):
        return sub, counts
    tables = {**sub.tables, "policies": pol[~later].reset_index(drop=True), "services": svc[~svc_out].reset_index(drop=True),
              "inspections": insp[~insp_out].reset_index(drop=True)}
    return dataclasses.replace(sub, tables=tables), counts
