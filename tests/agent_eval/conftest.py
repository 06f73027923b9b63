"""Fixtures of the evaluator tests: real tiny models built here, and hand-written datasets.

Nothing is downloaded. Models are built from configs with a few layers and saved in the real
Hugging Face layout; the tokenizer is a byte-level BPE trained in a fraction of a second. The
data folder holds small hand-written datasets in the layout ``agent-eval prefetch`` writes.
Shared with the other evaluator tests: ``tiny_tokenizer``, ``train_tiny_tokenizer``,
``tiny_gpt2_dir``, ``tiny_t5_dir``, ``eval_data_dir``, ``make_spec``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import typer
from support.store import BACKENDS, new_database
from support.tiny_models import save_gpt2, train_tokenizer

from agent_tasks.spec import TaskSpec

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Science is the study of the natural world through observation and experiment.",
    "A model is trained on text and evaluated on held-out data.",
    "Question: which planet is closest to the sun? Answer: Mercury.",
    "The heart pumps blood through the body; the lungs exchange oxygen.",
    "Numbers such as 1, 2, 3 and 42 appear in arithmetic problems.",
    "theorem add_comm (a b : nat) : a + b = b + a := by simp",
]

WIKITEXT = (
    " = Valkyria Chronicles III = \n\n"
    " Senjō no Valkyria 3 : Unrecorded Chronicles is a tactical role @-@ playing video game "
    "developed by Sega and Media.Vision for the PlayStation Portable . \n\n"
    " = = Gameplay = = \n\n"
    " As with previous games in the series , the player controls a squad of soldiers who fight "
    "across a map in turn @-@ based battles , moving units and attacking enemy positions . \n\n"
    " The game received favourable reviews from critics , who praised its story and art . \n"
) * 6

MMLU = {
    "anatomy": [
        ("Which organ pumps blood through the body?", ["Liver", "Heart", "Lung", "Kidney"], 1),
        ("How many chambers has the human heart?", ["Two", "Three", "Four", "Five"], 2),
        ("Which bone is the longest in the body?", ["Femur", "Tibia", "Ulna", "Rib"], 0),
        ("Where is the cornea?", ["Ear", "Nose", "Skin", "Eye"], 3),
        ("Which organ exchanges oxygen?", ["Lung", "Stomach", "Brain", "Spleen"], 0),
        ("What connects muscle to bone?", ["Ligament", "Tendon", "Nerve", "Vein"], 1),
    ],
    "astronomy": [
        ("Which planet is closest to the sun?", ["Venus", "Earth", "Mercury", "Mars"], 2),
        ("What is the sun?", ["A planet", "A star", "A moon", "A comet"], 1),
        ("Which planet has prominent rings?", ["Saturn", "Mars", "Venus", "Mercury"], 0),
        ("How long is a day on Earth?", ["12 h", "48 h", "36 h", "24 h"], 3),
        ("What orbits the Earth?", ["The Moon", "Mars", "The Sun", "Jupiter"], 0),
    ],
}

BLIMP = {
    "anaphor_gender_agreement": [
        ("Katherine can't help herself.", "Katherine can't help himself."),
        ("Stephen is hiding himself.", "Stephen is hiding herself."),
        ("The woman hurt herself.", "The woman hurt himself."),
    ],
    "determiner_noun_agreement_1": [
        ("Craig explored that grocery store.", "Craig explored that grocery stores."),
        ("Carl cures those horses.", "Carl cures that horses."),
        ("These dogs bark.", "This dogs bark."),
    ],
}

SUPERGLUE = {
    "boolq": [
        {
            "question": "is the sun a star",
            "passage": "The Sun is the star at the centre of the Solar System.",
            "idx": 0,
            "label": 1,
        },
        {
            "question": "is the moon a planet",
            "passage": "The Moon is Earth's only natural satellite.",
            "idx": 1,
            "label": 0,
        },
        {
            "question": "do fish live in water",
            "passage": "Fish are aquatic animals.",
            "idx": 2,
            "label": 1,
        },
    ],
    "cb": [
        {
            "premise": "It was raining, so she took an umbrella.",
            "hypothesis": "It was raining",
            "idx": 0,
            "label": 0,
        },
        {
            "premise": "He never owned a car.",
            "hypothesis": "He drove his own car to work",
            "idx": 1,
            "label": 1,
        },
        {
            "premise": "She said the meeting might move.",
            "hypothesis": "The meeting moved",
            "idx": 2,
            "label": 2,
        },
    ],
    "copa": [
        {
            "premise": "The man broke his toe.",
            "choice1": "He dropped a hammer on his foot.",
            "choice2": "He got a hole in his sock.",
            "question": "cause",
            "idx": 0,
            "label": 0,
        },
        {
            "premise": "The sun was rising.",
            "choice1": "The night grew darker.",
            "choice2": "The sky grew lighter.",
            "question": "effect",
            "idx": 1,
            "label": 1,
        },
    ],
    "multirc": [
        {
            "paragraph": "Tom has two cats. One is black and the other is white.",
            "question": "How many cats does Tom have?",
            "answer": "Two",
            "idx": {"paragraph": 0, "question": 0, "answer": 0},
            "label": 1,
        },
        {
            "paragraph": "Tom has two cats. One is black and the other is white.",
            "question": "How many cats does Tom have?",
            "answer": "Five",
            "idx": {"paragraph": 0, "question": 0, "answer": 1},
            "label": 0,
        },
    ],
    "record": [
        {
            "passage": "Paris is the capital of France. Berlin is in Germany.\n@highlight\n"
            "France has a new museum\n@highlight\nGermany builds a bridge",
            "query": "The new museum opened in @placeholder last week.",
            "entities": ["Paris", "France", "Berlin", "Germany", "France"],
            "entity_spans": {
                "text": ["Paris", "France", "Berlin", "Germany", "France"],
                "start": [0, 24, 32, 45, 54],
                "end": [5, 30, 38, 52, 60],
            },
            "answers": ["France", "France"],
            "idx": {"passage": 0, "query": 0},
        },
        {
            "passage": "The Nile flows through Egypt and Sudan.\n@highlight\nRiver levels rise",
            "query": "Farmers in @placeholder welcome the flood.",
            "entities": ["Nile", "Egypt", "Sudan"],
            "entity_spans": {
                "text": ["Nile", "Egypt", "Sudan"],
                "start": [4, 23, 33],
                "end": [8, 28, 38],
            },
            "answers": ["Egypt", "the Sudan"],
            "idx": {"passage": 1, "query": 0},
        },
        {
            "passage": "Oslo and Bergen are cities in Norway.\n@highlight\nSnow falls early",
            "query": "Snow covered @placeholder on Monday.",
            "entities": ["Oslo", "Bergen"],
            "entity_spans": {"text": ["Oslo", "Bergen"], "start": [0, 9], "end": [4, 15]},
            "answers": ["Oslo", "Bergen"],
            "idx": {"passage": 2, "query": 0},
        },
    ],
    "wic": [
        {
            "word": "bank",
            "sentence1": "He sat on the bank of the river.",
            "sentence2": "She works at the bank downtown.",
            "start1": 14,
            "start2": 17,
            "end1": 18,
            "end2": 21,
            "idx": 0,
            "label": 0,
        },
        {
            "word": "run",
            "sentence1": "I run every morning.",
            "sentence2": "They run in the park.",
            "start1": 2,
            "start2": 5,
            "end1": 5,
            "end2": 8,
            "idx": 1,
            "label": 1,
        },
    ],
    "wsc.fixed": [
        {
            "text": "Mark told Pete many lies about himself, which Pete included in his book.",
            "span1_index": 0,
            "span2_index": 11,
            "span1_text": "Mark",
            "span2_text": "his",
            "idx": 0,
            "label": 0,
        },
        {
            "text": "The trophy does not fit into the suitcase because it is too large.",
            "span1_index": 1,
            "span2_index": 9,
            "span1_text": "trophy",
            "span2_text": "it",
            "idx": 1,
            "label": 1,
        },
    ],
    "rte": [
        {
            "premise": "A dog runs in the park.",
            "hypothesis": "An animal is outside.",
            "idx": 0,
            "label": 0,
        },
        {
            "premise": "The shop is closed on Sunday.",
            "hypothesis": "The shop opens every day.",
            "idx": 1,
            "label": 1,
        },
    ],
}

MATH_ROWS = [
    {
        "name": "t1",
        "informal_statement": "Addition of natural numbers is commutative.",
        "informal_proof": "By induction on b.",
        "formal_proof": "theorem t1 (a b : ℕ) : a + b = b + a := nat.add_comm a b",
    },
    {
        "name": "t2",
        "informal_statement": "Zero plus a equals a.",
        "informal_proof": "By simp.",
        "formal_proof": "theorem t2 (a : ℕ) : 0 + a = a := by simp",
    },
    {
        "name": "t3",
        "informal_statement": "a times one is a.",
        "informal_proof": "Definition.",
        "formal_proof": "theorem t3 (a : ℕ) : a * 1 = a := mul_one a",
    },
]


def build_tokenizer(extra_text: Sequence[str] = ()) -> Any:
    """A byte-level BPE tokenizer (can encode any text) trained on the small corpus.

    ``extra_text`` joins the training text, so the merges can be steered (e.g. a test that
    needs each answer letter to be one token)."""
    return train_tokenizer([*CORPUS * 5, WIKITEXT, *extra_text])


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    """The shared tiny byte-level BPE tokenizer."""
    return build_tokenizer()


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer: Any) -> Path:
    """A saved tiny GPT-2 (safetensors) with its tokenizer; treat it as read-only."""
    return save_gpt2(tmp_path_factory.mktemp("tiny_gpt2"), tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer: Any) -> Path:
    """A saved tiny T5 (sequence-to-sequence) with the same tokenizer."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tiny_tokenizer),
        d_model=32,
        d_ff=64,
        d_kv=8,
        num_layers=2,
        num_heads=2,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=0,
    )
    folder = tmp_path_factory.mktemp("tiny_t5")
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as JSON lines, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def mmlu_rows(subject: str) -> list[dict[str, Any]]:
    """The hand-written questions of one subject in the cais/mmlu row schema."""
    return [
        {"question": q, "subject": subject, "choices": c, "answer": a} for q, c, a in MMLU[subject]
    ]


