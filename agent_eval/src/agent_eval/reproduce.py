"""``agent-eval reproduce RESULTS_FILE``: evaluate again from the record alone, and compare.

The record names the task, the model (path and sha256), the options (device, dtype, batch size,
sample limit, the metrics computed) and the data read (each dataset's sha256). The model is
checked against its hash before anything runs, the data after the re-evaluation has read it:
an input that no longer matches its hash is a refusal (exit 5) that names it, never a
comparison. Each metric is then ``identical``, ``within band`` (a timed metric inside the
recorded timing band) or ``different``.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from agent_contracts.results import EvaluationResult, MetricValue
from agent_eval.errors import EvalError, EvalUsageError

Verdict = Literal["identical", "within band", "different", "missing"]
"""How a reproduced metric compares with the recorded one."""

TIMED_UNITS = frozenset({"s", "ms", "tokens/s", "GB"})
"""Units of measured times, rates and memory peaks: numbers that vary from run to run (and so
does a metric with such a part, like ``twe`` with ``twe_inference_s``)."""
TIMING_BAND = 0.5
"""A timed metric without recorded timing rounds or spread reproduces within ±50 % of the
recorded value; one with recorded per-repeat values (``*_per_repeat`` details) within their
min..max widened by the same fraction. A metric timed against its task's baseline code is judged
against its recorded rounds instead (:func:`_band`)."""


class ReproduceRefusedError(EvalError):
    """An input of the record no longer matches its hash: nothing is compared."""


@dataclass(frozen=True)
class MetricComparison:
    """One metric, recorded against reproduced."""

    name: str
    recorded: float
    reproduced: float | None
    verdict: Verdict
    band: tuple[float, float] | None = None
    """The timing band the reproduced value was judged against (timed metrics only)."""


@dataclass
class Reproduction:
    """What ``reproduce`` found."""

    record: EvaluationResult
    result: EvaluationResult
    metrics: list[MetricComparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Differences of environment (package versions, device) that may explain a difference."""

    @property
    def reproduced(self) -> bool:
        """True when every metric is identical or within its timing band."""
        return all(m.verdict in ("identical", "within band") for m in self.metrics)


def read_record(path: Path) -> EvaluationResult:
    """The results file; a file that is not one is a usage error (exit 2)."""
    try:
        return EvaluationResult.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise EvalUsageError(
            f"results file {str(path)!r} cannot be read: {exc.strerror or exc}"
        ) from None
    except ValidationError as exc:
        raise EvalUsageError(
            f"{str(path)!r} is not a results file: {exc.error_count()} problem(s), e.g. "
            f"{exc.errors()[0]['msg']}",
            hint="pass a results/<name>.json written by agent-eval",
        ) from None


def _check_model(record: EvaluationResult) -> None:
    """The model the record names is there and has the recorded hash."""
    from agent_eval.loading import content_hash

    model = Path(record.model.path)
    if record.model.sha256 is None:
        raise ReproduceRefusedError(
            f"the record holds no sha256 of its model {record.model.path!r}: nothing to check "
            "a re-evaluation against"
        )
    if not model.exists():
        raise ReproduceRefusedError(
            f"the model {record.model.path!r} of the record is not there",
            hint="run reproduce where the deliverable is, at the path the record names",
        )
    found = content_hash(model)
    if found != record.model.sha256:
        raise ReproduceRefusedError(
            f"the model {record.model.path!r} no longer matches its hash: sha256 {found[:16]}, "
            f"recorded {record.model.sha256[:16]}",
            hint="the deliverable changed since it was evaluated; a result of other bytes is "
            "not a reproduction",
        )


def _check_data(record: EvaluationResult, again: EvaluationResult) -> None:
    """Every dataset the record read was read again with the same content."""
    now = {(d.id, d.config, d.split): d.sha256 for d in again.datasets}
    for used in record.datasets:
        key = (used.id, used.config, used.split)
        found = now.get(key)
        if found != used.sha256:
            where = f"{used.id}" + (f"/{used.config}" if used.config else "") + f" {used.split}"
            raise ReproduceRefusedError(
                f"the data {where} no longer matches its hash: "
                + (f"sha256 {found[:16]}" if found else "not read")
                + f", recorded {used.sha256[:16]}",
                hint="evaluate against the data folder the record was made with "
                "(--data-dir, AGENT_EVAL_DATA_DIR)",
            )


