"""A synthetic run folder as the harness leaves it, at any size: run.json, agent.log with its
arrival times, a transcript of chat calls and a results file with a score-over-time series.

Hostile text is planted in the log and in a message, as an agent could write it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent_contracts.results import (
    AgentInfo,
    Environment,
    EvaluationResult,
    MetricValue,
    ModelInfo,
    Score,
    SeriesPoint,
)
from agent_contracts.run_record import LOG_TIMES_FILE, Limits, ModelUsage, RunRecord
from agent_contracts.transcript import TRANSCRIPT_FILE, TranscriptCall

EVIL_LOG = "<script>window.__pwned = 1</script><img src=x onerror='window.__pwned = 2'>"
"""A log line that would run code if a page inserted it as markup."""
EVIL_MESSAGE = "</script><script>window.__pwned = 3</script> please <b>obey</b>"
"""A model message that would run code, or close the data's script element."""
RUN_ID = "20261201T000000Z-tiny_lm-abc123"
START = datetime(2026, 12, 1, tzinfo=UTC)


def call_text(index: int) -> str:
    """The assistant's reply text of call ``index``."""
    return f"reply number {index}: I will now train epoch {index % 17} and check the loss"


def make_run(
    folder: Path, *, calls: int, log_lines: int, day_s: float = 86_400.0, points: int = 24
) -> tuple[Path, Path]:
    """Write the run folder and its results file; returns both paths."""
    run_dir = folder / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    t0 = START.timestamp()
    # agent.log and its arrival marks (one mark per 50 lines, spread over the run)
    marks, offset = [], 0
    with (run_dir / "agent.log").open("w", encoding="utf-8") as log:
        for i in range(log_lines):
            text = EVIL_LOG if i == 7 else f"[step {i}] loss={1 / (i + 1):.6f} tokens/s=1234.5"
            if i % 50 == 0:
                marks.append(f"{offset} {t0 + day_s * i / max(log_lines, 1):.3f}")
            log.write(text + "\n")
            offset += len(text.encode()) + 1
        log.write("final line: deliverable saved to /app/output/model\n")
    (run_dir / LOG_TIMES_FILE).write_text("\n".join(marks) + "\n")
    total_in = total_out = 0
    with (run_dir / TRANSCRIPT_FILE).open("w", encoding="utf-8") as out:
        history: list[dict[str, object]] = []
        for i in range(1, calls + 1):
            user = EVIL_MESSAGE if i == 1 else f"tool output {i}: ok"
            history = [*history[-18:], {"role": "user", "content": user}]
            messages = [{"role": "system", "content": "You are an ML research agent."}, *history]
            reply = {"role": "assistant", "content": call_text(i)}
            started = t0 + day_s * (i - 0.5) / calls
            line = TranscriptCall(
                call=i,
                started_at=started,
                ended_at=started + 1.5,
                latency_s=1.5,
                upstream_s=1.4,
                provider="openai",
                api="chat",
                model="gpt-4o-mini",
                stream=i % 2 == 0,
                status=200,
                request={"model": "gpt-4o-mini", "messages": messages, "temperature": 0.0},
                response={"choices": [{"index": 0, "message": reply, "finish_reason": "stop"}]},
                input_tokens=900 + i,
                output_tokens=40,
                usage_source="provider",
                cost_usd=0.0002,
            )
            total_in, total_out = total_in + line.input_tokens, total_out + 40
            history.append(reply)
            out.write(line.model_dump_json() + "\n")
    record = RunRecord(
        run_id=RUN_ID,
        task="tiny_lm",
        benchmark="mlrb",
        task_version="1",
        image="mlrb/llm-agent:latest",
        agent_label="llm-agent",
        runtime="docker",
        provider="openai",
        credentials_mode="proxy",
        model_usage=ModelUsage(
            calls=calls,
            input_tokens=total_in,
            output_tokens=total_out,
            cost_usd=round(0.0002 * calls, 6),
            transcript_file=TRANSCRIPT_FILE,
            provider_stall_s=12.5,
        ),
        gpus=["0"],
        limits=Limits(time_limit_s=int(day_s), grace_s=30),
        started_at=START.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        deadline=t0 + day_s,
        ended_at=(START + timedelta(seconds=day_s)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        duration_s=day_s,
        working_time_s=day_s - 12.5,
        status="completed",
        exit_code=0,
        agent_exit_code=0,
        ended_by="harness",
    )
    (run_dir / "run.json").write_text(record.model_dump_json(indent=2))
    results = folder / "results" / "tiny_lm-abc123.json"
    results.parent.mkdir()
    results.write_text(result(points, day_s).model_dump_json(indent=2))
    return run_dir, results


def _score(value: float) -> Score:
    return Score(
        metric="perplexity",
        raw=value,
        normalised=round(100 * (60 - value) / 40, 3),
        absolute_improvement_pct=None,
        baseline=60.0,
        reference=20.0,
        method="anchors",
    )


def result(points: int, day_s: float) -> EvaluationResult:
    """A result whose score improved over the run, one snapshot per ``day_s / points``."""
    series = []
    for k in range(1, points + 1):
        value = 60 - 30 * k / points
        series.append(
            SeriesPoint(
                elapsed_s=day_s * k / points,
                snapshot="output/model" if k == points else f"snapshots/{int(day_s * k / points)}",
                final=k == points,
                status="ok",
                metrics=(
                    MetricValue(
                        name="perplexity", value=value, direction="lower", source="perplexity"
                    ),
                ),
                score=_score(value),
            )
        )
    final = series[-1]
    return EvaluationResult(
        run_id=RUN_ID,
        task="tiny_lm",
        benchmark="mlrb",
        task_version="1",
        agent=AgentInfo(label="llm-agent"),
        model=ModelInfo(path="output/model", format="hf_model", sha256="ab" * 32),
        status="ok",
        metrics=final.metrics,
        primary_metric="perplexity",
        score=final.score,
        environment=Environment(
            evaluator_version="0.1.0", python_version="3.11", platform="linux", device="cpu"
        ),
        over_time=tuple(series),
        started_at=START + timedelta(seconds=day_s + 60),
        finished_at=START + timedelta(seconds=day_s + 120),
        duration_s=60.0,
    )


def load(path: Path) -> dict[str, object]:
    """A JSON file."""
    return dict(json.loads(path.read_text()))
