"""The LLM reference agent (agents/llm) through the harness's real proxy, to an evaluated result.

The provider is a scripted OpenAI-compatible upstream on 127.0.0.1 that accepts only the real
key: the agent holds a per-run token, the proxy swaps it for the key, counts the calls, and the
run's deliverable is evaluated and recorded like any other.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scripted_upstream import ScriptedUpstream  # type: ignore[import-not-found]
from support.e2e import BIN, FAKE_KEY, REPO, clean_env, cli
from support.images import session_image

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


def _agent_python() -> str:
    """This environment's Python as the local agent can run it (a root harness runs the agent
    as nobody)."""
    from agent_harness.runtimes.local import NOBODY, python_command

    return python_command(NOBODY if os.geteuid() == 0 else None)


@pytest.mark.slow
def test_llm_agent_runs_through_the_proxy_to_an_evaluated_result(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    runs, results = tmp_path / "runs", tmp_path / "results"
    env = clean_env(OPENAI_API_KEY=FAKE_KEY, MLRB_OPENAI_UPSTREAM=f"{upstream.url}/v1")
    done = cli(
        "agent-harness", "run", "mlrb/llm-agent:local", "--task", "tiny_lm", "--runtime", "local",
        "--provider", "openai", "--budget-usd", "1", "--time-limit", "5m", "--grace", "2s",
        "--command", f"{_agent_python()} {AGENT}", "--runs-dir", str(runs), "--evaluate",
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


LLM_IMAGE = session_image("h7-llm-agent")
BASE_IMAGE = "mlrb/base-python:local"


@pytest.fixture(scope="module")
def llm_image(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """docker/llm-agent/Dockerfile built on the registry-free Python base, with the SDK only.

    The real image also installs torch and the starter's libraries for its fallback; this one
    keeps to what the container path needs, so it builds in seconds.
    """
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get(BASE_IMAGE)
    except ImageNotFound:
        pytest.skip(f"{BASE_IMAGE} is absent (build it: docs/images.md)")
    context = tmp_path_factory.mktemp("llm-agent-image")
    for source in ("docker/llm-agent/Dockerfile", "constraints.txt", "agents/llm/agent.py"):
        shutil.copy(REPO / source, context)
    (context / "requirements.txt").write_text("openai\n", encoding="utf-8")
    download = subprocess.run(
        [str(BIN / "pip"), "download", "--quiet", "--only-binary=:all:", "-c",
         str(REPO / "constraints.txt"), "openai", "-d", str(context / "wheels")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if download.returncode != 0:
        pytest.skip(f"the SDK's wheels cannot be had: {download.stderr[-300:]}")
    docker_client.images.build(
        path=str(context), tag=LLM_IMAGE, network_mode="none", rm=True,
        buildargs={"BASE_IMAGE": BASE_IMAGE},
    )  # fmt: skip
    return LLM_IMAGE


@pytest.mark.docker
@pytest.mark.slow
def test_llm_agent_in_a_container_with_no_network_calls_through_the_proxy(
    llm_image: str, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the proxy's forwarder needs a root harness under docker")
    script = [
        {"tool": "bash", "args": {"command": (
            "mkdir -p $OUTPUT_DIR/model && echo '{}' > $OUTPUT_DIR/model/config.json; "
            "tail -n +3 /proc/net/dev | cut -d: -f1; echo key=$OPENAI_API_KEY"
        )}},
        {"tool": "submit", "args": {"summary": "done"}},
    ]  # fmt: skip
    upstream = ScriptedUpstream(FAKE_KEY, script=script).start()
    try:
        runs = tmp_path / "runs"
        env = clean_env(OPENAI_API_KEY=FAKE_KEY, MLRB_OPENAI_UPSTREAM=f"{upstream.url}/v1")
        done = cli(
            "agent-harness", "run", llm_image, "--task", "tiny_lm", "--runtime", "docker",
            "--provider", "openai", "--budget-tokens", "100000", "--time-limit", "3m",
            "--grace", "2s", "--runs-dir", str(runs), "--json", env=env,
        )  # fmt: skip
    finally:
        upstream.stop()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(done.stdout)
    assert record["network"] == "none" and record["model_usage"]["calls"] == 2
    assert [r.key for r in upstream.received] == [FAKE_KEY, FAKE_KEY]
    run_dir = runs / record["run_id"]
    steps = [json.loads(line) for line in (run_dir / "output" / "trajectory.jsonl").open()]
    assert [s["kind"] for s in steps] == ["fallback", "model", "tool", "model", "submit", "stop"]
    shown = steps[2]["output"]
    assert shown.split("key=")[0].split() == ["lo"]  # its only interface
    assert "key=mlrb-run-" in shown  # the agent holds a token, not the key
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
