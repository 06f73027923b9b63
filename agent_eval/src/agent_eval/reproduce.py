"""``agent-eval reproduce RESULTS_FILE``: evaluate again from the record alone, and compare.

The record names the task, the model (path and sha256), the options (device, dtype, batch size,
sample limit, the metrics computed) and the data read (each dataset's sha256). The model is
checked against its hash before anything runs and again in what the re-evaluation loaded, the
data after the re-evaluation has read it: an input that no longer matches its hash is a refusal
(exit 5) that names it, never a comparison. Each metric is then ``identical``, ``within band``
(a timed metric inside the recorded timing band) or ``different``; the record's own claims
(status, ``data_subset``, each dataset's ``complete``, the task version, the score) must be
what the re-evaluation finds, else each one that is not is a :class:`FieldDifference`.

Nothing in a results file is trusted: a timed metric is judged against its recorded band only
when the record agrees with itself (the value inside its own per-repeat spread, the timing's
ratios those of its rounds); one that does not is ``different``, with the reason in the notes.
"""

from __future__ import annotations

import math
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from agent_contracts.results import EvaluationResult, MetricValue, Timing
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


@dataclass(frozen=True)
class FieldDifference:
    """A claim of the record that the re-evaluation does not bear out."""

    field: str
    """Where it is in the results (``status``, ``score.normalised``, ``datasets[...].complete``)."""
    recorded: str
    reproduced: str

    def __str__(self) -> str:
        return f"{self.field}: recorded {self.recorded}, reproduced {self.reproduced}"


@dataclass
class Reproduction:
    """What ``reproduce`` found."""

    record: EvaluationResult
    result: EvaluationResult
    metrics: list[MetricComparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Differences of environment (package versions, device) that may explain a difference, then
    one line per :attr:`differences` entry and per inconsistent timed metric."""
    differences: list[FieldDifference] = field(default_factory=list)
    """Claims of the record (status, data_subset, completeness, task version, score) that the
    re-evaluation does not bear out."""

    @property
    def reproduced(self) -> bool:
        """True when every metric is identical or within its timing band and every claim of
        the record is what the re-evaluation found."""
        return not self.differences and all(
            m.verdict in ("identical", "within band") for m in self.metrics
        )


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


def _check_loaded_model(record: EvaluationResult, again: EvaluationResult) -> None:
    """The model the re-evaluation loaded is the one the record names (it may have been
    replaced after the check that preceded it)."""
    if again.model.sha256 != record.model.sha256:
        found = again.model.sha256 or "none"
        raise ReproduceRefusedError(
            f"the model {record.model.path!r} evaluated again has sha256 {found[:16]}, recorded "
            f"{(record.model.sha256 or 'none')[:16]}",
            hint="the deliverable changed during the reproduction; a result of other bytes is "
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
    if not _is_timed(metric, record):
        return None
    timing = _timing_of(metric, record)
    if timing is not None and timing.ratio > 0 and timing.ratio_min > 0:
        low, high = timing.ratio_min / timing.ratio, timing.ratio_max / timing.ratio
        if metric.unit in TIMED_UNITS:  # a time: proportional to the ratio
            return metric.value * low, metric.value * high
        return metric.value / high, metric.value / low  # a rate or score: inverse to it
    spread = _repeats(metric) or [metric.value]
    return min(spread) * (1 - TIMING_BAND), max(spread) * (1 + TIMING_BAND)


def _is_timed(metric: MetricValue, record: EvaluationResult) -> bool:
    parts = [m for m in record.metrics if m.name.startswith(f"{metric.name}_")]
    return metric.unit in TIMED_UNITS or any(p.unit in TIMED_UNITS for p in parts)


def _timing_of(metric: MetricValue, record: EvaluationResult) -> Timing | None:
    """The metric's timing, or that of the metric it is a part of."""
    return metric.timing or next(
        (m.timing for m in record.metrics if metric.name.startswith(f"{m.name}_") and m.timing),
        None,
    )


def _repeats(metric: MetricValue) -> list[float]:
    repeats = metric.details.get(PER_REPEAT.get(metric.unit, ""), [])
    return (
        [float(v) for v in repeats if isinstance(v, int | float)]
        if isinstance(repeats, list)
        else []
    )


ROUNDING = 1e-4
"""The timing's recorded times and ratios are rounded to 4 decimals."""


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=ROUNDING)


def inconsistent(metric: MetricValue, record: EvaluationResult) -> str | None:
    """Why a timed metric's record disagrees with itself (None when it does not): its band is
    built from the record's own numbers, so they must first agree with one another.

    Per-repeat values: the value is their median. Baseline timing: each round's ratio is its
    times', ``ratio``, ``ratio_min`` and ``ratio_max`` are the rounds' median, least and
    greatest, ``seconds`` is ``ratio`` times the anchors' baseline time, and a time in seconds
    is ``seconds``."""
    if not _is_timed(metric, record):
        return None
    timing = _timing_of(metric, record)
    if timing is not None:
        ratios = [r.ratio for r in timing.rounds]
        if not ratios:
            return "its timing records no rounds"
        for index, r in enumerate(timing.rounds):
            if abs(r.agent_s - r.ratio * r.baseline_s) > ROUNDING * (1 + r.ratio):
                return (
                    f"timing round {index}: ratio {r.ratio:.4g} is not {r.agent_s}/{r.baseline_s}"
                )
        median = statistics.median(ratios)
        for label, claimed, actual in (
            ("ratio", timing.ratio, median),
            ("ratio_min", timing.ratio_min, min(ratios)),
            ("ratio_max", timing.ratio_max, max(ratios)),
            ("seconds", timing.seconds, median * timing.reference_baseline_s),
        ):
            if not _close(claimed, actual):
                return f"timing {label} {claimed:.6g} is not its rounds' {actual:.6g}"
        if metric.unit == "s" and not _close(metric.value, timing.seconds):
            return f"value {metric.value:.6g} s is not its timing's {timing.seconds:.6g} s"
        return None
    repeats = _repeats(metric)
    if repeats and not math.isclose(metric.value, statistics.median(repeats), rel_tol=1e-9):
        return (
            f"value {metric.value:.6g} is not the median of its recorded per-repeat values "
            f"({min(repeats):.6g}..{max(repeats):.6g})"
        )
    return None


