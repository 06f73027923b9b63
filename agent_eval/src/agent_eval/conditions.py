"""The conditions a result was produced under, and whether they are the task's.

Read from the run record (GPUs, time limit, network, credentials, budget, agent image) and from
this process (device, GPU model and count, evaluator image, package versions), then judged
against :func:`agent_tasks.catalogue.required_conditions` (the task's resources and re-run,
and the run policy its benchmark declares): a result made under other conditions is recorded
with ``comparable: false`` and its reasons, shown but never ranked.
"""

from __future__ import annotations

import os
import re

from agent_contracts.results import Conditions, Environment
from agent_contracts.run_record import RunRecord
from agent_tasks.catalogue import required_conditions
from agent_tasks.spec import RequiredConditions, TaskSpec

IMAGE_ENV = "AGENT_EVAL_IMAGE"
"""The evaluator image this process runs in, as whoever started it names it (recorded only;
read here rather than through the settings, whose database fields a --no-db run never reads)."""
IMAGE_ID_ENV = "AGENT_EVAL_IMAGE_ID"
"""That image's id (``sha256:...``), recorded likewise."""


MAX_GRACE_S = 300
"""The longest grace period after the time limit's SIGTERM a comparable run may have: time to
save and stop (the harness gives 30 s unless told otherwise), not time to work on."""


def _gpu_count() -> int:
    """GPUs this process can see (0 without torch or CUDA)."""
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def _gpu_name() -> str | None:
    """The first visible GPU's model."""
    from agent_eval.environment import device_name

    return device_name("cuda:0")


def _run_gpus(run: RunRecord) -> int | None:
    """How many GPUs a run was given (``all``: as many as the driver named; None: ``all`` with
    no names, whose count run.json does not hold)."""
    gpus = run.gpus
    if isinstance(gpus, list):
        return len([g for g in gpus if g.strip()])
    text = gpus.strip()
    if text in {"", "none"}:
        return 0
    if text == "all":
        return len(run.gpu_models) or None
    return len([g for g in text.split(",") if g.strip()])


def same_gpu_class(wanted: str | None, model: str | None) -> bool:
    """True when the GPU the device reports (``NVIDIA A100-SXM4-80GB``) is of the class a task
    names (``A100``): the class as a word of the model name, case ignored; no class named is
    any GPU."""
    if not wanted:
        return True
    words = re.split(r"[^0-9a-z]+", (model or "").lower())
    return wanted.lower() in words


def _policy_reasons(need: RequiredConditions, conditions: Conditions) -> list[str]:
    """Where a run's network, credential mode and model budget leave its benchmark's policy
    (``agent_tasks.catalogue.CONDITIONS``, or the task's own ``run_policy``)."""
    reasons: list[str] = []
    if need.networks and conditions.network not in need.networks:
        had = (
            f"network {conditions.network!r}"
            if conditions.network is not None
            else f"this machine's network (its {conditions.run_runtime or 'local'!r} runtime "
            "records no container network)"
        )
        reasons.append(
            f"the agent had {had}; the benchmark ranks runs with network "
            + " or ".join(repr(n) for n in need.networks)
        )
    mode = conditions.credentials_mode
    if mode is not None and need.credentials and mode not in need.credentials:
        reasons.append(
            f"the agent reached its model API with credentials {mode!r}; the benchmark ranks "
            "runs with " + " or ".join(repr(c) for c in need.credentials)
        )
    cap = need.max_budget_usd
    if mode is not None and cap is not None:
        if conditions.budget_usd is None:
            reasons.append(
                f"the run had no model-API cost budget; the benchmark ranks runs of at most "
                f"${cap:g} (--budget-usd)"
            )
        elif conditions.budget_usd > cap:
            reasons.append(
                f"the run's model-API budget ${conditions.budget_usd:g} exceeds the "
                f"benchmark's ${cap:g}"
            )
    return reasons


