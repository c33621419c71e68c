"""The numbers of model cards and reports, on labels whose answers are known."""
import numpy as np
from sklearn.metrics import roc_auc_score

from scoring.model.metrics import CI_BELOW, at_capacity, bootstrap_ci, class_metrics, reliability


def test_at_capacity_counts_the_top_share():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    s = np.array([.9, .8, .7, .6, .5, .4, .3, .2, .1, .0])
    assert at_capacity(y, s, 0.3) == {"k": 3, "precision": 2 / 3, "recall": 2 / 3}
    assert at_capacity(y, s, 0.0)["k"] == 1  # at least one policy is inspected


def test_an_interval_only_below_the_threshold_and_it_holds_the_point_estimate():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    small, large = class_metrics(y[:60], p[:60]), class_metrics(y, p)
    assert "roc_auc_ci" in small and "roc_auc_ci" not in large and len(y[:60]) < CI_BELOW <= len(y)
    lo, hi = small["roc_auc_ci"]
    assert lo <= roc_auc_score(y[:60], p[:60]) <= hi
    assert large["n"] == 400 and large["positives"] == int(y.sum())


def test_one_class_gives_no_auc_and_no_interval():
    m = class_metrics(np.zeros(30, int), np.linspace(0, 1, 30))
    assert m["roc_auc"] is None and m["positives"] == 0
    assert bootstrap_ci(np.zeros(30, int), np.linspace(0, 1, 30), roc_auc_score) is None


def test_reliability_bins_are_equal_count_and_observed_is_the_label_rate():
    y = np.array([0] * 50 + [1] * 50)
    p = np.linspace(0, 1, 100)
    bins = reliability(y, p, bins=4)
    assert [b["n"] for b in bins] == [25] * 4
    assert [b["observed"] for b in bins] == [0.0, 0.0, 1.0, 1.0]
