"""Model size: total, trainable and non-trainable parameter counts."""

from __future__ import annotations

from typing import Any

from agent_contracts.results import MetricValue
from agent_eval.metrics.registry import MetricContext, metric, value
from agent_tasks.spec import MetricSpec


def count_parameters(model: Any) -> tuple[int, int]:
    """(total, trainable) parameters, each shared tensor counted once."""
    seen: set[int] = set()
    total = trainable = 0
    for param in model.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return total, trainable


@metric("parameters")
def parameters(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Total, trainable and non-trainable parameters (tied weights counted once)."""
    loaded = ctx.model()
    total, trainable = count_parameters(loaded.model)
    details: dict[str, Any] = {}
    if loaded.adapter_parameters is not None:
        details["adapter_parameters_before_merge"] = loaded.adapter_parameters
    return [
        value(mspec, "parameters", total, unit="count", direction="lower", **details),
        value(mspec, "parameters_trainable", trainable, unit="count", direction="lower"),
        value(
            mspec, "parameters_non_trainable", total - trainable, unit="count", direction="lower"
        ),
    ]