def judge(spec: TaskSpec, conditions: Conditions) -> Conditions:
    """The conditions with ``comparable`` and ``reasons`` set against what the task declares."""
    need = required_conditions(spec)
    gpu = f"{need.run_gpus} {need.gpu_type} GPU" if need.gpu_type else f"{need.run_gpus} GPU"
    reasons: list[str] = []
    if need.evaluation_hardware == "gpu" and conditions.hardware != "gpu":
        reasons.append(
            "evaluated on CPU: the task's timed re-run is specified on a GPU"
            + (f" ({need.gpu_type})" if need.gpu_type else "")
        )
    elif need.evaluation_hardware == "gpu" and not same_gpu_class(
        need.gpu_type, conditions.gpu_model
    ):
        reasons.append(
            f"evaluated on {conditions.gpu_model or 'an unnamed GPU'}: the task's timed re-run "
            f"is specified on {need.gpu_type}"
        )
    if conditions.run_gpu_ids is not None:
        given = conditions.run_gpus
        trained_on = conditions.run_gpu_model
        if need.gpu_type and given != 0 and not trained_on:
            reasons.append(
                "the run's GPU model is not recorded (no nvidia-smi where the harness ran); "
                f"the task's limits are set for {need.gpu_type} GPUs"
            )
        elif (
            need.gpu_type
            and trained_on
            and not all(same_gpu_class(need.gpu_type, model) for model in trained_on.split(", "))
        ):
            reasons.append(
                f"the run was given {trained_on}; the task's limits are set for "
                f"{need.gpu_type} GPUs"
            )
        if given is None:
            reasons.append(
                "the run was given every GPU of its machine (--gpus all) and its record holds "
                f"no count; the task gives {gpu}{'s' if need.run_gpus != 1 else ''}"
            )
        elif given != need.run_gpus:
            reasons.append(
                f"the run was given {given or 'no'} GPU{'s' if given != 1 else ''}; "
                f"the task gives {gpu}{'s' if need.run_gpus != 1 else ''}"
            )
        if conditions.time_limit_s is not None and conditions.time_limit_s > need.time_limit_s:
            reasons.append(
                f"the run's time limit {conditions.time_limit_s} s exceeds the task's "
                f"{need.time_limit_s} s"
            )
        if conditions.grace_s is not None and conditions.grace_s > MAX_GRACE_S:
            reasons.append(
                f"the run's grace period {conditions.grace_s} s exceeds {MAX_GRACE_S} s (an "
                "agent that ignores the limit's SIGTERM works on through it)"
            )
        reasons.extend(_policy_reasons(need, conditions))
    elif need.has_policy:
        reasons.append(
            "no run record (run.json): the benchmark ranks runs by their network, credentials "
            "and model budget, which only a run's record shows"
        )
    return conditions.model_copy(
        update={
            "required": need.model_dump(mode="json"),
            "comparable": not reasons,
            "reasons": tuple(reasons),
        }
    )


def collect(spec: TaskSpec, run: RunRecord | None, environment: Environment) -> Conditions:
    """This evaluation's conditions, judged against the task's."""
    count = _gpu_count()
    on_gpu = environment.device.startswith("cuda")
    gpu_model = environment.device_name if on_gpu else None
    rerun = spec.evaluation.code_run
    if rerun is not None:  # what computed is the sandboxed re-run, given the task's GPUs
        on_gpu = 0 < rerun.gpus <= count
        gpu_model = _gpu_name() if on_gpu else None
    packages = {
        name: value
        for name, value in {
            "agent_eval": environment.evaluator_version,
            "torch": environment.torch_version,
            "transformers": environment.transformers_version,
            "lm_eval": environment.lm_eval_version,
            "python": environment.python_version,
        }.items()
        if value
    }
    facts = Conditions(
        hardware="gpu" if on_gpu else "cpu",
        gpu_model=gpu_model,
        gpu_count=count,
        evaluator_image=os.environ.get(IMAGE_ENV) or None,
        evaluator_image_id=os.environ.get(IMAGE_ID_ENV) or None,
        packages=packages,
    )
    if run is not None:
        limits = run.limits
        facts = facts.model_copy(
            update={
                "run_gpus": _run_gpus(run),
                "run_gpu_ids": run.gpus if isinstance(run.gpus, str) else ",".join(run.gpus),
                "run_gpu_model": ", ".join(dict.fromkeys(run.gpu_models)) or None,
                "run_runtime": run.runtime,
                "time_limit_s": limits.time_limit_s,
                "grace_s": limits.grace_s,
                "network": run.network,
                "credentials_mode": run.credentials_mode,
                "budget_tokens": limits.budget_tokens,
                "budget_usd": limits.budget_usd,
                "agent_image_digest": run.image_digest or run.image_id,
                "harness_version": run.harness_version or None,
            }
        )
    return judge(spec, facts)
