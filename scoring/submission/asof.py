"""As of a date: the submission as it was known then.

A run at an as-of date judges what was known on that date. Policies that start after it are
out of scope (not scored, not flagged); service records and inspections dated after it, or
belonging to such a policy, are not used by rules or features. :func:`in_scope` sets them
aside and counts them (``run.json`` → ``out_of_scope``).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from scoring.submission.intake import Submission


def _day(as_of) -> np.datetime64:
    return np.datetime64(as_of, "D").astype("datetime64[s]")


def started(policies, as_of) -> np.ndarray:
    """The policies that had started by ``as_of`` (the others are out of scope)."""
    return policies["start_date"].to_numpy() <= _day(as_of)


def services_after(services, policies, as_of) -> np.ndarray:
    """The service records not known on ``as_of``: dated after it, or of a policy not yet started."""
    gone = policies.loc[~started(policies, as_of), "policy_id"]
    return (services["service_date"].to_numpy() > _day(as_of)) | services["policy_id"].isin(set(gone)).to_numpy()


def in_scope(sub: Submission, as_of) -> tuple[Submission, dict]:
    """The submission as known on ``as_of``: policies that start after it, and service records and
    inspections dated after it (or belonging to such a policy), are set aside and counted.

    Returns the submission in scope and the counts (``run.json`` → ``out_of_scope``).
    """
    day = _day(as_of)
    pol, svc, insp, clm = sub["policies"], sub["services"], sub["inspections"], sub["claims"]
    later = ~started(pol, as_of)
    gone = set(pol.loc[later, "policy_id"])
    svc_out = services_after(svc, pol, as_of)
    insp_out = (insp["inspection_date"].to_numpy() > day) | insp["policy_id"].isin(gone).to_numpy()
    # a claim is known once reported; what happened to it after the as-of date is not (a later closing
    # leaves it open, a later payment is not yet paid)
    clm_out = (clm["report_date"].to_numpy() > day) | clm["policy_id"].isin(gone).to_numpy()
    counts = {"as_of": str(np.datetime64(as_of, "D")), "policies_not_started": int(later.sum()),
              "services_after": int(svc_out.sum()), "inspections_after": int(insp_out.sum())}
    if "claims" in sub.present:
        counts["claims_after"] = int(clm_out.sum())
    closed_later = ~clm_out & (clm["closed_date"].to_numpy() > day)
    if not (later.any() or svc_out.any() or insp_out.any() or clm_out.any() or closed_later.any()):
        return sub, counts
    claims = clm[~clm_out].copy()
    later_close = claims["closed_date"].to_numpy() > day
    if later_close.any():  # as known then: still open, with its eventual payment as the reserve
        claims.loc[later_close, "reserve_amount"] = claims.loc[later_close, ["paid_amount", "reserve_amount"]].sum(axis=1)
        claims.loc[later_close, "paid_amount"] = 0.0
        claims.loc[later_close, "status"] = "open"
        claims.loc[later_close, "closed_date"] = np.datetime64("NaT")
    tables = {**sub.tables, "policies": pol[~later].reset_index(drop=True), "services": svc[~svc_out].reset_index(drop=True),
              "inspections": insp[~insp_out].reset_index(drop=True), "claims": claims.reset_index(drop=True)}
    return dataclasses.replace(sub, tables=tables), counts
