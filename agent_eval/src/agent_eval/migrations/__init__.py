"""Alembic migrations of the evaluator's database (applied by ``Store.open``)."""
