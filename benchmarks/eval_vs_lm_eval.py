"""Wall time of ``agent-eval`` against a plain ``lm-eval run`` on the same model and MMLU data.

Both score the same tiny GPT-2 on the same MMLU-format questions with lm-eval's own prompts:
``lm-eval run --tasks mmlu_<subject>,...`` reads a local ``cais/mmlu`` folder (the Hub layout)
from its working directory; ``agent-eval`` reads the same rows from its data folder. Runs
alternate (lm-eval, agent-eval, lm-eval, ...) so drift in machine load hits both alike. Prints
the median wall times, their ratio (target: agent-eval / lm-eval <= 0.6) and both accuracies.

Usage: python benchmarks/eval_vs_lm_eval.py [--rounds 3] [--questions 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SUBJECTS = ("anatomy", "astronomy", "college_biology")
BIN = Path(sys.executable).parent


def bpe_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` (no download), wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


def build_model(folder: Path) -> None:
    """A tiny random GPT-2 with a byte-level BPE tokenizer trained on a few sentences."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    text = [
        "The following are multiple choice questions (with answers) about science.",
        "Question: which organ pumps blood? Answer: A. Heart B. Liver C. Lung D. Skin",
    ]
    wrapped = bpe_tokenizer(text * 20, 500)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(wrapped),
        n_embd=64,
        n_layer=2,
        n_head=2,
        n_positions=256,
        bos_token_id=0,
        eos_token_id=0,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    wrapped.save_pretrained(folder)


def questions(subject: str, n: int) -> list[dict[str, Any]]:
    """``n`` synthetic questions in the cais/mmlu row schema."""
    rng = random.Random(subject)
    rows = []
    for _ in range(n):
        a, b = rng.randint(1, 50), rng.randint(1, 50)
        choices = [str(a + b), str(a * b), str(abs(a - b)), str(a + b + 1)]
        rng.shuffle(choices)
        rows.append(
            {
                "question": f"In {subject.replace('_', ' ')}, what is {a} plus {b}?",
                "subject": subject,
                "choices": choices,
                "answer": choices.index(str(a + b)),
            }
        )
    return rows


def lay_out(root: Path, n: int) -> tuple[Path, Path]:
    """(agent-eval data folder, lm-eval working folder with cais/mmlu) with the same rows."""
    import pandas as pd

    data, work = root / "data", root / "work"
    hub = work / "cais" / "mmlu"
    readme = ["---", "configs:"]
    for subject in SUBJECTS:
        rows = questions(subject, n)
        (data / "mmlu" / subject).mkdir(parents=True)
        for split, part in (("test", rows), ("dev", rows[:5])):
            (data / "mmlu" / subject / f"{split}.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in part), encoding="utf-8"
            )
            (hub / subject).mkdir(parents=True, exist_ok=True)
            pd.DataFrame(part).to_parquet(hub / subject / f"{split}-00000-of-00001.parquet")
        readme += [
            f"- config_name: {subject}",
            "  data_files:",
            "  - split: test",
            f"    path: {subject}/test-*",
            "  - split: dev",
            f"    path: {subject}/dev-*",
        ]
    (hub / "README.md").write_text("\n".join([*readme, "---", ""]), encoding="utf-8")
    return data, work


PLUGIN = """
from agent_tasks.spec import TaskSpec

def specs():
    return [TaskSpec.model_validate({{
        "name": "bench_mmlu", "benchmark": "bench", "title": "bench", "summary": "bench",
        "prompt": "bench", "version": "1.0.0", "resources": {{"gpus": 0, "time_limit_s": 60}},
        "deliverable": {{"kind": "hf_model", "description": "model"}},
        "metrics": [{{"name": "mmlu", "label": "MMLU", "direction": "higher",
                     "params": {{"tasks": "{tasks}", "num_fewshot": 0, "batch_size": 8}}}}],
        "primary_metric": "mmlu", "anchors": {{"source": "bench"}}}})]
"""


def register_tasks(root: Path, module: str, source: str) -> Path:
    """A folder for PYTHONPATH holding ``module`` (with ``source``), registered as an installed
    task plugin (an ``agent_tasks.tasks`` entry point to ``module:specs``)."""
    site = root / f"site-{module}"
    site.mkdir()
    (site / f"{module}.py").write_text(source, encoding="utf-8")
    dist = site / f"{module}-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text(f"[agent_tasks.tasks]\n{module} = {module}:specs\n")
    return site


def plugin_path(root: Path) -> Path:
    """A folder on PYTHONPATH that registers the benchmark task as an installed plugin."""
    tasks = ",".join(f"mmlu_{s}" for s in SUBJECTS)
    return register_tasks(root, "bench_tasks", PLUGIN.format(tasks=tasks))


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Run a command; (wall seconds, stdout). Fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def lm_eval_accuracy(folder: Path) -> float:
    """Mean accuracy over the subjects (equal sizes) from lm-eval's newest results file."""
    newest = max(folder.rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
    results = json.loads(newest.read_text(encoding="utf-8"))["results"]
    return statistics.mean(results[f"mmlu_{s}"]["acc,none"] for s in SUBJECTS)


def main() -> None:
    """Build, run alternately, print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--questions", type=int, default=10, help="per subject")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlrb-bench-") as tmp:
        root = Path(tmp)
        model = root / "model"
        build_model(model)
        data, work = lay_out(root, args.questions)
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "AGENT_EVAL_DATA_DIR": str(data),
            "PYTHONPATH": str(plugin_path(root)),
            "TOKENIZERS_PARALLELISM": "false",
            # A fresh datasets cache: offline, lm-eval would otherwise reuse rows an earlier
            # run cached under the name cais/mmlu, whatever the questions are now.
            "HF_DATASETS_CACHE": str(root / "datasets_cache"),
        }
        results = root / "results"
        ours = [
            str(BIN / "agent-eval"),
            "--model_args",
            str(model),
            "--task",
            "bench_mmlu",
            "--no-db",
            "--device",
            "cpu",
            "--json",
            "--results-dir",
            str(results),
        ]
        theirs = [
            str(BIN / "lm-eval"),
            "run",
            "--model",
            "hf",
            "--model_args",
            f"pretrained={model}",
            "--tasks",
            ",".join(f"mmlu_{s}" for s in SUBJECTS),
            "--batch_size",
            "8",
            "--device",
            "cpu",
            "--num_fewshot",
            "0",
            "--output_path",
            str(root / "lm_out"),
        ]
        times: dict[str, list[float]] = {"lm_eval": [], "agent_eval": []}
        acc: dict[str, float] = {}
        for _ in range(args.rounds):
            t, _ = timed(theirs, env, work)
            times["lm_eval"].append(t)
            t, out_ours = timed(ours, env, work)
            times["agent_eval"].append(t)
            acc["agent_eval"] = json.loads(out_ours)["metrics"][0]["value"]
            acc["lm_eval"] = lm_eval_accuracy(root / "lm_out")
        median = {k: statistics.median(v) for k, v in times.items()}
        report = {
            "rounds": args.rounds,
            "questions": args.questions * len(SUBJECTS),
            "subjects": list(SUBJECTS),
            "wall_s": times,
            "median_s": median,
            "ratio_agent_eval_over_lm_eval": median["agent_eval"] / median["lm_eval"],
            "mmlu_accuracy": acc,
            "cpu_count": os.cpu_count(),
        }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
