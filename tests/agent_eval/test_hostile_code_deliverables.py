"""Code deliverables built to exhaust or crash the evaluator: each ends as a recorded result
(an error result and exit 5, or an honest score), never exit 1, a dense copy or a full disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_eval.metrics.predictions import MAX_LINE_CHARS, score_predictions
from agent_tasks.export import export_task

AGENT_EVAL = Path(sys.executable).parent / "agent-eval"
"""The installed console script a user runs."""
HEAD = (
    "import argparse, os\n"
    "p = argparse.ArgumentParser(); p.add_argument('--data_dir'); p.add_argument('--output')\n"
    "args = p.parse_args()\n"
    "ids = sorted(f[:-4] for f in os.listdir(os.path.join(args.data_dir, 'test')))\n"
)


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:  # CI runs as root: there a missing sandbox is a failure
        reason = "the code sandbox tests run as root"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """The evaluator's TMPDIR: empty before, and it must be empty after."""
    folder = Path(tempfile.mkdtemp(prefix="mlrb-hostile-scratch-"))
    folder.chmod(0o755)
    yield folder
    subprocess.run(["rm", "-rf", "--", str(folder)], check=False)


def _evaluate(deliverable: Path, task: str, scratch: Path, results: Path) -> tuple[int, Any]:
    """(exit code, results JSON or None) of the real ``agent-eval`` command."""
    done = subprocess.run(
        [
            *(str(AGENT_EVAL), "--model_args", str(deliverable), "--task", task),
            *("--no-db", "--results-dir", str(results)),
        ],
        env={**os.environ, "TMPDIR": str(scratch)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    saved = sorted(results.glob("*.json"))
    return done.returncode, json.loads(saved[0].read_text()) if saved else None


def _main(folder: Path, body: str) -> Path:
    folder.mkdir()
    (folder / "main.py").write_text(HEAD + body)
    return folder


def _deep(root: Path, levels: int) -> None:
    """``levels`` folders nested in ``root`` (made level by level: no path is too long)."""
    here = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=here)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=here)
            os.close(here)
            here = inner
    finally:
        os.close(here)


def test_predictions_are_read_within_the_stated_memory_bound(tmp_path: Path) -> None:
    """A 100 MB CSV of rows the labels do not name: reading it holds next to nothing."""
    labels = {f"s{i:04d}": str(i % 37) for i in range(300)}
    path = tmp_path / "submission.csv"
    with path.open("w") as fh:
        fh.write("image_id,digit_sum\n")
        junk = "".join(f"junk{i:012d},{'7' * 24}\n" for i in range(10_000))
        while fh.tell() < 100_000_000:
            fh.write(junk)
        fh.write("".join(f"{k},{v}\n" for k, v in labels.items()))
    assert path.stat().st_size > 100_000_000
    tracemalloc.start()
    try:
        header, right, predicted = score_predictions(path, labels)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (header, right, predicted) == (["image_id", "digit_sum"], 300, 300)
    assert peak < 8 * MAX_LINE_CHARS  # about one line, not the file (100 MB)


def test_a_predictions_line_without_end_is_a_recorded_error(scratch: Path, tmp_path: Path) -> None:
    body = "open(args.output, 'w').write('image_id,digit_sum\\n' + 'x' * (8 << 20))\n"
    code, result = _evaluate(_main(tmp_path / "out", body), "digit_sums", scratch, tmp_path / "r")
    assert code == 5 and result["status"] == "error" and result["score"] is None
    assert any("longer than" in e["message"] for e in result["errors"]), result["errors"]
    assert list(scratch.iterdir()) == []


def test_a_sparse_file_beyond_the_tasks_disk_is_refused_before_any_copy(
    scratch: Path, tmp_path: Path
) -> None:
    out = _main(tmp_path / "out", "open(args.output, 'w').write('image_id,digit_sum\\n')\n")
    with (out / "weights.bin").open("wb") as fh:
        fh.truncate(2 << 30)  # 2 GiB apparent, nothing on disk
    code, result = _evaluate(out, "digit_sums", scratch, tmp_path / "r")
    assert code == 5 and result["status"] == "error" and result["score"] is None
    (error,) = [e["message"] for e in result["errors"] if "beyond the task's disk" in e["message"]]
    assert "weights.bin" in error and f"{2 << 30:,} bytes" in error
    assert list(scratch.iterdir()) == []  # nothing was copied, nothing left


def test_a_deliverable_nested_1100_deep_is_a_recorded_error(scratch: Path, tmp_path: Path) -> None:
    out = _main(tmp_path / "out", "open(args.output, 'w').write('image_id,digit_sum\\n')\n")
    _deep(out, 1_100)
    try:
        code, result = _evaluate(out, "digit_sums", scratch, tmp_path / "r")
    finally:
        subprocess.run(["rm", "-rf", "--", str(out)], check=False)
    assert code == 5 and result["status"] == "error" and result["score"] is None
    assert any("deeper than 64" in e["message"] for e in result["errors"]), result["errors"]
    assert list(scratch.iterdir()) == []


def test_code_that_leaves_a_1100_deep_tree_is_scored_and_cleaned(
    scratch: Path, tmp_path: Path
) -> None:
    body = (
        "here = os.open(os.path.dirname(args.output), os.O_RDONLY)\n"
        "for _ in range(1100):\n"
        "    os.mkdir('d', dir_fd=here); here = os.open('d', os.O_RDONLY, dir_fd=here)\n"
        "rows = ''.join(f'{i},14\\n' for i in ids)\n"
        "open(args.output, 'w').write('image_id,digit_sum\\n' + rows)\n"
    )
    code, result = _evaluate(_main(tmp_path / "out", body), "digit_sums", scratch, tmp_path / "r")
    assert code == 0 and result["status"] == "ok", result["errors"]
    assert list(scratch.iterdir()) == []  # its tree went with the scratch folder


def test_a_deeply_nested_submission_json_is_a_recorded_error(scratch: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    starter = export_task("digit_method", tmp_path / "task") / "starter"
    shutil.copytree(starter / "methods", out / "methods")
    (out / "submission.json").write_text("[" * 20_000)
    code, result = _evaluate(out, "digit_method", scratch, tmp_path / "r")
    assert code == 5 and result["status"] == "error" and result["score"] is None
    assert any("does not name a method" in e["message"] for e in result["errors"])
    assert list(scratch.iterdir()) == []


def test_links_planted_in_a_shared_results_folder_are_never_followed(tmp_path: Path) -> None:
    """Audit files beside a result (``<stem>.generations.jsonl``) are written into a folder others
    may write to (the image's ``/results`` is 1777): links planted at the file's name and at the
    old fixed temporary name must not redirect the write."""
    from agent_eval.datasets import write_jsonl

    shared = tmp_path / "results"
    shared.mkdir(mode=0o1777)
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's file\n")
    victim.chmod(0o600)
    target = shared / "20261207T000000Z_tiny_lm_abcdef12.generations.jsonl"
    (shared / f"{target.name}.tmp").symlink_to(victim)
    target.symlink_to(victim)
    assert write_jsonl(target, [{"a": 1}]) == 1
    assert victim.read_bytes() == b"root's file\n" and oct(victim.stat().st_mode)[-3:] == "600"
    assert not target.is_symlink() and target.read_text() == '{"a": 1}\n'
