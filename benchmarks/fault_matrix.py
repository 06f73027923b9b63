"""Fault-injection matrix for run sets: kill -9 at random points, resume, count what went wrong.

    .venv/bin/python benchmarks/fault_matrix.py [--rounds 3] [--seed 7] [--skip-ray] [--out f.json]

Each round runs a small set (6 cells: a 0-, 1- and 2-GPU task x 2 trials on 3 simulated GPUs)
of heartbeat agents (local runtime: a timestamp every 50 ms into the output folder for 3-6 s,
and a model-API call through the harness's proxy every 10th beat, answered by a scripted
upstream on loopback), through the real ``agent-harness batch``, and injects one fault at a
random moment while cells run:

- ``scheduler``: kill -9 of the scheduler, then ``batch resume``;
- ``harness``: kill -9 of one running harness (its watchdog keeps the agent); the scheduler
  retries the cell by itself;
- ``scheduler+harness``: both, then ``batch resume``;
- ``ray-driver`` (root, ``unshare -n``): kill -9 of the driver of a set on a local two-node Ray
  cluster (Ray then kills the harnesses), then resume;
- ``ray-node``: kill -9 of the harnesses on the worker node, then of the node itself; the set
  finishes on the other node (a fresh worker node joins for the next round);
- ``proxy``: not a separate column: the model-API proxy runs inside the harness process, so
  killing the proxy is killing the harness (the ``harness`` columns).

Counted per round, all expected 0: ``rerun`` (a cell finished before the fault ran again),
``lost`` (a cell without a result at the end), ``duplicated`` (a cell with two results),
``overlapping`` (a retried cell whose old agent still beat at or after the new attempt's launch),
``unrecorded_calls`` (calls the upstream answered that no attempt's ``run.json`` counts in its
``model_usage``: spend lost to the fault).
Also reported: attempts fenced and by whom. Loopback only; every round is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
KIT = REPO / "tests" / "agent_harness"
sys.path.insert(0, str(KIT))

from runset_testkit import (  # noqa: E402 - the tests' run-set tools
    audit,
    ledger_events,
    overlapping,
    register_plugin,
    results_in_ledger,
    write_runset,
)

TASKS = ["rstest_gpu2", "rstest_gpu1", "rstest_cpu"]
CELLS = [f"hb--{t}--{n}" for t in TASKS for n in (1, 2)]
LOCAL_FAULTS = ("scheduler", "harness", "scheduler+harness")
ROUND_TIMEOUT_S = 300
CALL_EVERY = 10
"""The agent calls the model API on every 10th heartbeat (and on the first)."""
CALL = (
    'curl -s -o /dev/null -H "Authorization: Bearer $OPENAI_API_KEY" '
    "-H 'Content-Type: application/json' "
    '-d \'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}\' '
    "$OPENAI_BASE_URL/chat/completions"
)
AGENT = (
    "i=0; while [ $i -lt {n} ]; do date +%s.%N >> beats.txt; "
    f"if [ $((i % {CALL_EVERY})) -eq 0 ]; then {CALL}; fi; "
    "sleep 0.05; i=$((i+1)); done; echo ok > model.txt"
)
"""The heartbeat agent of the tests (``runset_testkit.BEATS``) with model calls."""


def batch_argv(*args: str) -> list[str]:
    """The real batch command line."""
    return [sys.executable, "-m", "agent_harness", "batch", *args]


def make_set(folder: Path, rng: random.Random, **extra: Any) -> Path:
    """The round's run set: heartbeat agents of 3-6 s (longer than the first retry's back-off,
    so that a killed harness's agent is still running when its cell is retried)."""
    folder.mkdir(parents=True, exist_ok=True)
    beats = AGENT.replace("{n}", str(rng.randint(60, 100)))
    return write_runset(
        folder,
        agents=[{"name": "hb", "command": beats, "provider": "openai"}],
        tasks=TASKS,
        trials=2,
        simulate_gpus=True,
        grace="1s",
        time_limit="120s",
        retries=3,
        **extra,
    )


def harnesses(set_dir: Path) -> list[int]:
    """Live harnesses of the set with an agent beating (found by their attempt file, which the
    scheduler hands each harness as ``--config <set>/runs/<cell>/a<n>/attempt.json``)."""
    from agent_harness.liveness import processes

    needle = f"--config\0{set_dir / 'runs'}/".encode()

    def beating(entry: Path) -> bool:
        cmdline = (entry / "cmdline").read_bytes()
        if needle not in cmdline or b"agent_harness\0run\0" not in cmdline:
            return False
        attempt = Path(cmdline.split(b"--config\0", 1)[1].split(b"\0", 1)[0].decode()).parent
        return bool(list(attempt.glob("*/staging/beats.txt")))

    return processes(beating)


