"""The task catalogue's errors (all usage errors, exit 2)."""

from __future__ import annotations

from agent_contracts.errors import ExitCode, MLRBError


class TaskError(MLRBError):
    """Base of the task catalogue's errors."""

    exit_code = ExitCode.USAGE


class UnknownTaskError(TaskError):
    """A task name that no registered spec carries."""


class UnknownBenchmarkError(TaskError):
    """A benchmark name that no registered spec belongs to."""


class SpecError(TaskError):
    """A task spec that is malformed or inconsistent."""


class PluginError(TaskError):
    """An installed task plugin that cannot be loaded."""


class ExportError(TaskError):
    """A task that cannot be exported to the destination asked for."""
