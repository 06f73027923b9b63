"""The results contract declared once: the ``evaluations`` columns that copy a results field come
from the fields the results model marks ``Indexed``, the committed migrations build exactly those
tables, and a newly marked field needs nothing but the migration autogenerate writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.migration import MigrationContext

from agent_contracts.indexed import Indexed, indexed_fields
from agent_contracts.results import EvaluationResult
from agent_eval.store import Store
from agent_eval.store.migrate import fill_from_results
from agent_eval.store.schema import (
    EVALUATIONS,
    INDEXED,
    METRIC_INDEXED,
    METRIC_VALUES,
    Base,
    indexed_column,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"


def _differences(db_url: str, metadata: sa.MetaData) -> list[object]:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, metadata)
    engine.dispose()
    return diff


def test_committed_migrations_build_the_derived_tables(db_url: str) -> None:
    """No pending autogenerate diff: types, nulls, indexes and server defaults all agree."""
    Store.open(db_url).close()
    assert _differences(db_url, Base.metadata) == []


def test_every_indexed_field_lands_in_its_column(db_url: str) -> None:
    result = EvaluationResult.model_validate_json((FIXTURES / "results-1.1.json").read_bytes())
    assert result.conditions is not None and result.agent is not None  # every path has a value
    with Store.open(db_url) as store:
        store.record(result)
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(EVALUATIONS)).mappings().one()
            columns = [METRIC_VALUES.c[f.column] for f in METRIC_INDEXED]
            metrics = conn.execute(sa.select(*columns).order_by(METRIC_VALUES.c.name)).all()
    # The columns come from the marks, nested models included (no list of names to keep).
    assert {("agent", "label"), ("conditions", "hardware"), ("data_subset",)} <= {
        f.path for f in INDEXED
    }
    for field in INDEXED:
        stored, expected = row[field.column], field.value(result)
        if isinstance(stored, datetime):  # SQLite hands back naive UTC
            stored = stored.replace(tzinfo=stored.tzinfo or UTC)
        assert stored == expected, field.column
    assert row["agent_label"] == result.agent.label
    assert [tuple(m) for m in metrics] == [
        tuple(field.value(m) for field in METRIC_INDEXED)
        for m in sorted(result.metrics, key=lambda m: m.name)
    ]
    assert row["hardware"] == result.conditions.hardware == "gpu"
    assert result.score is not None and row["normalised_score"] == result.score.normalised


def test_an_older_result_leaves_the_columns_of_absent_models_empty(db_url: str) -> None:
    first = EvaluationResult.model_validate_json((FIXTURES / "results-1.0-first.json").read_bytes())
    with Store.open(db_url) as store:
        store.record(first)
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(EVALUATIONS)).mappings().one()
    assert [row[name] for name in ("hardware", "gpu_count", "time_limit_s")] == [None] * 3
    assert row["data_subset"] is False and row["comparable"] is True


def test_a_migration_fills_a_newly_kept_column_from_the_stored_files(db_url: str) -> None:
    """What a reviewed migration adds when it starts keeping a field stored files already hold."""
    result = EvaluationResult.model_validate_json((FIXTURES / "results-1.1.json").read_bytes())
    first = EvaluationResult.model_validate_json((FIXTURES / "results-1.0-first.json").read_bytes())
    with Store.open(db_url) as store:
        store.record_many([result, first])
        with store.engine.begin() as conn:  # as the column stands right after add_column
            conn.execute(sa.update(EVALUATIONS).values(network=None, agent_model=None))
            paths = {"network": ("conditions", "network"), "agent_model": ("agent", "model")}
            fill_from_results(conn, paths)
            c = EVALUATIONS.c
            rows = conn.execute(sa.select(c.evaluation_id, c.network, c.agent_model)).all()
    assert {r[0]: (r[1], r[2]) for r in rows} == {
        result.evaluation_id: ("none", "gpt-x"),
        first.evaluation_id: (None, "gpt-x"),  # written before conditions: nothing to fill
    }


class _Later(EvaluationResult):
    """The results model as a later version might declare it, with one more marked field."""

    peak_memory_gb: Annotated[float | None, Indexed(index=True)] = None
    """Peak GPU memory of the evaluation in GiB."""


def test_a_newly_marked_field_is_one_generated_migration(db_url: str) -> None:
    Store.open(db_url).close()
    later = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(later)
    added = [f for f in indexed_fields(_Later) if f.column not in EVALUATIONS.c]
    assert [f.column for f in added] == ["peak_memory_gb"]
    later.tables["evaluations"].append_column(indexed_column(added[0]))

    diff = _differences(db_url, later)
    assert sorted((d[0], d[-1].name) for d in diff) == [
        ("add_column", "peak_memory_gb"),
        ("add_index", "ix_evaluations_peak_memory_gb"),
    ]

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"target_metadata": later})
        code = render_python_code(produce_migrations(context, later).upgrade_ops)
    engine.dispose()
    assert "op.add_column('evaluations', sa.Column('peak_memory_gb', sa.Float()" in code
    assert "op.create_index" in code and "ix_evaluations_peak_memory_gb" in code
