"""Labels from inspection outcomes (核查结果).

One label per policy: when a policy was inspected more than once, the latest inspection
wins (by ``inspection_date``, then ``inspection_id``), because a later visit saw more of the
period. ``selection`` says whether the policy was picked on risk (``targeted``) or at random;
only the random slice gives unbiased rates.
"""
from __future__ import annotations

import pandas as pd

from scoring.submission.intake import Submission



def labels_from(sub: Submission) -> pd.DataFrame:
    """Columns ``policy_id``, ``outcome``, ``inspection_date``, ``selection``; one row per inspected policy."""
    insp = sub["inspections"]
    if insp.empty:
        return pd.DataFrame(columns=["policy_id", "outcome", "inspection_date", "selection"])
    latest = insp.sort_values(["policy_id", "inspection_date", "inspection_id"], kind="stable").drop_duplicates("policy_id", keep="last")
    return latest[["policy_id", "outcome", "inspection_date", "selection"]].reset_index(drop=True)
