"""``agent-harness runs`` reads run.json of every version the harness has written, and leaves a
run.json from a newer harness out, saying to upgrade, instead of acting on a record it cannot read
(schema versions: tests/agent_eval/test_schema_versions.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from agent_contracts.run_record import SCHEMA_VERSION
from agent_harness.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"


def test_runs_lists_every_kept_version_and_warns_about_a_newer_one(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    ids = []
    for path in sorted(FIXTURES.glob("run-*.json")):
        run_id = json.loads(path.read_text())["run_id"]
        (runs_dir / run_id).mkdir(parents=True)
        shutil.copy(path, runs_dir / run_id / "run.json")
        ids.append(run_id)
    newer = runs_dir / "20991231T000000Z-llm_efficiency-f00f00"
    newer.mkdir()
    document = json.loads((FIXTURES / f"run-{SCHEMA_VERSION}.json").read_text())
    (newer / "run.json").write_text(
        json.dumps({**document, "schema_version": SCHEMA_VERSION + 1, "run_id": newer.name})
    )
    result = CliRunner().invoke(app, ["runs", "--runs-dir", str(runs_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(r["run_id"] for r in json.loads(result.stdout)) == sorted(ids)
    assert "1 run folder(s)" in result.stderr and newer.name in result.stderr
    assert "written by a newer harness" in result.stderr
    assert "hint: upgrade the mlrbench packages" in result.stderr
    assert "cannot be read" not in result.stderr  # it is not called corrupt
