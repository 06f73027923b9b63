"""Check a task's machine-checkable constraints against the delivered model."""

from __future__ import annotations

from typing import Any

from agent_eval.metrics.registry import MetricContext
from agent_eval.results import ConstraintCheck
from agent_tasks.spec import TaskSpec


def check_constraints(spec: TaskSpec, ctx: MetricContext) -> list[ConstraintCheck]:
    """One :class:`ConstraintCheck` per constraint of the spec (None where not checkable)."""
    from agent_eval.metrics.memory import cached_peak
    from agent_eval.metrics.size import count_parameters

    loaded: Any = ctx.loaded
    weights: Any = ctx.weights
    checks: list[ConstraintCheck] = []
    for c in spec.constraints:
        if c.kind == "max_runtime_s" and c.phase == "test_run" and ctx.code_run is not None:
            run = ctx.code_run.sandbox  # the evaluator's own re-run: measured here
            checks.append(
                ConstraintCheck(
                    kind=c.kind,
                    limit=c.limit_s,
                    measured=round(run.wall_s, 3),
                    passed=not run.timed_out and run.wall_s <= c.limit_s,
                    detail=f"the evaluator's re-run in the {run.backend} sandbox",
                )
            )
            continue
        if c.kind == "max_runtime_s":
            checks.append(
                ConstraintCheck(
                    kind=c.kind,
                    limit=c.limit_s,
                    measured=None,
                    passed=None,
                    detail="checked by the harness during the run, not by the evaluator",
                )
            )
            continue
        needs_model = c.kind in {"max_memory_gb", "max_parameters"}
        if (needs_model and loaded is None) or (not needs_model and weights is None):
            checks.append(
                ConstraintCheck(
                    kind=c.kind,
                    limit=None,
                    measured=None,
                    passed=None,
                    detail="not checked: the deliverable could not be loaded as a model",
                )
            )
            continue
        if c.kind == "max_memory_gb":
            peak = cached_peak(ctx, c.device)
            # A model on a GPU runs in GPU memory: a limit stated for the CPU (a device's DRAM)
            # is judged on that peak. Only a GPU limit on a CPU run cannot be checked.
            applies = not (c.device == "gpu" and peak.device == "cpu")
            moved = c.device == "cpu" and peak.device == "gpu"
            checks.append(
                ConstraintCheck(
                    kind=c.kind,
                    limit=c.limit_gb,
                    measured=round(peak.gb, 4),
                    passed=peak.gb <= c.limit_gb if applies else None,
                    detail=f"{peak.device} peak during inference on {peak.where} ({peak.method})"
                    + (
                        "; the limit is stated for CPU memory and the model ran on the GPU, so "
                        "its GPU peak is judged"
                        if moved
                        else ""
                    )
                    + (
                        "" if applies else f"; the limit is on {c.device} memory, not measured here"
                    ),
                )
            )
        elif c.kind == "allowed_dtypes":
            floats = sorted(d for d in weights.stored_dtypes if d.startswith(("float", "bfloat")))
            bad = [d for d in floats if d not in c.dtypes]
            checks.append(
                ConstraintCheck(
                    kind=c.kind,
                    limit=list(c.dtypes),
                    measured=floats,
                    passed=not bad,
                    detail="dtypes of the stored floating-point weights"
                    + (f"; not allowed: {', '.join(bad)}" if bad else ""),
                )
            )
        elif c.kind == "no_quantization":
            signs = weights.quantization
            checks.append(
                ConstraintCheck(
                    kind=c.kind,
                    limit="no quantized weights",
                    measured=signs or "none found",
                    passed=not signs,
                    detail="; ".join(signs)
                    if signs
                    else "config.json, weight dtypes and quantizer files inspected",
                )
            )
        elif c.kind == "max_parameters":
            total, _ = count_parameters(loaded.model)
            checks.append(
                ConstraintCheck(
                    kind=c.kind,
                    limit=c.limit,
                    measured=total,
                    passed=total <= c.limit,
                    detail="total parameters, tied weights once",
                )
            )
        else:
            checks.append(
                ConstraintCheck(
                    kind=c.kind,
                    limit=getattr(c, "limit_s", None),
                    measured=None,
                    passed=None,
                    detail="checked by the harness during the run, not by the evaluator",
                )
            )
    return checks
