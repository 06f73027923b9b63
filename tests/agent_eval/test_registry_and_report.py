"""The metric registry covers the catalogue; the console report shows what a reader needs."""

from __future__ import annotations

import io
import json
import os
import re
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


def test_every_metric_named_by_every_registered_task_exists() -> None:
    known = available()
    missing = {
        (spec.name, m.name) for spec in list_tasks() for m in spec.metrics if m.name not in known
    }
    assert not missing


def test_the_metrics_table_documents_exactly_the_registered_metrics() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", doc, flags=re.MULTILINE))
    assert available(), "no metric registered"
    assert rows == set(available())


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
    import sacrebleu
    from rouge_score import rouge_scorer

    from agent_eval.evaluate import artifact_path

    bleu, rouge = outcome.result.metric("bleu"), outcome.result.metric("rouge_l")
    assert outcome.result.status == "ok", outcome.result.errors
    assert bleu is not None and rouge is not None and bleu.details["rows"] == 2
    # Recomputed independently from the generations saved beside the results file.
    saved = artifact_path(outcome.path, "generations").read_text("utf-8").splitlines()
    audit = [json.loads(line) for line in saved]
    hyps, refs = [a["hypothesis"] for a in audit], [a["reference"] for a in audit]
    assert len(hyps) == 2 and all(a["generated_tokens"] <= 8 for a in audit)
    assert bleu.value == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    f1 = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs, strict=True)]
    assert rouge.value == pytest.approx(sum(f1) / len(f1))


def test_scoring_functions_on_known_text() -> None:
    from agent_eval.metrics.generation import corpus_bleu, rouge_l

    refs = ["theorem t : a + b = b + a := add_comm a b"]
    assert corpus_bleu(refs, refs) == pytest.approx(100.0)
    assert rouge_l(refs, refs)[0] == pytest.approx(1.0)
    assert rouge_l(["completely different words"], refs)[0] == 0.0


