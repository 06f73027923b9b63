"""lm-eval benchmarks: offline MMLU equals lm-eval's own mmlu_<subject>; BLiMP, SuperGLUE."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agent_eval.deliverable_check import resolve_deliverable
from agent_eval.lm_eval_tasks import lm_eval_tasks_dir
from agent_eval.loading import LoadedModel, load
from agent_eval.metrics.lm_eval_adapter import mmlu_suite
from agent_eval.metrics.registry import MetricContext, get_metric
from agent_tasks.spec import MetricSpec

SUBJECTS = ["anatomy", "astronomy"]


@pytest.fixture(scope="module")
def loaded(tiny_gpt2_dir: Path) -> LoadedModel:
    return load(resolve_deliverable(str(tiny_gpt2_dir)), device="cpu")


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _cais_mmlu(root: Path, questions: dict[str, list[dict[str, Any]]]) -> None:
    """A local folder with the Hub repo's layout of cais/mmlu (README configs + parquet)."""
    import pandas as pd

    folder = root / "cais" / "mmlu"
    lines = ["---", "configs:"]
    for subject in SUBJECTS:
        rows = questions[subject]
        (folder / subject).mkdir(parents=True)
        pd.DataFrame(rows).to_parquet(folder / subject / "test-00000-of-00001.parquet")
        pd.DataFrame(rows[:5]).to_parquet(folder / subject / "dev-00000-of-00001.parquet")
        lines += [
            f"- config_name: {subject}",
            "  data_files:",
            "  - split: test",
            f"    path: {subject}/test-*",
            "  - split: dev",
            f"    path: {subject}/dev-*",
        ]
    (folder / "README.md").write_text("\n".join([*lines, "---", ""]), encoding="utf-8")


def _samples(out: dict[str, Any], task: str) -> list[Any]:
    return [[tuple(arg) for arg in s["arguments"]] for s in out["samples"][task]]


def _lm(loaded: LoadedModel) -> Any:
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=4, device="cpu")


def test_mmlu_equals_lm_evals_own_task(
    loaded: LoadedModel,
    eval_data_dir: Path,
    tmp_path: Path,
    make_spec: Any,
    mmlu_questions: dict[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same requests (prompts, few-shot example, choices) and the same accuracy as lm-eval."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    tasks = [f"mmlu_{s}" for s in SUBJECTS]
    params = {"tasks": ",".join(tasks), "num_fewshot": 1, "batch_size": 4}
    spec = make_spec("mmlu_check", [{"name": "mmlu", "params": params}])
    mspec = spec.metrics[0]
    ctx = MetricContext(spec=spec, data_dir=eval_data_dir, loaded=loaded)
    ours = {v.name: v for v in get_metric("mmlu").function(ctx, mspec)}

    _cais_mmlu(tmp_path, mmlu_questions)
    # lm-eval loads "cais/mmlu" through the datasets cache: start from an empty one, so rows
    # cached by another run under that name cannot stand in for this fixture.
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "ds_cache"))
    with _cwd(tmp_path):
        manager = TaskManager(
            include_path=str(lm_eval_tasks_dir() / "mmlu" / "default"), include_defaults=False
        )
        theirs = simple_evaluate(
            model=_lm(loaded), tasks=tasks, num_fewshot=1, task_manager=manager, log_samples=True
        )
    with tempfile.TemporaryDirectory() as tmp:
        mmlu_suite(ctx, mspec, Path(tmp))
        mirror = simple_evaluate(
            model=_lm(loaded),
            tasks=tasks,
            num_fewshot=1,
            task_manager=TaskManager(include_path=tmp, include_defaults=False),
            log_samples=True,
        )
    assert theirs is not None and mirror is not None
    for task in tasks:
        assert _samples(mirror, task) == _samples(theirs, task)
        assert len(_samples(theirs, task)) == len(mmlu_questions[task.removeprefix("mmlu_")])
    n = {t: len(mmlu_questions[t.removeprefix("mmlu_")]) for t in tasks}
    weighted = sum(theirs["results"][t]["acc,none"] * n[t] for t in tasks) / sum(n.values())
    assert ours["mmlu"].value == pytest.approx(weighted, abs=1e-12)
    for task in tasks:
        assert ours["mmlu"].details["subjects"][task.removeprefix("mmlu_")] == pytest.approx(
            theirs["results"][task]["acc,none"], abs=1e-12
        )
    assert ours["mmlu_stem"].value == pytest.approx(weighted, abs=1e-12)  # both are stem
    assert ours["mmlu"].stderr is not None
    assert ours["mmlu"].details["num_fewshot"] == 1
    assert ours["mmlu"].details["lm_eval_version"]


