"""Real agent runs under both runtimes: outputs, limits, failures, credentials, read-only task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import (
    AGENT_IMAGE,
    DB_SECRET,
    FAKE_KEY,
    TASK,
    run_once,
)

from agent_harness.runtimes.container import LABEL_RUN_ID


def _log(run_dir: Path) -> str:
    return (run_dir / "agent.log").read_text(encoding="utf-8")


def _gone(docker_client: Any, run_id: str) -> bool:
    found = docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"})
    return not found


def test_agent_writes_its_output_and_exits_0(runtime: str, runs_dir: Path) -> None:
    record, run_dir, console = run_once(
        runtime, runs_dir, "echo hello > $OUTPUT_DIR/hello.txt && echo written"
    )
    assert (record.status, record.exit_code, record.agent_exit_code) == ("completed", 0, 0)
    assert (run_dir / "output" / "hello.txt").read_text() == "hello\n"
    assert "written" in _log(run_dir) and "written" in console
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["status"] == "completed" and saved["task"] == TASK
    assert saved["runtime"] == runtime and saved["ended_at"] and saved["duration_s"] >= 0
    assert (run_dir / "task" / "TASK.md").is_file()


def test_deadline_stops_the_agent_and_keeps_its_output(runtime: str, runs_dir: Path) -> None:
    record, run_dir, _ = run_once(
        runtime,
        runs_dir,
        "echo started > $OUTPUT_DIR/partial.txt; sleep 30",
        time_limit="2s",
        grace="1s",
    )
    assert (record.status, record.exit_code) == ("timeout", 124)
    assert record.agent_exit_code == 143  # ended by SIGTERM, within the grace period
    assert (run_dir / "output" / "partial.txt").read_text() == "started\n"
    assert record.duration_s is not None and record.duration_s < 30


def test_agent_ignoring_sigterm_is_killed_after_the_grace(runtime: str, runs_dir: Path) -> None:
    record, _, _ = run_once(
        runtime, runs_dir, "trap '' TERM; echo stubborn; sleep 30", time_limit="2s", grace="1s"
    )
    assert (record.status, record.exit_code) == ("timeout", 124)
    assert record.agent_exit_code == 137  # SIGKILL
    assert record.duration_s is not None and record.duration_s < 30


def test_non_zero_exit_is_a_failed_run(runtime: str, runs_dir: Path) -> None:
    record, run_dir, _ = run_once(runtime, runs_dir, "echo oops >&2; exit 3")
    assert (record.status, record.exit_code, record.agent_exit_code) == ("failed", 4, 3)
    assert "oops" in _log(run_dir)


def test_credentials_reach_the_agent_but_never_the_log(
    runtime: str, runs_dir: Path, env_file: Path
) -> None:
    half = len(FAKE_KEY) // 2
    command = (
        "echo key=$OPENAI_API_KEY; echo legacy=$OPENAI; "
        f"printf '{FAKE_KEY[:half]}'; sleep 0.3; printf '{FAKE_KEY[half:]}\\n'; "
        "env | sort"
    )
    record, run_dir, console = run_once(
        runtime, runs_dir, command, provider="openai", env_file=env_file
    )
    assert record.status == "completed"
    log = _log(run_dir)
    run_json = (run_dir / "run.json").read_text()
    for text in (log, run_json, console):
        assert FAKE_KEY not in text
        assert DB_SECRET not in text
    assert "key=[REDACTED]" in log and "legacy=[REDACTED]" in log
    assert log.count("[REDACTED]") >= 5  # both names, the split value, and env's two lines
    assert "DB_PASSWORD" not in log and "DATABASE_URL" not in log
    assert "OTHER_SERVICE_TOKEN" not in log
    assert f"TASK_NAME={TASK}\n" in log and "PROVIDER=openai\n" in log
    assert "TIME_LIMIT_S=60\n" in log and "DEADLINE=" in log
    # The run's token (the proxy's, the default) under both names, and the proxy's address.
    assert record.credentials == ["OPENAI", "OPENAI_API_KEY", "OPENAI_BASE_URL"]
    task_dir = "/task" if runtime == "docker" else str((run_dir / "task").resolve())
    assert f"TASK_DIR={task_dir}\n" in log
    assert not any(p.name.endswith(".env") for p in run_dir.rglob("*"))


def test_the_task_folder_is_read_only(runtime: str, runs_dir: Path) -> None:
    command = (
        "(echo x > $TASK_DIR/TASK.md) 2>/dev/null && echo WROTE || echo REFUSED-1; "
        "(touch $TASK_DIR/new) 2>/dev/null && echo WROTE || echo REFUSED-2; "
        "(chmod u+w $TASK_DIR/TASK.md && echo x > $TASK_DIR/TASK.md) 2>/dev/null "
        "&& echo WROTE || echo REFUSED-3"
    )
    _, run_dir, _ = run_once(runtime, runs_dir, command)
    log = _log(run_dir)
    assert "WROTE" not in log
    assert all(f"REFUSED-{i}" in log for i in (1, 2, 3))
    assert (run_dir / "task" / "TASK.md").read_text(encoding="utf-8").strip() != "x"
    assert not (run_dir / "task" / "new").exists()


def test_submission_outside_the_output_is_rejected(runtime: str, runs_dir: Path) -> None:
    command = (
        "mkdir -p $OUTPUT_DIR/model && "
        """echo '{"model_path": "../../etc/passwd"}' > $OUTPUT_DIR/submission.json"""
    )
    record, run_dir, _ = run_once(runtime, runs_dir, command)
    assert record.status == "completed"
    assert record.deliverable is None
    assert record.deliverable_rejected and "outside" in record.deliverable_rejected
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["deliverable_rejected"] == record.deliverable_rejected


@pytest.mark.docker
def test_image_command_deliverable_and_container_removed(
    agent_images: dict[str, str], docker_client: Any, runs_dir: Path
) -> None:
    record, run_dir, _ = run_once("docker", runs_dir, None, image=AGENT_IMAGE)
    assert record.status == "completed"
    assert record.deliverable is not None
    assert (record.deliverable.path, record.deliverable.source) == ("output/model", "spec")
    assert (run_dir / "output" / "model" / "weights.bin").is_file()
    assert record.image_id and record.image_id.startswith("sha256:")
    assert _gone(docker_client, record.run_id)


@pytest.mark.docker
def test_container_has_no_network(agent_images: dict[str, str], runs_dir: Path) -> None:
    record, run_dir, _ = run_once("docker", runs_dir, "cat /proc/net/dev")
    assert record.network == "none"
    lines = [ln.split(":")[0].strip() for ln in _log(run_dir).splitlines() if ":" in ln]
    assert lines == ["lo"]


@pytest.mark.docker
def test_timed_out_container_is_gone(
    agent_images: dict[str, str], docker_client: Any, runs_dir: Path
) -> None:
    record, _, _ = run_once("docker", runs_dir, "sleep 30", time_limit="1s", grace="0")
    assert record.status == "timeout"
    assert _gone(docker_client, record.run_id)


def test_the_task_folder_states_the_run_s_own_time_limit(runs_dir: Path) -> None:
    record, run_dir, _ = run_once(
        "local", runs_dir, "grep -o 'Time limit: [^;]*' $TASK_DIR/TASK.md", time_limit="77"
    )
    assert record.status == "completed"
    spec = json.loads((run_dir / "task" / "task.json").read_text(encoding="utf-8"))
    assert spec["resources"]["time_limit_s"] == 77
    assert "Time limit: 1m17s (77 s)" in _log(run_dir)


def test_submission_naming_a_file_is_recorded_as_rejected(runs_dir: Path) -> None:
    record, _, console = run_once(
        "local",
        runs_dir,
        "mkdir -p m && echo {} > m/config.json && "
        """echo '{"model_path": "m/config.json"}' > submission.json""",
    )
    assert record.status == "completed" and record.deliverable is None
    assert "is a file" in (record.deliverable_rejected or "")
    assert "deliverable rejected" in console


def test_a_run_record_the_evaluator_would_refuse_is_never_written(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from agent_contracts.run_record import Limits, RunRecord
    from agent_harness.run_json import write_record

    good = RunRecord(
        run_id="r1", task="tiny_lm", benchmark="smoke", task_version="0.1.0", image="x",
        runtime="local", provider="none", gpus=[], started_at="2026-11-22T11:30:00.000Z",
        deadline=1.0, limits=Limits(time_limit_s=60, grace_s=1), harness_pid=1, host="h",
    )  # fmt: skip
    write_record(tmp_path, good)
    before = (tmp_path / "run.json").read_text()
    bad = good.model_copy(update={"status": "finished-ish"})  # model_copy validates nothing
    with pytest.raises(ValidationError):
        write_record(tmp_path, bad)
    assert (tmp_path / "run.json").read_text() == before  # the good record stays
