"""Audit China's work-safety liability insurance (安全生产责任保险) submissions.

The public surface, for a program that runs the jobs without the command line::

    import scoring
    sub = scoring.load_submission("datasets/sample")       # a validated Submission
    run = scoring.score("datasets/sample", "out")          # what ``scoring score`` writes; returns run.json
    text = scoring.validate("datasets/sample")             # the row balance ``scoring validate`` prints
    rb = scoring.load_rulebook()                           # the shipped rulebook, validated

Every error a user can cause is a :class:`ScoringError` (its subclasses below), whose message
is Chinese first with the English beside it. The names load on first use, so ``import scoring``
stays light.
"""
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ancx-scoring")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"

#: public name -> (module, attribute)
_PUBLIC = {
    "load_submission": ("scoring.submission.intake", "load_submission"),
    "Submission": ("scoring.submission.intake", "Submission"),
    "load_rulebook": ("scoring.rules.book", "load_rulebook"),
    "Rulebook": ("scoring.rules.book", "Rulebook"),
    "load_model": ("scoring.model.estimator", "load_model"),
    "score": ("scoring.jobs", "run_score"),
    "validate": ("scoring.jobs", "run_validate"),
    "train": ("scoring.jobs", "run_train"),
    "evaluate": ("scoring.jobs", "run_evaluate"),
    "retrain": ("scoring.jobs", "run_retrain"),
    "convert": ("scoring.submission.convert", "convert"),
    **{name: ("scoring.errors", name) for name in (
        "ScoringError", "SubmissionError", "RulebookError", "ModelError", "RegistryError", "ReviewError",
        "OptionError")},
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name in _PUBLIC:
        module, attr = _PUBLIC[name]
        value = getattr(import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'scoring' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
