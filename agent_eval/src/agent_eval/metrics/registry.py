"""Decorator registry of metric functions, keyed as in docs/metrics.md; loaded lazily."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent_contracts.errors import ExitCode
from agent_contracts.registry import Registry
from agent_contracts.results import MetricValue, Timing
from agent_eval.datasets import DataNeed
from agent_eval.errors import MetricError
from agent_tasks.spec import MetricSpec, TaskSpec

Needs = Literal["model", "tokenizer", "predictions", "nothing"]
"""What a metric needs: a loaded model, a model with a tokenizer, a predictions file, nothing."""

METRIC_MODULES = (
    "agent_eval.metrics.size",
    "agent_eval.metrics.likelihood",
    "agent_eval.metrics.speed",
    "agent_eval.metrics.memory",
    "agent_eval.metrics.lm_eval_adapter",
    "agent_eval.metrics.generation",
    "agent_eval.metrics.predictions",
    "agent_eval.metrics.mlrc",
    "agent_eval.metrics.code",
)
"""Modules whose import registers the built-in metrics."""

ENTRY_POINT_GROUP = "agent_eval.metrics"
"""Entry-point group through which installed packages add metrics: each entry point names a
module whose import registers its metrics with :func:`metric`."""


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
    run: Any = None
    """The :class:`agent_contracts.run_record.RunRecord` of the run that made the deliverable
    (None: the deliverable names no run)."""
    cache: dict[str, Any] = field(default_factory=dict)
    """Results shared between metrics (e.g. one lm-eval run serving several keys)."""
    datasets: dict[str, Any] = field(default_factory=dict)
    """:class:`agent_contracts.results.DatasetUse` of every dataset read (see ``provenance``)."""
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Rows saved beside the results file as ``<stem>.<name>.jsonl`` (e.g. ``generations``)."""

    def model(self) -> Any:
        """The loaded model, or a metric error when the deliverable is not a model."""
        if self.loaded is None:
            raise MetricError("this metric needs a model, and the deliverable is not one")
        return self.loaded


MetricFunction = Callable[[MetricContext, MetricSpec], list[MetricValue]]
DataNeeds = Callable[[TaskSpec, MetricSpec], list[DataNeed]]
"""What a metric reads from the data folder for a task's spec and its own metric spec."""


class NotMeasuredError(MetricError):
    """The metric's value would be a number the agent could have written itself: it needs a
    measurement the evaluator does not make yet, so it is recorded as an error, never a score."""


@dataclass(frozen=True)
class Registered:
    """A metric function with what it needs."""

    key: str
    function: MetricFunction
    needs: Needs
    description: str
    unmeasured: str | None = None
    """The measurement of its own this metric needs and the evaluator does not make yet (None:
    the evaluator measures everything the metric reports). While set, the metric records
    ``not measured by the evaluator`` instead of a value, and the leaderboard ranks no result
    whose primary metric it is."""

    def compute(self, ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
        """The metric's values, or :class:`NotMeasuredError` while it is ``unmeasured``."""
        if self.unmeasured is not None:
            raise NotMeasuredError(
                f"{self.key} is not measured by the evaluator: {self.unmeasured}",
                hint="the result is recorded as an error and left off the leaderboard until "
                "the evaluator measures this itself",
            )
        return self.function(ctx, mspec)

    data: DataNeeds | None = None
    """What the metric reads from the data folder for a task (None: nothing there); prefetch
    downloads exactly what the task's metrics declare."""
    rerun_only: bool = False
    """The value means something only when the evaluator produced the scored output itself, by
    re-running the agent's code (``evaluation.code_run``): the leaderboard ranks such a result
    only when its model format is ``code``, so an older results file that scored the agent's
    own files is never ranked."""
    timed: bool = False
    """The value rests on the evaluator's timing of the re-run (against the task's baseline
    code where it has one, :mod:`agent_eval.coderun.timing`): the re-run is timed only when an
    evaluation computes such a metric (``--metrics`` without one skips the timed rounds)."""


METRICS: Registry[Registered] = Registry(
    kind="metric",
    item_type=Registered,
    builtin_modules=METRIC_MODULES,
    group=ENTRY_POINT_GROUP,
    name_of=lambda registered: registered.key,
    unknown=lambda message, hint: MetricError(message, hint=hint),
    plugin_error=lambda message, hint: MetricError(message, hint=hint, exit_code=ExitCode.USAGE),
    list_hint="run 'agent-eval metrics' to see every metric",
)
"""Every metric: the built-in ones plus installed plugins."""


def metric(
    key: str,
    *,
    needs: Needs = "model",
    data: DataNeeds | None = None,
    unmeasured: str | None = None,
    rerun_only: bool = False,
    timed: bool = False,
) -> Callable[[MetricFunction], MetricFunction]:
    """Register a metric function under ``key`` (``unmeasured``, ``rerun_only``, ``timed``: see
    :class:`Registered`)."""

    def register(function: MetricFunction) -> MetricFunction:
        registered = Registered(
            key=key,
            function=function,
            needs=needs,
            description=(function.__doc__ or "").strip().split("\n")[0],
            unmeasured=unmeasured,
            rerun_only=rerun_only,
            timed=timed,
            data=data,
        )
        METRICS.contribute(
            lambda: registered,
            module=function.__module__,
            origin=f"{function.__module__}.{function.__qualname__}",
            source=function,
        )
        return function

    return register


def available() -> dict[str, Registered]:
    """Every registered metric by key."""
    return dict(sorted(METRICS.all().items()))


def rerun_only_metrics() -> set[str]:
    """Keys of the metrics that count only from the evaluator's own re-run of the code."""
    return {k for k, r in available().items() if r.rerun_only}


def unmeasured_metrics() -> dict[str, str]:
    """Metric key -> the measurement it still lacks, for every metric not yet measured."""
    return {k: r.unmeasured for k, r in available().items() if r.unmeasured is not None}


def get_metric(key: str) -> Registered:
    """The metric registered under ``key``; an unknown key suggests close ones."""
    return METRICS.get(key)


def value(
    mspec: MetricSpec,
    name: str,
    number: float,
    *,
    unit: str,
    direction: Literal["higher", "lower"],
    stderr: float | None = None,
    timing: Timing | None = None,
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
        timing=timing,
    )


def param(mspec: MetricSpec, name: str, default: Any) -> Any:
    """A metric parameter from the spec, or the default."""
    return mspec.params.get(name, default)