def _budget_spec(make_spec: Callable[..., TaskSpec]) -> TaskSpec:
    params = {"dataset": "example/labels", "label_column": "label"}
    return make_spec(
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


def _predictions(folder: Path) -> Path:
    folder.mkdir()
    # 10 rows, labels i % 3; predict 0 everywhere: 4 right (i = 0, 3, 6, 9).
    lines = ["image_id,label"] + [f"img{i},0" for i in range(10)]
    (folder / "submission.csv").write_text("\n".join(lines) + "\n")
    return folder / "submission.csv"


@pytest.fixture
def unmeasured_metric() -> Any:
    """A metric registered as needing a measurement the evaluator lacks; removed afterwards."""
    from agent_eval.metrics import registry

    def self_timed(ctx: Any, mspec: Any) -> list[Any]:
        """Reads a number the agent wrote (it must never run)."""
        raise AssertionError("an unmeasured metric must not run")

    registered = registry.Registered(
        key="self_timed",
        function=self_timed,
        needs="nothing",
        description="Reads a number the agent wrote",
        unmeasured="the agent timed itself",
    )
    contribution = registry.METRICS.contribute(
        lambda: registered, module=__name__, origin="self_timed"
    )
    yield "self_timed"
    registry.METRICS.withdraw(contribution)


def test_an_unmeasured_metric_records_an_error_never_a_value(
    tmp_path: Path, make_spec: Callable[..., TaskSpec], unmeasured_metric: str
) -> None:
    spec = make_spec(
        "timed",
        [{"name": unmeasured_metric}],
        deliverable={"kind": "method", "path": "method", "description": "code"},
        anchors={"source": "t", "baseline": 0.0, "reference": 1.0},
    )
    method = tmp_path / "method"
    method.mkdir()
    (method / "inference.json").write_text(json.dumps({"inference_time_s": 0.6}))
    outcome = evaluate(
        EvalOptions(model_args=str(method), task="x", record=False, results_dir=tmp_path / "r"),
        spec=spec,
    )
    saved = json.loads(outcome.path.read_text())
    assert outcome.exit_code == 5
    assert saved["status"] == "error" and saved["score"] is None and saved["metrics"] == []
    (error,) = saved["errors"]
    assert error["stage"] == "metric:self_timed" and error["type"] == "NotMeasuredError"
    assert "not measured by the evaluator: the agent timed itself" in error["message"]


def test_accuracy_of_predictions_against_hidden_labels(
    eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    """The scoring the evaluator's own re-run will use, on a CSV it produced."""
    from agent_eval.metrics.predictions import accuracy
    from agent_eval.metrics.registry import MetricContext

    spec = _budget_spec(make_spec)
    ctx = MetricContext(spec=spec, data_dir=eval_data_dir, predictions=_predictions(tmp_path / "o"))
    acc, rows, facts = accuracy(ctx, spec.metrics[1])
    assert acc == pytest.approx(0.4) and rows == 10 and facts["predicted"] == 10


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
    assert "not ranked: a quick check (--limit 1)" in text  # run with limit=1


def test_a_stderr_of_floating_point_noise_shows_as_0(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    """A ROUGE-L stderr of 7.8e-19 over identical scores is a zero spread, shown as 0."""
    result = _result(tiny_gpt2_dir, eval_data_dir, tmp_path, make_spec).result
    params = result.metric("parameters")
    assert params is not None
    noisy = params.model_copy(
        update={"name": "rouge_l", "value": 0.4, "stderr": 7.8e-19, "unit": ""}
    )
    tiny = params.model_copy(update={"name": "small", "value": 0.4, "stderr": 2.5e-5, "unit": ""})
    result = result.model_copy(update={"metrics": (*result.metrics, noisy, tiny)})
    buffer = io.StringIO()
    render_result(result, Console(file=buffer, width=200, color_system=None))
    rows = {line.split("│")[1].strip(): line for line in buffer.getvalue().splitlines()
            if line.count("│") > 3}  # fmt: skip
    assert rows["rouge_l"].split("│")[3].strip() == "0"
    assert "e-19" not in buffer.getvalue()
    assert rows["small"].split("│")[3].strip() == "2.5e-05"  # a real small stderr stays


def test_report_says_the_primary_metric_was_not_asked_for_not_that_it_failed(
    tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    spec = make_spec(
        "x", [{"name": "parameters"}, {"name": "perplexity"}],
        "perplexity",
    )  # fmt: skip
    options = dict(model_args=str(tiny_gpt2_dir), task="x", device="cpu", record=False,
                   data_dir=eval_data_dir, results_dir=tmp_path / "r")  # fmt: skip
    only = evaluate(EvalOptions(**options, metrics=["parameters"]), spec=spec)  # type: ignore[arg-type]
    assert only.result.status == "ok" and only.exit_code == 0
    buffer = io.StringIO()
    render_result(only.result, Console(file=buffer, width=200, color_system=None), only.path)
    text = buffer.getvalue()
    assert "none: the primary metric perplexity was not computed (not among --metrics)" in text
    assert "failed" not in text


def test_metrics_command_names_what_is_not_measured_yet(unmeasured_metric: str) -> None:
    from typer.testing import CliRunner

    from agent_eval.cli import app

    result = CliRunner().invoke(app, ["metrics", "--json"], catch_exceptions=False)
    rows = {r["key"]: r for r in json.loads(result.stdout)}
    assert rows[unmeasured_metric]["unmeasured"] == "the agent timed itself"
    assert rows["perplexity"]["unmeasured"] is None
    table = CliRunner().invoke(app, ["metrics"], env={"COLUMNS": "400"}, catch_exceptions=False)
    assert "not measured by the evaluator yet: the agent timed itself" in table.stdout


PLUGIN_METRIC = '''
"""A lab's own metric, installed as a plugin: the number of files in the deliverable."""

from agent_eval.metrics.registry import metric, value


@metric("lab_file_count", needs="model")
def lab_file_count(ctx, mspec):
    """Files in the model folder (a lab's own metric, added without a fork)."""
    count = sum(1 for p in ctx.loaded.folder.iterdir() if p.is_file())
    return [value(mspec, "lab_file_count", float(count), unit="files", direction="lower")]
'''


def _plugin_site(root: Path, module: str, source: str) -> Path:
    """A folder that installs ``module`` with an ``agent_eval.metrics`` entry point."""
    root.mkdir(parents=True)
    (root / f"{module}.py").write_text(source, encoding="utf-8")
    dist = root / f"{module}-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text(f"[agent_eval.metrics]\nlab = {module}\n")
    return root


def _path_with(folder: Path) -> str:
    return os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def test_an_installed_metric_plugin_joins_the_registry(tmp_path: Path) -> None:
    import subprocess
    import sys

    site = _plugin_site(tmp_path / "site", "mlrb_lab_metrics", PLUGIN_METRIC)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "agent-eval"), "metrics", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    keys = {m["key"]: m for m in json.loads(listed.stdout)}
    assert keys["lab_file_count"]["description"].startswith("Files in the model folder")

    broken = _plugin_site(tmp_path / "broken", "mlrb_broken_metrics", "raise RuntimeError('x')")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(broken), os.environ.get("PYTHONPATH", "")]),
    }
    failed = subprocess.run(
        [str(Path(sys.executable).parent / "agent-eval"), "metrics"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "metric plugin 'lab'" in failed.stderr and "RuntimeError" in failed.stderr
