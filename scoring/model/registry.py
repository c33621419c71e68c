"""Model registry: champion / challenger with a promotion rule written down before the data is seen.

Layout of a registry directory::

    registry.json     champion version, the promotion rule, the history of decisions
    decisions.md      the same history for people
    <version>/        one model directory per trained version (see scoring.model.estimator)

``retrain`` pools every labelled submission (a policy inspected more than once keeps its
latest inspection), trains a challenger on every policy year but the latest labelled one,
scores challenger and champion on that latest year and promotes the challenger only when the
rule says it is better. Every decision is recorded with the data hashes, both models'
metrics, label and feature drift (population stability index) and the reason.
Every write is atomic (temporary file, then rename); a registry that does not validate is
refused and nothing in it is overwritten.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sklearn.metrics import average_precision_score, brier_score_loss

from scoring.messages import both, render, zh_text
from scoring.errors import ModelError, RegistryError
from scoring.model.features import SUBMISSION_FEATURES
from scoring.schema import CLASSES
from scoring.model.metrics import CI_BELOW, bootstrap_ci
from scoring.model.estimator import load_model, save_model, train
from scoring.model.shift import psi

REGISTRY_FILE = "registry.json"


class PromotionRule(BaseModel):
    """When a challenger replaces the champion (kept in registry.json, quoted in model cards)."""

    model_config = ConfigDict(extra="forbid")
    metric: str = "average_precision"
    primary_class: str = "missing"
    slice: str = Field("random", description="random: the random-audit slice when it has min_random labels, else all")
    min_random: int = 150
    min_labels: int = 100
    min_positives: int = 10
    bootstrap: int = 400
    confidence: float = 0.90
    tolerance: float = 0.02  # no class's AP may fall by more than this
    max_brier_increase: float = 0.01
    seed: int = 0

    def text(self) -> str:
        return both("registry.rule", slice=self.slice, min_random=self.min_random, cls=self.primary_class, bootstrap=self.bootstrap,
                    confidence=f"{self.confidence:.0%}", tolerance=self.tolerance, brier=self.max_brier_increase,
                    min_labels=self.min_labels, min_positives=self.min_positives)


class Decision(BaseModel):
    model_config = ConfigDict(extra="allow")
    at: str
    action: str
    challenger: str | None = None
    champion_before: str | None = None
    champion_after: str | None = None
    reason_zh: str
    reason_en: str


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    champion: str | None = None
    rule: PromotionRule = Field(default_factory=PromotionRule)
    history: list[Decision] = Field(default_factory=list)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def open_registry(path: str | Path, create: bool = False) -> Registry:
    path = Path(path)
    f = path / REGISTRY_FILE
    if not f.exists():
        if create:
            if path.is_symlink() or (path.exists() and (not path.is_dir() or any(p.name != LOCK_FILE for p in path.iterdir()))):
                raise RegistryError(*render('registry.open_registry.5', path=path, registry_file=REGISTRY_FILE))
            path.mkdir(parents=True, exist_ok=True)
            return Registry()
        raise RegistryError(*render('registry.open_registry', path=path, registry_file=REGISTRY_FILE))
    try:
        reg = Registry(**json.loads(f.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError, TypeError) as e:
        raise RegistryError(*render('registry.open_registry.2', f=f, v=str(e).splitlines()[0])) from None
    if reg.champion is not None:
        decided = reg.history[-1].champion_after if reg.history else None
        if Path(reg.champion).name != reg.champion or reg.champion != decided or reg.champion not in _versions(reg):
            raise RegistryError(
                *render('registry.open_registry.3', path=path, champion=reg.champion, v_zh=decided or '无', v_en=decided or 'none'))
        if not (path / reg.champion / "metadata.json").exists():
            raise RegistryError(*render('registry.open_registry.4', path=path, champion=reg.champion))
    return reg


def _versions(reg: Registry) -> set[str]:
    """Every version the registry's decisions name."""
    return {v for d in reg.history for v in (d.challenger, d.champion_before, d.champion_after) if v}


def tidy(path: Path, reg: Registry) -> list[str]:
    """What a killed retrain or seed left in the registry, removed under the lock: half-written
    temporaries of registry.json and decisions.md, a model directory's temporaries, and version
    directories no decision names (saved before the decision that would have named them). The
    decision log is written again from registry.json when it is behind or ahead of it. Returns
    the names removed."""
    from scoring.files import remove_tree

    removed = []
    known = _versions(reg)
    for p in sorted(path.iterdir()):
        stale_tmp = p.name.startswith((f".{REGISTRY_FILE}.", ".decisions.md.")) or (
            p.name.startswith(".v") and ".tmp-" in p.name)
        orphan = p.is_dir() and not p.is_symlink() and re.fullmatch(r"v\d{3}-.+", p.name) and p.name not in known
        if stale_tmp or orphan:
            remove_tree(p)
            removed.append(p.name)
    log = path / "decisions.md"
    if reg.history and (not log.exists() or log.read_text(encoding="utf-8") != decisions_text(reg)):
        _write_atomic(log, decisions_text(reg))
    return removed


