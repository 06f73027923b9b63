"""The one-command demo: the whole loop on the CPU smoke task, with the embedded defaults.

A task is chosen (``tiny_lm``, or with ``--task`` one of the code smoke tasks ``digit_sums`` and
``digit_method``, whose deliverable the evaluator re-runs in a sandbox), the scripted reference
agent runs under a time limit through the
harness (docker when an engine answers and has the agent image ``mlrb/reference-agent:<tag>``,
the tag being ``$MLRB_IMAGE_TAG`` or ``latest``; else a local process), the
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


def agent_python() -> str:
    """The Python the local agent runs: a root harness runs it as nobody (docs/harness.md)."""
    from agent_harness.runtimes.local import NOBODY, python_command

    return python_command(NOBODY if os.geteuid() == 0 else None)


def image_tag() -> str:
    """The tag of the images the demo uses: ``$MLRB_IMAGE_TAG`` (as CI sets it), else latest."""
    return os.environ.get("MLRB_IMAGE_TAG") or "latest"


def agent_image() -> str:
    """The reference agent's image under the demo's tag."""
    return f"mlrb/reference-agent:{image_tag()}"


def docker_image_ready(image: str) -> bool:
    """True when a Docker engine answers and has ``image``."""
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=5)
        client.images.get(image)
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
    image = agent_image()
    use_docker = docker_image_ready(image)
    run = [
        tool("agent-harness"),
        "run",
        image,  # under either runtime, so its label (mlrb/reference-agent) is one row
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
        say(f"running the reference agent in its image {image} (limit {args.time_limit})")
        run += ["--runtime", "docker", "--network", "none"]
        if os.environ.get("MLRB_IMAGE_TAG") and not os.environ.get("AGENT_EVAL_IMAGE"):
            run += ["--eval-image", f"mlrb/agent-eval:{image_tag()}"]
    else:
        say(
            f"running the reference agent as a local process (limit {args.time_limit}); "
            f"the docker runtime is used when an engine answers and has the image {image} "
            "(python scripts/build_images.py reference-agent)"
        )
        agent_cmd = f"{agent_python()} {AGENT}" + (f" --steps {args.steps}" if args.steps else "")
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
    for run_dir in new_runs:  # a page per run: task, evaluation, timeline, ending
        run_page = results / f"{run_dir.name}.html"
        view = [tool("agent-eval"), "view", str(run_dir), "--html", str(run_page)]
        view += [arg for result in new_results for arg in ("--results", str(result))]
        if subprocess.run(view, stdout=subprocess.DEVNULL).returncode == 0:
            print(f"  its page         {run_page}   (open it in a browser)")
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
