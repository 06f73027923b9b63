"""Hostile agents against the evaluator's trust boundary, through the real harness and evaluator.

Each agent runs for real (``agent-harness run --runtime local --command ...``, no Docker
needed) and leaves a deliverable that must never be scored; the harness hands the run to the
real evaluator (``--evaluate --eval-mode process``). What a user notices is asserted: the
harness returns promptly, run.json records the evaluation's exit 5, the results file and the
database hold an error linked to the run, and the leaderboard shows no score.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from support.e2e import cli, evaluation_rows

ATTACKS = {
    # the deliverable is a link out of the output folder (the copy-out leaves every link out
    # of the copy the host reads: no deliverable is left)
    "link-out": ("ln -s {model} $OUTPUT_DIR/model", None),
    # submission.json names a model outside the output folder (the harness rejects it)
    "submission-outside": (
        'echo \'{{"model_path": "{model}"}}\' > $OUTPUT_DIR/submission.json',
        "outside the output folder",
    ),
    # a FIFO where config.json should be: an evaluator that opened it would hang forever
    "fifo-config": (
        "cp -r {model} $OUTPUT_DIR/model && rm $OUTPUT_DIR/model/config.json "
        "&& mkfifo $OUTPUT_DIR/model/config.json",
        None,
    ),
}


def _only(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_hostile_deliverable_gets_no_score(tmp_path: Path, tiny_model: Path, attack: str) -> None:
    command, rejected = ATTACKS[attack]
    runs, results = tmp_path / "runs", tmp_path / "results"
    started = time.monotonic()
    done = cli(
        "agent-harness", "run", "hostile-agent", "--task", "tiny_lm", "--runtime", "local",
        "--runs-dir", str(runs), "--time-limit", "1m", "--evaluate", "--eval-mode", "process",
        "--results-dir", str(results), "--command", command.format(model=tiny_model),
        timeout=180,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert elapsed < 90, f"the harness and evaluator took {elapsed:.0f} s"
    assert done.returncode == 5, done.stdout[-2000:] + done.stderr[-2000:]
    record: dict[str, Any] = json.loads(_only(runs, "*/run.json").read_text())
    if rejected:
        assert record["deliverable"] is None
        assert rejected in record["deliverable_rejected"]
    if attack == "link-out":
        assert record["deliverable"] is None
        assert record["output_safety"]["removed"] == {"symbolic link": 1}
    assert record["evaluation"]["exit_code"] == 5
    result = json.loads(_only(results, "*.json").read_text())
    assert result["run_id"] == record["run_id"]
    assert result["status"] == "error"
    assert result["score"] is None and result["metrics"] == []
    if record["deliverable"] is None:
        assert result["model"]["sha256"] is None  # nothing of it was read
    else:  # a load failure names the model it failed on: its regular files' hash
        assert len(result["model"]["sha256"]) == 64
        assert not any(e["type"] == "DeliverableRefusedError" for e in result["errors"])
    assert [(r[1], r[3]) for r in evaluation_rows(results)] == [(record["run_id"], "error")]
    board = cli("agent-eval", "leaderboard", "-b", "smoke", "--json", "--results-dir", str(results))
    assert board.returncode == 0, board.stderr
    (view,) = json.loads(board.stdout)["benchmarks"]
    cells = [r["cells"]["tiny_lm"] for r in view["rows"] if r["kind"] == "agent"]
    assert cells and all(c["value"] is None and c["valid_trials"] == 0 for c in cells)