ACTION_ZH = {"promote": "晋升挑战者", "keep": "保留冠军", "rollback": "回滚", "seed": "设定初始冠军"}
_WHO_ZH = {"challenger": "挑战者", "champion": "冠军"}
_CLASS_ZH = {"missing": "服务缺失", "poor_quality": "服务质量差"}


def decision_line(d: Decision) -> str:
    """One line a person reads: what was decided, and the champion before and after."""
    def name(v):
        return v or "（无 none）"

    zh, en = render("registry.line", action_zh=ACTION_ZH.get(d.action, d.action), action=d.action, before=name(d.champion_before),
                    after=name(d.champion_after))
    if d.challenger:
        more = render("registry.line_challenger", challenger=d.challenger)
        zh, en = zh + more[0], en + more[1]
    return f"{zh} / {en}"


def metric_lines(metrics: dict) -> list[str]:
    """Per model and class: n, positives, AP with its interval, Brier."""
    out = []
    for who, per in (metrics or {}).items():
        for cls, m in per.items():
            ci = m.get("average_precision_ci")
            out.append(zh_text("registry.metrics", who=_WHO_ZH.get(who, who), cls=_CLASS_ZH.get(cls, cls), n=m.get("n"),
                               positives=m.get("positives"), ap=m.get("average_precision"), ci=f" [{ci[0]}, {ci[1]}]" if ci else "",
                               brier=m.get("brier")))
    return out


def save_registry(path: Path, reg: Registry) -> None:
    """registry.json, then the decision log rendered from it. A kill between the two leaves the
    log behind; the next retrain, seed or rollback writes it again (:func:`tidy`)."""
    _write_atomic(path / REGISTRY_FILE, json.dumps(reg.model_dump(), ensure_ascii=False, indent=2) + "\n")
    _write_atomic(path / "decisions.md", decisions_text(reg))


def decisions_text(reg: Registry) -> str:
    """The decision history for people (``decisions.md``), rendered from ``registry.json``."""
    lines = ["# 模型晋升记录 Model decisions", "", reg.rule.text(), ""]
    for d in reg.history:
        lines += [f"## {d.at} — {ACTION_ZH.get(d.action, d.action)}", "", f"- {decision_line(d)}",
                  "- " + zh_text("registry.reason", reason=d.reason_zh), f"- Reason: {d.reason_en}"]
        extra = d.model_dump(exclude={"at", "action", "challenger", "champion_before", "champion_after", "reason_zh", "reason_en"})
        for line in metric_lines(extra.get("metrics")):
            lines.append(f"- {line}")
        ev = extra.get("evaluated_on") or {}
        if ev:
            ci = zh_text("registry.ap_ci", ci=ev["ap_difference_ci"]) if ev.get("ap_difference_ci") else ""
            lines.append("- " + zh_text("registry.evaluated", slice=ev.get("slice", ""), n=ev.get("n", ""), ci=ci))
        lines.append("")
    return "\n".join(lines) + "\n"


def champion_dir(path: str | Path) -> Path:
    """The champion's model directory of a registry."""
    reg = open_registry(path)
    if reg.champion is None:
        raise RegistryError(*render('registry.champion_dir', path=path))
    return Path(path) / reg.champion


def _eval(y: np.ndarray, p: np.ndarray) -> dict:
    """AP and Brier with n and positives; a 95% bootstrap interval of AP below CI_BELOW labels."""
    out = {"n": int(len(y)), "positives": int(y.sum()), "brier": round(float(brier_score_loss(y, p)), 4)}
    if y.sum() == 0 or y.sum() == len(y):
        return {"average_precision": None, **out}
    out["average_precision"] = round(float(average_precision_score(y, p)), 4)
    if len(y) < CI_BELOW:
        out["average_precision_ci"] = bootstrap_ci(y, p, average_precision_score)
    return out