@pytest.fixture(scope="session")
def eval_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder in the prefetch layout with small hand-written datasets."""
    root = tmp_path_factory.mktemp("eval_data")
    (root / "wikitext2").mkdir()
    (root / "wikitext2" / "test.txt").write_text(WIKITEXT, encoding="utf-8")
    for subject in MMLU:
        rows = mmlu_rows(subject)
        write_jsonl(root / "mmlu" / subject / "test.jsonl", rows)
        write_jsonl(root / "mmlu" / subject / "dev.jsonl", rows[:5])
    for name, pairs in BLIMP.items():
        write_jsonl(
            root / "blimp" / f"{name}.jsonl",
            [
                {
                    "sentence_good": g,
                    "sentence_bad": b,
                    "field": "morphology",
                    "linguistics_term": name,
                    "UID": name,
                    "simple_LM_method": True,
                    "one_prefix_method": False,
                    "two_prefix_method": False,
                    "lexically_identical": False,
                    "pair_id": i,
                }
                for i, (g, b) in enumerate(pairs)
            ],
        )
    for config, rows in SUPERGLUE.items():
        write_jsonl(root / "superglue" / config / "validation.jsonl", rows)
        write_jsonl(root / "superglue" / config / "train.jsonl", rows)
    write_jsonl(root / "hf" / "example__math" / "default" / "heldout.jsonl", MATH_ROWS)
    write_jsonl(
        root / "hf" / "example__labels" / "default" / "test.jsonl",
        [{"image_id": f"img{i}", "label": str(i % 3)} for i in range(10)],
    )
    return root


def _spec_data(
    name: str, metrics: list[dict[str, Any]], primary: str, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "benchmark": "test_benchmark",
        "title": "Test task",
        "summary": "A task built by a test.",
        "prompt": "Do the thing.",
        "version": "1.0.0",
        "resources": {"gpus": 0, "time_limit_s": 60},
        "deliverable": {"kind": "hf_model", "description": "a model folder"},
        "metrics": metrics,
        "primary_metric": primary,
        "anchors": {"source": "test"},
    }
    data.update(extra)
    return data


@pytest.fixture(scope="session")
def make_spec() -> Callable[..., TaskSpec]:
    """Build a TaskSpec: ``make_spec("name", [metric dicts], primary, **fields)``."""

    def build(
        name: str, metrics: list[dict[str, Any]], primary: str | None = None, **extra: Any
    ) -> TaskSpec:
        full = [{"label": m["name"], "direction": "higher", **m} for m in metrics]
        return TaskSpec.model_validate(_spec_data(name, full, primary or full[0]["name"], **extra))

    return build


TEST_TASKS_MODULE = "mlrb_test_tasks"
"""A module of test task specs, registered through a plugin entry point in subprocesses."""


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory: pytest.TempPathFactory, eval_data_dir: Path) -> dict[str, str]:
    """Environment for ``agent-eval`` subprocesses: offline, the fixture data folder, and test
    tasks registered as an installed plugin (an entry point on a temporary path)."""
    site = tmp_path_factory.mktemp("plugin_site")
    (site / f"{TEST_TASKS_MODULE}.py").write_text(
        (Path(__file__).parent / "plugin_tasks.py").read_text(encoding="utf-8"), "utf-8"
    )
    dist = site / f"{TEST_TASKS_MODULE}-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {TEST_TASKS_MODULE}\nVersion: 0.0.0\n", "utf-8"
    )
    (dist / "entry_points.txt").write_text(
        f"[agent_tasks.tasks]\nevaltest = {TEST_TASKS_MODULE}:specs\n", "utf-8"
    )
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
            "AGENT_EVAL_DATA_DIR": str(eval_data_dir),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
    )
    return env


def agent_eval_cmd() -> list[str]:
    """The installed console script (the real CLI a user runs)."""
    script = Path(sys.executable).parent / "agent-eval"
    return [str(script)] if script.exists() else [sys.executable, "-m", "agent_eval"]


@pytest.fixture(scope="session")
def run_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``agent-eval ARGS`` as a subprocess in the test environment."""

    def run(
        *args: str, cwd: Path | None = None, timeout: int = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*agent_eval_cmd(), *args],
            capture_output=True,
            text=True,
            env={**cli_env, **(env or {})},
            cwd=cwd,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def mmlu_questions() -> dict[str, list[dict[str, Any]]]:
    """The hand-written MMLU rows per subject (as laid out in ``eval_data_dir``)."""
    return {subject: mmlu_rows(subject) for subject in MMLU}


@pytest.fixture(scope="session")
def train_tiny_tokenizer() -> Callable[..., Any]:
    """``train_tiny_tokenizer(extra_text=())``: a fresh tokenizer like ``tiny_tokenizer``."""
    return build_tokenizer


@pytest.fixture(scope="session")
def save_tiny_gpt2() -> Callable[..., Path]:
    """``save_tiny_gpt2(folder, tokenizer, seed=0, dtype=None, **save_pretrained_kwargs)``."""
    return save_gpt2


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend (``BACKENDS``): a test taking it runs on both."""
    return new_database(request, tmp_path)


@pytest.fixture
def app() -> typer.Typer:
    """The agent-eval app, whose boundary turns errors into exit codes."""
    from agent_eval.cli import app as product_app

    return product_app
