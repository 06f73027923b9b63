"""Check a task's machine-checkable constraints against what was delivered.

Each constraint kind of the task spec (``agent_tasks.spec.Constraint``) has one checker here,
registered with :func:`checker` under the kind it checks, as metrics are registered under their
keys: ``(constraint, spec, context) -> ConstraintCheck``. A kind without a checker is recorded as
checked by the harness during the run, never as passed. Adding a constraint kind: its model in
``agent_tasks/spec.py`` (the union ``Constraint``) and its checker here; a test checks that
every kind of the union has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent_contracts.results import ConstraintCheck
from agent_eval.metrics.registry import MetricContext
from agent_tasks.spec import TaskSpec

Checker = Callable[[Any, TaskSpec, MetricContext], ConstraintCheck]
"""Checks one constraint (a model of ``agent_tasks.spec.Constraint``) of a task."""

CHECKERS: dict[str, Checker] = {}
"""Constraint kind -> its checker."""


def checker(kind: str) -> Callable[[Checker], Checker]:
    """Register the function that checks constraints of this ``kind``."""

    def register(function: Checker) -> Checker:
        if kind in CHECKERS:
            raise ValueError(f"constraint kind {kind!r} already has a checker")
        CHECKERS[kind] = function
        return function

    return register


def check_constraints(spec: TaskSpec, ctx: MetricContext) -> list[ConstraintCheck]:
    """One :class:`ConstraintCheck` per constraint of the spec (None where not checkable)."""
    checks: list[ConstraintCheck] = []
    for c in spec.constraints:
        check = CHECKERS.get(c.kind)
        checks.append(_by_the_harness(c) if check is None else check(c, spec, ctx))
    return checks


def _by_the_harness(c: Any) -> ConstraintCheck:
    return ConstraintCheck(
        kind=c.kind,
        limit=getattr(c, "limit_s", None),
        measured=None,
        passed=None,
        detail="checked by the harness during the run, not by the evaluator",
    )


def _not_loaded(c: Any) -> ConstraintCheck:
    return ConstraintCheck(
        kind=c.kind,
        limit=None,
        measured=None,
        passed=None,
        detail="not checked: the deliverable could not be loaded as a model",
    )


@checker("max_runtime_s")
def _max_runtime(c: Any, spec: TaskSpec, ctx: MetricContext) -> ConstraintCheck:
    """A test-run limit is measured on the evaluator's own re-run; others are the harness's."""
    if c.phase != "test_run" or ctx.code_run is None:
        return _by_the_harness(c)
    run = ctx.code_run.sandbox  # the evaluator's own re-run: measured here
    return ConstraintCheck(
        kind=c.kind,
        limit=c.limit_s,
        measured=round(run.wall_s, 3),
        passed=not run.timed_out and run.wall_s <= c.limit_s,
        detail=f"the evaluator's re-run in the {run.backend} sandbox",
    )


@checker("max_memory_gb")
def _max_memory(c: Any, spec: TaskSpec, ctx: MetricContext) -> ConstraintCheck:
    """The loaded model's inference peak; a code deliverable's re-run: its GPU peak as the
    driver reported it (``agent_contracts.gpu``), else unchecked (never passed)."""
    from agent_eval.metrics.memory import cached_peak

    if ctx.code_run is not None:
        return _rerun_memory(c, spec, ctx)
    if ctx.loaded is None:
        return _not_loaded(c)
    peak = cached_peak(ctx, c.device)
    # A model on a GPU runs in GPU memory: a limit stated for the CPU (a device's DRAM) is
    # judged on that peak. Only a GPU limit on a CPU run cannot be checked.
    applies = not (c.device == "gpu" and peak.device == "cpu")
    moved = c.device == "cpu" and peak.device == "gpu"
    return ConstraintCheck(
        kind=c.kind,
        limit=c.limit_gb,
        measured=round(peak.gb, 4),
        passed=peak.gb <= c.limit_gb if applies else None,
        detail=f"{peak.device} peak during inference on {peak.where} ({peak.method})"
        + (
            "; the limit is stated for CPU memory and the model ran on the GPU, so its GPU "
            "peak is judged"
            if moved
            else ""
        )
        + ("" if applies else f"; the limit is on {c.device} memory, not measured here"),
    )


def _rerun_memory(c: Any, spec: TaskSpec, ctx: MetricContext) -> ConstraintCheck:
    """A memory rule of a code task. A GPU (or any-device) rule is judged on a GPU peak the
    driver reported: for an inference rule, the evaluator's own re-run's; for a training rule,
    the agent's whole run's (recorded by the harness in run.json: the training ran inside it).
    Without such a peak, and for a host memory rule (the sandbox enforces the task's
    ``memory_gb`` itself), the rule is unchecked, never passed."""
    rerun = spec.evaluation.code_run
    given = rerun.gpus if rerun is not None else 0
    training = c.phase == "training"
    if training:
        peak = ctx.run.gpu_memory if ctx.run is not None else None
        where = "the agent's run (its training ran inside it)"
        missing = "no run.json records the run's GPU memory"
    else:
        peak = ctx.code_run.sandbox.gpu_memory
        where = "the evaluator's sandboxed re-run"
        missing = "the re-run's GPU memory was not sampled"
    if c.device != "cpu" and peak is not None and peak.peak_gb is not None:
        return ConstraintCheck(
            kind=c.kind,
            limit=c.limit_gb,
            measured=peak.peak_gb,
            passed=peak.peak_gb <= c.limit_gb,
            detail=f"GPU peak of {where}: {peak.method}",
        )
    if c.device == "cpu":
        why = f"the host memory of {where} is not measured"
    else:
        why = f"{peak.method} ({where})" if peak is not None else missing
    return ConstraintCheck(
        kind=c.kind,
        limit=c.limit_gb,
        measured=None,
        passed=None,
        detail=f"unchecked: {why}"
        + ("" if _has_gpu() else " (no GPU on this machine)")
        + ("" if training else f"; the task gives the re-run {given} GPU(s)"),
    )


@checker("allowed_dtypes")
def _allowed_dtypes(c: Any, spec: TaskSpec, ctx: MetricContext) -> ConstraintCheck:
    """The dtypes of the stored floating-point weights."""
    if ctx.weights is None:
        return _not_loaded(c)
    floats = sorted(d for d in ctx.weights.stored_dtypes if d.startswith(("float", "bfloat")))
    bad = [d for d in floats if d not in c.dtypes]
    return ConstraintCheck(
        kind=c.kind,
        limit=list(c.dtypes),
        measured=floats,
        passed=not bad,
        detail="dtypes of the stored floating-point weights"
        + (f"; not allowed: {', '.join(bad)}" if bad else ""),
    )


@checker("no_quantization")
def _no_quantization(c: Any, spec: TaskSpec, ctx: MetricContext) -> ConstraintCheck:
    """Signs of quantization in config.json, the weight dtypes and quantizer files."""
    if ctx.weights is None:
        return _not_loaded(c)
    signs = ctx.weights.quantization
    return ConstraintCheck(
        kind=c.kind,
        limit="no quantized weights",
        measured=signs or "none found",
        passed=not signs,
        detail="; ".join(signs)
        if signs
        else "config.json, weight dtypes and quantizer files inspected",
    )


@checker("max_parameters")
def _max_parameters(c: Any, spec: TaskSpec, ctx: MetricContext) -> ConstraintCheck:
    """The loaded model's total parameter count, tied weights once."""
    from agent_eval.metrics.size import count_parameters

    if ctx.loaded is None:
        return _not_loaded(c)
    total, _ = count_parameters(ctx.loaded.model)
    return ConstraintCheck(
        kind=c.kind,
        limit=c.limit,
        measured=total,
        passed=total <= c.limit,
        detail="total parameters, tied weights once",
    )


def _has_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
