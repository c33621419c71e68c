"""How a job runs, never what it computes: the engine interface.

An engine reads a submission (:meth:`Engine.load`) and prepares it at an as-of date
(:meth:`Engine.prepare`): the as-of cut, the rulebook's findings and the model's features, as a
frozen :class:`Prepared`. Every engine gives the same :class:`Prepared` for the same input, so
everything after it (the model, the ranking, the outputs) is the engine's no concern. A job
chooses its engine once (:func:`scoring.engines.choose`) and uses it as a context manager: an
engine that needs a cluster starts it on entry and stops it on exit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.model.features import build_features, rule_roles
from scoring.rules.book import Rulebook
from scoring.rules.run import RuleResults, run_rules
from scoring.schema import DateBounds
from scoring.submission.asof import in_scope
from scoring.submission.intake import Submission, load_submission


@dataclass(frozen=True)
class Prepared:
    """A validated submission as known on ``as_of``, with its rule results and features.

    ``features`` is None once a job has handed it to the model (the design matrix then holds it).
    """

    sub: Submission
    as_of: np.datetime64
    rules: RuleResults
    features: pd.DataFrame | None
    out_of_scope: dict | None = None


class Engine:
    """The local engine: one process. Subclasses change where the work runs, not its results."""

    name = "local"

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def info(self) -> dict:
        """What ``run.json`` → ``engine`` records."""
        return {"name": self.name, "workers": 1}

    def load(self, submission, dates: DateBounds = DateBounds()) -> Submission:
        """The submission at ``submission`` read and validated (``dates``: the rulebook's)."""
        return load_submission(submission, dates)

    def rules(self, sub: Submission, rulebook: Rulebook, as_of, progress=None, spill=None) -> RuleResults:
        """Every rule in force on ``sub`` (already cut to ``as_of``). The local engine reports no
        progress per rule: its steps are short."""
        return run_rules(sub, rulebook, as_of, spill=spill)

    def prepare(self, sub: Submission, rulebook: Rulebook, as_of, progress=None, spill=None) -> Prepared:
        """``sub`` as known on ``as_of``, its findings (sorted to ``spill`` when given) and features."""
        sub, out_of_scope = in_scope(sub, as_of)
        rules = self.rules(sub, rulebook, as_of, progress, spill)
        return Prepared(sub, as_of, rules, build_features(sub, as_of, rules.findings, rule_roles(rulebook)), out_of_scope)