def _bootstrap_diff(y, p_new, p_old, n, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            out.append(average_precision_score(y[i], p_new[i]) - average_precision_score(y[i], p_old[i]))
    return np.array(out)


def decide(rule: PromotionRule, labels: pd.DataFrame, new: pd.DataFrame, old: pd.DataFrame | None) -> tuple[bool, str, str, dict]:
    """Apply ``rule`` to challenger (``new``) and champion (``old``) scores on the evaluation labels."""
    use = labels
    slice_used = "all"
    if rule.slice == "random" and (labels["selection"] == "random").sum() >= rule.min_random:
        use, slice_used = labels[labels["selection"] == "random"], "random"
    mask = labels.index.isin(use.index)
    y = {c: (use["outcome"] == c).to_numpy().astype(int) for c in CLASSES}
    info = {"slice": slice_used, "n": int(len(use)), "positives": {c: int(y[c].sum()) for c in CLASSES}}
    metrics = {"challenger": {c: _eval(y[c], new[f"p_{c}"].to_numpy()[mask]) for c in CLASSES}} if len(use) else {}
    if old is not None and len(use):
        metrics["champion"] = {c: _eval(y[c], old[f"p_{c}"].to_numpy()[mask]) for c in CLASSES}
    info["metrics"] = metrics
    pc = rule.primary_class
    if len(use) < rule.min_labels or y[pc].sum() < rule.min_positives:
        return False, *render('registry.decide.2', v=len(use), pc=pc, v2=int(y[pc].sum()), min_labels=rule.min_labels, min_positives=rule.min_positives), info
    ch = metrics["challenger"]
    if old is None:
        base = float(y[pc].mean())
        ok = (ch[pc]["average_precision"] or 0) > base
        return ok, *render('registry.decide.3', pc=pc, v=ch[pc]['average_precision'], v2_zh='高于' if ok else '不高于', base=base, v2_en='above' if ok else 'not above'), info
    diffs = _bootstrap_diff(y[pc], new[f"p_{pc}"].to_numpy()[mask], old[f"p_{pc}"].to_numpy()[mask], rule.bootstrap, rule.seed)
    low = float(np.quantile(diffs, (1 - rule.confidence) / 2)) if len(diffs) else -1.0
    high = float(np.quantile(diffs, 1 - (1 - rule.confidence) / 2)) if len(diffs) else 0.0
    info["ap_difference_ci"] = [round(low, 4), round(high, 4)]
    cm = metrics["champion"]
    worse = [c for c in CLASSES if ch[c]["average_precision"] is not None and cm[c]["average_precision"] is not None
             and ch[c]["average_precision"] < cm[c]["average_precision"] - rule.tolerance]
    calib = [c for c in CLASSES if ch[c]["brier"] > cm[c]["brier"] + rule.max_brier_increase]
    if low <= 0:
        return False, *render('registry.decide.4', pc=pc, confidence=rule.confidence, low=low, high=high), info
    if worse:
        return False, *render('registry.decide.5', worse=worse, tolerance=rule.tolerance), info
    if calib:
        return False, *render('registry.decide.6', calib=calib, max_brier_increase=rule.max_brier_increase), info
    return True, *render('registry.decide', pc=pc, confidence=rule.confidence, low=low, high=high), info


LOCK_FILE = ".lock"
LOCK_WAIT = 600.0  # seconds a second retrain waits for the first before it stops


class registry_lock:
    """Exclusive lock on a registry for one retrain or rollback (``fcntl.flock`` on ``.lock``): a
    second one waits for the first, up to ``wait`` seconds, then stops with a message; so two
    concurrent runs never both read the same history and one decision is never lost. The lock
    ends with the process, even a killed one."""

    def __init__(self, path: Path, wait: float = LOCK_WAIT):
        self.path, self.wait, self.fd = Path(path), wait, None

    def __enter__(self):
        import time

        self.path.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # no flock (Windows): one process at a time is then the user's care
            return self
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise RegistryError(
                        *render('registry.enter', path=self.path, wait=self.wait)) from None
                time.sleep(0.2)

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the flock
        return False


def retrain(preps, X: pd.DataFrame, labels: pd.DataFrame, years: pd.Series, registry: str | Path, seed: int = 0,
            rulebook: dict | None = None, population: pd.DataFrame | None = None) -> Decision:
    """Train a challenger, compare it with the champion on held-out labels, record the decision.

    The comparison uses the challenger as fitted without the held-out labels (the latest
    labelled year, or with one year the latest inspections by date: ``scoring.model.estimator.split_labels``);
    the version saved, and promoted if it wins, is the challenger refitted on every label.
    """
    path = Path(registry)
    open_registry(path, create=True)  # a corrupt registry is refused before anything is trained
    with registry_lock(path):
        return _retrain(preps, X, labels, years, path, seed, rulebook or {}, population)


def _retrain(preps, X, labels, years, path: Path, seed, rulebook: dict, population) -> Decision:
    reg = open_registry(path, create=True)  # read under the lock: the history as it is now
    tidy(path, reg)
    Xr = X.reset_index(drop=True)
    try:
        trained = train(Xr, labels, years, seed=seed, min_test=1, population=population)
    except ModelError as e:
        raise RegistryError(e.message_zh, e.message_en) from None
    challenger, record, test, train_mask = trained.model, trained.record, trained.test, trained.train
    champ = load_model(path / reg.champion) if reg.champion else None
    if champ is not None and champ.trained_on:
        # judged only on labels the champion never trained on: a champion refit on every label has
        # seen its own last test year, and would win by memory
        test = test & ~labels["policy_id"].astype(str).isin(set(champ.trained_on)).to_numpy()
    lte = labels[test].reset_index(drop=True)

    def scores(model):
        if not test.any():  # every held-out label was the champion's training: nothing left to judge on
            return pd.DataFrame({f"p_{c}": np.zeros(0) for c in CLASSES})
        return model.predict(model.design(Xr[test])).reset_index(drop=True)

    new = scores(trained.held_out)
    old = None if champ is None else scores(champ)
    promoted, zh, en, info = decide(reg.rule, lte, new, old)
    drift = {f: psi(Xr.loc[train_mask, f].to_numpy(), Xr.loc[test, f].to_numpy()) for f in SUBMISSION_FEATURES}
    label_drift = {"train": labels[train_mask]["outcome"].value_counts(normalize=True).round(4).to_dict(),
                   "test": lte["outcome"].value_counts(normalize=True).round(4).to_dict()}
    version = f"v{len([d for d in reg.history if d.challenger]) + 1:03d}-{challenger.metadata['training_data_sha256'][:8]}"
    save_model(challenger, path / version, name=version, extra={**rulebook, "promotion_rule": reg.rule.text()})
    before = reg.champion
    if promoted:
        reg.champion = version
    d = Decision(
        at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), action="promote" if promoted else "keep",
        challenger=version, champion_before=before, champion_after=reg.champion, reason_zh=zh, reason_en=en,
        test_year=record.get("test_year"), split=record.get("method"), train_years=record["train_years"],
        evaluated_on={k: v for k, v in info.items() if k != "metrics"},
        metrics=info["metrics"], data_sha256=challenger.metadata["training_data_sha256"],
        input_sha256=[dict(sorted((t, h) for t, (_, h) in p.sub.files.items())) for p in preps],
        feature_psi=drift, drifted_features=sorted(f for f, v in drift.items() if v is not None and v > 0.25), label_drift=label_drift,
    )
    reg.history.append(d)
    save_registry(path, reg)
    return d


