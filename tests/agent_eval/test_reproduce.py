"""``agent-eval reproduce RESULTS_FILE``: re-evaluated from the record alone, compared per metric,
refused when an input no longer matches its hash."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


def _evaluate(run_cli: Run, model: Path, task: str, results: Path, *extra: str) -> Path:
    proc = run_cli(
        "--model_args", str(model), "--task", task, "--no-db", "--device", "cpu",
        "--results-dir", str(results), *extra,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (saved,) = results.glob("*.json")
    return saved


def test_a_tiny_lm_result_is_reproduced_identically(
    run_cli: Run, tmp_path: Path, tiny_tokenizer: Any, save_tiny_gpt2: Any
) -> None:
    model = save_tiny_gpt2(tmp_path / "model", tiny_tokenizer)
    saved = _evaluate(run_cli, model, "tiny_lm", tmp_path / "results")
    proc = run_cli("reproduce", str(saved), "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    recorded = json.loads(saved.read_text("utf-8"))
    assert report["reproduced"] is True
    assert {m["name"] for m in report["metrics"]} == {m["name"] for m in recorded["metrics"]}
    assert all(m["verdict"] == "identical" for m in report["metrics"]), report["metrics"]
    assert report["model_sha256"] == recorded["model"]["sha256"]
    table = run_cli("reproduce", str(saved))
    assert table.returncode == 0 and "bits_per_byte" in table.stdout
    assert "identical" in table.stdout


def test_a_changed_model_is_refused_with_its_reason(
    run_cli: Run, tmp_path: Path, tiny_tokenizer: Any, save_tiny_gpt2: Any
) -> None:
    model = save_tiny_gpt2(tmp_path / "model", tiny_tokenizer)
    saved = _evaluate(run_cli, model, "tiny_lm", tmp_path / "results")
    save_tiny_gpt2(model, tiny_tokenizer, seed=7)  # other weights at the same path
    proc = run_cli("reproduce", str(saved))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 5
    assert "no longer matches its hash" in proc.stderr and str(model) in proc.stderr
    assert proc.stdout.strip() == ""  # nothing compared


def test_changed_data_is_refused_and_timed_metrics_are_judged_against_their_band(
    run_cli: Run, tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path
) -> None:
    """evaltest_lm: perplexity on the data folder's WikiText plus generation speed (timed)."""
    data = tmp_path / "data"
    shutil.copytree(eval_data_dir, data)
    saved = _evaluate(
        run_cli, tiny_gpt2_dir, "evaltest_lm", tmp_path / "results", "--data-dir", str(data)
    )
    proc = run_cli("reproduce", str(saved), "--json", "--data-dir", str(data))
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    verdicts = {m["name"]: m for m in report["metrics"]}
    assert verdicts["perplexity"]["verdict"] == "identical"
    assert verdicts["parameters"]["verdict"] == "identical"
    recorded = json.loads(saved.read_text("utf-8"))
    speed = next(m for m in recorded["metrics"] if m["name"] == "generation_speed")
    repeats = speed["details"]["tokens_per_s_per_repeat"]
    assert verdicts["generation_speed"]["band"] == [min(repeats) * 0.5, max(repeats) * 1.5]
    assert verdicts["generation_speed"]["verdict"] in ("identical", "within band", "different")
    assert proc.returncode == (0 if report["reproduced"] else 5)

    text = data / "wikitext2" / "test.txt"
    text.write_text(text.read_text("utf-8") + "one more line", "utf-8")
    refused = run_cli("reproduce", str(saved), "--data-dir", str(data))
    assert "Traceback" not in refused.stderr, refused.stderr
    assert refused.returncode == 5
    assert "the data wikitext/wikitext-2-raw-v1 test no longer matches its hash" in refused.stderr
    assert "not reproduced" not in refused.stderr and refused.stdout.strip() == ""


