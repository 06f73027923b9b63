"""``agent-harness run --snapshot-every``: copies of the output while the agent runs, made like
the final output (no link, no set-id bit, the owner's), bounded in total size."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from harness_testkit import run_once

from agent_harness.output_safety import output_owner

# Writes a new version every half second, with a link out of the folder and a setuid bit.
AGENT = (
    "mkdir -p $OUTPUT_DIR/model; i=0; while [ $i -lt 8 ]; do "
    "echo v$i > $OUTPUT_DIR/model/weights.txt; chmod 4755 $OUTPUT_DIR/model/weights.txt; "
    "ln -sfn /etc/passwd $OUTPUT_DIR/model/leak; sleep 0.5; i=$((i+1)); done"
)


def test_snapshots_are_taken_while_the_agent_runs_and_made_safe(
    runtime: str, runs_dir: Path
) -> None:
    record, run_dir, _ = run_once(runtime, runs_dir, AGENT, snapshot_every="1s")
    assert record.status == "completed", (run_dir / "agent.log").read_text()
    snapshots = record.snapshots
    assert snapshots is not None and snapshots.every_s == 1 and not snapshots.problems
    assert len(snapshots.taken) >= 2 and snapshots.taken == sorted(snapshots.taken)
    names = sorted(int(p.name) for p in (run_dir / "snapshots").iterdir())
    assert names == snapshots.taken
    versions = []
    owner = output_owner()
    for elapsed in names:
        model = run_dir / "snapshots" / str(elapsed) / "model"
        weights = model / "weights.txt"
        versions.append(int(weights.read_text().strip()[1:] or 0))
        info = weights.lstat()
        assert stat.S_IMODE(info.st_mode) == 0o755  # executable kept, setuid never
        assert (info.st_uid, info.st_gid) == owner
        assert not os.path.lexists(model / "leak")  # the link out of the folder is left out
    assert versions == sorted(versions)  # later snapshots, later versions
    assert snapshots.bytes == sum(
        p.stat().st_size for p in (run_dir / "snapshots").rglob("*") if p.is_file()
    )
    # The final output is copied out as always, and the staging folder is gone.
    assert (run_dir / "output" / "model" / "weights.txt").read_text() == "v7\n"
    assert not (run_dir / "staging").exists()


def test_the_snapshots_limit_holds_and_stops_further_snapshots(runs_dir: Path) -> None:
    record, run_dir, _ = run_once("local", runs_dir, AGENT, snapshot_every="1s", snapshot_limit="2")
    assert record.status == "completed"
    snapshots = record.snapshots
    assert snapshots is not None and snapshots.taken == [] and snapshots.bytes == 0
    assert len(snapshots.problems) == 1 and "over --snapshot-limit (2)" in snapshots.problems[0]
    assert list((run_dir / "snapshots").iterdir()) == []


def test_no_snapshots_unless_asked(runs_dir: Path) -> None:
    record, run_dir, _ = run_once("local", runs_dir, "true")
    assert record.snapshots is None and not (run_dir / "snapshots").exists()
