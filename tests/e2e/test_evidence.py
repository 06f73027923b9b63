"""The LLM reference agent through the real proxy: its transcript, working time, page and
Inspect log, as a user gets them from the command line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from scripted_upstream import ScriptedUpstream  # type: ignore[import-not-found]
from support.e2e import FAKE_KEY, REPO, clean_env, cli

from agent_contracts.transcript import TRANSCRIPT_FILE, read_transcript
from agent_eval.run_page import page_data
from agent_harness.runtimes.local import NOBODY, python_command

AGENT = REPO / "agents" / "llm" / "agent.py"
COMMAND = "echo '<script>window.__pwned=1</script>'; ls $TASK_DIR/starter"


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    """A provider that asks for one command, then submits."""
    script = [
        {"tool": "bash", "args": {"command": COMMAND}},
        {"tool": "submit", "args": {"summary": "kept the starter's model"}},
    ]
    server = ScriptedUpstream(FAKE_KEY, script=script).start()
    yield server
    server.stop()


@pytest.mark.slow
def test_the_llm_agents_transcript_working_time_page_and_inspect_log(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    env = clean_env(OPENAI_API_KEY=FAKE_KEY, MLRB_OPENAI_UPSTREAM=f"{upstream.url}/v1")
    # A root harness runs the local agent as nobody, who must be able to run this Python.
    python = python_command(NOBODY if os.geteuid() == 0 else None)
    done = cli(
        "agent-harness", "run", "mlrb/llm-agent:local", "--task", "tiny_lm", "--runtime", "local",
        "--provider", "openai", "--time-limit", "5m", "--grace", "2s",
        "--command", f"{python} {AGENT}", "--runs-dir", str(runs), "--json",
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(done.stdout)
    run_dir = runs / record["run_id"]
    assert record["model_usage"]["transcript_file"] == TRANSCRIPT_FILE
    assert record["working_time_s"] == pytest.approx(record["duration_s"], abs=0.01)

    calls = list(read_transcript(run_dir / TRANSCRIPT_FILE))
    assert [c.call for c in calls] == [1, 2] and all(c.status == 200 for c in calls)
    asked = calls[0].response["choices"][0]["message"]["tool_calls"][0]["function"]
    assert asked["name"] == "bash" and json.loads(asked["arguments"]) == {"command": COMMAND}
    # The second request carried the command's output back, as the agent sent it.
    assert "config.json" in json.dumps(calls[1].request["messages"])
    assert [c.input_tokens for c in calls] == [r.reported[0] for r in upstream.received]

    page = tmp_path / "run.html"
    shown = cli("agent-eval", "view", str(run_dir), "--html", str(page), env=env)
    assert shown.returncode == 0, shown.stderr
    data = page_data(run_dir, [])
    kinds = [item["k"] for item in data["timeline"]]
    assert kinds.count("call") == 2 and "log" in kinds
    text = page.read_text()
    assert "<script>window.__pwned" not in text  # the agent's output is data, not markup
    log = tmp_path / "inspect.json"
    exported = cli(
        "agent-eval", "export", "--format", "inspect", str(run_dir), "-o", str(log), env=env
    )
    assert exported.returncode == 0, exported.stderr
    sample = json.loads(log.read_text())["samples"][0]
    assert len(sample["events"]) == 2 and sample["working_time"] == record["working_time_s"]
    for path in [*run_dir.rglob("*"), page, log]:
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_snapshots_are_scored_over_time_and_charted(tiny_model: Path, tmp_path: Path) -> None:
    runs, results = tmp_path / "runs", tmp_path / "results"
    # The model appears after a second, then stays: the first snapshot has none, later ones do.
    agent = f"sleep 1.2; cp -r {tiny_model} $OUTPUT_DIR/model; sleep 2.5"
    done = cli(
        "agent-harness", "run", "local", "--task", "tiny_lm", "--runtime", "local",
        "--time-limit", "2m", "--command", agent, "--runs-dir", str(runs),
        "--snapshot-every", "1s", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(done.stdout)
    run_dir = runs / record["run_id"]
    taken = record["snapshots"]["taken"]
    assert len(taken) >= 2, record["snapshots"]
    scored = cli(
        "agent-eval", "--model_args", str(run_dir), "--task", "tiny_lm", "--over-time",
        "--no-db", "--results-dir", str(results), "--device", "cpu", "--json",
    )  # fmt: skip
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    result = json.loads(scored.stdout)
    series = result["over_time"]
    assert [p["elapsed_s"] for p in series[:-1]] == [float(t) for t in taken]
    assert series[-1]["final"] and series[-1]["snapshot"] == "output/model"
    assert series[0]["status"] == "error" and series[0]["score"] is None  # no model yet
    assert series[-1]["status"] == "ok" and series[-1]["score"] == result["score"]
    assert series[-2]["status"] == "ok"  # the model was there by the last snapshot
    (results_file,) = results.glob("*.json")
    page = tmp_path / "run.html"
    shown = cli("agent-eval", "view", str(run_dir), "--html", str(page),
                "--results", str(results_file))  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert page.read_text().count('class="dot"') == sum(
        1 for p in series if p["score"] is not None and p["score"]["normalised"] is not None
    )