PER_REPEAT = {"tokens/s": "tokens_per_s_per_repeat"}
"""Details holding a timed metric's per-repeat values, by unit: the spread it recorded."""


def _band(metric: MetricValue, record: EvaluationResult) -> tuple[float, float] | None:
    """The timing band of a timed metric (None for metrics that are not timed). A metric is
    timed by its unit, or when one of its own parts is (``twe`` has ``twe_inference_s``).

    A metric timed against its task's baseline code (``timing``, on it or on the metric it is
    a part of) is judged against its recorded rounds: a reproduction whose median ratio falls
    anywhere between the slowest and the fastest recorded round; others within
    :data:`TIMING_BAND`."""
    parts = [m for m in record.metrics if m.name.startswith(f"{metric.name}_")]
    if metric.unit not in TIMED_UNITS and not any(p.unit in TIMED_UNITS for p in parts):
        return None
    timing = metric.timing or next(
        (m.timing for m in record.metrics if metric.name.startswith(f"{m.name}_") and m.timing),
        None,
    )
    if timing is not None and timing.ratio > 0 and timing.ratio_min > 0:
        low, high = timing.ratio_min / timing.ratio, timing.ratio_max / timing.ratio
        if metric.unit in TIMED_UNITS:  # a time: proportional to the ratio
            return metric.value * low, metric.value * high
        return metric.value / high, metric.value / low  # a rate or score: inverse to it
    repeats = metric.details.get(PER_REPEAT.get(metric.unit, ""), [])
    spread = [float(v) for v in repeats if isinstance(v, int | float)] or [metric.value]
    return min(spread) * (1 - TIMING_BAND), max(spread) * (1 + TIMING_BAND)


def compare(record: EvaluationResult, again: EvaluationResult) -> list[MetricComparison]:
    """Each recorded metric against its reproduction."""
    out = []
    for metric in record.metrics:
        twin = again.metric(metric.name)
        band = _band(metric, record)
        if twin is None:
            out.append(MetricComparison(metric.name, metric.value, None, "missing", band))
            continue
        if twin.value == metric.value or (math.isnan(twin.value) and math.isnan(metric.value)):
            verdict: Verdict = "identical"
        elif band is not None and band[0] <= twin.value <= band[1]:
            verdict = "within band"
        else:
            verdict = "different"
        out.append(MetricComparison(metric.name, metric.value, twin.value, verdict, band))
    return out


def _notes(record: EvaluationResult, again: EvaluationResult) -> list[str]:
    notes = []
    old, new = record.environment, again.environment
    for label, a, b in (
        ("evaluator", old.evaluator_version, new.evaluator_version),
        ("torch", old.torch_version, new.torch_version),
        ("transformers", old.transformers_version, new.transformers_version),
        ("lm-eval", old.lm_eval_version, new.lm_eval_version),
        ("device", old.device_name or old.device, new.device_name or new.device),
    ):
        if a != b:
            notes.append(f"{label}: recorded {a}, now {b}")
    return notes


def reproduce(path: Path, *, data_dir: Path | None = None) -> Reproduction:
    """Evaluate the record's model again with the record's options, and compare."""
    from agent_eval.evaluate import DTYPES, EvalOptions, evaluate
    from agent_tasks.registry import get_task

    record = read_record(path)
    _check_model(record)
    spec = get_task(record.task)
    env = record.environment
    computed = sorted({m.source for m in record.metrics} | _failed_metrics(record))
    every = {m.name for m in spec.metrics}
    with tempfile.TemporaryDirectory(prefix="mlrb-reproduce-") as scratch:
        outcome = evaluate(
            EvalOptions(
                model_args=record.model.path,
                task=record.task,
                results_dir=Path(scratch),
                device=env.device,
                dtype=env.dtype if env.dtype in DTYPES else "auto",
                batch_size=env.batch_size,
                limit=env.sample_limit,
                metrics=None if set(computed) >= every else computed,
                record=False,
                data_dir=data_dir,
            )
        )
    again = outcome.result
    _check_data(record, again)
    return Reproduction(record, again, compare(record, again), _notes(record, again))


def _failed_metrics(record: EvaluationResult) -> set[str]:
    """Metrics the record tried and that failed (``metric:<key>`` errors)."""
    return {e.stage.removeprefix("metric:") for e in record.errors if e.stage.startswith("metric:")}
