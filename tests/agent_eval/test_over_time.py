"""``agent-eval --model_args runs/<id> --task T --over-time``: every snapshot of the run's output
and the final deliverable evaluated, the series recorded in the results JSON."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.tiny_models import save_gpt2

from agent_contracts.run_record import DeliverableRecord, Limits, OutputSafety, RunRecord
from agent_eval.errors import EvalUsageError
from agent_eval.evaluate import EvalOptions, evaluate, validate
from agent_eval.results import read_result
from agent_tasks.spec import TaskSpec

METRICS = [{"name": "bits_per_byte", "direction": "lower", "params": {"dataset": "wikitext2"}}]


def _run_folder(root: Path, tokenizer: Any) -> Path:
    run_dir = root / "runs" / "20261201T000000Z-lm_task-abc123"
    save_gpt2(run_dir / "output" / "model", tokenizer, seed=3)
    save_gpt2(run_dir / "snapshots" / "600" / "model", tokenizer, seed=1)
    save_gpt2(run_dir / "snapshots" / "1800" / "model", tokenizer, seed=2)
    # A snapshot whose model is a link out of the run folder: refused, never scored.
    save_gpt2(root / "elsewhere" / "model", tokenizer, seed=4)
    (run_dir / "snapshots" / "1200").mkdir()
    (run_dir / "snapshots" / "1200" / "model").symlink_to(root / "elsewhere" / "model")
    (run_dir / "snapshots" / "notes").mkdir()  # not a snapshot: its name is not seconds
    record = RunRecord(
        run_id=run_dir.name,
        task="lm_task",
        benchmark="test_benchmark",
        task_version="1.0.0",
        image="local",
        runtime="local",
        provider="none",
        gpus=[],
        limits=Limits(time_limit_s=3600, grace_s=5),
        started_at="2026-12-01T00:00:00.000Z",
        deadline=0.0,
        duration_s=3000.0,
        status="completed",
        exit_code=0,
        deliverable=DeliverableRecord(path="output/model", source="spec"),
        output_safety=OutputSafety(owner="0:0", safe=True, copied=True),
    )
    (run_dir / "run.json").write_text(record.model_dump_json(indent=2))
    return run_dir


def test_every_snapshot_and_the_final_deliverable_are_scored_in_order(
    tmp_path: Path,
    eval_data_dir: Path,
    tiny_tokenizer: Any,
    make_spec: Callable[..., TaskSpec],
) -> None:
    run_dir = _run_folder(tmp_path, tiny_tokenizer)
    spec = make_spec(
        "lm_task", METRICS, anchors={"source": "t", "baseline": 16.0, "reference": 4.0}
    )
    options = EvalOptions(
        model_args=str(run_dir),
        task="lm_task",
        results_dir=tmp_path / "results",
        device="cpu",
        record=False,
        data_dir=eval_data_dir,
        over_time=True,
    )
    outcome = evaluate(options, spec=spec)
    result = read_result(outcome.path)
    series = result.over_time
    assert [(p.elapsed_s, p.snapshot, p.final) for p in series] == [
        (600.0, "snapshots/600/model", False),
        (1200.0, "snapshots/1200/model", False),
        (1800.0, "snapshots/1800/model", False),
        (3000.0, "output/model", True),
    ]
    assert [p.status for p in series] == ["ok", "error", "ok", "ok"]
    assert series[1].score is None and series[1].errors  # the link was refused, not scored
    values = [p.metrics[0].value for p in series if p.metrics]
    assert len(values) == 3 and len(set(values)) == 3  # three different models, three numbers
    assert series[-1].score == result.score and series[-1].metrics == result.metrics
    for point in (series[0], series[2]):
        assert point.score is not None and point.score.normalised is not None
    saved = json.loads(outcome.path.read_text())
    assert [p["elapsed_s"] for p in saved["over_time"]] == [600.0, 1200.0, 1800.0, 3000.0]


def test_over_time_needs_a_run_folder(
    tmp_path: Path, tiny_gpt2_dir: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    spec = make_spec("lm_task", METRICS)
    model = tmp_path / "model"
    shutil.copytree(tiny_gpt2_dir, model)
    options = EvalOptions(model_args=str(model), task="lm_task", over_time=True)
    with pytest.raises(EvalUsageError, match="--over-time needs a run folder") as refused:
        validate(options, spec)
    assert refused.value.exit_code == 2
