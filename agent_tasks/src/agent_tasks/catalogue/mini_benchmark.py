"""Tasks of the `mini_benchmark` benchmark: every full task scaled down to gpt2-xs and 8 hours.

Each mini spec is derived from its full spec (data, metrics, rules and decisions carry over) and
re-validated; what changes is named explicitly: the time limit, the starting point (the
30M-parameter gpt2-xs, or its size as a cap for from-scratch tasks), scaled constraints, and a
prompt written for the mini setting.
"""

from __future__ import annotations

from typing import Any

from agent_tasks.catalogue import full_benchmark as full
from agent_tasks.catalogue.assets import assets_of, prompt_of
from agent_tasks.registry import task
from agent_tasks.spec import (
    Constraint,
    Decision,
    MaxParametersConstraint,
    MaxRuntimeConstraint,
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
MINI_NAME_DECISION = Decision(
    topic="mini task names (upstream mixes mini_budget_inference and mini_budget_model_inference)",
    choice="mini_<full task name> for every task; upstream variants kept as aliases",
    source="MLRB mini-benchmark facts: upstream names are inconsistent; one rule makes every "
    "mini task findable from its full name",
)


def _gpt2_xs_cap(limit: int = GPT2_XS_PARAMETERS, why: str = "") -> MaxParametersConstraint:
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


def _lm(base: TaskSpec, **kwargs: Any) -> TaskSpec:
    """A language-model mini task: gpt2-xs starter, extra metrics, chance anchors."""
    kwargs.setdefault("metrics", _lm_metrics(base))
    kwargs.setdefault("anchors", _anchors(base))
    kwargs.setdefault("assets", GPT2_XS_ASSETS)
    if not base.from_scratch:
        kwargs.setdefault("starting_models", (GPT2_XS,))
    decisions = (MINI_METRIC_DECISION, *kwargs.pop("decisions", ()))
    return derive(base, decisions=decisions, **kwargs)


@task
def mini_llm_efficiency() -> TaskSpec:
    """Fine-tune gpt2-xs on open data in 8 hours for MMLU."""
    base = full.llm_efficiency()
    return _lm(
        base,
        title="Mini LLM Efficiency: fine-tune gpt2-xs in 8 hours",
        summary="Fine-tune the 30M-parameter gpt2-xs on open data within 8 hours to raise its "
        "MMLU accuracy.",
        rules=(
            f"Start from `{GPT2_XS}` and keep its architecture.",
            *base.rules[1:],
        ),
        constraints=(_gpt2_xs_cap(),),
    )


@task
def mini_baby_lm() -> TaskSpec:
    """A gpt2-xs-sized model from scratch on BabyLM Strict-Small, 8 hours."""
    base = full.baby_lm()
    return _lm(
        base,
        title="Mini BabyLM: a gpt2-xs-sized model from 10M words",
        summary="Train a model of at most gpt2-xs size from scratch on the BabyLM Strict-Small "
        "corpus within 8 hours to maximise BLiMP accuracy.",
        rules=base.rules,
        constraints=(_gpt2_xs_cap(),),
    )


@task
def mini_mini_pile() -> TaskSpec:
    """A gpt2-xs-sized model pre-trained on MiniPile in 8 hours."""
    base = full.mini_pile()
    return _lm(
        base,
        title="Mini MiniPile: pre-train a gpt2-xs-sized model",
        summary="Pre-train a model of at most gpt2-xs size from scratch on MiniPile within 8 "
        "hours to maximise SuperGLUE accuracy.",
        rules=base.rules,
        constraints=(_gpt2_xs_cap(),),
        decisions=(
            Decision(
                topic="mini_pile anchors at gpt2-xs scale",
                choice="chance-level normalisation instead of the full task's 0.541 reference",
                source="the 0.541 of arXiv 2410.22553 came from 24-hour runs with no size cap; "
                "no mini result is published",
            ),
        ),
    )


@task
def mini_llm_merging() -> TaskSpec:
    """Merge gpt2-xs experts of your own making into one model."""
    base = full.llm_merging()
    return _lm(
        base,
        title="Mini LLM Merging: one gpt2-xs from several experts",
        summary="Fine-tune several gpt2-xs experts on different open data, then merge them "
        "into a single gpt2-xs-shaped model, merge and evaluation within 20 minutes.",
        rules=(
            f"Experts: copies of `{GPT2_XS}` fine-tuned by you on openly licensed data (public "
            "gpt2-xs fine-tunes may be used too); the merge keeps the gpt2-xs architecture.",
            "The two validation sets serve to check a merge and choose its coefficients, not as "
            "fine-tuning data.",
            "MMLU (any split) is for evaluation only: never train or tune on it.",
        ),
        constraints=(
            MaxRuntimeConstraint(
                limit_s=20 * 60,
                phase="merge_and_eval",
                description="loading the experts, merging and evaluating the merge on the "
                "validation sets takes under 20 minutes",
            ),
            _gpt2_xs_cap(why="the merged model keeps the gpt2-xs size"),
        ),
        decisions=(
            Decision(
                topic="experts for a gpt2-xs merge",
                choice="the agent fine-tunes its own experts from gpt2-xs; merge and evaluation "
                "limited to 20 minutes",
                source="no public expert family exists for gpt2-xs; 20 minutes is the full "
                "task's 1 hour scaled by 8 h / 24 h",
            ),
        ),
    )


@task
def mini_edge_llm_compression() -> TaskSpec:
    """Compress gpt2-xs to three quarters of its parameters without quantization or training."""
    base = full.edge_llm_compression()
    limit = GPT2_XS_PARAMETERS * 3 // 4
    return _lm(
        base,
        title="Mini Edge LLM compression: a smaller gpt2-xs",
        summary="Compress gpt2-xs to at most 75% of its parameters, without quantization, "
        "distillation or training, keeping as much accuracy as possible.",
        rules=base.rules,
        constraints=(
            *base.constraints,
            _gpt2_xs_cap(limit, why="75% of gpt2-xs"),
        ),
        decisions=(
            Decision(
                topic="what the memory limit means at gpt2-xs scale",
                choice=f"a parameter cap of {limit:,} (75% of gpt2-xs) on top of the full "
                "task's dtype, quantization and 12 GB rules",
                source="gpt2-xs fits 12 GB many times over, so the memory limit alone would ask "
                "for no compression; 75% forces real structural compression (the tied "
                "embedding alone holds 19.3M of the 30M parameters)",
            ),
        ),
    )


@task
def mini_edge_llm_training() -> TaskSpec:
    """A gpt2-xs-sized edge model from scratch on C4 and Alpaca, 8 hours."""
    base = full.edge_llm_training()
    return _lm(
        base,
        title="Mini Edge LLM training: a gpt2-xs-sized model from scratch",
        summary="Train a model of at most gpt2-xs size from scratch on C4 and Alpaca within 8 "
        "hours, in FP16/FP32, to maximise SuperGLUE accuracy.",
        rules=base.rules,
        constraints=(*base.constraints, _gpt2_xs_cap()),
    )


@task
def mini_math_reasoning() -> TaskSpec:
    """Fine-tune gpt2-xs to autoformalize proofs into Lean 3."""
    base = full.math_reasoning()
    return _lm(
        base,
        title="Mini Autoformalization: gpt2-xs writes Lean 3",
        summary="Fine-tune gpt2-xs within 8 hours to turn natural-language statements and "
        "proofs into Lean 3.",
        rules=(
            full.MATH_HELDOUT_RULE,
            f"Start from `{GPT2_XS}` and keep its architecture; other open datasets are allowed "
            "in addition to the given one.",
            "The model must produce the formal text itself: no calls to external services at "
            "evaluation.",
        ),
        constraints=(_gpt2_xs_cap(),),
    )


NOT_GPT2_DECISION = Decision(
    topic="gpt2-xs in an image task",
    choice="the mini variant keeps the full task's image data and model freedom and scales "
    "the time budget to 8 hours",
    source="gpt2-xs is a language model and cannot classify images; the MLRB mini benchmark "
    "is otherwise built around it",
)


@task
def mini_budget_model_training() -> TaskSpec:
    """Budgeted ImageNet-100 training in 3 hours of an 8-hour session."""
    base = full.budget_model_training()
    return derive(
        base,
        title="Mini budgeted training: ImageNet-100 on 6 GB in 3 hours",
        summary="Train an ImageNet-100 classifier from scratch within 6 GB of GPU memory, 4 CPU "
        "cores and 3 hours of training, trading accuracy against inference time.",
        rules=base.rules,
        constraints=(
            base.constraints[0],
            MaxRuntimeConstraint(
                limit_s=3 * 3600,
                phase="training",
                description="the training run itself, not the whole session",
            ),
        ),
        decisions=(
            NOT_GPT2_DECISION,
            Decision(
                topic="training-time limit of the mini variant",
                choice="3 hours",
                source="the full task's 9 of 24 hours, scaled to the 8-hour session",
            ),
        ),
        assets=BUDGET_ASSETS,
    )


@task
def mini_budget_model_inference() -> TaskSpec:
    """Budgeted UltraMNIST digit-sum inference, 8-hour session."""
    base = full.budget_model_inference()
    return derive(
        base,
        title="Mini budgeted inference: summing UltraMNIST digits",
        summary="Within 8 hours, build a model and inference script that predict the digit sum "
        "of each UltraMNIST image, trading accuracy against inference time within 16 GB of GPU "
        "memory.",
        rules=base.rules,
        constraints=base.constraints,
        decisions=(NOT_GPT2_DECISION, MINI_NAME_DECISION),
        assets=BUDGET_ASSETS,
        aliases=("mini_budget_inference",),
    )
