"""The LLM reference agent (agents/llm) through the harness's real proxy, to an evaluated result.

The provider is a scripted OpenAI-compatible upstream on 127.0.0.1 that accepts only the real
key: the agent holds a per-run token, the proxy swaps it for the key, counts the calls, and the
run's deliverable is evaluated and recorded like any other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, FAKE_KEY, REPO, clean_env, cli  # type: ignore[import-not-found]
from scripted_upstream import ScriptedUpstream  # type: ignore[import-not-found]

AGENT = REPO / "agents" / "llm" / "agent.py"


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    """A provider that asks for one command, then submits."""
    script = [
        {"tool": "bash", "args": {"command": "ls $TASK_DIR/starter; ls $OUTPUT_DIR/model"}},
        {"tool": "submit", "args": {"summary": "kept the starter's model"}},
    ]
    server = ScriptedUpstream(FAKE_KEY, script=script).start()
    yield server
    server.stop()


@pytest.mark.slow
def test_llm_agent_runs_through_the_proxy_to_an_evaluated_result(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    runs, results = tmp_path / "runs", tmp_path / "results"
    env = clean_env(OPENAI_API_KEY=FAKE_KEY, MLRB_OPENAI_UPSTREAM=f"{upstream.url}/v1")
    done = cli(
        "agent-harness", "run", "mlrb/llm-agent:local", "--task", "tiny_lm", "--runtime", "local",
        "--provider", "openai", "--budget-usd", "1", "--time-limit", "5m", "--grace", "2s",
        "--command", f"{BIN / 'python'} {AGENT}", "--runs-dir", str(runs), "--evaluate",
        "--eval-mode", "process", "--results-dir", str(results), "--json",
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(done.stdout)
    run_dir = runs / record["run_id"]
    assert record["status"] == "completed" and record["credentials_mode"] == "proxy"
    usage = record["model_usage"]
    assert usage["calls"] == 2 and usage["budget_usd"] == 1 and not usage["budget_exhausted"]
    assert [r.key for r in upstream.received] == [FAKE_KEY, FAKE_KEY]
    # The agent's loop: fallback first, then the scripted command, then submit.
    steps = [json.loads(line) for line in (run_dir / "output" / "trajectory.jsonl").open()]
    kinds = [s["kind"] for s in steps]
    assert kinds == ["fallback", "model", "tool", "model", "submit", "stop"], kinds
    assert "config.json" in steps[2]["output"] and steps[-1]["reason"] == "submitted"
    # The second call carried the command's output back to the model.
    assert "config.json" in json.dumps(upstream.received[1].body["messages"])
    (result_file,) = results.glob("*.json")
    result = json.loads(result_file.read_text())
    assert result["run_id"] == record["run_id"] and result["status"] == "ok"
    with sqlite3.connect(results / "mlrb.sqlite") as conn:
        row = conn.execute(
            "SELECT model_calls, input_tokens, output_tokens, cost_usd FROM runs WHERE run_id = ?",
            (record["run_id"],),
        ).fetchone()
    assert row == (2, usage["input_tokens"], usage["output_tokens"], usage["cost_usd"])
    # The key is nowhere: run folder, results, database, console.
    for path in [*run_dir.rglob("*"), *results.rglob("*")]:
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert FAKE_KEY not in done.stdout + done.stderr
