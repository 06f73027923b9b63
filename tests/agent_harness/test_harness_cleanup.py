"""``agent-harness cleanup``: containers left by a crashed harness are found and removed."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import BASE_IMAGE, TASK, harness

from agent_harness.records import Limits, RunRecord, hostname, read_record, write_record
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


def _leftover(docker_client: Any, runs_dir: Path, run_id: str, pid: int) -> Any:
    run_dir = runs_dir / run_id
    (run_dir / "output").mkdir(parents=True)
    write_record(
        run_dir,
        RunRecord(
            run_id=run_id, task=TASK, benchmark="smoke", task_version="0.1.0", image=BASE_IMAGE,
            runtime="docker", provider="none", gpus=[], started_at="2026-11-22T11:30:00.000Z",
            deadline=0.0, limits=Limits(time_limit_s=60, grace_s=1), harness_pid=pid,
            host=hostname(),
        ),
    )  # fmt: skip
    return docker_client.containers.create(
        BASE_IMAGE,
        command=["/bin/sh", "-c", "sleep 30"],
        name=container_name(run_id),
        network_mode="none",
        labels={
            LABEL_RUN_ID: run_id,
            LABEL_RUN_DIR: str(run_dir.resolve()),
            LABEL_HARNESS_PID: str(pid),
            LABEL_HOST: hostname(),
        },
    )


@pytest.mark.docker
def test_cleanup_removes_orphans_and_spares_live_runs(
    agent_images: dict[str, str], docker_client: Any, runs_dir: Path
) -> None:
    suffix = os.urandom(3).hex()
    orphan_id, live_id = f"20261122T113000Z-{TASK}-{suffix}", f"20261122T113001Z-{TASK}-{suffix}"
    orphan = _leftover(docker_client, runs_dir, orphan_id, _dead_pid())
    orphan.start()
    live = _leftover(docker_client, runs_dir, live_id, os.getpid())
    try:
        result = harness("cleanup", "--runs-dir", str(runs_dir), "--json")
        assert result.returncode == 0, result.stderr
        actions = {i["run_id"]: i["action"] for i in json.loads(result.stdout)}
        assert actions[orphan_id] == "removed"
        assert actions[live_id] == "skipped"  # its harness (this process) is alive
        assert not docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_RUN_ID}={orphan_id}"}
        )
        orphan_record = read_record(runs_dir / orphan_id)
        assert orphan_record is not None and orphan_record.status == "error"
        live_record = read_record(runs_dir / live_id)
        assert live_record is not None and live_record.status == "running"
    finally:
        live.remove(force=True)
        with contextlib.suppress(docker_errors.NotFound):  # removed by the command under test
            orphan.remove(force=True)


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
