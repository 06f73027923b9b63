"""End-to-end evaluations in process: statuses, the results file, errors never scored as 0."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_eval.evaluate import EvalOptions, evaluate
from agent_eval.results import read_result
from agent_tasks.spec import TaskSpec

LM_METRICS = [
    {"name": "bits_per_byte", "direction": "lower", "params": {"dataset": "wikitext2"}},
    {"name": "perplexity", "direction": "lower", "params": {"dataset": "wikitext2"}},
    {"name": "parameters", "direction": "lower"},
    {"name": "generation_speed", "params": {"prompt_tokens": 8, "new_tokens": 3, "repeats": 2}},
    {"name": "peak_memory", "direction": "lower"},
]


def _options(model: Path, tmp_path: Path, data: Path, **kw: Any) -> EvalOptions:
    return EvalOptions(
        model_args=str(model),
        task="unused",
        results_dir=tmp_path / "results",
        device="cpu",
        record=False,
        data_dir=data,
        **kw,
    )


def test_language_model_task_ok(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    spec = make_spec(
        "lm_task",
        LM_METRICS,
        "bits_per_byte",
        anchors={"source": "t", "baseline": 8.0, "reference": 4.0},
        constraints=[{"kind": "max_parameters", "limit": 10_000_000}],
    )
    outcome = evaluate(_options(tiny_gpt2_dir, tmp_path, eval_data_dir), spec=spec)
    result = outcome.result
    assert outcome.exit_code == 0
    assert result.status == "ok", result.errors
    names = {m.name for m in result.metrics}
    assert {
        "bits_per_byte",
        "perplexity",
        "parameters",
        "parameters_trainable",
        "generation_speed",
        "generation_speed_ttft_ms",
        "peak_memory",
    } <= names
    bpb = result.metric("bits_per_byte")
    assert bpb is not None and bpb.value > 0
    assert result.score is not None and result.score.method == "anchors"
    assert result.score.normalised == (bpb.value - 8.0) / (4.0 - 8.0) * 100
    assert result.constraints[0].passed is True
    assert result.environment.device == "cpu"
    assert result.environment.torch_version and result.environment.lm_eval_version
    assert result.model.sha256 and len(result.model.sha256) == 64
    saved = read_result(outcome.path)
    assert saved == result
    assert json.loads(outcome.path.read_text())["status"] == "ok"


def test_failed_primary_is_an_error_never_a_zero(
    tiny_gpt2_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    spec = make_spec(
        "mmlu_task",
        [
            {"name": "mmlu", "params": {"tasks": "mmlu_anatomy"}},
            {"name": "parameters", "direction": "lower"},
        ],
        "mmlu",
    )
    empty = tmp_path / "no_data"
    empty.mkdir()
    outcome = evaluate(_options(tiny_gpt2_dir, tmp_path, empty), spec=spec)
    result = outcome.result
    assert result.status == "error"
    assert outcome.exit_code == 5
    assert result.metric("mmlu") is None and result.score is None
    assert result.metric("parameters") is not None
    assert result.errors[0].stage == "metric:mmlu"
    assert "agent-eval prefetch --tasks mmlu_task" in result.errors[0].message
    assert outcome.path.is_file()


def test_failed_secondary_metric_is_partial(
    tiny_gpt2_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    spec = make_spec(
        "partial_task",
        [
            {"name": "parameters", "direction": "lower"},
            {"name": "perplexity", "direction": "lower", "params": {"dataset": "wikitext2"}},
        ],
        "parameters",
    )
    outcome = evaluate(_options(tiny_gpt2_dir, tmp_path, tmp_path / "nothing"), spec=spec)
    assert outcome.result.status == "partial"
    assert outcome.exit_code == 0
    assert outcome.result.score is not None
    assert [e.stage for e in outcome.result.errors] == ["metric:perplexity"]


def test_metric_subset_and_limit_recorded(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    spec = make_spec("subset_task", LM_METRICS, "bits_per_byte")
    outcome = evaluate(
        _options(tiny_gpt2_dir, tmp_path, eval_data_dir, metrics=["perplexity"], limit=1),
        spec=spec,
    )
    result = outcome.result
    assert {m.source for m in result.metrics} == {"perplexity"}
    assert result.environment.sample_limit == 1
    ppl = result.metric("perplexity")
    assert ppl is not None and ppl.details["windows"] == 1 and ppl.details["complete"] is False
    assert result.score is None and result.status == "ok"


def test_results_folder_lost_during_the_evaluation_keeps_the_result(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    import shutil

    import pytest

    from agent_eval.errors import ResultsWriteError

    spec = make_spec("params_task", [{"name": "parameters", "direction": "lower"}])
    options = _options(tiny_gpt2_dir, tmp_path, eval_data_dir)

    def replace_folder_by_a_file(step: str) -> None:
        if step.startswith("computing") and options.results_dir.is_dir():
            shutil.rmtree(options.results_dir)
            options.results_dir.write_text("not a folder any more")

    with pytest.raises(ResultsWriteError) as info:
        evaluate(options, progress=replace_folder_by_a_file, spec=spec)
    assert info.value.exit_code == 5
    assert str(options.results_dir) in info.value.message
    unsaved = json.loads(info.value.document)  # what the command prints instead of losing it
    assert unsaved["task"] == "params_task" and unsaved["status"] == "ok"
    assert unsaved["metrics"][0]["name"] == "parameters"
