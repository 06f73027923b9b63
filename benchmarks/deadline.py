"""Measure the deadline and the log under a hostile agent, for the docker and local runtimes.

    .venv/bin/python benchmarks/deadline.py [--runtimes docker,local] [--out deadline.json]

Each case runs the real ``agent-harness`` (time limit 3 s, grace 2 s) and reports seconds
after the run's deadline (run.json ``deadline``) when the agent is gone (docker: its container
no longer runs; local: no live process is left in its process group):

1. ``sigterm-ignored``: the agent ignores SIGTERM;
2. ``forking``: it ignores SIGTERM and forks a child that ignores it too;
3. ``harness-killed``: the forking agent, and the harness is killed with SIGKILL mid-run (the
   watchdog enforces the deadline).

Target: <= grace + 2 s (4 s) in every case. Then the log:

4. ``capture-200MB``: an agent prints 200 MB of 100-byte lines and exits; the harness's wall
   time, agent.log's size and whether its last line is there (``--log-limit 300M``);
5. ``flood-return``: an agent that ignores SIGTERM floods stdout until killed; seconds after
   the deadline when the harness has returned (target: <= grace + 2 s).

Needs a Docker engine and a static busybox (busybox-static) for the docker runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HARNESS = Path(sys.executable).parent / "agent-harness"
IMAGE = "mlrb-bench/deadline-busybox:latest"
LIMIT_S, GRACE_S = 3, 2

STUBBORN = 'echo $$ > pid; trap "" TERM; echo started; while true; do /bin/busybox sleep 1; done'
FORKING = (
    'echo $$ > pid; trap "" TERM; echo started; '
    '(trap "" TERM; while true; do /bin/busybox sleep 1; done) & '
    "while true; do /bin/busybox sleep 1; done"
)
LINE = "0123456789" * 9 + "012345678"  # 99 characters + newline
CAPTURE = f"/bin/busybox yes {LINE} | /bin/busybox head -c 200000000; echo LAST-LINE"
FLOOD = f"echo $$ > pid; echo started; trap '' TERM; /bin/busybox yes {LINE}"


def build_image(busybox: Path) -> None:
    """The busybox image (docker/test-images/busybox)."""
    import docker

    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy(REPO / "docker" / "test-images" / "busybox" / "Dockerfile", ctx)
        shutil.copy(busybox, Path(ctx) / "busybox")
        docker.from_env().images.build(path=ctx, tag=IMAGE, network_mode="none", rm=True)


def _argv(runtime: str, runs_dir: Path, command: str, *extra: str) -> list[str]:
    return [
        str(HARNESS), "run", IMAGE, "--task", "tiny_lm", "--benchmark", "smoke",
        "--runtime", runtime, "--network", "none", "--runs-dir", str(runs_dir),
        "--time-limit", str(LIMIT_S), "--grace", f"{GRACE_S}s", "--quiet",
        "--command", command, *extra,
    ]  # fmt: skip


def _run_dir(runs_dir: Path, timeout: float = 60) -> Path:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for log in runs_dir.glob("*/agent.log"):
            if b"started" in log.read_bytes()[:100]:
                return log.parent
        time.sleep(0.05)
    raise SystemExit(f"no run started under {runs_dir}")


def _running(runtime: str, run_dir: Path) -> bool:
    if runtime == "docker":
        out = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=mlrb.run_id={run_dir.name}"],
            capture_output=True,
            text=True,
        )
        return bool(out.stdout.strip())
    from agent_harness.liveness import group_members

    return bool(group_members(int((run_dir / "output" / "pid").read_text())))


def _deadline(run_dir: Path) -> float:
    return float(json.loads((run_dir / "run.json").read_text())["deadline"])


def gone_after_deadline(runtime: str, command: str, kill_harness: bool) -> float:
    """Seconds after the deadline when the agent is gone."""
    with tempfile.TemporaryDirectory(prefix="mlrb-deadline-") as tmp:
        runs_dir = Path(tmp) / "runs"
        proc = subprocess.Popen(
            _argv(runtime, runs_dir, command),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "MLRB_GPU_LOCK_DIR": f"{tmp}/locks"},
        )
        run_dir = _run_dir(runs_dir)
        if kill_harness:
            proc.send_signal(signal.SIGKILL)
        deadline = _deadline(run_dir)
        while _running(runtime, run_dir):
            time.sleep(0.05)
        gone = time.time() - deadline
        proc.wait(60)
        time.sleep(0.5 if not kill_harness else 3)  # let the watchdog write its record
        status = json.loads((run_dir / "run.json").read_text())["status"]
        print(f"  {runtime} {'harness-killed' if kill_harness else ''} status={status}")
        return round(gone, 2)


def capture(runtime: str) -> dict[str, Any]:
    """Wall time of a run whose agent prints 200 MB and exits; agent.log complete or not."""
    with tempfile.TemporaryDirectory(prefix="mlrb-deadline-") as tmp:
        runs_dir = Path(tmp) / "runs"
        argv = _argv(runtime, runs_dir, CAPTURE, "--log-limit", "300M")
        argv[argv.index("--time-limit") + 1] = "300"
        start = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True)
        wall = time.monotonic() - start
        run_dir = next(runs_dir.iterdir())
        log = run_dir / "agent.log"
        with log.open("rb") as f:
            f.seek(max(0, log.stat().st_size - 200))
            tail = f.read().decode(errors="replace").splitlines()
        record = json.loads((run_dir / "run.json").read_text())
        return {
            "wall_s": round(wall, 2),
            "exit": done.returncode,
            "status": record["status"],
            "agent_log_bytes": log.stat().st_size,
            "last_line_present": bool(tail) and tail[-1] == "LAST-LINE",
            "mb_per_s": round(log.stat().st_size / wall / 1e6, 1),
        }


def flood_return(runtime: str) -> dict[str, Any]:
    """Seconds after the deadline when the harness returns, while the agent floods stdout."""
    with tempfile.TemporaryDirectory(prefix="mlrb-deadline-") as tmp:
        runs_dir = Path(tmp) / "runs"
        proc = subprocess.Popen(
            _argv(runtime, runs_dir, FLOOD),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "MLRB_GPU_LOCK_DIR": f"{tmp}/locks"},
        )
        run_dir = _run_dir(runs_dir)
        deadline = _deadline(run_dir)
        proc.wait(120)
        returned = time.time() - deadline
        record = json.loads((run_dir / "run.json").read_text())
        return {
            "returned_after_deadline_s": round(returned, 2),
            "status": record["status"],
            "agent_log_bytes": (run_dir / "agent.log").stat().st_size,
            "log_truncated": record["log_truncated"],
        }


def main() -> None:
    """Run every case for every runtime asked for; print and save JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runtimes", default="docker,local")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-capture", action="store_true", help="skip the 200 MB case")
    args = parser.parse_args()
    runtimes = args.runtimes.split(",")
    if "docker" in runtimes:
        build_image(Path(shutil.which("busybox") or "/bin/busybox"))
    results: dict[str, Any] = {
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "limit_s": LIMIT_S,
        "grace_s": GRACE_S,
        "target_s": GRACE_S + 2,
    }
    for runtime in runtimes:
        print(f"{runtime}:")
        row: dict[str, Any] = {
            "sigterm_ignored_gone_s": gone_after_deadline(runtime, STUBBORN, False),
            "forking_gone_s": gone_after_deadline(runtime, FORKING, False),
            "harness_killed_gone_s": gone_after_deadline(runtime, FORKING, True),
            "flood": flood_return(runtime),
        }
        if not args.skip_capture:
            row["capture_200MB"] = capture(runtime)
        results[runtime] = row
        print(json.dumps(row, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
