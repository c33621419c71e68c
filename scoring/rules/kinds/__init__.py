"""The check kinds rulebook rules bind to, by family; importing this package registers every one
in :data:`KINDS` (:func:`scoring.rules.context.kind`)."""
from scoring.rules.context import KINDS
from scoring.rules.kinds import claims, columns, integrity, market, policy, services  # noqa: F401 - each registers its kinds

__all__ = ["KINDS"]
