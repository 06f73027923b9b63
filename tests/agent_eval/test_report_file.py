"""``agent-eval --report-file``: the hand-off report is written without following links planted
beside it, and a path that cannot name a file is a usage error before anything is evaluated."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent_eval.cli import _write_report, main


def _outcome(results: Path) -> SimpleNamespace:
    return SimpleNamespace(
        exit_code=5,
        path=results,
        result=SimpleNamespace(status="error"),
        recorded=True,
        db_error=None,
    )


def test_the_report_never_writes_through_a_link_planted_beside_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    report = tmp_path / "report.json"
    (tmp_path / ".report.json.partial").symlink_to(victim)  # the old fixed staging name
    assert _write_report(report, _outcome(tmp_path / "r.json")) is None
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert not report.is_symlink()
    written = json.loads(report.read_text(encoding="utf-8"))
    assert written["exit_code"] == 5 and written["recorded"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".report.json.partial",
        "report.json",
        "victim.txt",
    ]  # no staging file left behind


def test_a_report_that_cannot_be_written_is_a_warning_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "is_a_folder"
    folder.mkdir()
    warning = _write_report(folder, _outcome(tmp_path / "r.json"))
    assert warning is not None and "could not be written" in warning
    assert sorted(p.name for p in tmp_path.iterdir()) == ["is_a_folder"]


@pytest.mark.parametrize("bad", ["", "/", "{folder}", "{missing}/report.json"])
def test_a_report_path_that_names_no_writable_file_is_refused_before_evaluating(
    tmp_path: Path, bad: str
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    results = tmp_path / "results"
    path = bad.format(folder=tmp_path, missing=tmp_path / "missing")
    with pytest.raises(SystemExit) as ended:
        main(["--model_args", str(model), "--task", "tiny_lm", "--no-db",
              "--results-dir", str(results), "--report-file", path])  # fmt: skip
    assert ended.value.code == 2
    assert not list(results.glob("*.json"))  # nothing was evaluated


def test_a_stale_report_is_gone_when_the_evaluation_ends_without_a_result(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text('{"exit_code": 0, "recorded": true}', encoding="utf-8")  # an earlier run's
    with pytest.raises(SystemExit) as ended:  # a code task whose data folder is empty: exit 3
        main(["--model_args", str(tmp_path), "--task", "mini_budget_model_inference",
              "--no-db",
              "--results-dir", str(tmp_path / "results"), "--data-dir", str(tmp_path / "data"),
              "--report-file", str(report)])  # fmt: skip
    assert ended.value.code == 3  # the hidden test images are not in the data folder
    assert not report.exists()  # no report: this evaluation ended before it had a result