def seed(registry: str | Path, model_dir: str | Path) -> Decision:
    """Start a registry with ``model_dir`` (the shipped champion, typically) as its champion, so
    that ``scoring score --model REGISTRY`` works before any local retraining. Only an empty
    registry can be seeded; the model is verified and copied in, and the decision recorded."""
    import shutil

    path = Path(registry)
    open_registry(path, create=True)
    with registry_lock(path):
        reg = open_registry(path, create=True)
        tidy(path, reg)
        if reg.champion is not None:
            raise RegistryError(*render('registry.seed', path=path, champion=reg.champion))
        model = load_model(Path(model_dir))  # verifies every file against the sealed metadata
        version = f"v000-{model.name}"
        if not (path / version).exists():
            shutil.copytree(model_dir, path / version)
        d = Decision(at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), action="seed", challenger=version,
                     champion_before=None, champion_after=version,
                     **dict(zip(("reason_zh", "reason_en"), render("registry.seeded", version=model.version, source=model_dir))))
        reg.champion = version
        reg.history.append(d)
        save_registry(path, reg)
        return d


def rollback(registry: str | Path, version: str) -> Decision:
    """Make an earlier version the champion again (it must load and verify)."""
    path = Path(registry)
    open_registry(path)
    with registry_lock(path):
        return _rollback(path, version)


def _rollback(path: Path, version: str) -> Decision:
    reg = open_registry(path)
    tidy(path, reg)
    known = [d.challenger for d in reg.history if d.challenger]
    if version not in known:
        # only a version this registry trained and recorded: not a path elsewhere, not a directory
        # dropped into the registry by hand (either would bypass the promotion rule)
        raise RegistryError(
            *render('registry.rollback', path=path, v_zh=', '.join(known) or '无', version=version, v_en=', '.join(known) or 'none'))
    if not (path / version / "metadata.json").exists():
        raise RegistryError(*render('registry.rollback.2', path=path, version=version))
    load_model(path / version)  # verifies hashes and features before it can become champion
    d = Decision(at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), action="rollback", challenger=None,
                 champion_before=reg.champion, champion_after=version,
                 reason_zh=f"人工回滚到 {version}", reason_en=f"rolled back to {version} by request")
    reg.champion = version
    reg.history.append(d)
    save_registry(path, reg)
    return d
