"""SuperGLUE: every subtask of super-glue-lm-eval-v1 scores offline beside transformers 5.

ReCoRD's lm-eval code imports ``transformers.data.metrics`` (gone in transformers 5); the
evaluator runs it with its own copies of the task functions. The values are checked against an
independent computation from the model's own log-likelihoods of each choice: every subtask's
prompt, choices and gold answer are written out here by hand from lm-eval 0.4's task files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from support.tiny_models import save_gpt2

from agent_eval.datasets import write_jsonl
from agent_eval.deliverable_check import resolve_deliverable
from agent_eval.lm_eval_tasks import lm_eval_tasks_dir
from agent_eval.loading import LoadedModel, load
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


def _boolq(row: dict[str, Any]) -> tuple[str, list[str], int]:
    context = f"{row['passage']}\nQuestion: {row['question']}?\nAnswer:"
    return context, [" no", " yes"], row["label"]


def _cb(row: dict[str, Any]) -> tuple[str, list[str], int]:
    context = f"{row['premise']}\nQuestion: {row['hypothesis']}. True, False, or Neither?\nAnswer:"
    return context, [" True", " False", " Neither"], row["label"]


def _copa(row: dict[str, Any]) -> tuple[str, list[str], int]:
    # The premise loses its full stop and gains a connective; each choice is lower-cased at its
    # first letter and carries its own leading space, after the usual one (two spaces in all).
    connective = {"cause": "because", "effect": "therefore"}[row["question"]]
    context = f"{row['premise'].strip()[:-1]} {connective}"
    choices = [f"  {c[0].lower()}{c[1:]}" for c in (row["choice1"], row["choice2"])]
    return context, choices, row["label"]


def _multirc(row: dict[str, Any]) -> tuple[str, list[str], int]:
    # label 1: the answer is right, so its gold is "... yes" (lm-eval 0.4's own task file lists
    # "yes" first and would make it "no"; the evaluator corrects that order).
    context = f"{row['paragraph']}\nQuestion: {row['question']}\nAnswer:"
    asked = f" {row['answer']}\nIs the answer correct?"
    return context, [f"{asked} no", f"{asked} yes"], row["label"]


def _rte(row: dict[str, Any]) -> tuple[str, list[str], int]:
    context = f"{row['premise']}\nQuestion: {row['hypothesis']} True or False?\nAnswer:"
    return context, [" True", " False"], row["label"]


def _wic(row: dict[str, Any]) -> tuple[str, list[str], int]:
    word = row["sentence1"][row["start1"] : row["end1"]]
    context = (
        f"Sentence 1: {row['sentence1']}\nSentence 2: {row['sentence2']}\n"
        f"Question: Is the word '{word}' used in the same way in the two sentences above?\n"
        "Answer:"
    )
    return context, [" no", " yes"], row["label"]


def _wsc(row: dict[str, Any]) -> tuple[str, list[str], int]:
    # The pronoun (word span2_index of the text) is starred in the passage.
    words = row["text"].split(" ")
    assert words[row["span2_index"]] == row["span2_text"]
    words[row["span2_index"]] = f"*{row['span2_text']}*"
    passage = " ".join(words)
    assert not re.search(r" [',.]|n't|[()\"]", passage), "lm-eval would detokenise this row"
    context = (
        f"Passage: {passage}\nQuestion: In the passage above, does the pronoun "
        f'"*{row["span2_text"]}*" refer to "*{row["span1_text"]}*"?\nAnswer:'
    )
    return context, [" no", " yes"], row["label"]


PROMPTS: dict[str, Callable[[dict[str, Any]], tuple[str, list[str], int]]] = {
    "boolq": _boolq,
    "cb": _cb,
    "copa": _copa,
    "multirc": _multirc,
    "sglue_rte": _rte,
    "wic": _wic,
    "wsc": _wsc,
}
"""lm-eval task -> (context, continuations, gold index) of a row, written out from lm-eval
0.4's super_glue task files: zero-shot, each choice after a one-space target delimiter."""


def _accuracy(loaded: LoadedModel, task: str, rows: list[dict[str, Any]]) -> float:
    """Share of rows whose most likely continuation (the first of equals) is the gold one."""
    hits = 0
    for row in rows:
        context, choices, gold = PROMPTS[task](row)
        scores = [_logprob(loaded, context, c) for c in choices]
        hits += int(max(range(len(scores)), key=lambda i: (scores[i], -i)) == gold)
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
    assert got["superglue_record"].unit == "exact match"  # not labelled accuracy
    assert got["superglue_boolq"].unit == "accuracy"
    assert got["superglue_record"].value >= 1 / 3  # the third row has only right candidates
    assert got["superglue_record"].value == pytest.approx(
        _record_em(loaded, _rows(eval_data_dir, "record"))
    )
    assert set(PROMPTS) == set(SUPERGLUE_TASKS) - {"record"}
    for name in PROMPTS:
        assert got[f"superglue_{name}"].details["metric"] == "acc"
        rows = _rows(eval_data_dir, SUPERGLUE_TASKS[name][0])
        assert got[f"superglue_{name}"].value == pytest.approx(_accuracy(loaded, name, rows)), name
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


