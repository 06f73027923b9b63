"""The fault-injection matrix (benchmarks/fault_matrix.py) keeps working: one round of its
harness column, run as a user runs it, counts nothing re-run, lost, duplicated, overlapping or
unrecorded, while its agents make real calls through the proxy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_one_round_of_the_fault_matrix_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "matrix.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "fault_matrix.py"), "--rounds", "1",
         "--skip-ray", "--only", "scheduler+harness", "--seed", "5", "--out", str(out)],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    (row,) = json.loads(out.read_text())["rounds"]
    assert row["exit_code"] == 0 and row["harness_killed"], row
    assert {k: row[k] for k in ("rerun", "lost", "duplicated", "overlapping")} == dict.fromkeys(
        ("rerun", "lost", "duplicated", "overlapping"), 0
    )
    # Calls were made and each one answered is in some attempt's run.json.
    assert row["calls_answered"] > 0 and row["unrecorded_calls"] == 0, row
    assert row["calls_recorded"] == row["calls_answered"]
