"""The real ``agent-harness`` console script: every bad input, its exit code and its message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import (
    BASE_IMAGE,
    BENCHMARK,
    FAKE_KEY,
    HARNESS,
    MISSING_IMAGE,
    TASK,
    clean_environ,
    harness,
)
from typer.testing import CliRunner

from agent_harness.cli import app
from agent_harness.gpus import visible_gpus
from agent_harness.runtimes.container import LABEL_RUN_ID


def _local(runs_dir: Path, *extra: str) -> list[str]:
    return ["run", "agent", "--task", TASK, "--runtime", "local", "--runs-dir", str(runs_dir),
            "--command", "true", *extra]  # fmt: skip


def test_bad_time_limit_lists_the_accepted_forms(runs_dir: Path) -> None:
    result = harness(*_local(runs_dir, "--time-limit", "24hs"))
    assert result.returncode == 2
    assert "error: invalid time limit '24hs'" in result.stderr
    assert "hint: accepted forms: 24h, 90m, 1h30m, 45s" in result.stderr
    assert "Traceback" not in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_unknown_task_gets_a_hint(runs_dir: Path) -> None:
    result = harness(
        "run", "agent", "--task", "tiny_lmm", "--runtime", "local", "--command", "true"
    )
    assert result.returncode == 2
    assert "unknown task 'tiny_lmm'" in result.stderr and "tiny_lm" in result.stderr


def test_unknown_benchmark(runs_dir: Path) -> None:
    result = harness(*_local(runs_dir, "--benchmark", "smoke_benchmrk"))
    assert result.returncode == 2
    assert "unknown benchmark 'smoke_benchmrk'" in result.stderr


def test_missing_and_malformed_env_files(runs_dir: Path, tmp_path: Path) -> None:
    result = harness(*_local(runs_dir, "--env-file", str(tmp_path / "absent.env")))
    assert result.returncode == 2 and "does not exist" in result.stderr
    bad = tmp_path / "bad.env"
    bad.write_text("OPENAI_API_KEY=x\nnot an assignment\n", encoding="utf-8")
    result = harness(*_local(runs_dir, "--env-file", str(bad)))
    assert result.returncode == 2 and "malformed" in result.stderr


def test_env_file_without_the_provider_key(runs_dir: Path, tmp_path: Path) -> None:
    env = tmp_path / "other.env"
    env.write_text("ANTHROPIC_API_KEY=sk-ant-FAKE\n", encoding="utf-8")
    result = harness(*_local(runs_dir, "--provider", "openai", "--env-file", str(env)))
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr


@pytest.mark.parametrize(
    "name", ["DB_PASSWORD", "db_password", "Database_Url", "POSTGRES_PASSWORD", "pgpassword"]
)
def test_database_credentials_are_refused_in_any_case(
    runs_dir: Path, env_file: Path, name: str
) -> None:
    env = clean_environ(**{name: "db-FAKE-secret"})
    result = harness(*_local(runs_dir, "--env-file", str(env_file), "--pass-env", name), env=env)
    assert result.returncode == 2 and "database credential" in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
    # Not even as an "unsafe" name: that option is for names that break the image, not secrets.
    result = harness(
        *_local(runs_dir, "--env-file", str(env_file), "--pass-env-unsafe", name), env=env
    )
    assert result.returncode == 2 and "database credential" in result.stderr


def test_image_breaking_names_pass_only_when_asked_for(runs_dir: Path, env_file: Path) -> None:
    # Harmless values: the harness itself runs with this environment.
    env = clean_environ(LD_MLRB_TEST="x", PYTHONHASHSEED="0")
    for name in ("PATH", "LD_PRELOAD", "PYTHONPATH", "ld_library_path", "LD_MLRB_TEST"):
        result = harness(*_local(runs_dir, "--pass-env", name), env=env)
        assert result.returncode == 2, result.stderr
        assert f"--pass-env-unsafe {name}" in result.stderr and "Traceback" not in result.stderr
    result = harness(*_local(runs_dir, "--pass-env-unsafe", "PYTHONHASHSEED", "--json"), env=env)
    assert result.returncode == 0, result.stderr
    assert "PYTHONHASHSEED" in json.loads(result.stdout)["credentials"]


@pytest.mark.parametrize("size", ["20X", "-1G", "0", "1e9", "9" * 5000, "\u0662G"])
def test_odd_disk_limits_are_usage_errors(runs_dir: Path, size: str) -> None:
    result = harness(*_local(runs_dir, "--disk-limit", size))
    assert result.returncode == 2, result.stderr
    assert "invalid disk limit" in result.stderr and "Traceback" not in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.parametrize("gpus", ["0,00", "1,01", " 0, 0", "0,1,0", "\u0660", "1" * 5000])
def test_gpus_named_twice_or_odd_are_usage_errors(runs_dir: Path, gpus: str) -> None:
    result = harness(*_local(runs_dir, "--gpus", gpus))
    assert result.returncode == 2, result.stderr
    assert "invalid GPU selection" in result.stderr and "Traceback" not in result.stderr


def test_local_runtime_needs_a_command(runs_dir: Path) -> None:
    result = harness("run", "agent", "--task", TASK, "--runtime", "local")
    assert result.returncode == 2 and "--command" in result.stderr


def test_no_engine_is_an_environment_error_or_a_local_fallback(
    runs_dir: Path, tmp_path: Path
) -> None:
    env = clean_environ(DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock")
    result = harness("run", BASE_IMAGE, "--task", TASK, "--runtime", "docker", env=env)
    assert result.returncode == 3
    assert "no Docker engine answers" in result.stderr and "hint:" in result.stderr
    result = harness("run", BASE_IMAGE, "--task", TASK, env=env)
    assert result.returncode == 3
    result = harness(
        "run", "agent", "--task", TASK, "--runs-dir", str(runs_dir), "--command",
        "echo fell back", "--json", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["runtime"] == "local"


@pytest.mark.docker
def test_gpus_requested_but_absent(agent_images: dict[str, str], runs_dir: Path) -> None:
    if visible_gpus():
        pytest.skip("this machine has GPUs")
    result = harness("run", BASE_IMAGE, "--task", TASK, "--gpus", "0", "--runs-dir",
                     str(runs_dir), "--network", "none")  # fmt: skip
    assert result.returncode == 3
    assert "GPUs requested (0) but none is visible" in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.docker
def test_missing_image_that_cannot_be_pulled(docker_client: Any, runs_dir: Path) -> None:
    result = harness("run", MISSING_IMAGE, "--task", TASK, "--runtime", "docker",
                     "--runs-dir", str(runs_dir), "--network", "none")  # fmt: skip
    assert result.returncode == 3
    assert f"image {MISSING_IMAGE!r} is not present and cannot be pulled" in result.stderr
    assert "hint: build it" in result.stderr


@pytest.mark.docker
def test_a_run_through_the_real_cli(
    agent_images: dict[str, str], runs_dir: Path, env_file: Path, docker_client: Any
) -> None:
    result = harness(
        "run", BASE_IMAGE, "--task", TASK, "--benchmark", BENCHMARK, "--provider", "openai",
        "--env-file", str(env_file), "--runs-dir", str(runs_dir), "--network", "none",
        "--time-limit", "1m", "--json", "--command", "echo $OPENAI_API_KEY; exit 5",
    )  # fmt: skip
    assert result.returncode == 4
    record = json.loads(result.stdout)
    assert record["status"] == "failed" and record["agent_exit_code"] == 5
    assert FAKE_KEY not in result.stdout + result.stderr
    assert "[REDACTED]" in result.stderr  # the agent's output is echoed, redacted
    assert not docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN_ID}={record['run_id']}"}
    )


def _interrupt(args: list[str], runs_dir: Path) -> tuple[int, dict[str, Any]]:
    proc = subprocess.Popen(
        [str(HARNESS), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=clean_environ(),
    )  # fmt: skip
    try:
        for _ in range(300):  # until the agent is up
            if list(runs_dir.glob("*/staging/up")):  # the agent's own folder while it runs
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, json.loads(out)


def test_ctrl_c_stops_a_local_agent_and_records_interrupted(runs_dir: Path) -> None:
    args = ["run", "agent", "--task", TASK, "--runtime", "local", "--runs-dir", str(runs_dir),
            "--json", "--command", "echo up > $OUTPUT_DIR/up; sleep 30"]  # fmt: skip
    code, record = _interrupt(args, runs_dir)
    assert code == 130
    assert record["status"] == "interrupted" and record["exit_code"] == 130


@pytest.mark.docker
def test_ctrl_c_stops_a_container(
    agent_images: dict[str, str], runs_dir: Path, docker_client: Any
) -> None:
    args = ["run", BASE_IMAGE, "--task", TASK, "--runtime", "docker", "--runs-dir",
            str(runs_dir), "--network", "none", "--grace", "2s", "--json", "--command",
            "echo up > /app/output/up; sleep 30"]  # fmt: skip
    code, record = _interrupt(args, runs_dir)
    assert code == 130 and record["status"] == "interrupted"
    assert not docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN_ID}={record['run_id']}"}
    )


def test_runs_lists_past_runs(runs_dir: Path) -> None:
    for command in ("true", "exit 2"):
        harness("run", "agent", "--task", TASK, "--runtime", "local", "--runs-dir",
                str(runs_dir), "--command", command)  # fmt: skip
    result = harness("runs", "--runs-dir", str(runs_dir), "--json")
    assert result.returncode == 0
    listed = json.loads(result.stdout)
    assert [r["status"] for r in listed] == ["completed", "failed"]
    table = CliRunner().invoke(app, ["runs", "--runs-dir", str(runs_dir)])
    assert table.exit_code == 0 and "completed" in table.output and "failed" in table.output


def test_help_imports_nothing_heavy_and_renders_every_default() -> None:
    # Fast --help is a matter of what it imports: the engine's SDK, the proxy's server and Ray
    # are imported inside the commands that use them, never to print help.
    probe = (
        "import sys; sys.argv = ['agent-harness', 'run', '--help']\n"
        "from agent_harness.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('docker', 'requests', 'uvicorn', 'starlette', 'httpx', 'ray', 'yaml', 'torch')\n"
        "print('HEAVY', sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout
    lines = done.stdout.splitlines()
    expected = {
        "--gpus": "as many as the task asks",
        "--time-limit": "the task's",
        "--disk-limit": "the task's disk_gb",
        "--eval-image": "$AGENT_EVAL_IMAGE or mlrb/agent-eval:latest",
        "--grace": "30s",
        "--agent-label": "the image's name without registry and tag",
    }
    for option, default in expected.items():
        line = next(row for row in lines if f" {option} " in row)
        assert f"[default: {default}]" in line or f"[default: ({default})]" in line, line


def test_env_file_is_never_copied(runs_dir: Path, env_file: Path) -> None:
    result = harness(*_local(runs_dir, "--provider", "openai", "--env-file", str(env_file)))
    assert result.returncode == 0, result.stderr
    for path in runs_dir.rglob("*"):
        if path.is_file():
            assert FAKE_KEY not in path.read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize(
    "limit",
    [
        "9" * 400,
        "9" * 5000,  # beyond int()'s digit limit
        "\u00b2",
        "\u0663\u0660m",
        "99999999999999999999",
        "99999999999999999999h",
        "1e9",
        "-5",
        "24hh",
        "1h\n2m",
        "x" * 5000,
    ],
)
def test_odd_time_limits_are_usage_errors_not_tracebacks(runs_dir: Path, limit: str) -> None:
    result = harness(*_local(runs_dir, "--time-limit", limit))
    assert result.returncode == 2, result.stderr
    assert "error: invalid time limit" in result.stderr and "Traceback" not in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_empty_image_or_task_is_a_usage_error(runs_dir: Path) -> None:
    for args in (("run", "", "--task", TASK), ("run", "agent", "--task", " ")):
        result = harness(*args, "--runtime", "local", "--command", "true")
        assert result.returncode == 2, result.stderr
        assert "is empty" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.docker
@pytest.mark.usefixtures("agent_images")
@pytest.mark.parametrize(
    "image",
    ["Upper/Case:latest", f"{BASE_IMAGE}@sha256:6e43937da534"],
    ids=["upper-case", "tag-and-short-digest"],
)
def test_malformed_image_name_is_a_usage_error(runs_dir: Path, image: str) -> None:
    result = harness("run", image, "--task", TASK, "--runtime", "docker", "--runs-dir",
                     str(runs_dir))  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "is not a valid image name" in result.stderr and "hint:" in result.stderr


def test_runs_names_unreadable_records_and_shows_whole_run_ids(runs_dir: Path) -> None:
    done = harness(*_local(runs_dir, "--json"))
    run_id = json.loads(done.stdout)["run_id"]
    for name, content in (("corrupt", b"{not json"), ("foreign", b'{"run_id": 5}')):
        (runs_dir / name).mkdir()
        (runs_dir / name / "run.json").write_bytes(content)
    result = harness("runs", "--runs-dir", str(runs_dir), env=clean_environ(COLUMNS="80"))
    assert result.returncode == 0
    assert run_id in result.stdout  # whole, not cut short by a narrow terminal
    assert "2 run folder(s)" in result.stderr and "corrupt, foreign" in result.stderr
    listed = json.loads(harness("runs", "--runs-dir", str(runs_dir), "--json").stdout)
    assert [r["run_id"] for r in listed] == [run_id]
