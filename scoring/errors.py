"""Every exception the package raises.

::

    ScoringError (Exception)              base: message_zh / message_en
    ├── SubmissionError (ValueError)      the input cannot be read as a submission -> exit 2
    ├── RulebookError (ValueError)        a rulebook file is malformed             -> exit 2
    ├── ModelError (RuntimeError)         a model artifact is missing, tampered or mismatched -> exit 1
    ├── RegistryError (RuntimeError)      a model registry is corrupt or inconsistent -> exit 1
    ├── ReviewError (RuntimeError)        a review run or its database cannot be used -> exit 1
    └── OptionError (ValueError)          an argument cannot be used (checked before any work) -> exit 2

Each carries a Chinese and an English message; ``str(exc)`` shows both, Chinese first.
The CLI maps them to exit codes in one place (``scoring.cli``).
"""
from __future__ import annotations


class ScoringError(Exception):
    """Base of the package's exceptions; holds a Chinese and an English message."""

    def __init__(self, message_zh: str, message_en: str):
        self.message_zh = message_zh
        self.message_en = message_en
        super().__init__(f"{message_zh}\n{message_en}")


class SubmissionError(ScoringError, ValueError):
    """The submission is structurally unreadable (exit code 2)."""


class RulebookError(ScoringError, ValueError):
    """A rulebook file does not validate."""


class ModelError(ScoringError, RuntimeError):
    """A model artifact cannot be trusted or does not fit the data."""


class RegistryError(ScoringError, RuntimeError):
    """A model registry is corrupt or a requested version does not exist."""


class ReviewError(ScoringError, RuntimeError):
    """A run cannot be reviewed, or its review database cannot be used."""


class OptionError(ScoringError, ValueError):
    """An argument cannot be used: said before any work starts."""
