"""The Ray backend: a local cluster of two simulated nodes (2 and 1 GPUs) inside a network
namespace with only loopback, busybox agents through the real harness; address and token rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import BASE_IMAGE
from runset_testkit import BEATS, ledger_events, overlapping, write_runset

from agent_harness.errors import ConfigError
from agent_harness.runset.backends.ray import address_host, check_address, is_loopback
from agent_harness.runtimes.container import LABEL_RUN_ID

HERE = Path(__file__).resolve().parent


def test_a_non_loopback_address_needs_a_token() -> None:
    assert address_host("ray://10.0.0.5:10001") == "10.0.0.5"
    assert address_host("[::1]:6379") == "::1" and is_loopback("::1")
    assert is_loopback(address_host("127.0.0.1:6379")) and is_loopback("localhost")
    assert check_address("127.0.0.1:6379", {}) == "127.0.0.1:6379"
    with pytest.raises(ConfigError) as refused:
        check_address("10.0.0.5:6379", {})
    assert "no authentication token" in refused.value.message
    assert refused.value.exit_code == 2
    assert check_address("10.0.0.5:6379", {"RAY_AUTH_TOKEN": "x"}) == "10.0.0.5:6379"
    with pytest.raises(ConfigError):
        check_address(None, {})


def _netns_ready() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


def _when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.usefixtures("runset_plugin", "agent_images")
def test_ray_cluster_of_two_nodes_runs_busybox_agents_through_the_harness(
    tmp_path: Path, docker_client: Any
) -> None:
    pytest.importorskip("ray")
    if not _netns_ready():
        # CI runs as root with unshare: there this is a failure, elsewhere a skip.
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("unshare -n does not work here")
        pytest.skip("needs root and `unshare -n` (Ray must run in a loopback-only namespace)")
    command = "echo $CUDA_VISIBLE_DEVICES > /app/output/gpus.txt; sleep 3"
    runset = write_runset(
        tmp_path,
        agents=[{"name": "bb", "image": BASE_IMAGE, "command": command, "network": "none"}],
        tasks=["rstest_gpu2", "rstest_gpu1", "rstest_cpu"],
        trials=2,
        simulate_gpus=True,
        grace="2s",
        concurrency=3,
    )
    cancel_dir = tmp_path / "cancel"
    cancel_dir.mkdir()
    cancel_set = write_runset(
        cancel_dir,
        agents=[{"name": "bb", "image": BASE_IMAGE, "command": "sleep 60", "network": "none"}],
        tasks=["rstest_gpu1"],
        trials=2,
        simulate_gpus=True,
        grace="2s",
    )
    kill_dir = tmp_path / "kill"
    kill_dir.mkdir()
    heartbeat = BEATS.format(n=100, clock="date +%s.%N", out="")
    kill_set = write_runset(
        kill_dir,
        agents=[{"name": "s", "command": heartbeat}],
        tasks=["rstest_gpu1"],
        trials=3,
        simulate_gpus=True,
        grace="2s",
    )
    node_dir = tmp_path / "node"
    node_dir.mkdir()
    node_set = write_runset(
        node_dir,
        agents=[{"name": "s", "command": heartbeat}],
        tasks=["rstest_gpu1"],
        trials=3,
        simulate_gpus=True,
        grace="2s",
    )
    spec = {
        "kill_runset": str(kill_set),
        "kill_folder": str(kill_dir / "set"),
        "kill_log": str(tmp_path / "kill.log"),
        "runset": str(runset),
        "cancel_runset": str(cancel_set),
        "cancel_folder": str(cancel_dir / "set"),
        "cancel_log": str(tmp_path / "cancel.log"),
        "cancel_when_running": 2,
        "node_runset": str(node_set),
        "node_folder": str(node_dir / "set"),
        "node_log": str(tmp_path / "node.log"),
        "node_cells": 3,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out_file = tmp_path / "out.json"
    body = f"ip link set lo up && exec {sys.executable} {HERE / 'ray_cluster_body.py'} "
    body += f"{tmp_path / 'spec.json'} {out_file}"
    locks = tmp_path / "gpu-locks"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", body],
        capture_output=True,
        text=True,
        timeout=540,
        env={**os.environ, "MLRB_GPU_LOCK_DIR": str(locks)},
    )
    assert done.returncode == 0 and out_file.is_file(), done.stderr[-3000:]
    out = json.loads(out_file.read_text())
    run = out["run"]
    assert run["returncode"] == 0, run["stderr"]
    cells = {c["cell"]: c for c in json.loads(run["stdout"])["cells"]}
    assert len(cells) == 6 and {c["outcome"] for c in cells.values()} == {"completed"}

    # Results and run folders in one place: the set's (shared) folder; the ledger with the driver.
    folder = tmp_path / "set"
    ends = {e["cell"]: e for e in ledger_events(folder) if e["event"] == "end"}
    nodes = {e["node"] for e in ends.values()}
    # Ray places each cell on a node with enough free GPUs; which of the two takes the 1-GPU
    # and CPU cells depends on timing, so the test asserts placement, not a spread.
    assert 1 <= len(nodes) <= 2 and all(nodes)
    wide = [e for c, e in ends.items() if "gpu2" in c]
    assert len({e["node"] for e in wide}) == 1  # only one node has two GPUs
    spans = []
    for cell_id, end in ends.items():
        run_dir = folder / end["run_dir"]
        record = json.loads((run_dir / "run.json").read_text())
        seen = (run_dir / "output" / "gpus.txt").read_text().split()
        ids = set(seen[0].split(",")) if seen else set()
        wanted = 2 if "gpu2" in cell_id else 1 if "gpu1" in cell_id else 0
        assert len(ids) == wanted and sorted(ids) == sorted(end["gpus"]), (cell_id, ids)
        assert record["runtime"] == "docker" and record["status"] == "completed"
        assert not docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_RUN_ID}={record['run_id']}"}
        )
        spans.append((end["node"], _when(record["started_at"]), _when(record["ended_at"]), ids))
    for i, a in enumerate(spans):
        for b in spans[i + 1 :]:
            if a[0] == b[0] and a[1] < b[2] and b[1] < a[2]:
                assert not (a[3] & b[3]), "two cells on one node shared a GPU"

    refused = out["non_loopback_without_token"]
    assert refused["returncode"] == 2 and "no authentication token" in refused["stderr"]

    # Ctrl-C of the driver: Ray cancels the tasks, each harness stops its container and records.
    assert out["cancel"]["returncode"] == 130
    records = [json.loads(p.read_text()) for p in (cancel_dir / "set").glob("runs/*/a1/*/run.json")]
    assert len(records) == 2
    assert {(r["status"], r["exit_code"]) for r in records} == {("interrupted", 130)}
    for record in records:
        assert not docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_RUN_ID}={record['run_id']}"}
        )

    # kill -9 of the driver while cells run: Ray ends the workers and their children; resume
    # adopts any attempt still running instead of starting it again, judges the others from
    # their records, and every cell completes exactly once.
    kill = out["kill"]
    assert kill["statuses_at_kill"] and "running" in kill["statuses_at_kill"]
    resumed = kill["resume"]
    assert resumed["returncode"] == 0, resumed["stderr"]
    cells = json.loads(resumed["stdout"])["cells"]
    assert len(cells) == 3 and {c["outcome"] for c in cells} == {"completed"}
    for cell in cells:
        found = [
            json.loads(p.read_text())["status"]
            for p in (kill_dir / "set" / "runs" / cell["cell"]).glob("a*/*/run.json")
        ]
        assert found.count("completed") == 1, (cell["cell"], found)
    # ... and no retried cell ran twice at once: its old agent's last heartbeat precedes the
    # new attempt's launch (the old attempt was fenced first).
    assert not overlapping(kill_dir / "set")
    fenced = [e for e in ledger_events(kill_dir / "set") if e["event"] == "fenced"]
    assert all(e["proof"] in ("gone", "nothing started") for e in fenced)

    # A node lost mid-cell (its harnesses killed -9, then the node): its cell is retried on the
    # other node only once that node's watchdog (or the scheduler) has killed the old agent.
    node = out["node"]
    assert node["returncode"] == 0 and node["killed_harnesses"] >= 1, node
    cells = json.loads(node["stdout"])["cells"]
    assert len(cells) == 3 and {c["outcome"] for c in cells} == {"completed"}
    assert any(c["attempts"] > 1 for c in cells)
    assert not overlapping(node_dir / "set")
    fenced = [e for e in ledger_events(node_dir / "set") if e["event"] == "fenced"]
    assert any(e["killed_by"] in ("watchdog", "scheduler") for e in fenced), fenced

    # Simulated nodes on one host: each its own GPU lock folder (both number their GPUs from 0).
    found = list(locks.glob("**/gpu-*.lock"))
    assert found and all(p.parent.name.startswith("node-") for p in found), found
    assert len({p.parent for p in found}) == 2
