"""Runs as an Inspect eval log (``agent-eval export --format inspect RUN_DIR... -o FILE``).

The file is Inspect's JSON log format (``version`` 2), written here without importing
``inspect_ai`` (its pins conflict with ours), and read back in the tests with Inspect's own
reader (``inspect_ai.log.read_eval_log``), so users get Inspect's viewer and analysis tools:

* one sample per run (a trial), its id the run id, its input the task's name and version;
* the sample's messages: the trajectory, each call's added turns and its reply in order;
* one ``model`` event per model call (its whole input, its output, usage and timing);
* the score (the normalised score, else the raw primary value) with the evaluation's metrics,
  status, provenance and score over time in its metadata;
* usage per model, per sample and in total; the run's total and working time.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_contracts.results import EvaluationResult
from agent_contracts.transcript import TRANSCRIPT_FILE, TranscriptCall, read_transcript
from agent_eval.errors import EvalUsageError
from agent_eval.run_page import linked_results, read_results, read_run
from agent_eval.transcripts import Turn, new_turns, reply_turns, request_turns, tool_names

INSPECT_LOG_VERSION = 2
"""The version of Inspect's log format written."""

SCORER = "mlrb_score"
"""Name of the score in the log (one scorer: the benchmark's evaluation)."""

_STOP_REASONS = {
    "stop": "stop", "end_turn": "stop", "completed": "stop", "stop_sequence": "stop",
    "length": "max_tokens", "max_tokens": "max_tokens", "incomplete": "max_tokens",
    "tool_calls": "tool_calls", "tool_use": "tool_calls", "function_call": "tool_calls",
    "content_filter": "content_filter", "refusal": "content_filter",
}  # fmt: skip


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _message(turn: Turn, model: str) -> dict[str, Any]:
    """An Inspect chat message (a cut marker becomes a system message)."""
    if turn.role == "assistant":
        calls = [
            {
                "id": use.id or f"call_{i}",
                "function": use.name,
                "arguments": use.arguments if isinstance(use.arguments, dict) else
                {"raw": use.arguments},
                "type": "function",
            }
            for i, use in enumerate(turn.tools)
        ]  # fmt: skip
        out: dict[str, Any] = {"role": "assistant", "content": turn.text, "model": model}
        if calls:
            out["tool_calls"] = calls
        return out
    if turn.role == "tool":
        return {"role": "tool", "content": turn.text, "tool_call_id": turn.tool_call_id or None}
    role = turn.role if turn.role in ("system", "user") else "system"
    if turn.role == "developer":
        role = "system"
    return {"role": role, "content": turn.text}


def _stop_reason(call: TranscriptCall) -> str:
    body = call.response if isinstance(call.response, dict) else {}
    reason: Any = None
    if call.api == "chat":
        choices = body.get("choices") or [{}]
        reason = choices[0].get("finish_reason") if isinstance(choices[0], dict) else None
    elif call.api == "messages":
        reason = body.get("stop_reason")
    else:
        kinds = {i.get("type") for i in body.get("output") or [] if isinstance(i, dict)}
        reason = "function_call" if "function_call" in kinds else body.get("status")
    return _STOP_REASONS.get(str(reason), "unknown")


def _usage(calls: list[TranscriptCall]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": sum(c.input_tokens for c in calls),
        "output_tokens": sum(c.output_tokens for c in calls),
        "input_tokens_cache_read": sum(c.cached_input_tokens for c in calls),
        "input_tokens_cache_write": sum(c.cache_write_tokens for c in calls),
        "reasoning_tokens": sum(c.reasoning_tokens for c in calls),
        "total_cost": round(sum(c.cost_usd or 0.0 for c in calls), 8),
    }
    out["total_tokens"] = out["input_tokens"] + out["output_tokens"]
    return out


def _model_name(call: TranscriptCall) -> str:
    return f"{call.provider}/{call.model}"


def _config(call: TranscriptCall) -> dict[str, Any]:
    body = call.request if isinstance(call.request, dict) else {}
    config: dict[str, Any] = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        if isinstance(body.get(ours), int | float):
            config[theirs] = body[ours]
    for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if isinstance(body.get(name), int):
            config["max_tokens"] = body[name]
    return config


