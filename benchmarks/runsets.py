"""Measure run sets: makespan against the ideal schedule, Ray's added time per cell, and resume
after ``kill -9`` of the scheduler.

    .venv/bin/python benchmarks/runsets.py [--out runsets.json] [--skip-ray] [--kills 5]

1. Makespan: 24 cells (3 sleeping agents of 10, 15 and 20 s x a 1-GPU and a 2-GPU task x 4
   trials) on 4 simulated GPUs through the real harness (local runtime), against the ideal: the
   same placement rule (widest cells first, start whatever fits as soon as GPUs free up) with the
   known durations and no overhead. Target <= 1.10.
2. Ray's added time per cell: the same 1-GPU sleeping cells (2 s) through the local backend and
   through a local Ray cluster of two simulated nodes (2 + 1 GPUs) inside a loopback-only network
   namespace (``unshare -n``, root); per cell, the time from the ledger's launch to its end minus
   the agent's 2 s; Ray's figure minus the local one.
3. Resume after ``kill -9`` of the scheduler at a random moment, ``--kills`` times: cells run
   again although finished, lost, and duplicated trials (target 0, 0, 0).

GPUs are simulated (AGENT_HARNESS_SIMULATED_GPUS, test only); nothing here measures a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from eval_vs_lm_eval import register_tasks

REPO = Path(__file__).resolve().parents[1]
TASKS_SOURCE = REPO / "tests" / "agent_harness" / "runset_tasks.py"
SLEEPS_S = {"s10": 10, "s15": 15, "s20": 20}


def batch(
    *args: str, env: dict[str, str], timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    """The real ``agent-harness batch`` (this interpreter, this tree)."""
    return subprocess.run(
        [sys.executable, "-m", "agent_harness", "batch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def write_set(folder: Path, **content: Any) -> Path:
    """A run-set YAML file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "set.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return path


def events(folder: Path) -> list[dict[str, Any]]:
    """The ledger's events."""
    found = []
    for line in (folder / "ledger.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def when(text: str) -> float:
    """ISO 8601 (with Z) to Unix seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def ideal_makespan(cells: list[tuple[int, float]], gpus: int) -> float:
    """The scheduler's own rule with exact durations and no overhead: cells in order (widest
    first), at each moment start every waiting cell that fits, in order."""
    waiting = list(cells)
    running: list[tuple[float, int]] = []  # (end, gpus)
    now, free = 0.0, gpus
    while waiting or running:
        for cell in list(waiting):
            if cell[0] <= free:
                waiting.remove(cell)
                free -= cell[0]
                running.append((now + cell[1], cell[0]))
        running.sort()
        end, used = running.pop(0)
        now, free = end, free + used
    return now


def makespan(root: Path, env: dict[str, str]) -> dict[str, Any]:
    """Part 1."""
    path = write_set(
        root / "makespan",
        name="makespan",
        agents=[{"name": n, "command": f"sleep {s}"} for n, s in SLEEPS_S.items()],
        tasks=["rstest_gpu2", "rstest_gpu1"],
        trials=4,
        gpus="0,1,2,3",
        simulate_gpus=True,
        grace="2s",
    )
    started = time.monotonic()
    done = batch("run", str(path), "--json", env=env)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"makespan set failed ({done.returncode}): {done.stderr[-3000:]}")
    folder = root / "makespan" / "set"
    log = events(folder)
    launches = {e["cell"]: when(e["at"]) for e in log if e["event"] == "launch"}
    ends = {e["cell"]: when(e["at"]) for e in log if e["event"] == "end"}
    cells = [c["cell"] for c in json.loads(done.stdout)["cells"]]  # scheduling order
    plan = [(2 if "gpu2" in c else 1, float(SLEEPS_S[c.split("--")[0]])) for c in cells]
    ideal = ideal_makespan(plan, 4)
    first_to_last = max(ends.values()) - min(launches.values())
    overheads = [ends[c] - launches[c] - d for c, (_, d) in zip(cells, plan, strict=True)]
    return {
        "cells": len(cells),
        "gpus": 4,
        "ideal_s": round(ideal, 2),
        "lower_bound_s": round(sum(g * d for g, d in plan) / 4, 2),
        "command_wall_s": round(wall, 2),
        "first_launch_to_last_end_s": round(first_to_last, 2),
        "ratio_command": round(wall / ideal, 3),
        "ratio_cells": round(first_to_last / ideal, 3),
        "per_cell_overhead_median_s": round(statistics.median(overheads), 3),
        "target": "ratio <= 1.10",
    }


def overhead_set(folder: Path, cells: int) -> Path:
    """1-GPU cells sleeping 2 s, at most as many at once as the smallest setup has GPUs."""
    return write_set(
        folder,
        name="overhead",
        agents=[{"name": "s2", "command": "sleep 2"}],
        tasks=["rstest_gpu1"],
        trials=cells,
        gpus="0,1,2",
        simulate_gpus=True,
        concurrency=3,
        grace="2s",
    )


def per_cell_overheads(folder: Path, sleep_s: float) -> list[float]:
    """Launch-to-end time of every cell minus the agent's own time."""
    log = events(folder)
    launches = {e["cell"]: when(e["at"]) for e in log if e["event"] == "launch"}
    return [when(e["at"]) - launches[e["cell"]] - sleep_s for e in log if e["event"] == "end"]


