"""The task catalogue of the ML Research Benchmark: specs, prompts and starter files."""

from agent_tasks.errors import (
    ExitCode,
    ExportError,
    MLRBError,
    PluginError,
    SpecError,
    TaskError,
    UnknownBenchmarkError,
    UnknownTaskError,
    UsageError,
)
from agent_tasks.export import export_task, starter_files
from agent_tasks.registry import benchmarks, get_task, list_tasks, resolve_task, task
from agent_tasks.render import format_duration, render_prompt
from agent_tasks.spec import (
    AllowedDtypesConstraint,
    DatasetSpec,
    Decision,
    Deliverable,
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

__all__ = [
    "AllowedDtypesConstraint",
    "DatasetSpec",
    "Decision",
    "Deliverable",
    "EvaluationSpec",
    "ExitCode",
    "ExportError",
    "MLRBError",
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
    "UsageError",
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
