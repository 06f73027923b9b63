"""SuperGLUE: every subtask of super-glue-lm-eval-v1 scores offline beside transformers 5.

ReCoRD's lm-eval code imports ``transformers.data.metrics`` (gone in transformers 5); the
evaluator runs it with its own copies of the task functions. The values are checked against an
independent computation from the model's own log-likelihoods of each choice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent_eval.lm_eval_tasks import lm_eval_tasks_dir
from agent_eval.loading import LoadedModel, load, resolve_deliverable
from agent_eval.metrics.lm_eval_adapter import SUPERGLUE_TASKS
from agent_eval.metrics.registry import MetricContext, get_metric
from agent_eval.metrics.superglue_record import (
    FUNCTIONS,
    chance_em,
    compute_exact,
    compute_f1,
    normalize_answer,
)
from agent_tasks.spec import MetricSpec


@pytest.fixture(scope="module")
def loaded(tiny_gpt2_dir: Path) -> LoadedModel:
    return load(resolve_deliverable(str(tiny_gpt2_dir)), device="cpu")


def _rows(root: Path, config: str) -> list[dict[str, Any]]:
    path = root / "superglue" / config / "validation.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def _logprob(loaded: LoadedModel, context: str, continuation: str) -> float:
    """Sum of log p(continuation | context), tokenised as lm-eval's HFLM does."""
    import torch

    tok = loaded.tokenizer
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    ctx_ids = tok(context, add_special_tokens=False)["input_ids"]
    cont = whole[len(ctx_ids) :]
    ids = torch.tensor([whole])
    with torch.inference_mode():
        logits = loaded.model(ids).logits.log_softmax(-1)[0]
    start = len(whole) - len(cont)
    return float(sum(logits[start + i - 1, t] for i, t in enumerate(cont)))


def _record_em(loaded: LoadedModel, rows: list[dict[str, Any]]) -> float:
    """ReCoRD exact match, independently: best candidate by log-likelihood vs the answers."""
    total = 0.0
    for row in rows:
        initial, *highlights = row["passage"].strip().split("\n@highlight\n")
        context = initial + "\n\n" + "".join(f"  - {h}.\n" for h in highlights)
        entities = sorted(set(row["entities"]))
        scores = [
            _logprob(loaded, context, " " + f"  - {row['query']}".replace("@placeholder", e))
            for e in entities
        ]
        pick = entities[max(range(len(scores)), key=lambda i: (scores[i], -i))]
        total += max(float(normalize_answer(pick) == normalize_answer(a)) for a in row["answers"])
    return total / len(rows)


def _boolq_acc(loaded: LoadedModel, rows: list[dict[str, Any]]) -> float:
    hits = 0
    for row in rows:
        context = f"{row['passage']}\nQuestion: {row['question']}?\nAnswer:"
        scores = [_logprob(loaded, context, f" {c}") for c in ("no", "yes")]
        hits += int(max(range(2), key=lambda i: (scores[i], -i)) == row["label"])
    return hits / len(rows)


def test_every_subtask_scores_and_agrees_with_an_independent_computation(
    loaded: LoadedModel, eval_data_dir: Path, make_spec: Any
) -> None:
    glue = MetricSpec(
        name="superglue",
        label="SuperGLUE",
        direction="higher",
        params={"tasks": "super-glue-lm-eval-v1", "num_fewshot": 0, "batch_size": 2},
    )
    spec = make_spec("glue", [glue.model_dump()])
    ctx = MetricContext(spec=spec, data_dir=eval_data_dir, loaded=loaded)
    got = {v.name: v for v in get_metric("superglue").function(ctx, glue)}
    assert set(got) == {"superglue", *(f"superglue_{n}" for n in SUPERGLUE_TASKS)}
    subtasks = [got[f"superglue_{n}"].value for n in SUPERGLUE_TASKS]
    assert all(0.0 <= v <= 1.0 for v in subtasks)
    assert got["superglue"].value == pytest.approx(sum(subtasks) / len(subtasks))
    assert got["superglue_record"].details["metric"] == "em"
    assert got["superglue_record"].value >= 1 / 3  # the third row has only right candidates
    assert got["superglue_record"].value == pytest.approx(
        _record_em(loaded, _rows(eval_data_dir, "record"))
    )
    assert got["superglue_boolq"].value == pytest.approx(
        _boolq_acc(loaded, _rows(eval_data_dir, "boolq"))
    )
    # The chance level averages the same eight tasks: 1/k for accuracy, and ReCoRD's expected
    # exact match of a random candidate: row 1 has 4 distinct entities, 1 right; row 2 has 3,
    # 2 right ("Egypt", and "Sudan" = "the Sudan" once articles are dropped); row 3: all right.
    per = got["superglue"].details["chance_per_task"]
    record_chance = (1 / 4 + 2 / 3 + 1) / 3
    assert per["record"] == pytest.approx(record_chance)
    assert per["cb"] == pytest.approx(1 / 3)
    assert set(per) == set(SUPERGLUE_TASKS)
    expected = (6 * 0.5 + 1 / 3 + record_chance) / 8
    assert got["superglue"].details["chance"] == pytest.approx(expected)


