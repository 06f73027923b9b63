"""``agent-eval history``: what was recorded, newest first, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from support.store import (
    SECRET,
    clear_database_env,
    down_url,
    make_result,
    make_run,
)
from typer.testing import CliRunner

from agent_contracts.results import EvaluationResult
from agent_eval.store import Store


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


def test_history_shows_each_runs_cost_and_pipes_as_csv(
    db_url: str, app: typer.Typer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clear_database_env(monkeypatch, tmp_path / "results")
    monkeypatch.setenv("DATABASE_URL", db_url)
    usage = {"calls": 4, "input_tokens": 12000, "output_tokens": 3456, "cost_usd": 1.25}
    with Store.open() as store:
        # Two GPUs for 9,000 s: 5 GPU-hours; a run given "all" GPUs has no known count.
        store.record(
            make_result(run_id="run-gpu", label="costly"),
            run=make_run("run-gpu", gpus=["0", "1"], model_usage=usage),
        )
        store.record(
            make_result(run_id="run-all", label="unknown", minutes=5),
            run=make_run("run-all", gpus="all"),
        )
        store.record(make_result(label="no-run", minutes=9))
    entries = {
        e["agent_label"]: e
        for e in json.loads(CliRunner().invoke(app, ["history", "--json"]).stdout)
    }
    costly = entries["costly"]
    assert costly["tokens"] == 15456 and costly["cost_usd"] == 1.25
    assert costly["gpu_count"] == 2 and costly["gpu_hours"] == pytest.approx(5.0)
    assert costly["run_duration_s"] == 9000.0
    assert entries["unknown"]["gpu_count"] is None and entries["unknown"]["gpu_hours"] is None
    assert entries["no-run"]["tokens"] is None and entries["no-run"]["run_duration_s"] is None
    # Piped at 80 columns, the table keeps every column whole.
    table = CliRunner().invoke(app, ["history"], env={"COLUMNS": "80"}).stdout
    assert "15,456" in table and "1.25" in table and "2h30m" in table and "…" not in table
    csv_out = CliRunner().invoke(app, ["history", "--csv"]).stdout.splitlines()
    header = csv_out[0].split(",")
    assert header[:3] == ["started_at", "evaluation_id", "run_id"] and "gpu_hours" in header
    by_label = {
        line.split(",")[header.index("agent_label")]: line.split(",") for line in csv_out[1:]
    }
    assert by_label["costly"][header.index("cost_usd")] == "1.25"
    assert by_label["costly"][header.index("gpu_hours")] == "5.0"
    assert by_label["no-run"][header.index("tokens")] == ""  # unknown, not 0
    both = CliRunner().invoke(app, ["history", "--csv", "--json"])
    assert both.exit_code == 2 and "exclude each other" in both.stderr


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


def test_history_says_a_failed_evaluation_counts_as_a_trial_without_a_score(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app: typer.Typer
) -> None:
    clear_database_env(monkeypatch, tmp_path / "results")
    monkeypatch.setenv("DATABASE_URL", db_url)
    with Store.open() as store:
        store.record(make_result("llm_efficiency", minutes=5, label="agent-e", status="error"))
    result = CliRunner().invoke(app, ["history"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "yes, as a trial without a score: the evaluation failed" in result.stdout
