"""``agent-eval history``: what was recorded, newest first, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from test_store import (
    BACKENDS,
    SECRET,
    clear_database_env,
    down_url,
    make_result,
    new_database,
)
from typer.testing import CliRunner

from agent_eval.results import EvaluationResult
from agent_eval.store import Store


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend."""
    return new_database(request, tmp_path)


@pytest.fixture
def app() -> typer.Typer:
    """The agent-eval app, whose boundary turns errors into exit codes."""
    from agent_eval.cli import app as product_app

    return product_app


@pytest.fixture
def recorded(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> list[EvaluationResult]:
    """Three evaluations recorded in the database that DATABASE_URL names."""
    clear_database_env(monkeypatch, tmp_path / "results")
    monkeypatch.setenv("DATABASE_URL", db_url)
    results = [
        make_result("llm_efficiency", minutes=10, label="agent-a"),
        make_result("edge_llm_training", minutes=30, label="agent-b", status="partial"),
        make_result("llm_efficiency", minutes=20, label="agent-b"),
    ]
    with Store.open() as store:
        for result in results:
            store.record(result)
    return results


def test_history_json_lists_newest_first(
    recorded: list[EvaluationResult], app: typer.Typer
) -> None:
    result = CliRunner().invoke(app, ["history", "--json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [e["evaluation_id"] for e in entries] == [
        recorded[1].evaluation_id,
        recorded[2].evaluation_id,
        recorded[0].evaluation_id,
    ]
    first = entries[0]
    assert first["task"] == "edge_llm_training"
    assert first["agent_label"] == "agent-b"
    assert first["status"] == "partial"
    assert first["primary_metric"] == "mmlu" and first["primary_value"] == 0.4127
    assert first["normalised_score"] == 61.2
    assert first["model_sha256"] == recorded[1].model.sha256
    assert first["started_at"] == "2026-03-01T12:30:00Z"


def test_history_filters_by_task_and_limits(
    recorded: list[EvaluationResult], app: typer.Typer
) -> None:
    runner = CliRunner()
    by_task = json.loads(
        runner.invoke(app, ["history", "--task", "llm_efficiency", "--json"]).stdout
    )
    assert [e["evaluation_id"] for e in by_task] == [
        recorded[2].evaluation_id,
        recorded[0].evaluation_id,
    ]
    newest = json.loads(runner.invoke(app, ["history", "-n", "1", "--json"]).stdout)
    assert [e["evaluation_id"] for e in newest] == [recorded[1].evaluation_id]


def test_history_table_shows_what_a_person_needs(
    recorded: list[EvaluationResult], app: typer.Typer
) -> None:
    result = CliRunner().invoke(app, ["history"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    sha = recorded[0].model.sha256 or ""
    assert "3 evaluations in" in out
    for needle in (
        "2026-03-01 12:30",
        "edge_llm_training",
        "agent-b",
        "partial",
        "mmlu 0.4127",
        "61.2",
        sha[:12],
    ):
        assert needle in out
    assert sha not in out  # only the short hash


def test_history_of_an_empty_database(
    tmp_path: Path, app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_database_env(monkeypatch, tmp_path / "results")
    result = CliRunner().invoke(app, ["history"])
    assert result.exit_code == 0
    assert "no evaluations recorded" in result.stdout
    assert json.loads(CliRunner().invoke(app, ["history", "--json"]).stdout) == []


def test_history_of_a_folder_without_a_database_creates_nothing(
    tmp_path: Path, app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_database_env(monkeypatch, tmp_path / "results")
    typo = tmp_path / "reslts" / "deeper"
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(app, ["history", "--results-dir", str(typo), *extra])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "[]" if extra else "no evaluations" in result.stdout
    assert not (tmp_path / "reslts").exists()


def test_history_with_database_down_is_exit_6(
    tmp_path: Path, app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_database_env(monkeypatch, tmp_path / "results")
    monkeypatch.setenv(
        "DATABASE_URL",
        down_url(),
    )
    result = CliRunner().invoke(app, ["history", "--json"])
    assert result.exit_code == 6
    assert "error:" in result.stderr and "***" in result.stderr
    assert SECRET not in result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
