"""The one-command demo: the whole loop on the CPU smoke task, with the embedded defaults.

A task is chosen (``tiny_lm``, or with ``--task`` one of the code smoke tasks ``digit_sums`` and
``digit_method``, whose deliverable the evaluator re-runs in a sandbox), the scripted reference
agent runs under a time limit through the
harness (docker when an engine answers and the agent image exists, else a local process), the
model it trained is evaluated, the result is saved as JSON and recorded in the embedded SQLite
database, and the leaderboard is printed and written as a web page. Running it again adds a trial.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AGENT = ROOT / "agents" / "reference" / "agent.py"
AGENT_IMAGE = "mlrb/reference-agent:latest"
TASK = "tiny_lm"
TASKS = ("tiny_lm", "digit_sums", "digit_method")
"""The smoke tasks the reference agent solves."""


def say(text: str) -> None:
    """A demo progress line."""
    print(f"\n==> {text}", flush=True)


def tool(name: str) -> str:
    """A console script of this environment."""
    found = BIN / name
    if found.is_file():
        return str(found)
    other = shutil.which(name)
    if other is None:
        sys.exit(f"error: {name} is not installed; run `make dev` first")
    return other


def docker_image_ready() -> bool:
    """True when a Docker engine answers and has the reference agent's image."""
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=5)
        client.images.get(AGENT_IMAGE)
        return True
    except Exception:  # no engine, or no image: the local runtime it is
        return False


def main() -> int:
    """Run the loop; exit with the first failing step's code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default=TASK, choices=TASKS, help="the smoke task to run")
    parser.add_argument("--time-limit", default="6m", help="the agent's time limit")
    parser.add_argument("--steps", type=int, default=None, help="training steps for the agent")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--results-dir", default="results")
    args = parser.parse_args()
    os.chdir(ROOT)
    results = Path(args.results_dir)
    page = results / "leaderboard.html"
    started = time.monotonic()

    task = args.task
    say(f"the task: {task} (smoke benchmark)")
    subprocess.run([tool("agent-tasks"), "show", task], check=True)

    runs_dir = Path(args.runs_dir)
    runs_before = set(runs_dir.iterdir()) if runs_dir.is_dir() else set()
    results_before = set(results.glob("*.json"))
    use_docker = docker_image_ready()
    agent_cmd = f"{sys.executable} {AGENT}" + (f" --steps {args.steps}" if args.steps else "")
    run = [
        tool("agent-harness"),
        "run",
        AGENT_IMAGE if use_docker else "reference-agent",
        "--task",
        task,
        "--time-limit",
        args.time_limit,
        "--runs-dir",
        args.runs_dir,
        "--evaluate",
        "--results-dir",
        str(results),
    ]
    if use_docker:
        say(f"running the reference agent in its image {AGENT_IMAGE} (limit {args.time_limit})")
        run += ["--runtime", "docker", "--network", "none"]
    else:
        say(
            f"running the reference agent as a local process (limit {args.time_limit}); "
            f"the docker runtime is used when an engine answers and has the image {AGENT_IMAGE} "
            "(python scripts/build_images.py reference-agent)"
        )
        run += ["--runtime", "local", "--command", agent_cmd]
    done = subprocess.run(run)
    if done.returncode != 0:
        print(
            f"error: the run ended with exit code {done.returncode}; see {args.runs_dir}/",
            file=sys.stderr,
        )
        return done.returncode

    say("the leaderboard of the smoke benchmark (from the embedded SQLite database)")
    board = subprocess.run(
        [tool("agent-eval"), "leaderboard", "--benchmark", "smoke", "--results-dir", str(results)]
    )
    if board.returncode != 0:
        return board.returncode
    subprocess.run(
        [
            tool("agent-eval"),
            "leaderboard",
            "--benchmark",
            "smoke",
            "--results-dir",
            str(results),
            "--html",
            str(page),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )

    new_runs = sorted(p for p in set(runs_dir.iterdir()) - runs_before if p.is_dir())
    new_results = sorted(set(results.glob("*.json")) - results_before)
    say(f"done in {time.monotonic() - started:.0f} s. Where everything is (under {ROOT}):")
    for run_dir in new_runs:
        print(f"  this run         {run_dir}/ (run.json, agent.log, output/)")
    for result in new_results:
        print(f"  its evaluation   {result}")
    print(f"  all runs         {runs_dir}/")
    print(f"  database         {results}/mlrb.sqlite")
    exe = Path(tool("agent-eval"))
    shown = exe.relative_to(ROOT) if exe.is_relative_to(ROOT) else exe
    print(f"  look again       {shown} history --results-dir {results}")
    print(f"                   {shown} leaderboard --results-dir {results}")
    print(f"  leaderboard page {page}   (open it in a browser)")
    print("  run `make demo` again to add a trial")
    return 0


if __name__ == "__main__":
    sys.exit(main())
