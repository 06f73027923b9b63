"""Data provenance: each dataset read is in the results with its revision, size used and hash;
an evaluation on fewer examples than the spec's full set is marked and never ranked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from agent_eval.datasets import MMLU_SUBJECTS
from agent_eval.evaluate import EvalOptions, evaluate
from agent_eval.provenance import MMLU_TEST_QUESTIONS

QUESTIONS_PER_SUBJECT = 2


def _independent_hash(root: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(f.relative_to(root).as_posix() for f in files):
        digest.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return digest.hexdigest()


@pytest.fixture(scope="module")
def small_mmlu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every MMLU subject, in the cais/mmlu row schema, with only a few questions each."""
    root = tmp_path_factory.mktemp("small_mmlu")
    for subject in MMLU_SUBJECTS:
        rows = [
            {
                "question": f"Question {i} on {subject.replace('_', ' ')}?",
                "subject": subject,
                "choices": ["one", "two", "three", "four"],
                "answer": i % 4,
            }
            for i in range(QUESTIONS_PER_SUBJECT)
        ]
        folder = root / "mmlu" / subject
        folder.mkdir(parents=True)
        for split in ("test", "dev"):
            (folder / f"{split}.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in rows), "utf-8"
            )
    return root


def test_mmlu_on_a_few_questions_per_subject_is_marked_and_never_ranked(
    tiny_gpt2_dir: Path, small_mmlu: Path, tmp_path: Path
) -> None:
    from agent_eval.leaderboard.query import records
    from agent_eval.store import Store

    url = f"sqlite:///{tmp_path / 'board.db'}"
    outcome = evaluate(
        EvalOptions(
            model_args=str(tiny_gpt2_dir),
            task="mini_llm_efficiency",
            results_dir=tmp_path / "results",
            device="cpu",
            data_dir=small_mmlu,
            metrics=["mmlu"],
            database_url=url,
        )
    )
    result = outcome.result
    assert result.status == "ok", result.errors
    assert outcome.recorded
    (used,) = result.datasets
    assert used.id == "cais/mmlu" and used.split == "test"
    assert used.revision == "c30699e8356da336a370243923dbaf21066bb9fe"  # the pinned Hub commit
    assert used.fetched_revision is None  # this folder was not laid out by prefetch
    assert used.examples == QUESTIONS_PER_SUBJECT * len(MMLU_SUBJECTS)
    assert used.full_examples == MMLU_TEST_QUESTIONS
    assert used.complete is False and result.data_subset is True
    assert used.used_by == ("mmlu",)
    files = sorted(small_mmlu.glob("mmlu/*/*.jsonl"))  # test and few-shot dev rows
    assert used.sha256 == _independent_hash(small_mmlu, files)
    saved = json.loads(outcome.path.read_text("utf-8"))
    assert saved["data_subset"] is True
    assert saved["datasets"][0]["revision"] == "c30699e8356da336a370243923dbaf21066bb9fe"
    with Store.open(url) as store:
        assert len(store.history()) == 1  # kept in history ...
        assert records(store, tasks=["mini_llm_efficiency"]) == []  # ... never ranked


def test_full_text_set_is_complete_and_hashed(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path
) -> None:
    outcome = evaluate(
        EvalOptions(
            model_args=str(tiny_gpt2_dir),
            task="mini_llm_efficiency",
            results_dir=tmp_path / "results",
            device="cpu",
            record=False,
            data_dir=eval_data_dir,
            metrics=["perplexity"],
        )
    )
    result = outcome.result
    assert result.status == "ok", result.errors
    (used,) = result.datasets
    assert used.id == "wikitext" and used.config == "wikitext-2-raw-v1"
    assert used.complete is True and result.data_subset is False
    text = eval_data_dir / "wikitext2" / "test.txt"
    assert used.sha256 == _independent_hash(eval_data_dir, [text])


def test_data_fetched_at_another_commit_than_the_pinned_one_is_never_the_full_set(
    tmp_path: Path,
) -> None:
    from types import SimpleNamespace

    from agent_eval.datasets import record_fetched
    from agent_eval.provenance import BUILTIN_SOURCES, record_use

    text = tmp_path / "wikitext2" / "test.txt"
    text.parent.mkdir()
    text.write_text("the whole set", encoding="utf-8")
    source = BUILTIN_SOURCES["wikitext2"]

    def use(fetched: str | None) -> Any:
        if fetched is not None:
            record_fetched(tmp_path, "wikitext2", {"source": "wikitext", "revision": fetched})
        ctx = SimpleNamespace(data_dir=tmp_path, limit=None, datasets={})
        return record_use(
            ctx,
            source=source,
            split="test",
            files=[text],
            examples=4358,
            full_examples=4358,
            used_by="perplexity",
            manifest_key="wikitext2",
        )

    assert use(None).complete is True  # a folder laid out by hand: the pinned commit is assumed
    assert use(source.revision).complete is True
    other = use("0" * 40)
    assert other.revision == source.revision and other.fetched_revision == "0" * 40
    assert other.complete is False and other.details["revision_mismatch"] is True
