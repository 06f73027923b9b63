"""The reference agent: a scripted baseline that follows the agent container contract.

It uses no LLM. It reads the task from ``$TASK_DIR`` (``TASK.md``, ``task.json``), trains a model
with the task's own starter code, keeps to ``$DEADLINE`` (the starter saves a usable checkpoint
before it), and leaves the deliverable where ``task.json`` says, under ``$OUTPUT_DIR``.

It is also the template for building an agent: everything an agent may rely on is read from the
environment below, and nothing else is assumed about the machine.

Environment (set by the harness): TASK_NAME, BENCHMARK, PROVIDER, TIME_LIMIT_S, DEADLINE,
TASK_DIR (read-only), OUTPUT_DIR (writable); provider credentials when a provider was chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STARTER = "train.py"
"""The starter script this agent knows how to drive."""

SECONDS_PER_STEP = 0.25
"""Rough cost of one starter training step on one CPU core, used to fit steps to the time left."""

STOP_BEFORE_DEADLINE_S = 3.0
"""The agent stops its training this long before ``$DEADLINE`` if it is still running then
(the starter itself stops and saves earlier, see ``saving_margin``), so the harness never has to
kill it."""

TERMINATE_WAIT_S = 5.0
"""How long a stopped training process gets to exit before it is killed."""


def log(message: str) -> None:
    """One progress line on stdout (the harness streams it into agent.log)."""
    print(f"[reference-agent] {message}", flush=True)


def plan_steps(seconds_left: float, default_steps: int = 600) -> int:
    """Training steps that fit in the time left, keeping a third of it for start-up and saving."""
    budget = max(seconds_left * 2 / 3, 0.0)
    return max(20, min(default_steps, int(budget / SECONDS_PER_STEP)))


def saving_margin(seconds_left: float) -> float:
    """Seconds before the deadline at which the starter stops training to save its model.

    A fifth of the time, between 8 s (a short limit still gets most of its time for training) and
    30 s (the starter's own default, ample for a final validation and save).
    """
    return min(30.0, max(8.0, seconds_left / 5))


def main() -> int:
    """Read the task, run its starter training, check the deliverable; exit 0 on success."""
    parser = argparse.ArgumentParser(description="Scripted reference agent (no LLM).")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps (default: as many as fit in the time left)",
    )
    args = parser.parse_args()
    task_dir = Path(os.environ.get("TASK_DIR", "/task"))
    output_dir = Path(os.environ.get("OUTPUT_DIR", "/app/output"))
    deadline = float(os.environ.get("DEADLINE", time.time() + 600))
    spec = json.loads((task_dir / "task.json").read_text(encoding="utf-8"))
    log(f"task {spec['name']} ({spec['benchmark']}): {spec['title']}")

    deliverable = spec["deliverable"]
    code_solver = CODE_SOLVERS.get(spec["name"])
    if code_solver is not None:
        return code_solver(task_dir / "starter", output_dir)
    starter = task_dir / "starter" / STARTER
    if deliverable["kind"] != "hf_model" or not starter.is_file():
        log(
            f"this agent only handles tasks with a starter/{STARTER} that trains a model; "
            f"{spec['name']} has none"
        )
        return 2

    target = output_dir / deliverable["path"]
    left = deadline - time.time()
    steps = args.steps or plan_steps(left)
    command = [sys.executable, str(starter), "--output", str(target), "--steps", str(steps)]
    command += ["--deadline-margin", f"{saving_margin(left):.0f}"]
    log(
        f"training with the task's starter for {steps} steps -> {target} "
        f"({left:.0f} s left; it saves and stops {saving_margin(left):.0f} s before the deadline)"
    )
    code = run_until(command, deadline - STOP_BEFORE_DEADLINE_S)
    if not (target / "config.json").is_file():
        log(f"no model was saved (starter exit code {code})")
        return code or 1
    notes = output_dir / "NOTES.md"
    notes.write_text(
        f"# Reference agent\n\nTrained with `starter/{STARTER} --steps {steps}`; "
        f"starter exit code {code}.\n",
        encoding="utf-8",
    )
    log(f"deliverable ready in {target}")
    return 0 if code < 0 else code  # stopped early by the agent: the checkpoint is the result


KNN_METHOD = '''"""3-nearest-neighbour digits (Euclidean distance on raw pixels)."""

from __future__ import annotations

import numpy as np

from methods.base import BaseMethod


class KnnMethod(BaseMethod):
    """Majority label of the 3 nearest training images."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Keep the training images."""
        self.x = x.reshape(len(x), -1).astype(np.float64)
        self.y = y

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Vote of the 3 nearest neighbours."""
        flat = x.reshape(len(x), -1).astype(np.float64)
        d = (flat**2).sum(1)[:, None] - 2 * flat @ self.x.T + (self.x**2).sum(1)[None]
        nearest = self.y[np.argsort(d, axis=1)[:, :3]]
        return np.array([np.bincount(row, minlength=10).argmax() for row in nearest])
'''
"""The method the reference agent writes for ``digit_method``."""


def solve_digit_sums(starter: Path, output_dir: Path) -> int:
    """digit_sums: train the starter's softmax slot classifier; deliver main.py and weights."""
    import shutil

    output_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(starter / "train.py"), "--method", "softmax"]
    command += ["--epochs", "1000", "--out", str(output_dir / "weights.npz")]
    log("training a softmax slot classifier with the starter's train.py")
    code = subprocess.call(command)
    if code != 0:
        return code
    shutil.copy(starter / "main.py", output_dir / "main.py")
    log(f"deliverable ready: {output_dir / 'main.py'} and weights.npz")
    return 0