def wait_for_beating(set_dir: Path, at_least: int, timeout: float = 120) -> list[int]:
    """Harness pids once ``at_least`` agents beat (or whatever runs at the timeout)."""
    end = time.monotonic() + timeout
    found: list[int] = []
    while time.monotonic() < end:
        found = harnesses(set_dir)
        if len(found) >= at_least:
            break
        time.sleep(0.1)
    return found


def recorded_calls(set_dir: Path) -> int:
    """Model calls counted by every attempt's final run record in the set."""
    total = 0
    for record in (set_dir / "runs").glob("*/a*/*/run.json"):
        usage = json.loads(record.read_text()).get("model_usage") or {}
        total += int(usage.get("calls") or 0)
    return total


def judge_round(
    set_dir: Path, before: dict[str, str], fault: str, answered: int, **extra: Any
) -> dict[str, Any]:
    """The round's counts; ``answered``: the calls the upstream answered in the round."""
    counts = audit(set_dir, CELLS, before)
    fenced = [e for e in ledger_events(set_dir) if e["event"] == "fenced"]
    recorded = recorded_calls(set_dir)
    return {
        "fault": fault,
        **extra,
        **counts,
        "calls_answered": answered,
        "calls_recorded": recorded,
        "unrecorded_calls": max(answered - recorded, 0),
        "overlapping": len(overlapping(set_dir)),
        "retried_cells": len({e["cell"] for e in fenced}),
        "fenced_killed_by": sorted(e["killed_by"] for e in fenced if e.get("killed_by")),
    }


def local_round(
    root: Path, n: int, fault: str, rng: random.Random, env: dict[str, str], upstream: Any
) -> Any:
    """One round on this host (local backend)."""
    first_call = len(upstream.received)
    folder = root / f"local-{n}-{fault}"
    path = make_set(folder, rng, gpus="0,1,2")
    set_dir = folder / "set"
    with (folder / "first.log").open("ab") as log:
        proc = subprocess.Popen(
            batch_argv("run", str(path)), stdout=log, stderr=subprocess.STDOUT, env=env
        )
    running = wait_for_beating(set_dir, 1)
    time.sleep(rng.uniform(0.0, 1.0))
    running = harnesses(set_dir) or running
    victim = rng.choice(running) if running else None
    if fault in ("scheduler", "scheduler+harness"):
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    if fault in ("harness", "scheduler+harness") and victim is not None:
        os.kill(victim, signal.SIGKILL)
    before = results_in_ledger(set_dir)
    if fault == "harness":
        code = proc.wait(timeout=ROUND_TIMEOUT_S)
    else:
        code = subprocess.run(
            batch_argv("resume", str(path), "--json"),
            capture_output=True,
            env=env,
            timeout=ROUND_TIMEOUT_S,
        ).returncode
    killed = fault != "scheduler" and victim is not None
    answered = len(upstream.received) - first_call
    return judge_round(set_dir, before, fault, answered, exit_code=code, harness_killed=killed)