def compare(record: EvaluationResult, again: EvaluationResult) -> list[MetricComparison]:
    """Each recorded metric against its reproduction (a timed metric whose record disagrees
    with itself is ``different``: see :func:`inconsistent`)."""
    out = []
    for metric in record.metrics:
        twin = again.metric(metric.name)
        band = None if inconsistent(metric, record) else _band(metric, record)
        if twin is None:
            out.append(MetricComparison(metric.name, metric.value, None, "missing", band))
            continue
        if inconsistent(metric, record):
            verdict: Verdict = "different"
        elif twin.value == metric.value or (math.isnan(twin.value) and math.isnan(metric.value)):
            verdict = "identical"
        elif band is not None and band[0] <= twin.value <= band[1]:
            verdict = "within band"
        else:
            verdict = "different"
        out.append(MetricComparison(metric.name, metric.value, twin.value, verdict, band))
    return out


def _shown(value: object) -> str:
    return "none" if value is None else str(value)


def differences(record: EvaluationResult, again: EvaluationResult) -> list[FieldDifference]:
    """The record's claims that the re-evaluation does not bear out: status, data_subset, task
    version, each dataset's completeness and examples, and the score.

    The score is judged as the record's primary value normalised with the re-evaluation's
    anchors: where the primary metric is timed its value may move within its band, so the
    normalised score must be the one the recorded value gives, and the recorded value the
    recorded primary metric's."""
    out = _unequal(
        "",
        ("status", record.status, again.status),
        ("data_subset", record.data_subset, again.data_subset),
        ("task_version", record.task_version, again.task_version),
    )
    now = {(d.id, d.config, d.split): d for d in again.datasets}
    for used in record.datasets:
        twin = now.get((used.id, used.config, used.split))
        where = (
            f"datasets[{used.id}" + (f"/{used.config}" if used.config else "") + f" {used.split}]"
        )
        if twin is not None:
            # a full count an older record did not hold is not a difference
            full = None if used.full_examples is None else twin.full_examples
            out += _unequal(
                f"{where}.",
                ("complete", used.complete, twin.complete),
                ("examples", used.examples, twin.examples),
                ("full_examples", used.full_examples, full),
            )
    return out + _score_differences(record, again)


def _unequal(where: str, *claims: tuple[str, object, object]) -> list[FieldDifference]:
    """A difference for each ``(field, recorded, reproduced)`` whose two values differ."""
    return [
        FieldDifference(f"{where}{label}", _shown(a), _shown(b)) for label, a, b in claims if a != b
    ]


def _score_differences(record: EvaluationResult, again: EvaluationResult) -> list[FieldDifference]:
    from agent_eval.scores import normalise

    old, new = record.score, again.score
    if old is None or new is None:
        if (old is None) != (new is None):
            return [
                FieldDifference(
                    "score",
                    "none" if old is None else f"{old.normalised}",
                    "none" if new is None else f"{new.normalised}",
                )
            ]
        return []
    out = _unequal(
        "score.",
        ("metric", old.metric, new.metric),
        ("method", old.method, new.method),
        ("baseline", old.baseline, new.baseline),
        ("reference", old.reference, new.reference),
    )
    primary = record.metric(old.metric)
    if primary is None or primary.value != old.raw:
        shown = "none" if primary is None else f"{primary.value:.6g}"
        out.append(FieldDifference("score.raw", f"{old.raw:.6g}", f"{shown} (its metric)"))
    expected = (
        normalise(old.raw, new.baseline, new.reference)
        if new.normalised is not None and new.baseline is not None and new.reference is not None
        else None
    )
    if (old.normalised is None) != (expected is None) or (
        old.normalised is not None
        and expected is not None
        and not math.isclose(old.normalised, expected, rel_tol=1e-9, abs_tol=1e-9)
    ):
        out.append(
            FieldDifference(
                "score.normalised",
                _shown(old.normalised),
                f"{_shown(expected)} (the recorded value under the task's anchors)",
            )
        )
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
    _check_loaded_model(record, again)
    _check_data(record, again)
    found = differences(record, again)
    notes = _notes(record, again) + [f"differs: {d}" for d in found]
    notes += [
        f"{m.name}: the record is inconsistent: {why}"
        for m in record.metrics
        if (why := inconsistent(m, record)) is not None
    ]
    return Reproduction(record, again, compare(record, again), notes, found)


def _failed_metrics(record: EvaluationResult) -> set[str]:
    """Metrics the record tried and that failed (``metric:<key>`` errors)."""
    return {e.stage.removeprefix("metric:") for e in record.errors if e.stage.startswith("metric:")}
