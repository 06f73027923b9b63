"""Body of the Ray test, run as a script INSIDE a network namespace that has only loopback.

    unshare -n sh -c 'ip link set lo up && python ray_cluster_body.py SPEC.json OUT.json'

Starts a local Ray cluster of two simulated nodes (2 GPUs and 1 GPU, token authentication on),
runs ``agent-harness batch run --backend ray`` on the set named in SPEC, then (optionally) starts
a second set and sends it Ctrl-C once its containers run; writes what happened to OUT.json and
shuts the cluster down.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def batch(*args: str) -> list[str]:
    """The real batch CLI's command line."""
    return [sys.executable, "-m", "agent_harness", "batch", *args]


def kill_then_resume(spec: dict[str, Any], address: str, env: dict[str, str]) -> dict[str, Any]:
    """kill -9 of the driver while cells run, then resume once their harnesses have stopped."""
    folder = Path(spec["kill_folder"])
    with Path(spec["kill_log"]).open("ab") as log:
        proc = subprocess.Popen(
            batch("run", spec["kill_runset"], "--backend", "ray", "--address", address),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    end = time.monotonic() + 120
    while time.monotonic() < end:
        if len(list(folder.glob("runs/*/a1/*/run.json"))) >= 2:
            break
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    records = [json.loads(p.read_text()) for p in folder.glob("runs/*/a1/*/run.json")]
    done = subprocess.run(
        batch("resume", spec["kill_runset"], "--backend", "ray", "--address", address, "--json"),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return {
        "statuses_at_kill": sorted(r["status"] for r in records),
        "resume": {
            "returncode": done.returncode,
            "stdout": done.stdout,
            "stderr": done.stderr[-3000:],
        },
    }


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _is_harness(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"agent_harness\0run\0--config\0" in cmdline


def lose_a_node(
    spec: dict[str, Any], cluster: Any, node: Any, env: dict[str, str]
) -> dict[str, Any]:
    """While every GPU runs a cell: kill -9 the harnesses on one node, then the node itself."""
    folder = Path(spec["node_folder"])
    out_path = Path(spec["node_log"]).with_suffix(".json")
    with Path(spec["node_log"]).open("ab") as log, out_path.open("wb") as stdout:
        proc = subprocess.Popen(
            batch(
                "run",
                spec["node_runset"],
                "--json",
                "--backend",
                "ray",
                "--address",
                cluster.address,
            ),
            stdout=stdout,
            stderr=log,
            env=env,
        )
    end = time.monotonic() + 120
    while time.monotonic() < end:
        beating = [
            p for p in folder.glob("runs/*/a1/*/staging/beats.txt") if len(p.read_bytes()) > 60
        ]
        if len(beating) >= spec["node_cells"]:
            break
        time.sleep(0.2)
    raylet = node.all_processes["raylet"][0].process.pid
    harnesses = [p for p in _descendants(raylet) if _is_harness(p)]
    for pid in harnesses:
        os.kill(pid, signal.SIGKILL)
    cluster.remove_node(node, allow_graceful=False)
    code = proc.wait(timeout=300)
    return {"returncode": code, "killed_harnesses": len(harnesses), "stdout": out_path.read_text()}


def main() -> None:
    """Start the cluster, run the scenarios, record, shut down."""
    spec = json.loads(Path(sys.argv[1]).read_text())
    out: dict[str, Any] = {}
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    from ray.cluster_utils import Cluster

    started = time.monotonic()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_gpus": 2,
            "num_cpus": 2,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
        },
    )
    try:
        worker = cluster.add_node(num_gpus=1, num_cpus=2, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        out["cluster_start_s"] = time.monotonic() - started
        out["address"] = cluster.address
        env = dict(os.environ)
        t0 = time.monotonic()
        done = subprocess.run(
            batch(
                "run", spec["runset"], "--backend", "ray", "--address", cluster.address, "--json"
            ),
            capture_output=True,
            text=True,
            env=env,
            timeout=spec.get("timeout", 300),
        )
        out["run"] = {
            "returncode": done.returncode,
            "stdout": done.stdout,
            "stderr": done.stderr[-4000:],
            "wall_s": time.monotonic() - t0,
        }
        no_token = {k: v for k, v in env.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_MODE")}
        refused = subprocess.run(
            batch("run", spec["runset"], "--backend", "ray", "--address", "10.255.0.1:6379"),
            capture_output=True,
            text=True,
            env=no_token,
            timeout=60,
        )
        out["non_loopback_without_token"] = {
            "returncode": refused.returncode,
            "stderr": refused.stderr,
        }
        if spec.get("cancel_runset"):
            folder = Path(spec["cancel_folder"])
            with Path(spec["cancel_log"]).open("ab") as log:
                proc = subprocess.Popen(
                    batch(
                        "run",
                        spec["cancel_runset"],
                        "--backend",
                        "ray",
                        "--address",
                        cluster.address,
                    ),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            end = time.monotonic() + 120
            while time.monotonic() < end:
                records = [json.loads(p.read_text()) for p in folder.glob("runs/*/a1/*/run.json")]
                if len(records) >= spec["cancel_when_running"]:
                    break
                time.sleep(0.2)
            time.sleep(2)  # the containers start after run.json is first written
            proc.send_signal(signal.SIGINT)
            out["cancel"] = {"returncode": proc.wait(timeout=120)}
        if spec.get("kill_runset"):
            out["kill"] = kill_then_resume(spec, cluster.address, env)
        if spec.get("node_runset"):
            out["node"] = lose_a_node(spec, cluster, worker, env)  # last: the node is gone
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    Path(sys.argv[2]).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
