"""Task specs the evaluator's CLI tests register as an installed plugin (entry point).

Copied into a temporary folder on ``PYTHONPATH`` by ``conftest.cli_env``; never imported from
the repository itself.
"""

from __future__ import annotations

from typing import Any

from agent_tasks.spec import TaskSpec


def _spec(name: str, metrics: list[dict[str, Any]], primary: str, **extra: Any) -> TaskSpec:
    data: dict[str, Any] = {
        "name": name,
        "benchmark": "evaltest",
        "title": name,
        "summary": "A task of the evaluator's tests.",
        "prompt": "Deliver a model.",
        "version": "1.0.0",
        "resources": {"gpus": 0, "time_limit_s": 60},
        "deliverable": {"kind": "hf_model", "description": "a model folder"},
        "metrics": [{"label": m["name"], "direction": "higher", **m} for m in metrics],
        "primary_metric": primary,
        "anchors": {"source": "test", "baseline": 500.0, "reference": 100.0},
    }
    data.update(extra)
    return TaskSpec.model_validate(data)


def specs() -> list[TaskSpec]:
    """The test tasks."""
    return [
        _spec(
            "evaltest_lm",
            [
                {
                    "name": "perplexity",
                    "direction": "lower",
                    "params": {"dataset": "wikitext2", "stride": 64},
                },
                {"name": "parameters", "direction": "lower"},
                {
                    "name": "generation_speed",
                    "params": {"prompt_tokens": 8, "new_tokens": 4, "repeats": 2, "warmup": 1},
                },
                {"name": "peak_memory", "direction": "lower"},
            ],
            "perplexity",
            constraints=[
                {"kind": "max_memory_gb", "limit_gb": 64.0, "device": "any"},
                {"kind": "allowed_dtypes", "dtypes": ["float32", "float16"]},
                {"kind": "no_quantization"},
            ],
        ),
        _spec("evaltest_params", [{"name": "parameters", "direction": "lower"}], "parameters"),
        _spec(
            "evaltest_gpu_params",
            [{"name": "parameters", "direction": "lower"}],
            "parameters",
            resources={"gpus": 1, "gpu_type": "A100", "time_limit_s": 3600},
        ),
        _spec(
            "evaltest_contained",
            [{"name": "parameters", "direction": "lower"}],
            "parameters",
            run_policy={
                "networks": ["none"],
                "credentials": ["proxy"],
                "max_budget_usd": 5.0,
                "source": "the evaluator's tests",
            },
        ),
        _spec(
            "evaltest_mmlu",
            [
                {
                    "name": "mmlu",
                    "params": {
                        "tasks": "mmlu_anatomy,mmlu_astronomy",
                        "num_fewshot": 0,
                        "batch_size": 4,
                    },
                }
            ],
            "mmlu",
        ),
        _spec(
            "evaltest_missing",
            [
                {"name": "mmlu", "params": {"tasks": "mmlu_virology"}},
                {"name": "parameters", "direction": "lower"},
            ],
            "mmlu",
        ),
    ]
