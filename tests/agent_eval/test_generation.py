"""Generation fits the model's context, and every generation is saved beside the results.

The task is the catalogue's own ``mini_math_reasoning`` (512 new tokens asked for) on a
gpt2-xs-shaped model with 256 positions, with held-out rows in the dataset's real schema.
BLEU and ROUGE-L are recomputed independently from the saved generations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.tiny_models import save_gpt2

from agent_eval.datasets import hf_split_path
from agent_eval.evaluate import EvalOptions, artifact_path, evaluate
from agent_eval.metrics.generation import generation_budget
from agent_tasks.registry import get_task

LONG_PROOF = " ".join(["By induction on n, using the successor case and simp."] * 40)


@pytest.mark.parametrize(
    ("context", "prompt", "asked", "expected"),
    [
        (256, 100, 100, (100, 100)),  # fits: nothing cut
        (256, 100, 512, (100, 156)),  # prompt kept whole, new tokens fill the rest
        (256, 200, 512, (128, 128)),  # new tokens keep half the context, prompt cut from the left
        (256, 900, 64, (192, 64)),  # a long prompt alone is cut
        (None, 900, 512, (900, 512)),  # no known limit (encoder-decoder)
    ],
)
def test_generation_budget(
    context: int | None, prompt: int, asked: int, expected: tuple[int, int]
) -> None:
    kept, new = generation_budget(context, prompt, asked)
    assert (kept, new) == expected
    if context is not None:
        assert kept + new <= context


def _gpt2_xs_shaped(folder: Path, tokenizer: Any) -> Path:
    return save_gpt2(folder, tokenizer, seed=1, config={"n_positions": 256})


@pytest.mark.parametrize("task", ["mini_math_reasoning", "math_reasoning"])
def test_math_reasoning_scores_on_a_256_position_model(
    task: str, tmp_path: Path, tiny_tokenizer: Any
) -> None:
    import sacrebleu
    from rouge_score import rouge_scorer

    spec = get_task(task)
    assert spec.primary_metric == "bleu"
    bleu_spec = next(m for m in spec.metrics if m.name == "bleu")
    assert int(bleu_spec.params["max_new_tokens"]) > 256  # what made it crash before
    held = spec.evaluation.datasets[0]
    rows = [
        {
            "name": f"thm{i}",
            "informal_statement": f"For every natural number n, n + {i} = {i} + n.",
            "informal_proof": LONG_PROOF if i == 0 else "Commutativity of addition.",
            "formal_proof": f"theorem thm{i} (n : ℕ) : n + {i} = {i} + n := nat.add_comm n {i}",
        }
        for i in range(3)
    ]
    data = tmp_path / "data"
    path = hf_split_path(data, held.id, held.config, str(bleu_spec.params["split"]))
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    model = _gpt2_xs_shaped(tmp_path / "model", tiny_tokenizer)
    outcome = evaluate(
        EvalOptions(
            model_args=str(model),
            task=spec.name,
            results_dir=tmp_path / "results",
            device="cpu",
            record=False,
            data_dir=data,
            metrics=["bleu", "rouge_l"],
        )
    )
    result = outcome.result
    assert result.status == "ok", result.errors
    bleu = result.metric("bleu")
    rouge = result.metric("rouge_l")
    assert bleu is not None and rouge is not None
    assert bleu.details["context_tokens"] == 256
    assert bleu.details["new_tokens_capped"] == 3
    assert bleu.details["prompts_truncated"] == 1  # only the long proof is cut
    (used,) = result.datasets  # provenance: the held-out rows, three of the spec's 400
    assert (used.id, used.split, used.revision) == (
        held.id,
        bleu_spec.params["split"],
        held.revision,
    )
    assert used.examples == 3 and used.full_examples == 400
    assert used.complete is False and result.data_subset is True
    assert set(used.used_by) == {"bleu", "rouge_l"}
    saved = artifact_path(outcome.path, "generations")
    assert saved.is_file()
    audit = [json.loads(line) for line in saved.read_text("utf-8").splitlines()]
    assert [a["reference"] for a in audit] == [r["formal_proof"] for r in rows]
    for entry in audit:
        assert entry["prompt_tokens_kept"] + entry["max_new_tokens"] <= 256
        assert entry["generated_tokens"] <= entry["max_new_tokens"]
    hyps = [a["hypothesis"] for a in audit]
    refs = [a["reference"] for a in audit]
    assert bleu.value == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    f1 = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs, strict=True)]
    assert rouge.value == pytest.approx(sum(f1) / len(f1))
