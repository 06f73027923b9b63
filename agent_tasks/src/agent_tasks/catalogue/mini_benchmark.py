"""What the `mini_benchmark` tasks share: every full task scaled down to gpt2-xs and 8 hours.

Each mini spec (``agent_tasks/tasks/mini_<name>/task.py``) is derived from its full spec (data,
metrics, rules and decisions carry over) and re-validated; what changes is named explicitly: the
time limit, the starting point (the 30M-parameter gpt2-xs, or its size as a cap for from-scratch
tasks), scaled constraints, and a prompt written for the mini setting.
"""

from __future__ import annotations

from typing import Any

from agent_tasks.catalogue import full_benchmark as full
from agent_tasks.catalogue.assets import assets_of, prompt_of
from agent_tasks.spec import (
    Constraint,
    Decision,
    MaxParametersConstraint,
    MetricSpec,
    ScoreAnchors,
    TaskSpec,
)

BENCHMARK = "mini_benchmark"
MINI_TIME_S = 8 * 3600
GPT2_XS = "AlgorithmicResearchGroup/gpt2-xs"
GPT2_XS_PARAMETERS = 30_044_544
"""GPT-2 with n_embd 384, n_layer 6, n_head 6, n_positions 256 and the 50,257-token vocabulary."""
GPT2_XS_ASSETS = assets_of("gpt2_xs_starter")
BUDGET_ASSETS = assets_of("budget_starter")
GPT2_XS_FACTS = (
    "MLRB mini-benchmark facts: gpt2-xs is GPT-2 with n_embd 384, n_layer 6, n_head 6, "
    "n_positions 256 and vocabulary 50,257, i.e. 30,044,544 parameters (checked by arithmetic "
    "against its published count); trained with batch 64 for 5,000 iterations to validation "
    "loss 3.94"
)
MINI_METRIC_DECISION = Decision(
    topic="metrics of the mini variant of a language-model task",
    choice="the full task's primary metric and chance level, with WikiText-2 perplexity and "
    "parameter count reported alongside",
    source="Mini tasks are the full tasks scaled down (MLRB mini-benchmark description), so "
    "they keep the full task's measure; at 30M parameters benchmark accuracies sit near chance, "
    "so perplexity is added as the finer signal. The published gpt2-xs perplexity (95.2161) was "
    "measured by the upstream evaluator's running-mean method and is not comparable with this "
    "evaluator's, so it is not used as an anchor.",
)


def gpt2_xs_cap(limit: int = GPT2_XS_PARAMETERS, why: str = "") -> MaxParametersConstraint:
    return MaxParametersConstraint(limit=limit, description=why or "the size of gpt2-xs")


def _lm_metrics(spec: TaskSpec) -> tuple[MetricSpec, ...]:
    """The full task's metrics, plus perplexity and parameters when missing."""
    have = {m.name for m in spec.metrics}
    extra = [m for m in (full.perplexity(), full.parameters()) if m.name not in have]
    return (*spec.metrics, *extra)


def _anchors(spec: TaskSpec) -> ScoreAnchors:
    """Chance-level anchors for multiple-choice metrics; the full task's otherwise."""
    if spec.primary.chance is not None:
        return full.chance_anchors(spec.primary)
    return spec.anchors


def derive(
    base: TaskSpec,
    *,
    title: str,
    summary: str,
    rules: tuple[str, ...],
    constraints: tuple[Constraint, ...],
    decisions: tuple[Decision, ...],
    **changes: Any,
) -> TaskSpec:
    """The mini variant of ``base``: its fields, with the named changes, validated afresh."""
    name = f"mini_{base.name}"
    data = base.model_dump()
    data.update(
        name=name,
        benchmark=BENCHMARK,
        title=title,
        summary=summary,
        prompt=prompt_of(name),
        rules=rules,
        constraints=constraints,
        decisions=(*base.decisions, *decisions),
        resources=full.a100(MINI_TIME_S, **_limits(base)),
        **changes,
    )
    return TaskSpec.model_validate(data)


def _limits(base: TaskSpec) -> dict[str, float | int]:
    """Per-run limits other than time and GPU that carry over from the full task."""
    r = base.resources
    limits = {"cpus": r.cpus, "ram_gb": r.ram_gb, "disk_gb": r.disk_gb}
    return {k: v for k, v in limits.items() if v is not None}


def lm_task(base: TaskSpec, **kwargs: Any) -> TaskSpec:
    """A language-model mini task: gpt2-xs starter, extra metrics, chance anchors."""
    kwargs.setdefault("metrics", _lm_metrics(base))
    kwargs.setdefault("anchors", _anchors(base))
    kwargs.setdefault("assets", GPT2_XS_ASSETS)
    if not base.from_scratch:
        kwargs.setdefault("starting_models", (GPT2_XS,))
    decisions = (MINI_METRIC_DECISION, *kwargs.pop("decisions", ()))
    return derive(base, decisions=decisions, **kwargs)


NOT_GPT2_DECISION = Decision(
    topic="gpt2-xs in an image task",
    choice="the mini variant keeps the full task's image data and model freedom and scales "
    "the time budget to 8 hours",
    source="gpt2-xs is a language model and cannot classify images; the MLRB mini benchmark "
    "is otherwise built around it",
)
