"""``agent-eval export --format inspect``: the file is read back with Inspect's own reader.

``inspect_ai`` cannot share an environment with our pins (it caps fsspec below ours), so the
reader runs in the Python named by ``MLRB_INSPECT_PYTHON`` (a venv with ``pip install
inspect_ai``), or in this one when it has inspect_ai; without either the test is skipped (a
failure in CI).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from run_page_testkit import EVIL_MESSAGE, call_text, make_run

from agent_contracts.transcript import TRANSCRIPT_FILE, read_transcript
from agent_eval.cli import main

READER = r"""
import json, sys
from inspect_ai.log import read_eval_log
log = read_eval_log(sys.argv[1])
sample = log.samples[0]
score = (sample.scores or {}).get("mlrb_score")
metrics = log.results.scores[0].metrics
models = [e for e in sample.events if e.event == "model"]
print(json.dumps({
    "status": log.status, "task": log.eval.task, "model": log.eval.model,
    "samples": len(log.samples), "sample_id": sample.id,
    "roles": [m.role for m in sample.messages],
    "texts": [m.text for m in sample.messages],
    "tool_calls": [[t.function, t.arguments] for m in sample.messages
                   if m.role == "assistant" for t in (m.tool_calls or [])],
    "events": len(models),
    "event_input_lengths": [len(e.input) for e in models],
    "event_outputs": [e.output.choices[0].message.text for e in models],
    "event_usage": [[e.output.usage.input_tokens, e.output.usage.output_tokens] for e in models],
    "score": score.value if score else None,
    "score_metadata": score.metadata if score else None,
    "mean": metrics["mean"].value if "mean" in metrics else None,
    "usage": {k: [u.input_tokens, u.output_tokens, u.total_cost]
              for k, u in sample.model_usage.items()},
    "total_usage": {k: [u.input_tokens, u.output_tokens] for k, u in log.stats.model_usage.items()},
    "working_time": sample.working_time, "total_time": sample.total_time,
}))
"""


def _export(*args: str) -> int:
    try:
        main(["export", "--format", "inspect", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _read(python: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [python, "-c", READER, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def test_a_run_exported_reads_back_in_inspect_with_messages_scores_and_usage(
    tmp_path: Path, inspect_python: str
) -> None:
    python = inspect_python
    run_dir, results = make_run(tmp_path, calls=12, log_lines=50, day_s=3600.0, points=4)
    target = tmp_path / "mlrb.json"
    assert _export(str(run_dir), "-o", str(target), "--results", str(results)) == 0
    log = _read(python, target)
    calls = list(read_transcript(run_dir / TRANSCRIPT_FILE))

    assert (log["status"], log["task"], log["model"]) == ("success", "mlrb/tiny_lm",
                                                         "openai/gpt-4o-mini")  # fmt: skip
    assert log["samples"] == 1 and log["sample_id"] == run_dir.name
    # The trajectory: the system prompt, then each call's new user turn and its reply.
    assert log["roles"] == ["system"] + ["user", "assistant"] * len(calls)
    assert log["texts"][1] == EVIL_MESSAGE  # kept as the text it is
    assert log["texts"][2] == call_text(1) and log["texts"][-1] == call_text(len(calls))
    # One model event per call, each with its whole input, its output and its usage.
    assert log["events"] == len(calls)
    assert log["event_outputs"] == [call_text(c.call) for c in calls]
    assert log["event_input_lengths"][0] == 2 and log["event_input_lengths"][-1] == 20
    assert log["event_usage"] == [[c.input_tokens, c.output_tokens] for c in calls]
    usage = log["usage"]["openai/gpt-4o-mini"]
    assert usage[:2] == [sum(c.input_tokens for c in calls), sum(c.output_tokens for c in calls)]
    assert usage[2] == pytest.approx(0.0002 * len(calls))
    assert log["total_usage"]["openai/gpt-4o-mini"] == usage[:2]
    # The score with its metadata: metric, status, provenance and the score over time.
    assert log["score"] == 75.0 and log["mean"] == 75.0
    meta = log["score_metadata"]
    assert meta["primary_metric"] == "perplexity" and meta["raw"] == 30.0
    assert meta["status"] == "ok" and meta["results_file"] == str(results)
    assert [p["elapsed_s"] for p in meta["over_time"]] == [900.0, 1800.0, 2700.0, 3600.0]
    assert log["total_time"] == 3600.0 and log["working_time"] == 3600.0 - 12.5


def test_openai_tool_calls_become_inspect_tool_calls(tmp_path: Path, inspect_python: str) -> None:
    python = inspect_python
    run_dir, _ = make_run(tmp_path, calls=1, log_lines=5)
    line = json.loads((run_dir / TRANSCRIPT_FILE).read_text())
    line["response"]["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "run_shell", "arguments": '{"cmd": "nvidia-smi"}'},
            }
        ],
    }
    (run_dir / TRANSCRIPT_FILE).write_text(json.dumps(line) + "\n")
    target = tmp_path / "tools.json"
    assert _export(str(run_dir), "-o", str(target)) == 0
    log = _read(python, target)
    assert log["tool_calls"] == [["run_shell", {"cmd": "nvidia-smi"}]]
    assert log["score"] is None and log["mean"] is None  # no results file: no score


def test_a_log_file_not_ending_in_json_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, _ = make_run(tmp_path, calls=1, log_lines=5)
    assert _export(str(run_dir), "-o", str(tmp_path / "log.eval")) == 2
    assert "must end in .json" in capsys.readouterr().err
    assert not (tmp_path / "log.eval").exists()