def test_full_mmlu_group_needs_every_subject(
    loaded: LoadedModel, eval_data_dir: Path, make_spec: Any
) -> None:
    from agent_eval.errors import DatasetMissingError

    spec = make_spec("mmlu_full", [{"name": "mmlu"}])
    ctx = MetricContext(spec=spec, data_dir=eval_data_dir, loaded=loaded)
    with pytest.raises(DatasetMissingError) as info:
        get_metric("mmlu").function(ctx, spec.metrics[0])
    assert "agent-eval prefetch --tasks mmlu_full" in (info.value.hint or "")


def test_blimp_and_superglue_run_offline_on_fixture_data(
    loaded: LoadedModel, eval_data_dir: Path, make_spec: Any
) -> None:
    blimp = MetricSpec(
        name="blimp",
        label="BLiMP",
        direction="higher",
        params={"tasks": "blimp_anaphor_gender_agreement,blimp_determiner_noun_agreement_1"},
    )
    glue = MetricSpec(
        name="superglue",
        label="SuperGLUE",
        direction="higher",
        params={"tasks": "boolq,sglue_rte", "num_fewshot": 0, "batch_size": 2},
    )
    spec = make_spec("ling", [blimp.model_dump(), glue.model_dump()])
    ctx = MetricContext(spec=spec, data_dir=eval_data_dir, loaded=loaded)
    b = get_metric("blimp").function(ctx, blimp)[0]
    assert 0 <= b.value <= 1 and set(b.details["phenomena"]) == {
        "anaphor_gender_agreement",
        "determiner_noun_agreement_1",
    }
    g = {v.name: v for v in get_metric("superglue").function(ctx, glue)}
    assert set(g) == {"superglue", "superglue_boolq", "superglue_sglue_rte"}
    mean = (g["superglue_boolq"].value + g["superglue_sglue_rte"].value) / 2
    assert g["superglue"].value == pytest.approx(mean)
    assert g["superglue"].details["batch_size"] == 2


def _sentence_logprob(loaded: LoadedModel, text: str) -> float:
    """log P(" " + text) after the end-of-text token: how lm-eval scores a BLiMP sentence (an
    empty context, the sentence as the continuation after the target delimiter, a space)."""
    import torch

    tok = loaded.tokenizer
    prefix = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    ids = [prefix, *tok(" " + text, add_special_tokens=False)["input_ids"]]
    with torch.no_grad():
        logp = loaded.model(torch.tensor([ids])).logits.log_softmax(-1)[0]
    return float(sum(logp[i - 1, ids[i]] for i in range(1, len(ids))))


def test_blimp_accuracy_equals_an_independent_count_of_preferred_sentences(
    loaded: LoadedModel, eval_data_dir: Path, make_spec: Any
) -> None:
    from agent_eval.datasets import read_jsonl

    names = ["anaphor_gender_agreement", "determiner_noun_agreement_1"]
    mspec = MetricSpec(
        name="blimp",
        label="BLiMP",
        direction="higher",
        params={"tasks": ",".join(f"blimp_{n}" for n in names)},
    )
    ctx = MetricContext(
        spec=make_spec("ling", [mspec.model_dump()]), data_dir=eval_data_dir, loaded=loaded
    )
    value = get_metric("blimp").function(ctx, mspec)[0].value
    per_phenomenon = []
    for name in names:
        rows = read_jsonl(eval_data_dir / "blimp" / f"{name}.jsonl")
        preferred = [
            _sentence_logprob(loaded, r["sentence_good"])
            > _sentence_logprob(loaded, r["sentence_bad"])
            for r in rows
        ]
        per_phenomenon.append(sum(preferred) / len(preferred))
    assert value == pytest.approx(sum(per_phenomenon) / len(per_phenomenon), abs=1e-9)
