"""Run sets of busybox agent images through the real harness and a real Docker engine."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import BASE_IMAGE
from runset_testkit import (
    batch,
    event_time,
    ledger_events,
    start_batch,
    wait_for,
    write_runset,
)

from agent_harness.runtimes.container import LABEL_RUN_ID

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("runset_plugin", "agent_images")]

MISSING = "mlrb-test/h6-runsets-never-built:latest"


def _containers(docker_client: Any, run_id: str) -> list[Any]:
    return list(
        docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"}, ignore_removed=True
        )
    )


def test_busybox_agents_get_their_gpus_and_a_missing_image_is_retried_then_given_up(
    tmp_path: Path, docker_client: Any
) -> None:
    path = write_runset(
        tmp_path,
        agents=[
            {
                "name": "bb",
                "image": BASE_IMAGE,
                "command": "echo $CUDA_VISIBLE_DEVICES > /app/output/gpus.txt; sleep 1",
                "network": "none",
            },
            {"name": "ghost", "image": MISSING, "network": "none"},
        ],
        tasks=["rstest_gpu1", "rstest_gpu2"],
        gpus="0,1,2",
        simulate_gpus=True,
        retries=1,
        grace="1s",
    )
    done = batch("run", str(path), "--json", env=dict(os.environ))
    assert done.returncode == 3, done.stderr  # the ghost cells gave up: environment not ready
    cells = {c["cell"]: c for c in json.loads(done.stdout)["cells"]}
    folder = tmp_path / "set"
    for task, count in (("rstest_gpu1", 1), ("rstest_gpu2", 2)):
        ok = cells[f"bb--{task}--1"]
        assert (ok["outcome"], ok["attempts"]) == ("completed", 1)
        seen = next(folder.glob(f"runs/bb--{task}--1/a1/*/output/gpus.txt")).read_text().split()
        assert len(seen[0].split(",")) == count
        record = json.loads(next(folder.glob(f"runs/bb--{task}--1/a1/*/run.json")).read_text())
        assert record["runtime"] == "docker" and not _containers(docker_client, record["run_id"])
        ghost = cells[f"ghost--{task}--1"]
        assert (ghost["outcome"], ghost["attempts"]) == ("error", 2)  # 1 + retries
    ends = [
        e for e in ledger_events(folder) if e["event"] == "end" and e["cell"].startswith("ghost")
    ]
    assert [e["outcome"] for e in ends].count("infra") == 2
    assert all(e["exit_code"] == 3 and "cannot be pulled" in e["message"] for e in ends)
    # The retry came after its back-off (2 s after the first failure), not at once.
    for task in ("rstest_gpu1", "rstest_gpu2"):
        cell = f"ghost--{task}--1"
        failed = next(e for e in ends if e["cell"] == cell and e["attempt"] == 1)
        retried = next(
            e
            for e in ledger_events(folder)
            if e["event"] == "launch" and e["cell"] == cell and e["attempt"] == 2
        )
        assert failed["retry_in_s"] == 2.0
        assert event_time(retried) - event_time(failed) >= 2.0


def test_ctrl_c_removes_the_containers_and_records_the_cells(
    tmp_path: Path, docker_client: Any
) -> None:
    path = write_runset(
        tmp_path,
        agents=[{"name": "bb", "image": BASE_IMAGE, "command": "sleep 60", "network": "none"}],
        tasks=["rstest_gpu1"],
        trials=2,
        gpus="0,1",
        simulate_gpus=True,
        grace="2s",
    )
    folder = tmp_path / "set"
    proc = start_batch("run", str(path), env=dict(os.environ), log=tmp_path / "batch.log")

    def running_records() -> list[dict[str, Any]]:
        found = [json.loads(p.read_text()) for p in folder.glob("runs/*/a1/*/run.json")]
        return [r for r in found if _containers(docker_client, r["run_id"])]

    wait_for(lambda: len(running_records()) == 2, 90, "two containers to run")
    run_ids = [r["run_id"] for r in running_records()]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    time.sleep(0.5)
    for run_id in run_ids:
        assert not _containers(docker_client, run_id)
    records = [json.loads(p.read_text()) for p in folder.glob("runs/*/a1/*/run.json")]
    assert {(r["status"], r["exit_code"]) for r in records} == {("interrupted", 130)}
