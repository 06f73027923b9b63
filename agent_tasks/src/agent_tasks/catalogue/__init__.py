"""The benchmarks: which built-in tasks each one holds, in the order they are listed and run.

A built-in task is a folder ``agent_tasks/tasks/<name>/`` with its spec (``task.py``), its prompt
(``prompt.md``) and any starter files; the registry finds it there. A benchmark is the list of
its tasks' names below; the spec names its benchmark (``TaskSpec.benchmark``) and the registry
reports a task that is missing from its benchmark's list, or listed under another, as a problem
(``agent-tasks validate``). Each benchmark also declares the run conditions it ranks
(``CONDITIONS``): a result whose run had another network, credential mode or model budget is
recorded as not comparable and is not ranked. The modules beside this one hold what a
benchmark's tasks share (metric builders, datasets, decisions).
"""

from __future__ import annotations

from agent_tasks.spec import ANY_RUN, RequiredConditions, RunPolicy, TaskSpec

BENCHMARKS: dict[str, tuple[str, ...]] = {
    "full_benchmark": (
        "llm_efficiency",
        "baby_lm",
        "mini_pile",
        "llm_merging",
        "edge_llm_compression",
        "edge_llm_training",
        "math_reasoning",
        "budget_model_training",
        "budget_model_inference",
    ),
    "mini_benchmark": (
        "mini_llm_efficiency",
        "mini_baby_lm",
        "mini_mini_pile",
        "mini_llm_merging",
        "mini_edge_llm_compression",
        "mini_edge_llm_training",
        "mini_math_reasoning",
        "mini_budget_model_training",
        "mini_budget_model_inference",
    ),
    "smoke": ("tiny_lm", "digit_sums", "digit_method"),
    "mlrc_bench": (
        "mlrc_llm_merging",
        "mlrc_backdoor_trigger_recovery",
        "mlrc_temporal_action_loc",
        "mlrc_rainfall_prediction",
        "mlrc_machine_unlearning",
        "mlrc_product_recommendation",
        "mlrc_meta_learning",
    ),
}
"""Benchmark name -> its built-in tasks' names, in order."""

CONTAINED = RunPolicy(
    networks=("none",),
    credentials=("proxy",),
    source="the agent runs in a container with no network and reaches its model API only "
    "through the harness's proxy, so every call is recorded and held to the run's budget; "
    "an agent with the real key or an open network could fetch hidden test data or spend "
    "without a record, so such a run is not comparable",
)
"""What the research benchmarks rank: contained runs, every model call through the proxy."""

MLRC_API_BUDGET_USD = 10.0
"""MLRC-Bench's model-API budget per trial ($10; the rainfall task's $20 is its own)."""

CONDITIONS: dict[str, RunPolicy] = {
    "full_benchmark": CONTAINED,
    "mini_benchmark": CONTAINED,
    "smoke": RunPolicy(
        source="the smoke tasks check the harness and the evaluator on any machine: runs of "
        "any runtime (a local process included), network, credentials and budget are ranked"
    ),
    "mlrc_bench": CONTAINED.model_copy(
        update={
            "max_budget_usd": MLRC_API_BUDGET_USD,
            "source": CONTAINED.source + "; MLRC-Bench gives each trial $10 of API calls "
            "(arXiv 2504.09702), so a run with a larger or no cost budget is not comparable",
        }
    ),
}
"""Benchmark name -> the run conditions it ranks (a benchmark not named here: any)."""


def required_conditions(spec: TaskSpec) -> RequiredConditions:
    """What a run and its evaluation must meet for a task's scores to be ranked together: its
    resources, its code re-run's hardware, and the run policy it or its benchmark declares."""
    rerun = spec.evaluation.code_run
    policy = spec.run_policy or CONDITIONS.get(spec.benchmark, ANY_RUN)
    return RequiredConditions(
        run_gpus=spec.resources.gpus,
        gpu_type=spec.resources.gpu_type,
        time_limit_s=spec.resources.time_limit_s,
        evaluation_hardware="gpu" if rerun is not None and rerun.gpus > 0 else "any",
        networks=policy.networks,
        credentials=policy.credentials,
        max_budget_usd=policy.max_budget_usd,
    )
