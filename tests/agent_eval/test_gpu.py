"""The evaluator on a real GPU: the model runs there, memory and speed are measured there.

These tests need CUDA. They skip without it everywhere, CI included (CI never has a GPU); the
CPU paths of the same metrics are covered by the other evaluator tests.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not _cuda(), reason="no CUDA device on this machine"),
]


def test_evaluation_runs_on_the_gpu_and_records_it(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    proc = run_cli(
        "--model_args", str(tiny_gpt2_dir), "--task", "evaltest_lm", "--no-db",
        "--results-dir", str(results), "--device", "cuda", "--limit", "2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (path,) = results.glob("*.json")
    data = json.loads(path.read_text())
    assert data["environment"]["device"].startswith("cuda")
    assert data["environment"]["device_name"]
    values = {m["name"]: m for m in data["metrics"]}
    assert values["generation_speed"]["value"] > 0
    assert values["peak_memory"]["value"] > 0
    assert values["perplexity"]["value"] > 1


def test_auto_device_prefers_the_gpu(run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = run_cli(
        "--model_args", str(tiny_gpt2_dir), "--task", "evaltest_lm", "--no-db",
        "--results-dir", str(results), "--metrics", "parameters,perplexity", "--limit", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (path,) = results.glob("*.json")
    assert json.loads(path.read_text())["environment"]["device"].startswith("cuda")
