"""The evaluator on a real GPU: the model runs there, memory and speed are measured there.

These tests need CUDA. They skip without it everywhere, CI included (CI never has a GPU); the
CPU paths of the same metrics are covered by the other evaluator tests.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    # The same model on the CPU: the GPU's perplexity is the same number, not just "a number".
    cpu_results = tmp_path / "cpu"
    cpu = run_cli(
        "--model_args", str(tiny_gpt2_dir), "--task", "evaltest_lm", "--no-db",
        "--results-dir", str(cpu_results), "--device", "cpu", "--limit", "2",
        "--metrics", "perplexity",
    )  # fmt: skip
    assert cpu.returncode == 0, cpu.stderr
    (cpu_path,) = cpu_results.glob("*.json")
    on_cpu = {m["name"]: m for m in json.loads(cpu_path.read_text())["metrics"]}
    assert values["perplexity"]["value"] == pytest.approx(on_cpu["perplexity"]["value"], rel=1e-3)


def test_auto_device_prefers_the_gpu(run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = run_cli(
        "--model_args", str(tiny_gpt2_dir), "--task", "evaltest_lm", "--no-db",
        "--results-dir", str(results), "--metrics", "parameters,perplexity", "--limit", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (path,) = results.glob("*.json")
    assert json.loads(path.read_text())["environment"]["device"].startswith("cuda")


def test_edge_memory_limit_on_the_gpu_measures_the_device_holding_the_weights(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path
) -> None:
    """An edge task (limit stated for CPU DRAM) on a GPU: the GPU peak, on the weights' device."""
    import torch

    from agent_eval.evaluate import EvalOptions, evaluate
    from agent_tasks.registry import get_task

    device = f"cuda:{torch.cuda.device_count() - 1}"
    outcome = evaluate(
        EvalOptions(
            model_args=str(tiny_gpt2_dir),
            task="mini_edge_llm_training",
            results_dir=tmp_path / "results",
            device=device,
            record=False,
            data_dir=eval_data_dir,
            metrics=["peak_memory", "parameters"],
        )
    )
    result = outcome.result
    assert result.environment.device == device
    peak = result.metric("peak_memory")
    assert peak is not None
    assert peak.details["device"] == "gpu"
    assert peak.details["measured_on"].startswith(device)
    weights_gb = sum(p.numel() * p.element_size() for p in _weights(tiny_gpt2_dir)) / 1e9
    assert weights_gb <= peak.value < weights_gb + 1.0  # the weights sit in what was measured
    spec = get_task("mini_edge_llm_training")
    assert any(c.kind == "max_memory_gb" for c in spec.constraints)
    memory = next(c for c in result.constraints if c.kind == "max_memory_gb")
    assert memory.passed is True and device in memory.detail


def _weights(folder: Path) -> list[Any]:
    from safetensors.torch import load_file

    return list(load_file(str(folder / "model.safetensors")).values())