def _event(call: TranscriptCall, t0: float) -> dict[str, Any]:
    model = _model_name(call)
    reply = [_message(t, model) for t in reply_turns(call)]
    message: dict[str, Any] = (
        reply[0] if reply else {"role": "assistant", "content": "", "model": model}
    )
    for extra in reply[1:]:  # responses can split text and tool calls over items
        message["content"] = "\n".join(x for x in (message["content"], extra["content"]) if x)
        message.setdefault("tool_calls", []).extend(extra.get("tool_calls", []))
    output: dict[str, Any] = {
        "model": model,
        "choices": [{"message": message, "stop_reason": _stop_reason(call)}] if reply else [],
        "usage": _usage([call]),
        "time": call.latency_s,
    }
    if call.status >= 400:
        output["error"] = f"HTTP {call.status}" + (
            f", refused by the {call.refused_by}" if call.refused_by else ""
        )
    return {
        "event": "model",
        "timestamp": _iso(call.started_at),
        "working_start": round(call.started_at - t0, 3),
        "completed": _iso(call.ended_at),
        "working_time": call.upstream_s,
        "model": model,
        "input": [_message(t, model) for t in request_turns(call)],
        "tools": [],
        "tool_choice": "auto",
        "config": _config(call),
        "output": output,
        "error": output.get("error"),
        "metadata": {
            "call": call.call,
            "api": call.api,
            "stream": call.stream,
            "status": call.status,
            "tools_offered": tool_names(call),
            "upstream_s": call.upstream_s,
            "cost_usd": call.cost_usd,
            "cut": call.cut,
            "omitted": call.omitted,
        },
    }


def _score(result: EvaluationResult, results_file: str) -> dict[str, Any]:
    score = result.score
    value: Any = (
        score.normalised
        if score is not None and score.normalised is not None
        else result.primary_value
    )
    return {
        "value": value,
        "answer": result.model.path,
        "explanation": (
            f"{result.primary_metric} = {result.primary_value}"
            + (f", normalised score {score.normalised:.2f}" if score and score.normalised else "")
            + f" ({result.status})"
        ),
        "metadata": {
            "status": result.status,
            "primary_metric": result.primary_metric,
            "raw": result.primary_value,
            "normalised": score.normalised if score else None,
            "metrics": {m.name: m.value for m in result.metrics},
            "evaluation_id": result.evaluation_id,
            "results_file": str(results_file),
            "model_sha256": result.model.sha256,
            "evaluator_version": result.environment.evaluator_version,
            "datasets": [d.model_dump(mode="json") for d in result.datasets],
            "errors": [e.model_dump(mode="json") for e in result.errors],
            "over_time": [
                {
                    "elapsed_s": p.elapsed_s,
                    "score": p.score.normalised if p.score else None,
                    "raw": p.score.raw if p.score else None,
                    "status": p.status,
                }
                for p in result.over_time
            ],
        },
    }


def _sample(run_dir: Path, results: dict[str, tuple[str, EvaluationResult]]) -> dict[str, Any]:
    record = read_run(run_dir)
    t0 = _stamp(record.started_at)
    calls = sorted(read_transcript(run_dir / TRANSCRIPT_FILE), key=lambda c: c.started_at)
    messages: list[dict[str, Any]] = []
    for call in calls:
        model = _model_name(call)
        added, _ = new_turns(request_turns(call))
        messages += [_message(t, model) for t in added]
        messages += [_message(t, model) for t in reply_turns(call)]
    per_model: dict[str, list[TranscriptCall]] = {}
    for call in calls:
        per_model.setdefault(_model_name(call), []).append(call)
    sample: dict[str, Any] = {
        "id": record.run_id,
        "epoch": 1,
        "input": f"{record.task} (task version {record.task_version})",
        "target": "",
        "messages": messages,
        "metadata": {
            "run": record.model_dump(mode="json"),
            "agent": record.agent_label or record.image,
        },
        "events": [_event(c, t0) for c in calls],
        "model_usage": {name: _usage(group) for name, group in per_model.items()},
        "started_at": _iso(t0),
        "completed_at": _iso(_stamp(record.ended_at)) if record.ended_at else None,
        "total_time": record.duration_s,
        "working_time": record.working_time_s,
    }
    if calls:
        last = _event(calls[-1], t0)["output"]
        sample["output"] = {"model": last["model"], "choices": last["choices"]}
    found = results.get(record.run_id)
    if found is not None and found[1].primary_value is not None:
        sample["scores"] = {SCORER: _score(found[1], found[0])}
    elif found is not None:  # evaluated, no score: the evaluation's account in the metadata
        sample["metadata"]["evaluation"] = _score(found[1], found[0])["metadata"]
    if record.status not in ("completed",):
        sample["error"] = {
            "message": f"run {record.status}: {record.message or record.stop_reason or ''}",
            "traceback": "",
            "traceback_ansi": "",
        }
    return sample


