"""Normalised scores: baseline = 0, reference = 100, direction-aware; chance-level fallback."""

from __future__ import annotations

from agent_eval.results import Score
from agent_tasks.spec import TaskSpec


def normalise(value: float, baseline: float, reference: float) -> float:
    """s' = (s - baseline) / (reference - baseline) * 100 (works for either direction)."""
    return (value - baseline) / (reference - baseline) * 100.0


def improvement_pct(value: float, baseline: float, direction: str) -> float | None:
    """Absolute improvement over the baseline in %: 100 * (s - b) / |b|, sign set by direction."""
    if baseline == 0:
        return None
    change = (value - baseline) / abs(baseline) * 100.0
    return change if direction == "higher" else -change


def score(spec: TaskSpec, value: float, measured_chance: float | None = None) -> Score:
    """The primary metric's value as a :class:`Score` for this task.

    ``measured_chance``: the chance level the metric measured on the data it scored (reported
    in its details as ``chance``); it replaces the spec's nominal level, so the level scored
    against is the one of what was averaged.
    """
    primary = spec.primary
    anchors = spec.anchors
    chance = measured_chance if measured_chance is not None else primary.chance
    baseline, reference = anchors.baseline, anchors.reference_value
    if anchors.baseline_is_chance and chance is not None:
        baseline = chance
    if baseline is not None and reference is not None:
        return Score(
            metric=primary.name,
            raw=value,
            normalised=normalise(value, baseline, reference),
            absolute_improvement_pct=improvement_pct(value, baseline, primary.direction),
            baseline=baseline,
            reference=reference,
            method="anchors",
        )
    if chance is not None and primary.direction == "higher" and chance < 1:
        return Score(
            metric=primary.name,
            raw=value,
            normalised=normalise(value, chance, 1.0),
            absolute_improvement_pct=improvement_pct(value, chance, "higher"),
            baseline=chance,
            reference=1.0,
            method="chance",
        )
    return Score(
        metric=primary.name,
        raw=value,
        normalised=None,
        absolute_improvement_pct=(
            improvement_pct(value, baseline, primary.direction) if baseline is not None else None
        ),
        baseline=baseline,
        reference=reference,
        method="none",
    )
