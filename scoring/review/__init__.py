"""Evaluator review of a finished run: verdicts, their history, and the way back to training.

A reviewer opens the flagged policies of a run (``scoring review RUN_DIR``), records what the
on-site inspection found, and the verdicts leave as an ``inspections`` table that
``scoring retrain`` reads (``scoring review export``), or travel through an Excel workbook
(``scoring review workbook`` / ``scoring review import``).

- :mod:`.store`: the append-only verdict history in SQLite.
- :mod:`.run`: what the app reads from a finished run (scores, findings, explanations, services).
- :mod:`.exchange`: export to the inspections table and the Excel round trip.
- :mod:`.app`: the web app (FastAPI, Jinja2 templates, token and CSRF protection).
"""