def test_a_file_that_is_not_a_result_is_a_usage_error(run_cli: Run, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"task": "tiny_lm"}', "utf-8")
    proc = run_cli("reproduce", str(bogus))
    assert proc.returncode == 2 and "is not a results file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_digit_task_result_is_reproduced_by_re_running_its_code(
    run_cli: Run, tmp_path: Path
) -> None:
    """digit_sums: the starter's baseline, trained for real; the evaluator re-runs main.py in
    its sandbox. Accuracies are identical; TWE and its time are judged against their band."""
    import sys

    from agent_tasks.export import export_task

    starter = export_task("digit_sums", tmp_path / "task") / "starter"
    out = tmp_path / "output"
    out.mkdir()
    subprocess.run(
        [sys.executable, str(starter / "train.py"), "--out", str(out / "weights.npz")],
        check=True,
        capture_output=True,
    )
    shutil.copy(starter / "main.py", out / "main.py")
    saved = _evaluate(run_cli, out, "digit_sums", tmp_path / "results")
    proc = run_cli("reproduce", str(saved), "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    verdicts = {m["name"]: m for m in report["metrics"]}
    assert verdicts["twe_accuracy"]["verdict"] == "identical"
    assert verdicts["predictions_accuracy"]["verdict"] == "identical"
    metrics = {m["name"]: m for m in json.loads(saved.read_text("utf-8"))["metrics"]}
    # The band is the recorded rounds': any median ratio between the slowest and the fastest
    # recorded round (a time grows with the ratio, TWE shrinks with it).
    timing = metrics["twe"]["timing"]
    low_r, high_r = timing["ratio_min"] / timing["ratio"], timing["ratio_max"] / timing["ratio"]
    seconds, twe = metrics["twe_inference_s"]["value"], metrics["twe"]["value"]
    assert verdicts["twe_inference_s"]["band"] == pytest.approx([seconds * low_r, seconds * high_r])
    assert verdicts["twe"]["band"] == pytest.approx([twe / high_r, twe / low_r])
    for timed in ("twe", "twe_inference_s"):
        low, high = verdicts[timed]["band"]
        assert low < metrics[timed]["value"] < high
        again, verdict = verdicts[timed]["reproduced"], verdicts[timed]["verdict"]
        assert (verdict in ("identical", "within band")) == (low <= again <= high), verdict
    assert proc.returncode == (0 if report["reproduced"] else 5)


@pytest.fixture(scope="module")
def tiny_record(
    run_cli: Run, tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer: Any, save_tiny_gpt2: Any
) -> Path:
    """A tiny_lm results file, its model left at the recorded path."""
    root = tmp_path_factory.mktemp("tiny_record")
    model = save_tiny_gpt2(root / "model", tiny_tokenizer)
    return _evaluate(run_cli, model, "tiny_lm", root / "results")


def test_an_edited_record_is_not_reproduced_and_each_claim_is_named(
    run_cli: Run, tiny_record: Path, tmp_path: Path
) -> None:
    """Every metric value is left as evaluated; the record's status, data_subset, task version
    and normalised score are edited. Each is a difference, the whole is not reproduced."""
    data = json.loads(tiny_record.read_text("utf-8"))
    assert data["status"] == "ok" and data["data_subset"] is False
    assert data["score"] is not None and data["score"]["normalised"] is not None
    normalised = data["score"]["normalised"]
    data.update(status="partial", data_subset=True, task_version="0.0.1")
    data["score"]["normalised"] = normalised + 10
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data), "utf-8")
    proc = run_cli("reproduce", str(edited), "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 5
    report = json.loads(proc.stdout)
    assert report["reproduced"] is False
    assert all(m["verdict"] == "identical" for m in report["metrics"]), report["metrics"]
    notes = "\n".join(report["notes"])
    assert "differs: status: recorded partial, reproduced ok" in notes
    assert "differs: data_subset: recorded True, reproduced False" in notes
    assert "differs: task_version: recorded 0.0.1, reproduced " in notes
    assert f"differs: score.normalised: recorded {normalised + 10}" in notes
    fields = {d["field"] for d in report["differences"]}
    assert {"status", "data_subset", "task_version", "score.normalised"} <= fields
    assert "status, data_subset" in " ".join(proc.stderr.split())  # the error names them
    table = run_cli("reproduce", str(edited))
    assert table.returncode == 5 and "differs: status: recorded partial" in table.stdout


def test_each_claim_of_the_record_is_checked_on_its_own(tiny_record: Path) -> None:
    from agent_eval.reproduce import differences, read_record

    record = read_record(tiny_record)
    assert differences(record, record) == []
    assert record.score is not None and record.datasets
    edits: dict[str, Any] = {
        "status": record.model_copy(update={"status": "partial"}),
        "data_subset": record.model_copy(update={"data_subset": True}),
        "task_version": record.model_copy(update={"task_version": "0.0.1"}),
        "score.normalised": record.model_copy(
            update={"score": record.score.model_copy(update={"normalised": 99.0})}
        ),
        "score.raw": record.model_copy(
            update={"score": record.score.model_copy(update={"raw": record.score.raw + 1})}
        ),
    }
    used = record.datasets[0]
    edits[f"datasets[{used.id} {used.split}].complete"] = record.model_copy(
        update={"datasets": (used.model_copy(update={"complete": not used.complete}),)}
    )
    for field, edited in edits.items():
        found = [d.field for d in differences(edited, record)]
        # a raw value edited alone no longer gives its normalised score either
        assert found == [field, "score.normalised"] if field == "score.raw" else [field], found


def test_a_model_replaced_after_the_check_is_refused(
    tiny_record: Path, tiny_tokenizer: Any, save_tiny_gpt2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model matches its hash when reproduce checks it, and is replaced before the
    re-evaluation loads it: the result of other bytes is refused, not compared."""
    import sys

    from agent_eval.reproduce import ReproduceRefusedError, read_record, reproduce

    evaluate_module = sys.modules["agent_eval.evaluate"]  # the package exports its function

    record = read_record(tiny_record)
    model = Path(record.model.path)
    backup = model.parent / "model-as-evaluated"
    shutil.copytree(model, backup)
    real = evaluate_module.evaluate

    def replaced_then_evaluated(*args: Any, **kwargs: Any) -> Any:
        save_tiny_gpt2(model, tiny_tokenizer, seed=7)
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "evaluate", replaced_then_evaluated)
    try:
        with pytest.raises(ReproduceRefusedError, match="evaluated again has sha256"):
            reproduce(tiny_record)
    finally:
        shutil.rmtree(model)
        backup.rename(model)


def test_a_timed_value_edited_outside_its_recorded_spread_is_different(
    run_cli: Run, tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path
) -> None:
    """generation_speed's band is its recorded per-repeat spread: a value edited to ten times
    its median would still have the re-measured speed inside that band."""
    saved = _evaluate(
        run_cli, tiny_gpt2_dir, "evaltest_lm", tmp_path / "results", "--data-dir",
        str(eval_data_dir),
    )  # fmt: skip
    data = json.loads(saved.read_text("utf-8"))
    speed = next(m for m in data["metrics"] if m["name"] == "generation_speed")
    speed["value"] *= 10
    saved.write_text(json.dumps(data), "utf-8")
    proc = run_cli("reproduce", str(saved), "--json", "--data-dir", str(eval_data_dir))
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    verdicts = {m["name"]: m for m in report["metrics"]}
    assert verdicts["generation_speed"]["verdict"] == "different"
    assert verdicts["generation_speed"]["band"] is None
    assert any(
        n.startswith("generation_speed: the record is inconsistent: value") for n in report["notes"]
    ), report["notes"]
    assert proc.returncode == 5 and report["reproduced"] is False


def test_a_timing_widened_by_hand_gives_no_band(tiny_record: Path) -> None:
    """A time measured against baseline code: its band is its rounds' ratios. Widened
    ``ratio_min``/``ratio_max`` (the rounds left as measured) would admit a time twice as long."""
    from agent_contracts.results import MetricValue, Timing, TimingRound
    from agent_eval.reproduce import compare, read_record

    record = read_record(tiny_record)
    rounds = tuple(
        TimingRound(baseline_s=1.0, agent_s=r, ratio=r, agent_first=i % 2 == 0)
        for i, r in enumerate((0.9, 1.0, 1.1))
    )
    timing = Timing(
        warmup_rounds=1, rounds=rounds, ratio=1.0, ratio_min=0.9, ratio_max=1.1,
        baseline_s=1.0, agent_s=1.0, reference_baseline_s=10.0, seconds=10.0, sandbox="process",
    )  # fmt: skip

    def with_time(value: float, timed: Timing) -> Any:
        metric = MetricValue(
            name="twe", value=1.0, unit="score", direction="higher", source="twe", timing=timed
        )
        part = MetricValue(
            name="twe_inference_s", value=value, unit="s", direction="lower", source="twe"
        )
        return record.model_copy(update={"metrics": (metric, part)})

    honest = with_time(10.0, timing)
    slower = with_time(20.0, timing)
    assert {c.name: c.verdict for c in compare(honest, slower)}["twe_inference_s"] == "different"
    assert {c.name: c.verdict for c in compare(honest, with_time(10.5, timing))}[
        "twe_inference_s"
    ] == "within band"
    widened = with_time(10.0, timing.model_copy(update={"ratio_min": 0.1, "ratio_max": 3.0}))
    (twe, seconds) = compare(widened, slower)
    assert (seconds.verdict, seconds.band) == ("different", None)
    assert twe.verdict == "different"
