"""What a person must know before reading a run's results, said once and shown wherever the run
is read (the terminal summary, the report's first screen): the rules differ from the model's,
the submission is unlike the model's training data, records dated after the as-of date were set
aside, the model was trained on synthetic data only.
"""
from __future__ import annotations

from scoring.messages import TEMPLATES, render
from scoring.model.features import BY_NAME


def rules_warning(match: dict) -> str:
    """The warning a person reads when the rules in force differ from the model's ("" if not)."""
    if match.get("match") is not False:
        return ""
    return " / ".join(render("rules_differ", now=match["rulebook_version"], then=match["model_rulebook_version"]))


def shift_warning(shift: dict, basis: dict) -> str:
    """The warning a person reads when the submission is unlike the model's training data ("" if
    not), saying what the priority rests on instead (``basis``: run.json ``priority_basis``) and
    what to do next."""
    if not shift.get("warning"):
        return ""
    top = shift.get("features", [])[:3]
    key = "shift" if basis.get("basis") in ("blend", "index") else "shift_findings"
    zh, en = render(key, score=f"{shift['score']:.2f}", warn=f"{shift['warn_score']:.2f}",
                    weight=f"{basis.get('model_weight', 1.0):g}", index_weight=f"{basis.get('index_weight', 0.0):g}",
                    names_zh="、".join(BY_NAME[f].zh for f in top), names_en=", ".join(top))
    next_zh, next_en = render("cold_start")
    return f"{zh}{next_zh} / {en} {next_en}"


def notices(run: dict, model) -> list[dict]:
    """The run's notices, warnings first: ``{"kind": "warn" | "info", "text": Chinese}``."""
    out = []
    for warning in (shift_warning(run.get("model_shift") or {}, run.get("priority_basis") or {}),
                    rules_warning(run.get("rules_match_model") or {})):
        if warning:
            out.append({"kind": "warn", "text": warning.split(" / ")[0]})
    oos = run.get("out_of_scope") or {}
    if any(oos.get(k) for k in ("policies_not_started", "services_after", "inspections_after", "claims_after")):
        out.append({"kind": "info", "text": TEMPLATES["out_of_scope"][0].format(
            day=oos["as_of"], policies=oos["policies_not_started"], services=oos["services_after"],
            inspections=oos["inspections_after"], claims=oos.get("claims_after", 0))})
    if model.metadata.get("training_data") == "synthetic":
        out.append({"kind": "info", "text": TEMPLATES["synthetic_model"][0]})
    return out