def eval_log(run_dirs: list[Path], result_files: list[Path] | None = None) -> dict[str, Any]:
    """The Inspect eval log of these runs (one task) and their evaluations."""
    records = [read_run(d) for d in run_dirs]
    tasks = sorted({r.task for r in records})
    if len(tasks) != 1:
        raise EvalUsageError(
            f"an Inspect log holds one task; these runs are of {', '.join(map(repr, tasks))}",
            hint="export the runs of each task to their own file",
        )
    files = list(result_files or [])
    for run_dir, record in zip(run_dirs, records, strict=True):
        files += [] if result_files else linked_results(run_dir, record)
    results = {r.run_id: (p, r) for p, r in read_results(files) if r.run_id is not None}
    samples = [_sample(d, results) for d in run_dirs]
    models = Counter(name for s in samples for name in s["model_usage"])
    model = models.most_common(1)[0][0] if models else "none/none"
    scored = [
        s["scores"][SCORER]["value"]
        for s in samples
        if "scores" in s and isinstance(s["scores"][SCORER]["value"], int | float)
    ]
    total: dict[str, dict[str, Any]] = {}
    for s in samples:
        for name, usage in s["model_usage"].items():
            into = total.setdefault(name, dict.fromkeys(usage, 0))
            for key, value in usage.items():
                into[key] = (into[key] or 0) + (value or 0)
    started = min(_stamp(r.started_at) for r in records)
    ended = max(_stamp(r.ended_at) if r.ended_at else _stamp(r.started_at) for r in records)
    first = records[0]
    return {
        "version": INSPECT_LOG_VERSION,
        "status": "success",
        "eval": {
            "run_id": first.run_id if len(records) == 1 else f"{first.task}-{len(records)}-runs",
            "created": _iso(started),
            "task": f"mlrb/{first.task}",
            "task_version": first.task_version,
            "dataset": {"name": first.task, "samples": len(samples)},
            "model": model,
            "config": {},
            "metadata": {"benchmark": first.benchmark, "exported_by": "agent-eval export"},
        },
        "results": {
            "total_samples": len(samples),
            "completed_samples": sum(1 for r in records if r.status == "completed"),
            "scores": [
                {
                    "name": SCORER,
                    "scorer": SCORER,
                    "metrics": {"mean": {"name": "mean", "value": statistics.fmean(scored)}}
                    if scored
                    else {},
                }
            ],
        },
        "stats": {
            "started_at": _iso(started),
            "completed_at": _iso(ended),
            "model_usage": total,
        },
        "samples": samples,
    }


def write_inspect_log(run_dirs: list[Path], target: Path, results: list[Path] | None) -> Path:
    """Write the log as JSON (Inspect reads ``.json`` logs); a usage error for another suffix
    or a path that cannot be written."""
    if target.suffix != ".json":
        raise EvalUsageError(
            f"cannot write an Inspect log to {str(target)!r}: the file must end in .json",
            hint="give -o FILE.json (Inspect's JSON log format)",
        )
    text = json.dumps(eval_log(run_dirs, results), ensure_ascii=False)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise EvalUsageError(
            f"cannot write {str(target)!r}: {exc.strerror or type(exc).__name__}",
            hint="give -o a path in a folder you can write to",
        ) from None
    return target
