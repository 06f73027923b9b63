"""The evaluator's speed on a GPT-2-small-sized model: tokens/s, latency, memory, MMLU wall time.

Builds a GPT-2 with the default (small) architecture, 124,439,808 parameters, random weights
(timing does not depend on them), and MMLU-format questions in the evaluator's data layout, then
runs the real ``agent-eval`` twice: once for ``generation_speed`` and ``peak_memory``, once for
``mmlu`` alone (its wall time includes loading the model). Prints the figures with the device the
evaluator recorded.

Usage: python benchmarks/eval_gpu.py [--device cuda] [--questions 100] [--json out.json]
(``--device cpu`` checks the script itself on a machine without a GPU.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eval_vs_lm_eval import BIN, SUBJECTS, bpe_tokenizer, lay_out, register_tasks, timed

MMLU_TASKS = ",".join(f"mmlu_{s}" for s in SUBJECTS)

TASK = """
from agent_tasks.spec import TaskSpec

def specs():
    metrics = [
        {{"name": "generation_speed", "label": "speed", "direction": "higher",
          "params": {{"prompt_tokens": 128, "new_tokens": 128, "repeats": 5, "warmup": 2}}}},
        {{"name": "peak_memory", "label": "memory", "direction": "lower"}},
        {{"name": "mmlu", "label": "MMLU", "direction": "higher",
          "params": {{"tasks": "{tasks}", "num_fewshot": 0, "batch_size": 8}}}},
    ]
    return [TaskSpec.model_validate({{
        "name": "gpu_bench", "benchmark": "bench", "title": "bench", "summary": "bench",
        "prompt": "bench", "version": "1.0.0", "resources": {{"gpus": 1, "time_limit_s": 60}},
        "deliverable": {{"kind": "hf_model", "description": "model"}},
        "metrics": metrics, "primary_metric": "mmlu", "anchors": {{"source": "bench"}}}})]
"""


def build_gpt2_small(folder: Path) -> int:
    """GPT-2 small (default config) with random weights and a small BPE tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    text = ["The following are multiple choice questions (with answers) about science."]
    tokenizer = bpe_tokenizer(text * 20, 400)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(bos_token_id=0, eos_token_id=0))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return int(model.num_parameters())


def run(model: Path, metrics: str, device: str, results: Path, env: dict[str, str]) -> Any:
    """One ``agent-eval`` call; (wall seconds, the results JSON)."""
    before = set(results.glob("*.json")) if results.is_dir() else set()
    cmd = [
        str(BIN / "agent-eval"),
        "--model_args",
        str(model),
        "--task",
        "gpu_bench",
        "--metrics",
        metrics,
        "--device",
        device,
        "--no-db",
        "--results-dir",
        str(results),
    ]
    wall, _ = timed(cmd, env, results.parent)
    (new,) = set(results.glob("*.json")) - before
    return wall, json.loads(new.read_text(encoding="utf-8"))


def main() -> None:
    """Build, run, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--questions", type=int, default=100, help="per subject (3 subjects)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlrb-gpu-bench-") as tmp:
        root = Path(tmp)
        model = root / "gpt2-small"
        params = build_gpt2_small(model)
        data, _ = lay_out(root, args.questions)
        env = {
            **os.environ,
            "AGENT_EVAL_DATA_DIR": str(data),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(
                [
                    str(register_tasks(root, "gpu_bench_tasks", TASK.format(tasks=MMLU_TASKS))),
                    os.environ.get("PYTHONPATH", ""),
                ]
            ),
        }
        results = root / "results"
        start = time.perf_counter()
        speed_wall, speed = run(model, "generation_speed,peak_memory", args.device, results, env)
        mmlu_wall, mmlu = run(model, "mmlu", args.device, results, env)
        values = {m["name"]: m["value"] for r in (speed, mmlu) for m in r["metrics"]}
        report = {
            "device": speed["environment"]["device"],
            "device_name": speed["environment"]["device_name"],
            "dtype": speed["environment"]["dtype"],
            "parameters": params,
            "tokens_per_s": values.get("generation_speed"),
            "ttft_ms": values.get("generation_speed_ttft_ms"),
            "latency_ms_median": values.get("generation_speed_latency_ms_median"),
            "latency_ms_p90": values.get("generation_speed_latency_ms_p90"),
            "peak_memory_gb": values.get("peak_memory"),
            "speed_and_memory_wall_s": round(speed_wall, 2),
            "mmlu_questions": args.questions * len(SUBJECTS),
            "mmlu_wall_s": round(mmlu_wall, 2),
            "mmlu_accuracy": values.get("mmlu"),
            "total_s": round(time.perf_counter() - start, 2),
        }
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.exit(0)


if __name__ == "__main__":
    main()
