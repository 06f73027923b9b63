"""The real ``agent-eval`` console script: the quickstart form, outputs, and every bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.store import make_run

Run = Callable[..., subprocess.CompletedProcess[str]]


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout


def test_help_lists_commands_and_the_quickstart_form(run_cli: Run) -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "prefetch" in proc.stdout and "evaluate" in proc.stdout
    proc = run_cli("--model_args", "x", "--help")
    assert proc.returncode == 0 and "--model_args" in proc.stdout and "--no-db" in proc.stdout


def test_quickstart_form_writes_json_and_prints_the_table(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    proc = run_cli(
        "--model_args",
        str(tiny_gpt2_dir),
        "--task",
        "evaltest_lm",
        "--no-db",
        "--results-dir",
        str(results),
        "--device",
        "cpu",
        "--limit",
        "2",
    )
    _no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    files = list(results.glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["task"] == "evaltest_lm" and data["status"] == "ok"
    assert data["environment"]["sample_limit"] == 2
    for word in (
        "perplexity",
        "parameters",
        "generation_speed",
        "peak_memory",
        "allowed_dtypes",
        str(files[0].name),
    ):
        assert word in proc.stdout, word
    # The constraint's own row says it passed (as the results file does).
    (row,) = [line for line in proc.stdout.splitlines() if "allowed_dtypes" in line]
    assert "pass" in row and "fail" not in row
    (check,) = [c for c in data["constraints"] if c["kind"] == "allowed_dtypes"]
    assert check["passed"] is True
    assert "↓" in proc.stdout and "score" in proc.stdout


def test_model_dash_args_and_json_output(run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "evaluate",
        "--model-args",
        str(tiny_gpt2_dir),
        "--task",
        "evaltest_params",
        "--no-db",
        "--json",
        "--results-dir",
        str(tmp_path),
        "--agent-label",
        "me",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["agent"]["label"] == "me"
    assert data["metrics"][0]["name"] == "parameters"


@pytest.mark.parametrize(
    "case", ["missing", "not_a_model", "truncated", "unsupported", "no_tokenizer"]
)
def test_bad_models_exit_5_without_traceback(
    case: str, run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / case
    expected = {
        "missing": "does not exist",
        "not_a_model": "no config.json",
        "truncated": "corrupt or truncated",
        "unsupported": "not supported",
        "no_tokenizer": "no tokenizer",
    }[case]
    if case == "not_a_model":
        folder.mkdir()
        (folder / "notes.txt").write_text("hello")
    elif case != "missing":
        shutil.copytree(tiny_gpt2_dir, folder)
    if case == "truncated":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-100])
    elif case == "unsupported":
        config = json.loads((folder / "config.json").read_text())
        config["model_type"] = "made_up_transformer"
        (folder / "config.json").write_text(json.dumps(config))
    elif case == "no_tokenizer":
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (folder / name).unlink()
    proc = run_cli(
        "--model_args",
        str(folder),
        "--task",
        "evaltest_lm",
        "--no-db",
        "--results-dir",
        str(tmp_path / "results"),
        "--device",
        "cpu",
    )
    _no_traceback(proc)
    assert proc.returncode == 5, proc.stderr
    assert "error:" in proc.stderr and expected in proc.stderr


def test_missing_dataset_exit_5_names_the_prefetch_command(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    proc = run_cli(
        "--model_args",
        str(tiny_gpt2_dir),
        "--task",
        "evaltest_missing",
        "--no-db",
        "--results-dir",
        str(tmp_path),
        "--device",
        "cpu",
    )
    _no_traceback(proc)
    assert proc.returncode == 5
    assert "mmlu" in proc.stderr
    assert "agent-eval prefetch --tasks evaltest_missing" in proc.stderr
    data = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert data["status"] == "error" and data["score"] is None


def test_unknown_task_and_bad_options_exit_2(run_cli: Run, tiny_gpt2_dir: Path) -> None:
    proc = run_cli("--model_args", str(tiny_gpt2_dir), "--task", "evaltest_lmm", "--no-db")
    _no_traceback(proc)
    assert proc.returncode == 2 and "did you mean" in proc.stderr and "evaltest_lm" in proc.stderr
    for bad in (
        ["--device", "tpu"],
        ["--dtype", "int3"],
        ["--metrics", "perplexty"],
        ["--limit", "0"],
    ):
        proc = run_cli("--model_args", str(tiny_gpt2_dir), "--task", "evaltest_lm", "--no-db", *bad)
        _no_traceback(proc)
        assert proc.returncode == 2, (bad, proc.stderr)


def test_gpu_asked_for_but_absent_exits_3_and_writes_nothing(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    import torch

    devices = ["cuda:99"] + ([] if torch.cuda.is_available() else ["cuda"])
    for device in devices:
        proc = run_cli(
            "--model_args",
            str(tiny_gpt2_dir),
            "--task",
            "evaltest_params",
            "--device",
            device,
            "--results-dir",
            str(tmp_path),
        )
        _no_traceback(proc)
        assert proc.returncode == 3, (device, proc.stderr)
        assert device in proc.stderr
        # not the model's failure: no error result that would count against the run
        assert list(tmp_path.rglob("*.json")) == [] and list(tmp_path.glob("*.sqlite")) == []


def test_unusable_results_folder_exits_2_before_evaluating(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    for folder in (blocker, blocker / "sub"):
        proc = run_cli(
            "--model_args",
            str(tiny_gpt2_dir),
            "--task",
            "evaltest_params",
            "--no-db",
            "--results-dir",
            str(folder),
        )
        _no_traceback(proc)
        assert proc.returncode == 2, proc.stderr
        assert "results folder" in proc.stderr and "--results-dir" in proc.stderr
    assert blocker.read_text() == "a file, not a folder"


def test_bad_database_settings_exit_2_before_evaluating(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    args = ["--model_args", str(tiny_gpt2_dir), "--task", "evaltest_params"]
    for settings in (
        {"DATABASE_URL": "not a url s3cret"},
        {"DATABASE_URL": "postgresql+nosuchdriver://u:s3cret@db/x"},
        {"DB_USER": "u", "DB_PASSWORD": "s3cret", "DB_PORT": "5432"},
        {"DB_USER": "u", "DB_HOST": "db", "DB_NAME": "x", "DB_PORT": "not-a-port"},
    ):
        proc = run_cli(*args, "--results-dir", str(tmp_path / "r"), env=settings)
        _no_traceback(proc)
        assert proc.returncode == 2, (settings, proc.stderr)
        assert "s3cret" not in proc.stderr + proc.stdout
        assert list((tmp_path / "r").glob("*.json")) == []
    # --no-db never reads the database settings
    proc = run_cli(*args, "--no-db", "--results-dir", str(tmp_path / "n"), env=settings)
    assert proc.returncode == 0, proc.stderr


def test_database_failure_keeps_the_json_and_exits_6(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    url = "postgres://nobody@127.0.0.1:9/nothing?connect_timeout=2"  # psycopg2 by default
    proc = run_cli(
        "--model_args",
        str(tiny_gpt2_dir),
        "--task",
        "evaltest_params",
        "--results-dir",
        str(tmp_path),
        env={"DATABASE_URL": url},
    )
    _no_traceback(proc)
    assert proc.returncode == 6, proc.stderr
    saved = list(tmp_path.glob("*.json"))
    assert len(saved) == 1
    assert str(saved[0]) in proc.stderr and "agent-eval sync" in proc.stderr


def test_run_folder_links_the_run(run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r-77"
    shutil.copytree(tiny_gpt2_dir, run / "output" / "model")
    record = make_run("r-77", image="lab/agent:2", agent_label=None, provider="anthropic")
    (run / "run.json").write_text(record.model_dump_json())
    proc = run_cli(
        "--model_args",
        str(run),
        "--task",
        "evaltest_params",
        "--no-db",
        "--json",
        "--results-dir",
        str(tmp_path / "results"),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["run_id"] == "r-77"
    assert data["agent"]["image"] == "lab/agent:2"
    assert data["model"]["path"].endswith("output/model")


def test_prefetch_rejects_unknown_task(run_cli: Run, tmp_path: Path) -> None:
    proc = run_cli("prefetch", "--tasks", "no_such_task", "--data-dir", str(tmp_path))
    _no_traceback(proc)
    assert proc.returncode == 2 and "unknown task" in proc.stderr


@pytest.mark.parametrize(
    ("command", "option", "default"),
    [
        ("evaluate", "--results-dir", "$AGENT_EVAL_RESULTS_DIR or results/"),
        ("evaluate", "--data-dir", "$AGENT_EVAL_DATA_DIR or ~/.cache/mlrb-eval/data"),
        ("evaluate", "--device", "auto"),
        ("prefetch", "--data-dir", "$AGENT_EVAL_DATA_DIR or ~/.cache/mlrb-eval/data"),
        ("leaderboard", "--results-dir", "$AGENT_EVAL_RESULTS_DIR or results/"),
        ("history", "--results-dir", "$AGENT_EVAL_RESULTS_DIR or results/"),
    ],
)
def test_help_renders_every_default(command: str, option: str, default: str) -> None:
    from typer.testing import CliRunner

    from agent_eval.cli import app

    out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300", "NO_COLOR": "1"})
    assert out.exit_code == 0
    line = next(row for row in out.stdout.splitlines() if f" {option} " in row)
    assert f"[default: {default}]" in line or f"[default: ({default})]" in line, line


def test_lm_eval_prints_no_git_error_outside_a_repository(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    """Run from a folder that is not a git repository: no "fatal: not a git repository"."""
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    proc = run_cli(
        "--model_args", str(tiny_gpt2_dir), "--task", "evaltest_mmlu", "--no-db",
        "--device", "cpu", "--results-dir", str(tmp_path / "results"), cwd=outside,
        env={"GIT_CEILING_DIRECTORIES": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "not a git repository" not in proc.stderr + proc.stdout
