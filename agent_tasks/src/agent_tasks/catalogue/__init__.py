"""The benchmarks: which built-in tasks each one holds, in the order they are listed and run.

A built-in task is a folder ``agent_tasks/tasks/<name>/`` with its spec (``task.py``), its prompt
(``prompt.md``) and any starter files; the registry finds it there. A benchmark is the list of
its tasks' names below; the spec names its benchmark (``TaskSpec.benchmark``) and the registry
reports a task that is missing from its benchmark's list, or listed under another, as a problem
(``agent-tasks validate``). The modules beside this one hold what a benchmark's tasks share
(metric builders, datasets, decisions).
"""

from __future__ import annotations

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
