"""Task specs for the run-set tests and benchmark: sleepers that need 0, 1 or 2 GPUs.

Registered as an installed plugin (an entry point on a temporary ``PYTHONPATH`` folder) by
``runset_testkit.register_plugin``; never imported from the repository itself.
"""

from __future__ import annotations

from typing import Any

from agent_tasks.spec import TaskSpec


def _spec(name: str, gpus: int) -> TaskSpec:
    data: dict[str, Any] = {
        "name": name,
        "benchmark": "rstest",
        "title": name,
        "summary": "A task of the run-set tests.",
        "prompt": "Sleep, then leave a file.",
        "version": "1.0.0",
        "resources": {"gpus": gpus, "time_limit_s": 120},
        "deliverable": {"kind": "hf_model", "description": "a model folder"},
        "metrics": [{"name": "parameters", "label": "parameters", "direction": "lower"}],
        "primary_metric": "parameters",
        "anchors": {"source": "test"},
    }
    return TaskSpec.model_validate(data)


def specs() -> list[TaskSpec]:
    """The test tasks."""
    return [_spec("rstest_cpu", 0), _spec("rstest_gpu1", 1), _spec("rstest_gpu2", 2)]
