"""Model-API usage of a run (run.json ``model_usage``) in the database and on the leaderboard."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from support.store import make_result, make_run

from agent_eval.leaderboard.query import load_boards
from agent_eval.leaderboard.views import render_board, view_json
from agent_eval.store import Store
from agent_eval.store.migrate import upgrade


def usage(calls: int, tokens_in: int, tokens_out: int, cost: float) -> dict[str, Any]:
    """run.json's ``model_usage`` as the harness writes it."""
    return {
        "calls": calls,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cost_usd": cost,
        "budget_exhausted": False,
    }


def runs_columns(store: Store) -> dict[str, tuple[Any, ...]]:
    """run_id -> (model_calls, input_tokens, output_tokens, cost_usd)."""
    query = "SELECT run_id, model_calls, input_tokens, output_tokens, cost_usd FROM runs"
    with store.engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(sa.text(query)).all()}


def test_usage_is_recorded_per_run_and_shown_per_agent_and_task(db_url: str) -> None:
    with Store.open(db_url) as store:
        for minutes, (run_id, cost) in enumerate((("run-a1", 0.25), ("run-a2", 0.75))):
            run = make_run(run_id, model_usage=usage(3, 1000, 200 * (minutes + 1), cost))
            store.record(make_result(run_id=run_id, minutes=minutes), run=run)
        store.record(make_result(run_id="run-b1", label="agent-b"), run=make_run("run-b1"))
        assert runs_columns(store) == {
            "run-a1": (3, 1000, 200, 0.25),
            "run-a2": (3, 1000, 400, 0.75),
            "run-b1": (None, None, None, None),  # a run without the proxy: unknown, not 0
        }
        (board,) = load_boards(store, "full_benchmark")
    rows = {row["agent"]: row for row in view_json(board, metric="raw")["rows"]}
    a, b = rows["agent-a (gpt-x)"], rows["agent-b (gpt-x)"]
    assert a["tokens_per_run"] == pytest.approx(1300) and a["cost_usd_per_run"] == 0.5
    cell = a["cells"]["llm_efficiency"]
    assert cell["tokens_per_run"] == pytest.approx(1300) and cell["cost_usd_per_run"] == 0.5
    assert b["tokens_per_run"] is None and b["cost_usd_per_run"] is None
    # make_run: one GPU ("0") for 9,000 s per run: 2.5 GPU-hours and 2.5 working hours per run.
    assert a["gpu_hours_per_run"] == pytest.approx(2.5) and a["gpu_hours_total"] == 5.0
    assert a["run_hours_per_run"] == pytest.approx(2.5) and a["cost_usd_total"] == 1.0
    assert a["tokens_total"] == 2600
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    render_board(board, Console(file=out, width=200), metric="raw")
    assert "model $/run" in out.getvalue() and "0.5" in out.getvalue()
    assert "GPU-h/run" in out.getvalue()


def test_upgrade_from_0002_fills_usage_from_stored_run_records(db_url: str) -> None:
    from importlib.resources import as_file, files

    from alembic import command
    from alembic.config import Config

    from agent_eval.store.rows import run_row

    database = make_url(db_url).database
    if db_url.startswith("sqlite") and database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(db_url)
    with as_file(files("agent_eval") / "migrations") as location:
        cfg = Config()
        cfg.set_main_option("script_location", str(location))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
    new = {"model_calls", "input_tokens", "output_tokens", "cost_usd"}
    with engine.begin() as conn:
        assert not new & {c["name"] for c in sa.inspect(conn).get_columns("runs")}
        for run in (make_run("old-1", model_usage=usage(2, 50, 5, 0.01)), make_run("old-2")):
            row = run_row(run, datetime.now(UTC))
            values = {c.name: getattr(row, c.name) for c in row.__table__.columns}
            conn.execute(
                row.__table__.insert().values(**{k: values[k] for k in values if k not in new})
            )
    assert upgrade(engine) is True
    with engine.connect() as conn:
        found = dict(
            (r[0], tuple(r[1:]))
            for r in conn.execute(
                sa.text(
                    "SELECT run_id, model_calls, input_tokens, output_tokens, cost_usd FROM runs"
                )
            ).all()
        )
    engine.dispose()
    assert found == {"old-1": (2, 50, 5, 0.01), "old-2": (None, None, None, None)}
