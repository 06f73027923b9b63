"""``agent-eval sync``: saved results into the database, without duplicates, bad files named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from support.store import (
    SECRET,
    clear_database_env,
    count,
    down_url,
    make_result,
)
from typer.testing import CliRunner

from agent_eval.results import write_result
from agent_eval.store import Store
from agent_eval.sync import sync_folder


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A results folder as evaluations leave it, plus the odd files a folder collects."""
    folder = tmp_path / "results"
    clear_database_env(monkeypatch, folder)
    write_result(make_result("llm_efficiency", minutes=1), folder)
    write_result(make_result("edge_llm_training", minutes=2), folder)
    write_result(make_result("math_reasoning", minutes=3), folder / "2026-03" / "batch")
    (folder / "leaderboard.json").write_text('{"rows": []}\n')  # JSON, but not a result
    (folder / ".tmp-abc.json").write_text('{"half": ')  # an interrupted atomic write: hidden
    return folder


def corrupt(folder: Path) -> Path:
    """A results file cut off mid-write."""
    good = next(folder.glob("*_llm_efficiency_*.json"))
    bad = folder / "20260301T000000Z_broken_deadbeef.json"
    bad.write_text(good.read_text()[:200])
    return bad


def test_sync_twice_adds_each_result_once(results_dir: Path, db_url: str) -> None:
    first = sync_folder(results_dir, url=db_url)
    assert (first.added, first.present, len(first.bad)) == (3, 0, 0)
    assert first.skipped == (str(results_dir / "leaderboard.json"),)
    second = sync_folder(results_dir, url=db_url)
    assert (second.added, second.present) == (0, 3)
    with Store.open(db_url) as store:
        assert count(store, "evaluations") == 3
        assert count(store, "metric_values") == 9
        tasks = {r.task for r in store.evaluations()}
    assert tasks == {"llm_efficiency", "edge_llm_training", "math_reasoning"}


def test_sync_adds_only_what_is_missing(results_dir: Path, db_url: str) -> None:
    sync_folder(results_dir, url=db_url)
    write_result(make_result("llm_efficiency", minutes=9), results_dir)
    report = sync_folder(results_dir, url=db_url)
    assert (report.added, report.present) == (1, 3)


def test_copied_file_counts_as_present(results_dir: Path, db_url: str) -> None:
    original = next(results_dir.glob("*_edge_llm_training_*.json"))
    (results_dir / "backup").mkdir()
    (results_dir / "backup" / original.name).write_text(original.read_text())
    report = sync_folder(results_dir, url=db_url)
    assert (report.added, report.present) == (3, 1)


def test_cli_sync_names_a_corrupt_file_and_loads_the_rest(
    results_dir: Path, app: typer.Typer
) -> None:
    bad = corrupt(results_dir)
    result = CliRunner().invoke(app, ["sync", str(results_dir)])
    assert result.exit_code == 2
    assert "added            3" in result.stdout
    assert "bad              1" in result.stdout
    assert str(bad) in result.stderr and "not valid JSON" in result.stderr
    assert "error:" in result.stderr and "1 results file could not be loaded" in result.stderr
    assert "Traceback" not in result.output
    with Store.open(results_dir=results_dir) as store:
        assert count(store, "evaluations") == 3


def test_cli_sync_json_reports_counts_and_bad_files(results_dir: Path, app: typer.Typer) -> None:
    bad = results_dir / "20260301T000000Z_wrong_0000aaaa.json"
    bad.write_text(json.dumps({"evaluation_id": "x", "task": "t"}))
    runner = CliRunner()
    first = runner.invoke(app, ["sync", str(results_dir), "--json"])
    assert first.exit_code == 2
    report = json.loads(first.stdout)
    assert (report["added"], report["present"]) == (3, 0)
    assert [b["path"] for b in report["bad"]] == [str(bad)]
    assert "not a valid results file" in report["bad"][0]["error"]
    assert report["database"].startswith("sqlite")
    bad.unlink()
    second = runner.invoke(app, ["sync", str(results_dir), "--json"])
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["added"] == 0
    assert json.loads(second.stdout)["present"] == 3


def test_cli_sync_uses_database_url(
    results_dir: Path, app: typer.Typer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["sync", str(results_dir)])
    assert result.exit_code == 0, result.output
    assert f"into {sa.engine.make_url(db_url).get_backend_name()}" in result.stdout
    assert not (results_dir / "mlrb.sqlite").exists()
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM evaluations")).scalar_one() == 3
    engine.dispose()


def test_cli_sync_missing_folder_is_exit_2(tmp_path: Path, app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["sync", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_agent_eval_sync_with_database_down_exits_6(results_dir: Path) -> None:
    """The real console script: exit 6, the masked URL, the hint, no traceback, no password."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    env["DATABASE_URL"] = down_url()
    script = Path(sys.executable).parent / "agent-eval"
    proc = subprocess.run(
        [str(script), "sync", str(results_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 6, proc.stderr
    assert proc.stderr.startswith("error:")
    assert "mlrb:***@127.0.0.1" in proc.stderr
    assert "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout and "s3cr" not in proc.stderr + proc.stdout
