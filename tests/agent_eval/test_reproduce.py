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
