"""The task catalogue of the ML Research Benchmark: specs, prompts and starter files.

Names are imported on first use (PEP 562), so ``import agent_tasks.errors`` stays cheap for
callers that do not need pydantic, such as a launcher's start-up path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LOCATIONS = {
    "errors": (
        "ExportError",
        "PluginError",
        "SpecError",
        "TaskError",
        "UnknownBenchmarkError",
        "UnknownTaskError",
    ),
    "export": ("export_task", "starter_files"),
    "registry": ("benchmarks", "get_task", "list_tasks", "resolve_task", "task"),
    "render": ("format_duration", "render_prompt"),
    "spec": (
        "AllowedDtypesConstraint",
        "DatasetSpec",
        "Decision",
        "DeliverableSpec",
        "EvaluationSpec",
        "MaxMemoryConstraint",
        "MaxParametersConstraint",
        "MaxRuntimeConstraint",
        "MetricSpec",
        "NoQuantizationConstraint",
        "Resources",
        "ScoreAnchors",
        "TaskSpec",
    ),
    "validate": ("validate_all",),
}
_MODULE_OF = {name: module for module, names in _LOCATIONS.items() for name in names}

if TYPE_CHECKING:
    from agent_tasks.errors import (
        ExportError,
        PluginError,
        SpecError,
        TaskError,
        UnknownBenchmarkError,
        UnknownTaskError,
    )
    from agent_tasks.export import export_task, starter_files
    from agent_tasks.registry import benchmarks, get_task, list_tasks, resolve_task, task
    from agent_tasks.render import format_duration, render_prompt
    from agent_tasks.spec import (
        AllowedDtypesConstraint,
        DatasetSpec,
        Decision,
        DeliverableSpec,
        EvaluationSpec,
        MaxMemoryConstraint,
        MaxParametersConstraint,
        MaxRuntimeConstraint,
        MetricSpec,
        NoQuantizationConstraint,
        Resources,
        ScoreAnchors,
        TaskSpec,
    )
    from agent_tasks.validate import validate_all


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'agent_tasks' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"agent_tasks.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AllowedDtypesConstraint",
    "DatasetSpec",
    "Decision",
    "DeliverableSpec",
    "EvaluationSpec",
    "ExportError",
    "MaxMemoryConstraint",
    "MaxParametersConstraint",
    "MaxRuntimeConstraint",
    "MetricSpec",
    "NoQuantizationConstraint",
    "PluginError",
    "Resources",
    "ScoreAnchors",
    "SpecError",
    "TaskError",
    "TaskSpec",
    "UnknownBenchmarkError",
    "UnknownTaskError",
    "benchmarks",
    "export_task",
    "format_duration",
    "get_task",
    "list_tasks",
    "render_prompt",
    "resolve_task",
    "starter_files",
    "task",
    "validate_all",
]
