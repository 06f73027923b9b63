"""The metric registry covers the catalogue; the console report shows what a reader needs."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from agent_eval.errors import MetricError
from agent_eval.evaluate import EvalOptions, evaluate
from agent_eval.metrics import available, get_metric
from agent_eval.report import render_result
from agent_tasks.registry import list_tasks
from agent_tasks.spec import TaskSpec

DOCUMENTED = {
    "parameters",
    "perplexity",
    "bits_per_byte",
    "generation_speed",
    "peak_memory",
    "mmlu",
    "blimp",
    "superglue",
    "bleu",
    "rouge_l",
    "twe",
    "predictions_accuracy",
    "mlrc_score",
    "code_runtime",
    "code_statements",
}


def test_every_metric_named_by_every_registered_task_exists() -> None:
    known = available()
    missing = {
        (spec.name, m.name) for spec in list_tasks() for m in spec.metrics if m.name not in known
    }
    assert not missing


def test_every_documented_metric_is_registered() -> None:
    assert set(available()) == DOCUMENTED
    doc = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    for key in DOCUMENTED:
        assert f"`{key}`" in doc


def test_unknown_metric_suggests_close_keys() -> None:
    with pytest.raises(MetricError) as info:
        get_metric("perplexty")
    assert "perplexity" in (info.value.hint or "")


def test_mlrc_score_is_an_error_that_says_how_to_import(
    make_spec: Callable[..., TaskSpec], tmp_path: Path
) -> None:
    spec = make_spec(
        "mlrc_x",
        [{"name": "mlrc_score", "params": {"key": "llm-merging"}}],
        deliverable={"kind": "method", "path": "method", "description": "code"},
    )
    method = tmp_path / "method"
    method.mkdir()
    (method / "main.py").write_text("print(1)\n")
    outcome = evaluate(
        EvalOptions(
            model_args=str(method), task="x", record=False, results_dir=tmp_path / "results"
        ),
        spec=spec,
    )
    assert outcome.result.status == "error" and outcome.exit_code == 5
    assert outcome.result.metrics == ()
    assert "MLRC-Bench task environment" in outcome.result.errors[0].message
    assert "agent-eval import" in outcome.result.errors[0].message


def test_bleu_and_rouge_of_greedy_generations(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    params = {"dataset": "example/math", "split": "heldout", "max_new_tokens": 8}
    spec = make_spec(
        "math",
        [{"name": "bleu", "params": params}, {"name": "rouge_l", "params": params}],
        evaluation={"datasets": [{"id": "example/math", "splits": {"heldout": 3}}]},
    )
    outcome = evaluate(
        EvalOptions(
            model_args=str(tiny_gpt2_dir),
            task="x",
            device="cpu",
            record=False,
            data_dir=eval_data_dir,
            results_dir=tmp_path / "r",
            limit=2,
        ),
        spec=spec,
    )
    bleu, rouge = outcome.result.metric("bleu"), outcome.result.metric("rouge_l")
    assert outcome.result.status == "ok", outcome.result.errors
    assert bleu is not None and 0 <= bleu.value <= 100 and bleu.details["rows"] == 2
    assert rouge is not None and 0 <= rouge.value <= 1


def test_scoring_functions_on_known_text() -> None:
    from agent_eval.metrics.generation import corpus_bleu, rouge_l

    refs = ["theorem t : a + b = b + a := add_comm a b"]
    assert corpus_bleu(refs, refs) == pytest.approx(100.0)
    assert rouge_l(refs, refs)[0] == pytest.approx(1.0)
    assert rouge_l(["completely different words"], refs)[0] == 0.0


def test_predictions_accuracy_and_a_self_reported_time_is_no_twe(
    eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    params = {"dataset": "example/labels", "label_column": "label"}
    spec = make_spec(
        "budget",
        [{"name": "twe", "params": params}, {"name": "predictions_accuracy", "params": params}],
        deliverable={
            "kind": "predictions_csv",
            "path": "submission.csv",
            "columns": ["image_id", "label"],
            "description": "csv",
        },
        evaluation={"datasets": [{"id": "example/labels", "splits": {"test": 10}}]},
    )
    out = tmp_path / "out"
    out.mkdir()
    # 10 rows, labels i % 3; predict 0 everywhere: 4 right (i = 0, 3, 6, 9).
    lines = ["image_id,label"] + [f"img{i},0" for i in range(10)]
    (out / "submission.csv").write_text("\n".join(lines) + "\n")
    (out / "inference.json").write_text(json.dumps({"inference_time_s": 0.6}))
    outcome = evaluate(
        EvalOptions(
            model_args=str(out),
            task="x",
            record=False,
            data_dir=eval_data_dir,
            results_dir=tmp_path / "r",
        ),
        spec=spec,
    )
    result = outcome.result
    assert result.model.format == "predictions_csv"
    acc = result.metric("predictions_accuracy")
    assert acc is not None and acc.value == pytest.approx(0.4)
    # The agent's own inference.json is never a score: TWE needs the evaluator's re-run.
    assert result.metric("twe") is None and result.score is None
    assert result.status == "error" and outcome.exit_code == 5
    assert any("timed re-run" in e.message for e in result.errors)


def _result(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> Any:
    spec = make_spec(
        "shown",
        [
            {"name": "parameters", "direction": "lower"},
            {"name": "perplexity", "direction": "lower"},
            {"name": "mmlu", "params": {"tasks": "mmlu_virology"}},
        ],
        "perplexity",
        anchors={"source": "t", "baseline": 1000.0, "reference": 10.0},
        constraints=[{"kind": "allowed_dtypes", "dtypes": ["float16"]}],
    )
    return evaluate(
        EvalOptions(
            model_args=str(tiny_gpt2_dir),
            task="x",
            device="cpu",
            record=False,
            data_dir=eval_data_dir,
            limit=1,
            results_dir=tmp_path / "r",
        ),
        spec=spec,
    )


def test_report_shows_values_units_arrows_constraints_score_and_path(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    outcome = _result(tiny_gpt2_dir, eval_data_dir, tmp_path, make_spec)
    buffer = io.StringIO()
    render_result(outcome.result, Console(file=buffer, width=200, color_system=None), outcome.path)
    text = buffer.getvalue()
    params = outcome.result.metric("parameters")
    assert params is not None
    assert f"{int(params.value):,}" in text
    assert "perplexity (primary)" in text and "↓" in text
    assert "allowed_dtypes" in text and "FAIL" in text
    assert "status: partial" in text
    assert "mmlu" in text and "failed" in text
    assert "score:" in text and str(outcome.path) in text
