"""Decorator registry of metric functions, keyed as in docs/metrics.md; loaded lazily."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent_eval.errors import MetricError
from agent_eval.results import MetricValue
from agent_tasks.spec import MetricSpec, TaskSpec

Needs = Literal["model", "tokenizer", "predictions", "nothing"]
"""What a metric needs: a loaded model, a model with a tokenizer, a predictions file, nothing."""

METRIC_MODULES = (
    "agent_eval.metrics.size",
    "agent_eval.metrics.likelihood",
    "agent_eval.metrics.speed",
    "agent_eval.metrics.memory",
    "agent_eval.metrics.harness",
    "agent_eval.metrics.generation",
    "agent_eval.metrics.predictions",
    "agent_eval.metrics.mlrc",
    "agent_eval.metrics.code",
)
"""Modules whose import registers the built-in metrics."""


@dataclass
class MetricContext:
    """What a metric may use: the loaded model (once), the spec, the data folder, options."""

    spec: TaskSpec
    data_dir: Path
    loaded: Any = None
    """The :class:`agent_eval.loading.LoadedModel`, or None for a predictions deliverable."""
    predictions: Path | None = None
    """The predictions CSV, for ``predictions_csv`` deliverables."""
    deliverable_folder: Path | None = None
    weights: Any = None
    """:class:`agent_eval.loading.WeightFacts` of the model folder, when it could be read."""
    limit: int | None = None
    """Samples (lm-eval) / windows (perplexity) / rows (generation) per task; None: all."""
    batch_size: int | None = None
    """Batch size from the command line, overriding the spec's pinned one."""
    code_run: Any = None
    """:class:`agent_eval.coderun.CodeRunOutcome` of the evaluator's re-run of a code
    deliverable (None for other deliverables)."""
    cache: dict[str, Any] = field(default_factory=dict)
    """Results shared between metrics (e.g. one lm-eval run serving several keys)."""

    def model(self) -> Any:
        """The loaded model, or a metric error when the deliverable is not a model."""
        if self.loaded is None:
            raise MetricError("this metric needs a model, and the deliverable is not one")
        return self.loaded


MetricFunction = Callable[[MetricContext, MetricSpec], list[MetricValue]]


@dataclass(frozen=True)
class Registered:
    """A metric function with what it needs."""

    key: str
    function: MetricFunction
    needs: Needs
    description: str


_REGISTRY: dict[str, Registered] = {}
_loaded = False


def metric(key: str, *, needs: Needs = "model") -> Callable[[MetricFunction], MetricFunction]:
    """Register a metric function under ``key``."""

    def register(function: MetricFunction) -> MetricFunction:
        doc = (function.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[key] = Registered(key=key, function=function, needs=needs, description=doc)
        return function

    return register


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in METRIC_MODULES:
            importlib.import_module(module)
        _loaded = True


def available() -> dict[str, Registered]:
    """Every registered metric by key."""
    _load()
    return dict(sorted(_REGISTRY.items()))


def get_metric(key: str) -> Registered:
    """The metric registered under ``key``; an unknown key suggests close ones."""
    _load()
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
    hint = (
        f"did you mean {', '.join(repr(c) for c in close)}?"
        if close
        else f"known metrics: {', '.join(sorted(_REGISTRY))}"
    )
    raise MetricError(f"unknown metric {key!r}", hint=hint)


def value(
    mspec: MetricSpec,
    name: str,
    number: float,
    *,
    unit: str,
    direction: Literal["higher", "lower"],
    stderr: float | None = None,
    **details: Any,
) -> MetricValue:
    """A :class:`MetricValue` produced by the metric ``mspec``."""
    return MetricValue(
        name=name,
        value=float(number),
        stderr=None if stderr is None else float(stderr),
        unit=unit,
        direction=direction,
        source=mspec.name,
        details=details,
    )


def param(mspec: MetricSpec, name: str, default: Any) -> Any:
    """A metric parameter from the spec, or the default."""
    return mspec.params.get(name, default)