def test_chance_is_scored_against_what_was_averaged(make_spec: Any) -> None:
    """A value exactly at the measured chance level normalises to 0."""
    from agent_eval.scores import score

    spec = make_spec(
        "glue_score",
        [{"name": "superglue", "chance": 0.5}],
        anchors={"source": "t", "baseline": 0.5, "reference": 0.9, "baseline_is_chance": True},
    )
    measured = 0.31
    got = score(spec, measured, measured_chance=measured)
    assert got.normalised == pytest.approx(0.0)
    assert got.baseline == pytest.approx(measured)
    assert score(spec, 0.9, measured_chance=measured).normalised == pytest.approx(100.0)
    plain = make_spec("plain", [{"name": "superglue", "chance": 0.5}])
    assert score(plain, 0.31, measured_chance=0.31).normalised == pytest.approx(0.0)


def test_squad_scoring_matches_hand_computed_values() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert compute_exact("the Sudan", "Sudan") == 1
    assert compute_exact("Sudan", "Sudanese") == 0
    # "new york city" vs "york": 1 common token, precision 1, recall 1/3 -> F1 0.5
    assert compute_f1("New York City", "york") == pytest.approx(0.5)
    assert compute_f1("", "") == 1.0 and compute_f1("a", "x") == 0.0
    assert chance_em([{"entities": ["A", "B"], "answers": ["a"], "passage": "", "query": ""}]) == (
        pytest.approx(0.5)
    )


def test_lm_evals_record_file_still_matches_what_we_replace() -> None:
    """Fails when the installed lm-eval's ReCoRD task changes shape (re-check this module)."""
    import re

    text = (lm_eval_tasks_dir() / "super_glue" / "record" / "default.yaml").read_text("utf-8")
    named = set(re.findall(r"!function\s+util\.(\w+)", text))
    assert named == set(FUNCTIONS)
    assert "output_type: multiple_choice" in text and "metric: em" in text
    util = (lm_eval_tasks_dir() / "super_glue" / "record" / "util.py").read_text("utf-8")
    assert "transformers.data.metrics" in util, "lm-eval no longer needs the replacement"
    with pytest.raises(ImportError):
        import transformers.data.metrics.squad_metrics  # noqa: F401


@pytest.mark.parametrize(
    "task", ["mini_pile", "edge_llm_training", "mini_mini_pile", "mini_edge_llm_training"]
)
def test_superglue_tasks_score_end_to_end(
    task: str, tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path
) -> None:
    """The catalogue task, its primary metric only: a score against the measured chance."""
    from agent_eval.evaluate import EvalOptions, evaluate
    from agent_tasks.registry import get_task

    spec = get_task(task)
    assert spec.primary_metric == "superglue"
    outcome = evaluate(
        EvalOptions(
            model_args=str(tiny_gpt2_dir),
            task=task,
            results_dir=tmp_path / "results",
            device="cpu",
            record=False,
            data_dir=eval_data_dir,
            metrics=["superglue"],
        )
    )
    result = outcome.result
    assert result.status == "ok", result.errors
    loaded = load(resolve_deliverable(str(tiny_gpt2_dir)), device="cpu")
    record = result.metric("superglue_record")
    boolq = result.metric("superglue_boolq")
    head = result.metric("superglue")
    assert record is not None and boolq is not None and head is not None
    assert record.value == pytest.approx(_record_em(loaded, _rows(eval_data_dir, "record")))
    assert boolq.value == pytest.approx(_boolq_acc(loaded, _rows(eval_data_dir, "boolq")))
    subtasks = [result.metric(f"superglue_{n}") for n in SUPERGLUE_TASKS]
    assert head.value == pytest.approx(sum(v.value for v in subtasks if v) / len(SUPERGLUE_TASKS))
    chance = (6 * 0.5 + 1 / 3 + chance_em(_rows(eval_data_dir, "record"))) / 8
    assert result.score is not None
    assert result.score.baseline == pytest.approx(chance)
    top = result.score.reference
    assert top is not None
    assert result.score.normalised == pytest.approx((head.value - chance) / (top - chance) * 100)
    assert result.data_subset is True  # a handful of rows, not the validation splits