def ray_inner(spec_file: Path) -> None:
    """Inside the namespace: a two-node cluster, the overhead set on Ray, results to a file."""
    import secrets

    spec = json.loads(spec_file.read_text())
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    from ray.cluster_utils import Cluster

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
        cluster.add_node(num_gpus=1, num_cpus=2, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        done = batch(
            "run", spec["runset"], "--backend", "ray", "--address", cluster.address,
            env=dict(os.environ),
        )  # fmt: skip
        Path(spec["out"]).write_text(
            json.dumps({"returncode": done.returncode, "stderr": done.stderr[-3000:]})
        )
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


def ray_overhead(root: Path, env: dict[str, str], cells: int) -> dict[str, Any]:
    """Part 2."""
    local = overhead_set(root / "overhead-local", cells)
    done = batch("run", str(local), env=env)
    if done.returncode != 0:
        raise SystemExit(f"local overhead set failed: {done.stderr[-2000:]}")
    on_ray = overhead_set(root / "overhead-ray", cells)
    spec = root / "ray-spec.json"
    out = root / "ray-out.json"
    spec.write_text(json.dumps({"runset": str(on_ray), "out": str(out)}))
    body = (
        f"ip link set lo up && exec {sys.executable} {Path(__file__).resolve()} --ray-inner {spec}"
    )
    inner = subprocess.run(
        ["unshare", "-n", "sh", "-c", body], env=env, capture_output=True, text=True, timeout=900
    )
    if inner.returncode != 0 or not out.is_file():
        raise SystemExit(f"the Ray run failed: {inner.stderr[-3000:]}")
    result = json.loads(out.read_text())
    if result["returncode"] != 0:
        raise SystemExit(f"the Ray set failed: {result['stderr']}")
    local_s = per_cell_overheads(root / "overhead-local" / "set", 2.0)
    ray_s = per_cell_overheads(root / "overhead-ray" / "set", 2.0)
    return {
        "cells": cells,
        "local_per_cell_overhead_median_s": round(statistics.median(local_s), 3),
        "ray_per_cell_overhead_median_s": round(statistics.median(ray_s), 3),
        "ray_added_per_cell_s": round(statistics.median(ray_s) - statistics.median(local_s), 3),
    }


def kill_and_resume(root: Path, env: dict[str, str], kills: int, seed: int) -> dict[str, Any]:
    """Part 3."""
    rng = random.Random(seed)
    rounds = []
    for n in range(kills):
        folder = root / f"kill-{n}"
        path = write_set(
            folder,
            name=f"kill{n}",
            agents=[{"name": "a", "command": "sleep 1"}, {"name": "b", "command": "sleep 2"}],
            tasks=["rstest_gpu2", "rstest_gpu1", "rstest_cpu"],
            trials=2,
            gpus="0,1,2,3",
            simulate_gpus=True,
            grace="1s",
        )
        set_dir = folder / "set"
        with (folder / "first.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "agent_harness", "batch", "run", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        at = rng.uniform(0.5, 8.0)
        time.sleep(at)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log_before = events(set_dir) if (set_dir / "ledger.jsonl").is_file() else []
        before = {
            e["cell"]: e["run_dir"]
            for e in log_before
            if e["event"] == "end" and e["outcome"] in ("completed", "failed", "timeout", "error")
        }
        running = sum(1 for e in log_before if e["event"] == "launch") - sum(
            1 for e in log_before if e["event"] == "end"
        )
        done = batch("resume" if log_before else "run", str(path), "--json", env=env)
        cells = json.loads(done.stdout)["cells"] if done.stdout else []
        after = {
            e["cell"]: e["run_dir"]
            for e in events(set_dir)
            if e["event"] == "end" and e["outcome"] in ("completed", "failed", "timeout", "error")
        }
        folders: dict[str, list[str]] = {}
        for record in set_dir.glob("runs/*/a*/*/run.json"):
            status = json.loads(record.read_text())["status"]
            folders.setdefault(record.parents[2].name, []).append(status)
        ids = [c["cell"] for c in cells]
        rounds.append(
            {
                "killed_after_s": round(at, 2),
                "finished_before_kill": len(before),
                "running_at_kill": running,
                "resume_exit": done.returncode,
                "rerun": sum(1 for c, d in before.items() if after.get(c) != d)
                + sum(1 for c in before if len(folders.get(c, [])) > 1),
                "lost": sum(1 for c in ids if c not in after) + (0 if ids else 12),
                "duplicated": sum(
                    1
                    for c in ids
                    if sum(1 for s in folders.get(c, []) if s in ("completed", "failed", "timeout"))
                    > 1
                ),
            }
        )
    return {
        "rounds": rounds,
        "rerun": sum(r["rerun"] for r in rounds),
        "lost": sum(r["lost"] for r in rounds),
        "duplicated": sum(r["duplicated"] for r in rounds),
        "target": "0, 0, 0",
    }


def main() -> None:
    """Run the three measurements and print (and save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-makespan", action="store_true")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--ray-inner", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ray_inner is not None:
        ray_inner(args.ray_inner)
        return
    with tempfile.TemporaryDirectory(prefix="runsets-bench-") as tmp:
        root = Path(tmp)
        site = register_tasks(root, "runset_bench_tasks", TASKS_SOURCE.read_text(encoding="utf-8"))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
        report: dict[str, Any] = {}
        if not args.skip_makespan:
            report["makespan"] = makespan(root, env)
            print(json.dumps({"makespan": report["makespan"]}, indent=2), flush=True)
        if not args.skip_ray:
            report["ray"] = ray_overhead(root, env, cells=6)
            print(json.dumps({"ray": report["ray"]}, indent=2), flush=True)
        if args.kills:
            report["resume_after_kill_9"] = kill_and_resume(root, env, args.kills, args.seed)
            print(json.dumps({"resume_after_kill_9": report["resume_after_kill_9"]}, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