def solve_digit_method(starter: Path, output_dir: Path) -> int:
    """digit_method: add a 3-nearest-neighbour method, check it on dev, deliver methods/."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "task"
        shutil.copytree(starter, work)
        for path in [work, *work.rglob("*")]:  # /task is read-only; the copy is ours to edit
            path.chmod(path.stat().st_mode | 0o200)
        (work / "methods" / "knn.py").write_text(KNN_METHOD, encoding="utf-8")
        registry = work / "methods" / "__init__.py"
        text = registry.read_text(encoding="utf-8")
        text = text.replace(
            "from methods.baseline import BaselineMethod\n",
            "from methods.baseline import BaselineMethod\nfrom methods.knn import KnnMethod\n",
        ).replace('{"baseline": BaselineMethod}', '{"baseline": BaselineMethod, "knn": KnnMethod}')
        registry.write_text(text, encoding="utf-8")
        for method in ("baseline", "knn"):
            log(f"dev phase of {method}")
            code = subprocess.call([sys.executable, "main.py", "-m", method, "-p", "dev"], cwd=work)
            if code != 0:
                return code
        output_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(output_dir / "methods", ignore_errors=True)
        shutil.copytree(work / "methods", output_dir / "methods")
    (output_dir / "submission.json").write_text(json.dumps({"method": "knn"}), encoding="utf-8")
    log(f"deliverable ready: {output_dir / 'methods'} with method 'knn'")
    return 0


CODE_SOLVERS = {"digit_sums": solve_digit_sums, "digit_method": solve_digit_method}
"""Code smoke tasks this agent knows how to solve, by task name."""


def run_until(command: list[str], stop_at: float) -> int:
    """Run ``command``; stop it at the Unix time ``stop_at`` or when this agent gets SIGTERM.

    Returns its exit code (negative: the signal that ended it, as ``subprocess`` reports it).
    """
    child = subprocess.Popen(command)

    def stop(signum: int, _frame: object) -> None:
        log(f"signal {signum}: stopping the training; the last checkpoint is the deliverable")
        child.terminate()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        try:
            return child.wait(timeout=max(stop_at - time.time(), 1.0))
        except subprocess.TimeoutExpired:
            log("close to the deadline: stopping the training; the last checkpoint stays")
            child.terminate()
        try:
            return child.wait(timeout=TERMINATE_WAIT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
