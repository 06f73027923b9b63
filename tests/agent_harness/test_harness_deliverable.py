"""The deliverable must lie inside the output folder, whatever submission.json says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_harness.deliverable import find_deliverable


def _output(tmp_path: Path) -> Path:
    out = tmp_path / "run" / "output"
    (out / "model").mkdir(parents=True)
    (out / "model" / "config.json").write_text("{}", encoding="utf-8")
    return out


def _submit(out: Path, model_path: object) -> None:
    (out / "submission.json").write_text(json.dumps({"model_path": model_path}), "utf-8")


def test_spec_default_path(tmp_path: Path) -> None:
    found = find_deliverable(_output(tmp_path), "model")
    assert (found.relative, found.source, found.rejected) == ("model", "spec", None)


@pytest.mark.parametrize("path", ["model", "/app/output/model", "./model/"])
def test_submission_paths_inside_are_accepted(tmp_path: Path, path: str) -> None:
    out = _output(tmp_path)
    _submit(out, path)
    found = find_deliverable(out, "model")
    assert (found.relative, found.source) == ("model", "submission.json")


def test_absolute_path_of_a_local_run_is_accepted(tmp_path: Path) -> None:
    out = _output(tmp_path)
    _submit(out, str(out.resolve() / "model"))
    assert find_deliverable(out, "model", output_alias=str(out.resolve())).relative == "model"


@pytest.mark.parametrize(
    "path", ["../../etc/passwd", "/etc/passwd", "/app/output/../../etc/passwd", "../output2", 7]
)
def test_paths_outside_are_rejected(tmp_path: Path, path: object) -> None:
    out = _output(tmp_path)
    _submit(out, path)
    found = find_deliverable(out, "model")
    assert found.relative is None
    assert found.rejected


def test_symlink_escaping_the_output_is_rejected(tmp_path: Path) -> None:
    out = _output(tmp_path)
    (out / "escape").symlink_to("/etc")
    _submit(out, "escape")
    assert "outside" in (find_deliverable(out, "model").rejected or "")
    (out / "model" / "config.json").unlink()
    (out / "model").rmdir()
    (out / "submission.json").unlink()
    (out / "model").symlink_to("/etc")
    found = find_deliverable(out, "model")
    assert found.relative is None and found.rejected


def test_missing_target_and_bad_json(tmp_path: Path) -> None:
    out = _output(tmp_path)
    _submit(out, "nothing-here")
    assert "does not exist" in (find_deliverable(out, "model").rejected or "")
    (out / "submission.json").write_text("{not json", encoding="utf-8")
    assert find_deliverable(out, "model").rejected


def test_a_file_where_a_model_folder_is_due_is_rejected(tmp_path: Path) -> None:
    out = _output(tmp_path)
    _submit(out, "model/config.json")
    found = find_deliverable(out, "model", kind="hf_model")
    assert found.relative is None
    assert "is a file" in (found.rejected or "") and "hf_model" in (found.rejected or "")
    (out / "submission.json").unlink()
    (out / "model" / "config.json").unlink()
    (out / "model").rmdir()
    (out / "model").write_text("not a folder", encoding="utf-8")
    found = find_deliverable(out, "model", kind="hf_model")
    assert found.relative is None and "is a file" in (found.rejected or "")


def test_a_folder_where_a_predictions_file_is_due_is_rejected(tmp_path: Path) -> None:
    out = _output(tmp_path)
    (out / "submission.csv").mkdir()
    found = find_deliverable(out, "submission.csv", kind="predictions_csv")
    assert found.relative is None and "is a folder" in (found.rejected or "")
    (out / "submission.csv").rmdir()
    (out / "submission.csv").write_text("image_id,label\n", encoding="utf-8")
    assert find_deliverable(out, "submission.csv", kind="predictions_csv").relative == (
        "submission.csv"
    )
