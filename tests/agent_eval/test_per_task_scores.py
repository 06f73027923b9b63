"""Each catalogue task's primary metric, end to end, equals an independent computation.

For every MMLU task (llm_efficiency, llm_merging, edge_llm_compression and their minis) and
every BLiMP task (baby_lm, mini_baby_lm), the evaluator runs the catalogue spec unchanged (all
57 subjects, all 67 phenomena, its own few-shot and batch settings) on a tiny model in the shape
the task's rules ask for, over local rows in the datasets' real schemas. The value it reports
(and writes to the results file) is then recomputed here with plain transformers and torch from
the model's log-probabilities: the prompts are written out by hand from lm-eval's documented
MMLU format, not taken from lm-eval or the evaluator.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent_contracts.results import EvaluationResult
from agent_eval.datasets import MMLU_SUBJECTS, read_jsonl, write_jsonl
from agent_eval.evaluate import EvalOptions, evaluate
from agent_eval.lm_eval_tasks import blimp_phenomena
from agent_tasks.registry import get_task, list_tasks

MMLU_TASKS = [s.name for s in list_tasks() if s.primary_metric == "mmlu"]
BLIMP_TASKS = [s.name for s in list_tasks() if s.primary_metric == "blimp"]
QUESTIONS_PER_SUBJECT = 2
PAIRS_PER_PHENOMENON = 2
CONTEXT = 256
"""Positions of every test model (gpt2-xs's context): no prompt here is long enough to be cut."""


@dataclass(frozen=True)
class Shape:
    """How a task's deliverable is built: a model class and its tiny config."""

    architecture: str
    """A transformers ``*Config`` prefix: GPT2, Llama, Mistral, Phi."""
    seed: int


SHAPES = {
    # LLaMA is an approved base-model family; a fine-tune keeps its architecture.
    "llm_efficiency": Shape("Llama", 1),
    # The mini variant fine-tunes gpt2-xs: GPT-2, 256 positions.
    "mini_llm_efficiency": Shape("GPT2", 7),
    # A merge of 7B Mistral experts is a Mistral model.
    "llm_merging": Shape("Mistral", 2),
    # The merge keeps the gpt2-xs architecture and size (GPT-2, 256 positions).
    "mini_llm_merging": Shape("GPT2", 3),
    # Compressed phi-2: a smaller standard phi config, float32 weights, not quantized.
    "edge_llm_compression": Shape("Phi", 4),
    # Compressed gpt2-xs: GPT-2, float32 weights, not quantized.
    "mini_edge_llm_compression": Shape("GPT2", 8),
    # Trained from scratch: randomly initialised GPT-2s.
    "baby_lm": Shape("GPT2", 5),
    "mini_baby_lm": Shape("GPT2", 6),
}


def _build(shape: Shape, vocab: int) -> Any:
    import torch
    import transformers

    common: dict[str, Any] = {
        "vocab_size": vocab,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "pad_token_id": 0,
        # Wide random weights: the tiny model's picks then depend on the question; at the
        # usual 0.02 it answers the same letter to nearly every question.
        "initializer_range": 1.0,
    }
    if shape.architecture == "GPT2":
        config: Any = transformers.GPT2Config(
            n_embd=32, n_layer=2, n_head=2, n_positions=CONTEXT, **common
        )
    else:
        config = getattr(transformers, f"{shape.architecture}Config")(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=CONTEXT,
            **common,
        )
    torch.manual_seed(shape.seed)
    return transformers.AutoModelForCausalLM.from_config(config)


@pytest.fixture(scope="module")
def tokenizer(
    train_tiny_tokenizer: Callable[..., Any], mmlu_questions: dict[str, list[dict[str, Any]]]
) -> Any:
    """The tiny tokenizer, trained also on MMLU-shaped text: each " A".." D" is one token.

    With the shared tokenizer only " A" is, so a random model prefers A to every question
    (one token's log-probability against two's) and the test could not tell choices apart.
    """
    rows = [row for rows in mmlu_questions.values() for row in rows]
    text = [_mmlu_prompt("anatomy", row) + f" {'ABCD'[row['answer']]}" for row in rows]
    tok = train_tiny_tokenizer([*text * 3, *["Answer: A Answer: B Answer: C Answer: D"] * 20])
    assert all(len(tok(f" {letter}")["input_ids"]) == 1 for letter in "ABCD")
    return tok


@pytest.fixture(scope="module")
def deliverables(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> dict[str, Path]:
    """One saved model folder per task, in the shape its rules accept (float32 safetensors)."""
    folders = {}
    for task, shape in SHAPES.items():
        folder = tmp_path_factory.mktemp(f"{task}_model")
        _build(shape, len(tokenizer)).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders[task] = folder
    return folders


@pytest.fixture(scope="module")
def full_data_dir(
    tmp_path_factory: pytest.TempPathFactory,
    eval_data_dir: Path,
    mmlu_questions: dict[str, list[dict[str, Any]]],
) -> Path:
    """Every MMLU subject and every BLiMP phenomenon, a few rows each, in the prefetch layout.

    The rows are the shared hand-written ones spread over the subjects and phenomena (the
    ``subject`` field set to the subject's name), so the catalogue's full suites can run.
    """
    root = tmp_path_factory.mktemp("full_data")
    pool = [row for rows in mmlu_questions.values() for row in rows]
    for i, subject in enumerate(MMLU_SUBJECTS):
        rows = [
            {**pool[(QUESTIONS_PER_SUBJECT * i + k) % len(pool)], "subject": subject}
            for k in range(QUESTIONS_PER_SUBJECT)
        ]
        write_jsonl(root / "mmlu" / subject / "test.jsonl", rows)
        write_jsonl(root / "mmlu" / subject / "dev.jsonl", rows)
    pairs = [
        row
        for path in sorted((eval_data_dir / "blimp").glob("*.jsonl"))
        for row in read_jsonl(path)
    ]
    for i, phenomenon in enumerate(blimp_phenomena()):
        rows = [
            {
                **pairs[(PAIRS_PER_PHENOMENON * i + k) % len(pairs)],
                "UID": phenomenon,
                "linguistics_term": phenomenon,
                "pair_id": k,
            }
            for k in range(PAIRS_PER_PHENOMENON)
        ]
        write_jsonl(root / "blimp" / f"{phenomenon}.jsonl", rows)
    return root


class Scorer:
    """Log-probabilities straight from a saved model folder, with transformers and torch only."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = AutoModelForCausalLM.from_pretrained(folder).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def logprob(self, context: list[int], continuation: list[int]) -> float:
        """Sum of log p(continuation tokens | context tokens) in one forward pass."""
        import torch

        ids = [*context, *continuation]
        assert len(ids) <= CONTEXT, "the prompt would be truncated"
        with torch.inference_mode():
            logp = self.model(torch.tensor([ids])).logits[0].log_softmax(-1)
        start = len(context)
        return float(sum(logp[start + i - 1, t] for i, t in enumerate(continuation)))

    def choices(self, context: str, continuations: list[str]) -> list[float]:
        """log p(continuation | context) of each, its tokens cut from the whole text's.

        One-token continuations (MMLU's letters) are read off one forward pass of the context.
        """
        head = self._ids(context)
        tails = []
        for continuation in continuations:
            whole = self._ids(context + continuation)
            assert whole[: len(head)] == head
            tails.append(whole[len(head) :])
        if any(len(tail) != 1 for tail in tails):
            return [self.logprob(head, tail) for tail in tails]
        import torch

        assert len(head) < CONTEXT, "the prompt would be truncated"
        with torch.inference_mode():
            last = self.model(torch.tensor([head])).logits[0, -1].log_softmax(-1)
        return [float(last[tail[0]]) for tail in tails]

    def sentence(self, text: str) -> float:
        """log p(text) after the begin-of-text token."""
        return self.logprob([int(self.tokenizer.bos_token_id)], self._ids(text))


def _mmlu_prompt(subject: str, row: dict[str, Any]) -> str:
    """MMLU's zero-shot prompt as lm-eval's ``mmlu`` task writes it."""
    topic = subject.replace("_", " ")
    header = f"The following are multiple choice questions (with answers) about {topic}.\n\n"
    options = "".join(
        f"\n{letter}. {choice}" for letter, choice in zip("ABCD", row["choices"], strict=True)
    )
    return f"{header}{row['question'].strip()}{options}\nAnswer:"


def independent_mmlu(folder: Path, data: Path) -> tuple[float, list[int]]:
    """(accuracy over all questions, the pick per question): the likeliest of " A".." D"."""
    scorer = Scorer(folder)
    picks = []
    right = total = 0
    for subject in MMLU_SUBJECTS:
        for row in read_jsonl(data / "mmlu" / subject / "test.jsonl"):
            prompt = _mmlu_prompt(subject, row)
            scores = scorer.choices(prompt, [f" {letter}" for letter in "ABCD"])
            pick = max(range(4), key=lambda i: (scores[i], -i))  # ties: the first letter
            picks.append(pick)
            right += int(pick == row["answer"])
            total += 1
    return right / total, picks


def independent_blimp(folder: Path, data: Path) -> tuple[float, int]:
    """(mean over phenomena of the share of pairs whose good sentence is likelier, pairs).

    A sentence is scored as lm-eval's blimp task asks for it: an empty context, the sentence as
    the continuation after its target delimiter (a space), after the begin-of-text token.
    """
    scorer = Scorer(folder)
    shares = []
    pairs = 0
    # one forward pass per sentence; no batching or padding, unlike lm-eval
    for phenomenon in blimp_phenomena():
        rows = read_jsonl(data / "blimp" / f"{phenomenon}.jsonl")
        good = [
            scorer.sentence(" " + r["sentence_good"]) > scorer.sentence(" " + r["sentence_bad"])
            for r in rows
        ]
        shares.append(sum(good) / len(good))
        pairs += len(rows)
    return sum(shares) / len(shares), pairs


def _run(task: str, folder: Path, data: Path, results: Path) -> tuple[EvaluationResult, Path]:
    spec = get_task(task)
    outcome = evaluate(
        EvalOptions(
            model_args=str(folder),
            task=task,
            results_dir=results,
            device="cpu",
            record=False,
            data_dir=data,
            metrics=[spec.primary_metric],
        )
    )
    return outcome.result, outcome.path


def _check_result(task: str, result: EvaluationResult, path: Path, expected: float) -> None:
    """Status, value, score and file agree with what a user of this task should see."""
    spec = get_task(task)
    assert result.status == "ok", result.errors
    assert result.errors == ()
    got = result.metric(spec.primary_metric)
    assert got is not None
    assert got.value == pytest.approx(expected, abs=1e-6)
    # The score rescales the same value: the catalogue's anchors, else chance = 0, perfect = 100.
    baseline = spec.anchors.baseline if spec.anchors.baseline is not None else spec.primary.chance
    reference = spec.anchors.reference_value or 1.0
    assert baseline is not None
    assert result.score is not None and result.score.raw == got.value
    assert result.score.normalised == pytest.approx(
        (got.value - baseline) / (reference - baseline) * 100
    )
    # Every constraint is reported; the evaluator measures all but the run's duration (the
    # harness times that), and this deliverable keeps them: size, dtypes, no quantization,
    # memory.
    assert [c.kind for c in result.constraints] == [c.kind for c in spec.constraints]
    for check in result.constraints:
        assert check.passed is (None if check.kind == "max_runtime_s" else True), check
    on_disk = json.loads(path.read_text("utf-8"))
    assert on_disk["task"] == task and on_disk["status"] == "ok"
    (saved,) = [m for m in on_disk["metrics"] if m["name"] == spec.primary_metric]
    assert saved["value"] == got.value
    assert on_disk["score"]["raw"] == got.value


@pytest.mark.parametrize("task", MMLU_TASKS)
def test_mmlu_task_scores_what_the_models_likelihoods_say(
    task: str, deliverables: dict[str, Path], full_data_dir: Path, tmp_path: Path
) -> None:
    spec = get_task(task)
    assert spec.primary_metric == "mmlu"
    assert spec.primary.params["tasks"] == "mmlu" and spec.primary.params["num_fewshot"] == 0
    result, path = _run(task, deliverables[task], full_data_dir, tmp_path)
    expected, picks = independent_mmlu(deliverables[task], full_data_dir)
    questions = len(picks)
    assert questions == len(MMLU_SUBJECTS) * QUESTIONS_PER_SUBJECT
    assert len(set(picks)) >= 3, "the model answers (nearly) one letter: a weak check"
    _check_result(task, result, path, expected)
    mmlu = result.metric("mmlu")
    assert mmlu is not None and set(mmlu.details["subjects"]) == set(MMLU_SUBJECTS)
    (used,) = result.datasets
    assert used.examples == questions and result.data_subset is True


@pytest.mark.parametrize("task", BLIMP_TASKS)
def test_blimp_task_scores_what_the_models_likelihoods_say(
    task: str, deliverables: dict[str, Path], full_data_dir: Path, tmp_path: Path
) -> None:
    spec = get_task(task)
    assert spec.primary_metric == "blimp"
    result, path = _run(task, deliverables[task], full_data_dir, tmp_path)
    expected, pairs = independent_blimp(deliverables[task], full_data_dir)
    assert pairs == len(blimp_phenomena()) * PAIRS_PER_PHENOMENON
    _check_result(task, result, path, expected)
    blimp = result.metric("blimp")
    assert blimp is not None and set(blimp.details["phenomena"]) == set(blimp_phenomena())
    (used,) = result.datasets
    assert used.examples == pairs and result.data_subset is True


def independent_bits_per_byte(folder: Path, text: str, window: int, stride: int) -> float:
    """Bits per byte of ``text`` as docs/metrics.md defines it, with plain torch.

    The text's tokens follow one EOS (context only). Windows of ``window`` tokens start every
    ``stride`` tokens; each scores only the tokens no earlier window scored, so every token of
    the text is scored once. Total NLL in nats / ln 2 / UTF-8 bytes of the text.
    """
    import math

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text, "the tokenizer must keep every byte"
    seq = torch.tensor([tok.eos_token_id, *ids])
    nll = torch.zeros((), dtype=torch.float64)
    scored = 0
    begin, first = 0, 1  # token 0 (the EOS) is never scored
    while first < len(seq):
        end = min(begin + window, len(seq))
        with torch.no_grad():
            logits = model(seq[begin:end].unsqueeze(0)).logits[0].double()
        # logits[i] predicts token begin + i + 1: tokens first..end-1 need rows first-begin-1..
        rows = logits[first - begin - 1 : end - begin - 1]
        nll += torch.nn.functional.cross_entropy(rows, seq[first:end], reduction="sum")
        scored += end - first
        begin, first = begin + stride, end
    assert scored == len(ids)
    return float(nll) / math.log(2) / len(text.encode("utf-8"))


def test_tiny_lm_scores_the_bits_per_byte_of_its_held_out_stories(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path
) -> None:
    """tiny_lm's primary metric: the bundled held-out stories, window = the model's context."""
    import agent_eval

    spec = get_task("tiny_lm")
    assert spec.primary_metric == "bits_per_byte"
    assert spec.primary.params == {"dataset": "bundled:tiny_lm_heldout"}
    heldout = Path(agent_eval.__file__).parent / "resources/bundled/tiny_lm_heldout/heldout.txt"
    text = heldout.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) == 30_090  # as the spec's dataset description says
    # The tiny GPT-2 has 128 positions: windows of 128 tokens, stride 64 (half the window).
    expected = independent_bits_per_byte(tiny_gpt2_dir, text, window=128, stride=64)
    result, path = _run("tiny_lm", tiny_gpt2_dir, eval_data_dir, tmp_path)
    _check_result("tiny_lm", result, path, expected)
    got = result.metric("bits_per_byte")
    assert got is not None
    assert got.value == pytest.approx(expected, rel=1e-7)
    assert got.details["max_length"] == 128 and got.details["stride"] == 64
    assert got.details["bytes"] == 30_090 and got.details["complete"] is True
    on_disk = json.loads(path.read_text("utf-8"))
    (saved,) = [m for m in on_disk["metrics"] if m["name"] == "bits_per_byte"]
    assert saved["value"] == pytest.approx(expected, rel=1e-7)
    assert saved["unit"] == "bits/byte"