def _varied_rows(data: Path) -> dict[str, list[dict[str, Any]]]:
    """More rows per subtask (labels left out), crossed from the fixture rows' fields."""
    get = {config: _rows(data, config) for config in ("boolq", "cb", "rte", "copa")}
    boolq = [
        {"passage": p["passage"], "question": q["question"]}
        for p, q in product(get["boolq"], get["boolq"])
    ]
    pairs = [(r["premise"], r["hypothesis"]) for r in get["cb"] + get["rte"]]
    crossed = [{"premise": p, "hypothesis": h} for (p, _), (_, h) in product(pairs, pairs)]
    copa_choices = [r[k] for r in get["copa"] for k in ("choice1", "choice2")]
    copa = [
        {"premise": r["premise"], "question": q, "choice1": a, "choice2": b}
        for r, q in product(get["copa"], ("cause", "effect"))
        for a, b in zip(copa_choices, copa_choices[1:] + copa_choices[:1], strict=True)
    ]
    m = _rows(data, "multirc")[0]
    multirc = [
        {"paragraph": m["paragraph"], "question": m["question"], "answer": a}
        for a in ("Two", "Five", "One", "Three", "black", "white", "Tom", "cats")
    ]
    sides = [
        (r[f"sentence{i}"], r[f"start{i}"], r[f"end{i}"], r["word"])
        for r in _rows(data, "wic")
        for i in (1, 2)
    ]
    wic = [
        {"word": w, "sentence1": s1, "start1": a, "end1": b, "sentence2": s2}
        for (s1, a, b, w), (s2, *_) in product(sides, sides)
        if s1 != s2
    ]
    # Any whole word but the first (lm-eval glues a starred first word to the next one) can
    # stand as the starred "pronoun" (span2), and any other as the noun.
    wsc = []
    for r in _rows(data, "wsc.fixed"):
        words = r["text"].split(" ")
        plain = [i for i, w in enumerate(words) if w.isalpha() and i > 0][:6]
        wsc += [
            {**r, "span1_text": words[n], "span2_index": p, "span2_text": words[p]}
            for n, p in product(plain[:3], plain)
            if n != p
        ]
    varied = {
        "boolq": boolq,
        "cb": crossed[:12],
        "rte": crossed[12:24],
        "copa": copa,
        "multirc": multirc,
        "wic": wic,
        "wsc.fixed": wsc,
    }
    return {c: [{**r, "idx": i} for i, r in enumerate(rows)] for c, rows in varied.items()}


@pytest.mark.filterwarnings("ignore:F-score is ill-defined")  # CB's F1 with one class
@pytest.mark.parametrize("seed", [1, 2])
def test_every_subtask_prompt_is_the_one_written_here(
    seed: int, eval_data_dir: Path, make_spec: Any, tiny_tokenizer: Any, tmp_path: Path
) -> None:
    """Each row's gold answer is set to the pick of the hand-written prompt: lm-eval must score
    every subtask 1.0, so any row whose prompt or choices differ there (and flip) shows up.

    The model has wide random weights, so its picks depend on the prompt; on the fixture rows
    the shared tiny model answers the same to every row of a task, whatever the prompt.
    Only validation files are written: no train split is needed at zero-shot.
    """
    save_gpt2(tmp_path / "model", tiny_tokenizer, seed, config={"initializer_range": 3.0})
    wide = load(resolve_deliverable(str(tmp_path / "model")), device="cpu")
    varied = _varied_rows(eval_data_dir)
    mixed = 0
    for name, build in PROMPTS.items():
        config_name = SUPERGLUE_TASKS[name][0]
        picks = []
        for row in varied[config_name]:
            context, choices, _ = build({**row, "label": 0})
            scores = sorted((_logprob(wide, context, c), -i) for i, c in enumerate(choices))
            assert scores[-1][0] - scores[-2][0] > 1e-3, "a near tie: the pick is not robust"
            picks.append(-scores[-1][1])
        mixed += len(set(picks)) > 1
        rows = [{**row, "label": p} for row, p in zip(varied[config_name], picks, strict=True)]
        write_jsonl(tmp_path / "data" / "superglue" / config_name / "validation.jsonl", rows)
    assert mixed >= 5, "the model gives one answer to every row of most tasks: a weak check"
    glue = MetricSpec(
        name="superglue",
        label="SuperGLUE",
        direction="higher",
        params={"tasks": ",".join(PROMPTS), "num_fewshot": 0, "batch_size": 2},
    )
    spec = make_spec("glue", [glue.model_dump()])
    ctx = MetricContext(spec=spec, data_dir=tmp_path / "data", loaded=wide)
    got = {v.name: v.value for v in get_metric("superglue").function(ctx, glue)}
    assert got == {"superglue": 1.0, **{f"superglue_{name}": 1.0 for name in PROMPTS}}


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
    head = result.metric("superglue")
    assert record is not None and head is not None
    assert record.value == pytest.approx(_record_em(loaded, _rows(eval_data_dir, "record")))
    for name in PROMPTS:
        got = result.metric(f"superglue_{name}")
        rows = _rows(eval_data_dir, SUPERGLUE_TASKS[name][0])
        assert got is not None and got.value == pytest.approx(_accuracy(loaded, name, rows)), name
    subtasks = [result.metric(f"superglue_{n}") for n in SUPERGLUE_TASKS]
    assert head.value == pytest.approx(sum(v.value for v in subtasks if v) / len(SUPERGLUE_TASKS))
    chance = (6 * 0.5 + 1 / 3 + chance_em(_rows(eval_data_dir, "record"))) / 8
    assert result.score is not None
    assert result.score.baseline == pytest.approx(chance)
    top = result.score.reference
    assert top is not None
    assert result.score.normalised == pytest.approx((head.value - chance) / (top - chance) * 100)
    assert result.data_subset is True  # a handful of rows, not the validation splits
