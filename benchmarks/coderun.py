"""Code re-runs on the two code smoke tasks: the score anchors, and the overhead of a re-run.

For `digit_sums` and `digit_method` it builds two deliverables, the baseline (the starter as
shipped) and the reference (what agents/reference/agent.py delivers), evaluates each
``--repeats`` times with the real evaluator (process sandbox) and prints the medians of the
primary metric, the measured run time and the method's statement count: the numbers recorded
as anchors in agent_tasks/tasks/digit_sums/task.py and tasks/digit_method/task.py.

Overhead: for the reference deliverables it also runs the same command directly (no sandbox,
no copying) and splits a whole evaluation into: the code's own run time outside the sandbox,
the sandbox's cost (sandboxed wall time minus that), and the rest (spec checks, laying the work
folder out, copying inputs, scoring, writing the result).

Usage (as root, from the repository root): python benchmarks/coderun.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(task: str, kind: str, folder: Path) -> Path:
    """The baseline or reference deliverable of ``task`` in ``folder``."""
    from agent_tasks.export import export_task

    task_dir = export_task(task, folder / "task")
    out = folder / "output"
    out.mkdir()
    starter = task_dir / "starter"
    if kind == "reference":
        env = {**os.environ, "TASK_DIR": str(task_dir), "OUTPUT_DIR": str(out)}
        agent = ROOT / "agents/reference/agent.py"
        subprocess.run([sys.executable, str(agent)], env=env, check=True, capture_output=True)
    elif task == "digit_sums":
        subprocess.run(
            [sys.executable, str(starter / "train.py"), "--out", str(out / "weights.npz")],
            check=True,
            capture_output=True,
        )
        shutil.copy(starter / "main.py", out / "main.py")
    else:
        shutil.copytree(starter / "methods", out / "methods")
        (out / "submission.json").write_text(json.dumps({"method": "baseline"}))
    return out


def direct_seconds(task: str, out: Path, scratch: Path) -> float:
    """Wall time of the deliverable's command run directly, without any sandbox."""
    from agent_eval.coderun import inputs_folder
    from agent_eval.datasets import bundled_dir
    from agent_tasks.registry import get_task

    spec = get_task(task)
    code_run = spec.evaluation.code_run
    assert code_run is not None
    inputs = inputs_folder(code_run, scratch)
    work = scratch / f"direct-{task}"
    if task == "digit_sums":
        shutil.copytree(out, work)
        command = [sys.executable, "main.py", "--data_dir", str(inputs)]
        command += ["--output", str(scratch / "direct.csv")]
        env = dict(os.environ)
    else:
        shutil.copytree(
            Path(str(__import__("agent_tasks").__file__)).parent / "tasks" / task / "starter", work
        )
        shutil.rmtree(work / "methods")
        shutil.copytree(out / "methods", work / "methods")
        shutil.copy(bundled_dir() / "digit_method_test/constants_test.py", work / "constants.py")
        method = json.loads((out / "submission.json").read_text())["method"]
        command = [sys.executable, "main.py", "-m", method, "-p", "test"]
        env = {**os.environ, "MLRB_INPUTS": str(inputs), "MLRB_OUTPUT": str(scratch / "dout")}
    started = time.perf_counter()
    subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(work)
    return seconds


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from agent_eval.evaluate import EvalOptions, evaluate

    report: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for task in ("digit_sums", "digit_method"):
            for kind in ("baseline", "reference"):
                out = build(task, kind, scratch / f"{task}-{kind}")
                rows = []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    outcome = evaluate(
                        EvalOptions(
                            model_args=str(out),
                            task=task,
                            results_dir=scratch / "results",
                            record=False,
                            data_dir=scratch / "data",
                        )
                    )
                    total = time.perf_counter() - started
                    result = outcome.result
                    assert result.status == "ok", result.errors
                    primary = result.metric(result.primary_metric)
                    assert primary is not None
                    # the scored run's own wall time (the metrics' value is the time
                    # measured against the baseline's code, in the anchors' seconds)
                    runtime = result.metric("code_runtime") or result.metric("twe")
                    assert runtime is not None
                    statements = result.metric("code_statements")
                    rows.append(
                        {
                            "primary": primary.value,
                            "sandboxed_s": runtime.details["measured_s"],
                            "evaluation_s": total,
                            "statements": statements.value if statements else float("nan"),
                            "direct_s": direct_seconds(task, out, scratch)
                            if kind == "reference"
                            else float("nan"),
                        }
                    )
                med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
                report[f"{task}/{kind}"] = med
                print(
                    f"{task:13s} {kind:9s} primary {med['primary']:.4f}  "
                    f"sandboxed run {med['sandboxed_s']:.3f} s  "
                    f"whole evaluation {med['evaluation_s']:.3f} s  "
                    f"statements {med['statements']:.0f}"
                    + (
                        f"  direct run {med['direct_s']:.3f} s -> sandbox cost "
                        f"{med['sandboxed_s'] - med['direct_s']:.3f} s, rest "
                        f"{med['evaluation_s'] - med['sandboxed_s']:.3f} s"
                        if kind == "reference"
                        else ""
                    ),
                    flush=True,
                )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
