"""``agent-harness cleanup``: containers left by a crashed harness are found and removed."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import BASE_IMAGE, HARNESS, TASK, clean_environ, harness, wait_for_line

from agent_harness.run_json import Limits, RunRecord, hostname, read_record, write_record
from agent_harness.runtimes.container import (
    LABEL_HARNESS_PID,
    LABEL_HOST,
    LABEL_RUN_DIR,
    LABEL_RUN_ID,
    container_name,
)
from docker import errors as docker_errors


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _leftover(
    docker_client: Any,
    runs_dir: Path,
    run_id: str,
    pid: int,
    *,
    host: str | None = None,
    deadline: float | None = None,
) -> Any:
    """A running labelled container and its run.json at ``running``, as a harness leaves them."""
    run_dir = runs_dir / run_id
    (run_dir / "output").mkdir(parents=True)
    write_record(
        run_dir,
        RunRecord(
            run_id=run_id, task=TASK, benchmark="smoke", task_version="0.1.0", image=BASE_IMAGE,
            runtime="docker", provider="none", gpus=[], started_at="2026-11-22T11:30:00.000Z",
            deadline=time.time() + 3600 if deadline is None else deadline,
            limits=Limits(time_limit_s=3600, grace_s=1), harness_pid=pid,
            host=host or hostname(),
        ),
    )  # fmt: skip
    container = docker_client.containers.create(
        BASE_IMAGE,
        command=["/bin/sh", "-c", "/bin/busybox sleep 60"],
        name=container_name(run_id),
        network_mode="none",
        labels={
            LABEL_RUN_ID: run_id,
            LABEL_RUN_DIR: str(run_dir.resolve()),
            LABEL_HARNESS_PID: str(pid),
            LABEL_HOST: host or hostname(),
        },
    )
    container.start()
    return container


def _exists(docker_client: Any, run_id: str) -> bool:
    return bool(
        docker_client.containers.list(all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"})
    )


@pytest.mark.docker
def test_cleanup_touches_only_what_is_provably_abandoned(
    agent_images: dict[str, str], docker_client: Any, tmp_path: Path
) -> None:
    runs_dir, elsewhere = tmp_path / "runs", tmp_path / "other-runs"
    suffix = os.urandom(3).hex()
    ids = {
        k: f"2026112{i}T113000Z-{TASK}-{suffix}"
        for i, k in enumerate(("orphan", "live", "remote", "remote_late", "other_dir"))
    }
    made = [
        _leftover(docker_client, runs_dir, ids["orphan"], _dead_pid()),
        _leftover(docker_client, runs_dir, ids["live"], os.getpid()),
        # A live run of another host: its pid means nothing here, its deadline is ahead.
        _leftover(docker_client, runs_dir, ids["remote"], _dead_pid(), host="h2-other-host"),
        # Another host's run long past deadline + grace: abandoned whatever its pid.
        _leftover(
            docker_client, runs_dir, ids["remote_late"], 1, host="h2-other-host", deadline=1.0
        ),
        _leftover(docker_client, elsewhere, ids["other_dir"], _dead_pid()),
    ]
    try:
        result = harness("cleanup", "--runs-dir", str(runs_dir), "--json")
        assert result.returncode == 0, result.stderr
        actions = {i["run_id"]: i["action"] for i in json.loads(result.stdout)}
        assert actions[ids["orphan"]] == "removed"
        assert actions[ids["remote_late"]] == "removed"
        assert actions[ids["live"]] == "skipped"  # its harness (this process) is alive
        assert actions[ids["remote"]] == "skipped"
        assert ids["other_dir"] not in actions  # not under --runs-dir
        assert not _exists(docker_client, ids["orphan"])
        assert not _exists(docker_client, ids["remote_late"])
        for kept in ("live", "remote", "other_dir"):
            assert _exists(docker_client, ids[kept]), kept
        for gone in ("orphan", "remote_late"):
            record = read_record(runs_dir / ids[gone])
            assert record is not None and record.status == "error"
            assert record.ended_by == "cleanup" and record.exit_code is None
        for kept in ("live", "remote"):
            record = read_record(runs_dir / ids[kept])
            assert record is not None and record.status == "running"
        # The other runs folder is cleaned only when asked for every folder.
        result = harness("cleanup", "--runs-dir", str(runs_dir), "--all-runs-dirs", "--json")
        assert result.returncode == 0, result.stderr
        actions = {i["run_id"]: i["action"] for i in json.loads(result.stdout)}
        assert actions[ids["other_dir"]] == "removed"
        assert not _exists(docker_client, ids["other_dir"])
        assert _exists(docker_client, ids["remote"])
    finally:
        for container in made:
            with contextlib.suppress(docker_errors.NotFound):  # removed by the command under test
                container.remove(force=True)


@pytest.mark.docker
def test_a_run_removed_by_cleanup_is_not_the_agents_failure(
    agent_images: dict[str, str], docker_client: Any, runs_dir: Path
) -> None:
    """A live run whose container ``cleanup --force`` removes is recorded as error, not exit 4."""
    env = clean_environ(MLRB_GPU_LOCK_DIR=str(runs_dir.parent / "locks"))
    proc = subprocess.Popen(
        [str(HARNESS), "run", BASE_IMAGE, "--task", TASK, "--benchmark", "smoke",
         "--runtime", "docker", "--network", "none", "--runs-dir", str(runs_dir),
         "--time-limit", "60", "--grace", "1s", "--quiet",
         "--command", "echo started; while true; do /bin/busybox sleep 1; done"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run_dir = wait_for_line(runs_dir, "started")
        done = harness("cleanup", "--runs-dir", str(runs_dir), "--force")
        assert done.returncode == 0, done.stderr
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err
        record = read_record(run_dir)
        assert record is not None and record.status == "error", record
        assert record.ended_by == "harness" and "cleanup" in (record.message or "")
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cleanup_without_an_engine_still_marks_abandoned_local_runs(
    runs_dir: Path, tmp_path: Path
) -> None:
    run_id = "20261122T113000Z-tiny_lm-abcdef"
    run_dir = runs_dir / run_id
    (run_dir / "output").mkdir(parents=True)
    write_record(
        run_dir,
        RunRecord(
            run_id=run_id, task=TASK, benchmark="smoke", task_version="1.0.0", image="local",
            runtime="local", provider="none", gpus=[], started_at="2026-11-22T11:30:00.000Z",
            deadline=0.0, limits=Limits(time_limit_s=60, grace_s=1), harness_pid=_dead_pid(),
            host=hostname(),
        ),
    )  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    done = harness("cleanup", "--runs-dir", str(runs_dir), env=env)
    assert done.returncode == 0, done.stderr
    assert f"marked: {run_id}" in done.stdout
    assert "containers were not checked" in done.stderr
    record = read_record(run_dir)
    assert record is not None and record.status == "error"
