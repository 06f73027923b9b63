"""The demo on the code smoke tasks: the reference agent solves each one through the harness,
and the evaluator re-runs what it delivered in the process sandbox and records the score."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, REPO, clean_env, evaluation_rows  # type: ignore[import-not-found]

EXPECTED_ACCURACY = {
    "digit_sums": ("twe_accuracy", 0.7733),
    "digit_method": ("predictions_accuracy", 0.97),
}
"""The reference agent's test accuracy (deterministic: seeded training, exact labels)."""


@pytest.mark.parametrize("task", sorted(EXPECTED_ACCURACY))
def test_demo_solves_a_code_task_and_the_rerun_is_scored(task: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("the process sandbox needs root", pytrace=False)
        pytest.skip("the process sandbox needs root")
    runs, results = tmp_path / "runs", tmp_path / "results"
    demo = [
        str(BIN / "python"),
        str(REPO / "scripts" / "demo.py"),
        "--task",
        task,
        "--time-limit",
        "3m",
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(results),
    ]
    done = subprocess.run(demo, capture_output=True, text=True, env=clean_env(), timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (saved,) = results.glob("*.json")
    result = json.loads(saved.read_text())
    assert result["task"] == task and result["status"] == "ok"
    assert result["model"]["format"] == "code"
    name, accuracy = EXPECTED_ACCURACY[task]
    values = {m["name"]: m["value"] for m in result["metrics"]}
    assert values[name] == pytest.approx(accuracy, abs=1e-4)
    assert result["score"]["normalised"] is not None
    (run_dir,) = runs.iterdir()
    assert [(r[1], r[2], r[3]) for r in evaluation_rows(results)] == [(run_dir.name, task, "ok")]