def ray_rounds(spec_file: Path) -> None:
    """Inside the loopback-only namespace: the Ray columns, results to the spec's out file."""
    spec = json.loads(spec_file.read_text())
    rng = random.Random(spec["seed"])
    root = Path(spec["root"])
    env = dict(os.environ)
    os.environ["RAY_AUTH_MODE"] = env["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = env["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    from ray.cluster_utils import Cluster

    upstream = start_upstream(env)  # before the cluster: its workers inherit the environment
    os.environ.update({k: env[k] for k in ("OPENAI_API_KEY", "MLRB_OPENAI_UPSTREAM")})
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_gpus": 2,
            "num_cpus": 2,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
        },
    )
    rounds = []
    try:
        worker = cluster.add_node(num_gpus=1, num_cpus=2, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        address = cluster.address
        for n in range(spec["rounds"]):
            for fault in ("ray-driver", "ray-node"):
                folder = root / f"ray-{n}-{fault}"
                first_call = len(upstream.received)
                path = make_set(folder, rng)
                set_dir = folder / "set"
                ray_args = ("--backend", "ray", "--address", address)
                with (folder / "first.log").open("ab") as log:
                    proc = subprocess.Popen(
                        batch_argv("run", str(path), *ray_args),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                wait_for_beating(set_dir, 3)
                time.sleep(rng.uniform(0.0, 1.0))
                killed = 0
                if fault == "ray-driver":
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    before = results_in_ledger(set_dir)
                    code = subprocess.run(
                        batch_argv("resume", str(path), "--json", *ray_args),
                        capture_output=True,
                        env=env,
                        timeout=ROUND_TIMEOUT_S,
                    ).returncode
                else:
                    raylet = worker.all_processes["raylet"][0].process.pid
                    on_node = [p for p in descendants(raylet) if p in harnesses(set_dir)]
                    for pid in on_node:
                        os.kill(pid, signal.SIGKILL)
                    killed = len(on_node)
                    cluster.remove_node(worker, allow_graceful=False)
                    before = results_in_ledger(set_dir)
                    code = proc.wait(timeout=ROUND_TIMEOUT_S)
                    worker = cluster.add_node(num_gpus=1, num_cpus=2, node_ip_address="127.0.0.1")
                    cluster.wait_for_nodes()
                answered = len(upstream.received) - first_call
                rounds.append(
                    judge_round(
                        set_dir, before, fault, answered, exit_code=code, harnesses_killed=killed
                    )
                )
    finally:
        upstream.stop()
        import ray

        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        Path(spec["out"]).write_text(json.dumps(rounds))


def start_upstream(env: dict[str, str]) -> Any:
    """A scripted OpenAI upstream on loopback; ``env`` gets the key and its address."""
    sys.path.insert(0, str(REPO / "tests"))
    from harness_testkit import FAKE_KEY
    from scripted_upstream import ScriptedUpstream

    upstream = ScriptedUpstream(key=FAKE_KEY).start()
    env["OPENAI_API_KEY"] = FAKE_KEY
    env["MLRB_OPENAI_UPSTREAM"] = f"{upstream.url}/v1"
    return upstream


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc)."""
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


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals per fault column."""
    table: dict[str, dict[str, int]] = {}
    for r in rounds:
        row = table.setdefault(
            r["fault"],
            {"rounds": 0, "rerun": 0, "lost": 0, "duplicated": 0, "overlapping": 0,
             "unrecorded_calls": 0, "calls_answered": 0, "retried": 0},
        )  # fmt: skip
        row["rounds"] += 1
        for key in ("rerun", "lost", "duplicated", "overlapping", "unrecorded_calls",
                    "calls_answered"):  # fmt: skip
            row[key] += r[key]
        row["retried"] += r["retried_cells"]
    return table


def main() -> None:
    """Run the matrix; print and save the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per fault column")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder, kept")
    parser.add_argument("--only", choices=LOCAL_FAULTS, default=None, help="one local column")
    parser.add_argument("--ray-inner", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ray_inner is not None:
        ray_rounds(args.ray_inner)
        return
    rng = random.Random(args.seed)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp:
        root = Path(tmp) if args.keep is None else args.keep
        root.mkdir(parents=True, exist_ok=True)
        # A root harness runs local agents as nobody, who must pass through to the run folders.
        root.chmod(root.stat().st_mode | 0o111)
        site = register_plugin(root)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
        env["MLRB_GPU_LOCK_DIR"] = str(root / "gpu-locks")
        upstream = start_upstream(env)
        try:
            for n in range(args.rounds):
                for fault in (args.only,) if args.only else LOCAL_FAULTS:
                    rounds.append(local_round(root, n, fault, rng, env, upstream))
                    print(json.dumps(rounds[-1]), flush=True)
        finally:
            upstream.stop()
        for name in ("OPENAI_API_KEY", "MLRB_OPENAI_UPSTREAM"):
            env.pop(name)  # the Ray rounds start an upstream of their own, in their namespace
        if not args.skip_ray:
            spec = root / "ray-spec.json"
            out = root / "ray-out.json"
            spec.write_text(
                json.dumps(
                    {"rounds": args.rounds, "seed": args.seed, "root": str(root), "out": str(out)}
                )
            )
            body = f"ip link set lo up && exec {sys.executable} {Path(__file__).resolve()} "
            body += f"--ray-inner {spec}"
            inner = subprocess.run(
                ["unshare", "-n", "sh", "-c", body],
                env=env,
                capture_output=True,
                text=True,
                timeout=ROUND_TIMEOUT_S * 2 * args.rounds + 120,
            )
            if not out.is_file():
                raise SystemExit(f"the Ray rounds failed: {inner.stderr[-3000:]}")
            for r in json.loads(out.read_text()):
                rounds.append(r)
                print(json.dumps(r), flush=True)
    report = {"rounds": rounds, "totals": summarise(rounds)}
    print(json.dumps(report["totals"], indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
