"""Measure the harness: launch overhead against plain ``docker run``, and time-limit precision.

    .venv/bin/python benchmarks/harness_overhead.py [--reps 10] [--out harness.json]

1. Launch overhead: ``agent-harness run`` of a busybox image that exits at once, against
   ``docker run --rm --network none`` of the same image, alternating, ``--reps`` times each;
   medians and their ratio (target <= 1.5).
2. Time-limit precision: how long after the deadline the agent is gone (the container no
   longer exists; for the local runtime, the harness has exited), for an agent that honours
   SIGTERM and one that ignores it (target <= grace + 2 s).

Needs a Docker engine (``make services-start``) and a static busybox (busybox-static).
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HARNESS = Path(sys.executable).parent / "agent-harness"
IMAGE = "mlrb-bench/harness-exit-now:latest"
BASE = "mlrb-bench/harness-busybox:latest"


def build_images(client: Any, busybox: Path) -> None:
    """The busybox base image, and one whose command exits at once."""
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy(REPO / "docker" / "test-images" / "busybox" / "Dockerfile", ctx)
        shutil.copy(busybox, Path(ctx) / "busybox")
        client.images.build(path=ctx, tag=BASE, network_mode="none", rm=True)
    dockerfile = f'FROM {BASE}\nCMD ["/bin/busybox", "true"]\n'
    client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=IMAGE, network_mode="none", rm=True
    )


def timed(cmd: list[str]) -> float:
    """Wall seconds of one command (which must succeed)."""
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return elapsed


def launch_overhead(task: str, reps: int, runs_dir: Path) -> dict[str, Any]:
    """Alternate plain docker runs and harness runs; medians and ratio."""
    docker_cmd = ["docker", "run", "--rm", "--network", "none", IMAGE]
    harness_cmd = [str(HARNESS), "run", IMAGE, "--task", task, "--runtime", "docker",
                   "--network", "none", "--time-limit", "60", "--quiet", "--runs-dir",
                   str(runs_dir)]  # fmt: skip
    timed(docker_cmd), timed(harness_cmd)  # warm caches
    plain, harness = [], []
    for _ in range(reps):
        plain.append(timed(docker_cmd))
        harness.append(timed(harness_cmd))
    startup = [timed([str(HARNESS), "--help"]) for _ in range(min(reps, 5))]
    p, h = statistics.median(plain), statistics.median(harness)
    return {
        "reps": reps,
        "docker_run_median_s": round(p, 3),
        "harness_run_median_s": round(h, 3),
        "ratio": round(h / p, 2),
        "target_ratio": 1.5,
        "harness_help_median_s": round(statistics.median(startup), 3),
        "docker_run_s": [round(x, 3) for x in plain],
        "harness_run_s": [round(x, 3) for x in harness],
    }


def _run_until_gone(client: Any, cmd: list[str], runs_dir: Path, docker: bool) -> dict[str, Any]:
    """Start the harness; note when its agent is gone relative to the run's deadline."""
    before = {p.name for p in runs_dir.glob("*")} if runs_dir.exists() else set()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    run_dir: Path | None = None
    seen = False
    gone_at: float | None = None
    while proc.poll() is None or (docker and gone_at is None and seen):
        if run_dir is None:
            fresh = (
                [p for p in runs_dir.glob("*") if p.name not in before] if runs_dir.exists() else []
            )
            run_dir = fresh[0] if fresh else None
        if docker and run_dir is not None:
            found = client.containers.list(
                all=True, sparse=True, filters={"name": f"mlrb-{run_dir.name}"}
            )
            if found:
                seen = True
            elif seen and gone_at is None:
                gone_at = time.time()
        time.sleep(0.02)
    exited_at = time.time()
    out, _ = proc.communicate()
    record = json.loads(out)
    end = gone_at if docker and gone_at is not None else exited_at
    return {
        "status": record["status"],
        "agent_exit_code": record["agent_exit_code"],
        "gone_after_deadline_s": round(end - record["deadline"], 3),
        "harness_exit_after_deadline_s": round(exited_at - record["deadline"], 3),
    }


def precision(
    client: Any, task: str, reps: int, grace: int, runs_dir: Path
) -> list[dict[str, Any]]:
    """Agents that sleep past a 2 s limit, honouring or ignoring SIGTERM, under both runtimes."""
    rows = []
    agents = {"honours SIGTERM": "sleep 30", "ignores SIGTERM": "trap '' TERM; sleep 30"}
    for runtime in ("docker", "local"):
        for label, command in agents.items():
            results = []
            for _ in range(reps):
                cmd = [str(HARNESS), "run", IMAGE, "--task", task, "--runtime", runtime,
                       "--network", "none", "--time-limit", "2", "--grace", f"{grace}s",
                       "--quiet", "--json", "--runs-dir", str(runs_dir),
                       "--command", command]  # fmt: skip
                results.append(_run_until_gone(client, cmd, runs_dir, runtime == "docker"))
            worst = max(r["gone_after_deadline_s"] for r in results)
            rows.append(
                {
                    "runtime": runtime,
                    "agent": label,
                    "grace_s": grace,
                    "statuses": sorted({r["status"] for r in results}),
                    "agent_exit_codes": sorted({r["agent_exit_code"] for r in results}),
                    "gone_after_deadline_median_s": round(
                        statistics.median(r["gone_after_deadline_s"] for r in results), 3
                    ),
                    "gone_after_deadline_max_s": worst,
                    "target_s": grace + 2,
                    "within_target": worst <= grace + 2,
                }
            )
    return rows


def main() -> None:
    """Run both measurements, print a table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=10, help="launches of each kind")
    parser.add_argument("--precision-reps", type=int, default=3, help="runs per precision case")
    parser.add_argument("--grace", type=int, default=2, help="grace period in seconds")
    parser.add_argument("--task", default="tiny_lm")
    parser.add_argument("--busybox", type=Path, default=Path("/bin/busybox"))
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()

    import docker

    client = docker.from_env()
    build_images(client, args.busybox)
    with tempfile.TemporaryDirectory(prefix="mlrb-bench-") as tmp:
        runs_dir = Path(tmp) / "runs"
        launch = launch_overhead(args.task, args.reps, runs_dir)
        rows = precision(client, args.task, args.precision_reps, args.grace, runs_dir)
    result = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "docker": client.version().get("Version"),
        },
        "launch_overhead": launch,
        "time_limit_precision": rows,
    }
    print("launch overhead (median wall seconds)")
    print(f"  docker run --rm --network none   {launch['docker_run_median_s']:.3f}")
    print(f"  agent-harness run                {launch['harness_run_median_s']:.3f}")
    print(f"  ratio                            {launch['ratio']:.2f}  (target <= 1.5)")
    print(f"  agent-harness --help             {launch['harness_help_median_s']:.3f}")
    print("time-limit precision (seconds from deadline until the agent is gone)")
    print(
        f"  {'runtime':8} {'agent':16} {'grace':>5} {'median':>7} {'max':>6} {'target':>6}  status"
    )
    for r in rows:
        print(
            f"  {r['runtime']:8} {r['agent']:16} {r['grace_s']:>5} "
            f"{r['gone_after_deadline_median_s']:>7.2f} {r['gone_after_deadline_max_s']:>6.2f} "
            f"{r['target_s']:>6}  {','.join(r['statuses'])} {r['agent_exit_codes']}"
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"written: {args.out}")


if __name__ == "__main__":
    main()
