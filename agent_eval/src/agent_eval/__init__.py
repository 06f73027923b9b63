"""Evaluate what an agent produced, record the results, rank agents.

The public API: :func:`evaluate` with :class:`EvalOptions` runs one evaluation;
:class:`EvaluationResult` is the results file, read and written by :func:`read_result` and
:func:`write_result`; :func:`metric` registers a metric function under a key.
"""

from agent_contracts.results import EvaluationResult
from agent_eval.errors import (
    DatabaseError,
    DatasetMissingError,
    EvalError,
    EvalUsageError,
    MetricError,
    ModelLoadError,
)
from agent_eval.evaluate import EvalOptions, Outcome, evaluate
from agent_eval.metrics.registry import metric
from agent_eval.results import read_result, write_result

__all__ = [
    "DatabaseError",
    "DatasetMissingError",
    "EvalError",
    "EvalOptions",
    "EvalUsageError",
    "EvaluationResult",
    "MetricError",
    "ModelLoadError",
    "Outcome",
    "evaluate",
    "metric",
    "read_result",
    "write_result",
]
