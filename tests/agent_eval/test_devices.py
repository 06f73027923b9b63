"""``--device auto`` says what it chose; memory is measured where the weights are (CPU path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agent_eval.evaluate import EvalOptions, evaluate
from agent_tasks.spec import TaskSpec


def test_auto_device_is_recorded_with_what_it_chose(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    import torch

    spec = make_spec(
        "devices",
        [{"name": "peak_memory", "direction": "lower", "params": {"device": "cpu"}}],
        constraints=[{"kind": "max_memory_gb", "limit_gb": 64, "device": "cpu"}],
    )
    outcome = evaluate(
        EvalOptions(
            model_args=str(tiny_gpt2_dir),
            task="unused",
            results_dir=tmp_path / "results",
            device="auto",
            record=False,
            data_dir=eval_data_dir,
        ),
        spec=spec,
    )
    result = outcome.result
    assert result.status == "ok", result.errors
    chosen = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert result.environment.device_requested == "auto"
    assert result.environment.device == chosen
    peak = result.metric("peak_memory")
    assert peak is not None and peak.value > 0
    assert peak.details["measured_on"].startswith(chosen)
    (check,) = result.constraints
    assert check.passed is True and chosen in check.detail
