"""Builders of the leaderboard tests: task specs with anchors, evaluations, the MLRC-Bench paper.

Shared by every leaderboard, import and page test.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent_contracts.results import (
    AgentInfo,
    ConstraintCheck,
    Environment,
    EvaluationResult,
    MetricValue,
    ModelInfo,
)
from agent_eval.leaderboard import builtin_path
from agent_eval.scores import score
from agent_tasks.spec import (
    DeliverableSpec,
    MetricSpec,
    Resources,
    ScoreAnchors,
    TaskSpec,
)
from support.store import ranked_conditions

PAPER_TASKS = {
    # catalogue name: (upstream alias, title, top human % over baseline, test baseline)
    "mlrc_temporal_action_loc": (
        "perception_temporal_action_loc",
        "Temporal Action Loc",
        284.6,
        0.1264,
    ),
    "mlrc_llm_merging": ("llm-merging", "LLM Merging", 68.2, 0.4933),
    "mlrc_meta_learning": ("meta-learning", "Meta Learning", 304.5, 0.1728),
    "mlrc_product_recommendation": ("product-recommendation", "Product Rec", 412.6, 0.0804),
    "mlrc_rainfall_prediction": ("weather_forcast", "Rainfall Prediction", 212.0, None),
    "mlrc_machine_unlearning": ("machine_unlearning", "Machine Unlearning", 61.9, 0.0609),
    "mlrc_backdoor_trigger_recovery": (
        "backdoor-trigger-recovery",
        "Backdoor Trigger",
        621.3,
        9.37,
    ),
}


def make_spec(
    name: str,
    benchmark: str = "mlrc_bench",
    *,
    title: str | None = None,
    baseline: float | None = 0.5,
    reference: float | None = None,
    improvement_pct: float | None = 100.0,
    direction: str = "higher",
    chance: float | None = None,
    aliases: tuple[str, ...] = (),
) -> TaskSpec:
    """A minimal valid task spec with the anchors asked for."""
    return TaskSpec(
        name=name,
        benchmark=benchmark,
        title=title or name.replace("_", " ").title(),
        summary=f"Summary of {name}.",
        prompt=f"# {name}\n\nDo the task.",
        version="1.0.0",
        resources=Resources(gpus=1, gpu_memory_gb=16, time_limit_s=1800),
        deliverable=DeliverableSpec(kind="method", path="method", description="A method."),
        metrics=(
            MetricSpec(
                name="score",
                label="Score",
                direction=direction,
                chance=chance,
            ),
        ),
        primary_metric="score",
        anchors=ScoreAnchors(
            baseline=baseline,
            reference=reference,
            reference_improvement_pct=improvement_pct if reference is None else None,
            source="test anchors",
        ),
        competition_url=f"https://example.org/{name}",
        aliases=aliases,
    )


def paper_specs() -> list[TaskSpec]:
    """The seven MLRC-Bench tasks with the paper's anchors and upstream aliases."""
    return [
        make_spec(
            name,
            title=title,
            baseline=base if base is not None else 1.0,
            improvement_pct=top,
            aliases=(alias,),
        )
        for name, (alias, title, top, base) in PAPER_TASKS.items()
    ]


_T0 = datetime(2025, 1, 1, tzinfo=UTC)


def evaluation(
    spec: TaskSpec,
    raw: float | None,
    *,
    agent: str = "agent-a",
    model: str | None = None,
    run_id: str | None = None,
    status: str = "ok",
    minutes: int = 0,
    constraint_ok: bool = True,
) -> EvaluationResult:
    """A results record of one evaluation of ``spec`` with primary value ``raw``."""
    when = _T0 + timedelta(minutes=minutes)
    metrics = (
        ()
        if raw is None
        else (
            MetricValue(
                name=spec.primary_metric,
                value=raw,
                direction=spec.primary.direction,
                source=spec.primary_metric,
            ),
        )
    )
    return EvaluationResult(
        evaluation_id=uuid.uuid4().hex,
        run_id=run_id,
        task=spec.name,
        benchmark=spec.benchmark,
        task_version=spec.version,
        agent=AgentInfo(label=agent, model=model, provider="openai" if model else None),
        model=ModelInfo(path="/model", format="method"),
        status=status,
        metrics=metrics,
        primary_metric=spec.primary_metric,
        score=score(spec, raw) if raw is not None else None,
        constraints=(
            ()
            if constraint_ok
            else (ConstraintCheck(kind="max_runtime_s", limit=10, measured=20, passed=False),)
        ),
        environment=Environment(
            evaluator_version="0.1.0", python_version="3.11", platform="linux", device="cpu"
        ),
        conditions=ranked_conditions(spec.name),
        started_at=when,
        finished_at=when + timedelta(seconds=30),
        duration_s=30.0,
    )


def raw_for(spec: TaskSpec, relative: float) -> float:
    """The raw value whose normalised score is ``relative``."""
    base, ref = spec.anchors.baseline, spec.anchors.reference_value
    assert base is not None and ref is not None
    return base + relative / 100.0 * (ref - base)


def paper_reference_data() -> dict[str, Any]:
    """The shipped MLRC-Bench paper reference file, parsed."""
    return json.loads(Path(builtin_path("mlrc_bench_paper")).read_text(encoding="utf-8"))


# The published averages of the MLRC-Bench paper: agent -> (relative, absolute).
PAPER_AVERAGES = {
    "MLAB (gemini-exp-1206)": (9.3, 25.0),
    "MLAB (llama3-1-405b-instruct)": (6.3, 18.3),
    "MLAB (o3-mini)": (4.2, 11.5),
    "MLAB (claude-3-5-sonnet-v2)": (-5.2, 31.9),
    "MLAB (gpt-4o)": (5.4, 20.6),
    "Human Idea + MLAB (gpt-4o)": (3.5, 11.4),
    "CoI-Agent (o1) + MLAB (gpt-4o)": (7.1, 14.5),
}
