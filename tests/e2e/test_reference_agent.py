"""The reference agent, the template agent builders copy: it keeps to $DEADLINE on its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.e2e import REPO, clean_env

AGENT = REPO / "agents" / "reference" / "agent.py"

# A starter that saves a checkpoint at once, then trains "forever", ignoring the deadline.
STUBBORN_STARTER = """
import argparse, json, pathlib, time
p = argparse.ArgumentParser()
for flag in ("--output", "--steps", "--deadline-margin"):
    p.add_argument(flag)
args = p.parse_args()
print("deadline margin", args.deadline_margin, flush=True)
out = pathlib.Path(args.output); out.mkdir(parents=True)
(out / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
print("checkpoint saved; training on", flush=True)
time.sleep(600)
"""


def _task(tmp_path: Path) -> Path:
    task = tmp_path / "task"
    (task / "starter").mkdir(parents=True)
    (task / "starter" / "train.py").write_text(STUBBORN_STARTER, encoding="utf-8")
    spec = {
        "name": "tiny_lm",
        "benchmark": "smoke",
        "title": "Tiny language model on the CPU",
        "deliverable": {"kind": "hf_model", "path": "model"},
    }
    (task / "task.json").write_text(json.dumps(spec), encoding="utf-8")
    (task / "TASK.md").write_text("# tiny_lm\n", encoding="utf-8")
    return task


def _start(tmp_path: Path, seconds: float) -> tuple[subprocess.Popen[str], Path, float]:
    out = tmp_path / "output"
    out.mkdir()
    deadline = time.time() + seconds
    env = clean_env(TASK_DIR=str(_task(tmp_path)), OUTPUT_DIR=str(out), DEADLINE=f"{deadline}")
    proc = subprocess.Popen(
        [sys.executable, str(AGENT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return proc, out, deadline


def test_agent_stops_a_training_that_ignores_the_deadline_and_keeps_its_checkpoint(
    tmp_path: Path,
) -> None:
    proc, out, deadline = _start(tmp_path, 8)  # the agent stops its training 3 s before
    try:
        log, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, log
    assert time.time() < deadline, log  # ended on its own, before the harness would stop it
    assert "close to the deadline: stopping the training" in log
    # a short limit: the starter is told to save 8 s before the deadline, not its default 30 s
    assert "deadline margin 8" in log
    assert (out / "model" / "config.json").is_file() and (out / "NOTES.md").is_file()


def test_agent_passes_sigterm_on_and_still_leaves_its_deliverable(tmp_path: Path) -> None:
    proc, out, _ = _start(tmp_path, 600)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until the first checkpoint is on disk
            if "checkpoint saved" in line:
                break
        proc.send_signal(signal.SIGTERM)  # only the agent: it must stop its training itself
        log, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, log
    assert "stopping the training; the last checkpoint is the deliverable" in log
    assert (out / "model" / "config.json").is_file()
    time.sleep(0.5)
    try:  # no training process left behind in the agent's process group
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the training process outlived the agent")
