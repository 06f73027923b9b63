"""A page per run (``agent-eval view RUN_DIR --html FILE``): one self-contained HTML file.

What it shows: the task and conditions (run.json), the evaluation and its provenance (results
files), the score-over-time chart (a result's ``over_time``), a timeline that interleaves
agent.log's lines (placed by ``agent.log.times``) with the model calls of the transcript (each
expandable to the turns it added and the reply, with tokens and cost per call and cumulative),
and how the run ended. No external resource is referenced.

Built for day-long runs: a call carries only the turns it added to its conversation (not the
whole history again), log lines between two calls travel as one block of text, and the page
builds the timeline's elements in slices as the reader scrolls. Every string from the run is
untrusted: Jinja autoescapes the server-side parts, the data travels as JSON with ``<``
escaped inside its script element, and the page's script inserts text with ``textContent`` only.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agent_contracts.results import EvaluationResult
from agent_contracts.run_record import LOG_TIMES_FILE, RUN_FILE, RunRecord
from agent_contracts.transcript import TRANSCRIPT_FILE, TranscriptCall, read_transcript
from agent_eval.errors import EvalUsageError
from agent_eval.leaderboard.page import write_html
from agent_eval.transcripts import Turn, new_turns, reply_turns, request_turns, tool_names

if TYPE_CHECKING:
    from agent_eval.store import Store

LOG_BLOCK_LINES = 2000
"""Lines of a log block the page shows before a "show all" button."""


def read_run(run_dir: Path) -> RunRecord:
    """The run's record; a usage error (exit 2) naming the folder when it has none."""
    try:
        data: Any = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
        return RunRecord.model_validate(data)
    except FileNotFoundError:
        raise EvalUsageError(
            f"{str(run_dir)!r} is not a run folder: it has no {RUN_FILE}",
            hint="give a folder under runs/ that agent-harness wrote",
        ) from None
    except (OSError, ValueError, ValidationError) as exc:
        raise EvalUsageError(
            f"cannot read {str(run_dir / RUN_FILE)!r}: {type(exc).__name__}",
            hint="give a folder under runs/ that agent-harness wrote",
        ) from None


def read_results(paths: list[Path]) -> list[tuple[str, EvaluationResult]]:
    """The results files given, each with its path; a usage error naming one that is not a
    result."""
    found = []
    for path in paths:
        try:
            found.append((str(path), EvaluationResult.model_validate_json(path.read_bytes())))
        except (OSError, ValueError, ValidationError) as exc:
            raise EvalUsageError(
                f"cannot read the results file {str(path)!r}: {type(exc).__name__}",
                hint="give a results JSON that agent-eval wrote (results/<name>.json)",
            ) from None
    return found


def linked_results(run_dir: Path, record: RunRecord) -> list[Path]:
    """Results files run.json names (``agent-harness run --evaluate``) that exist here."""
    link = record.evaluation
    if link is None:
        return []
    candidates = [Path(link.results_dir) / name for name in link.results]
    candidates += [run_dir.parent.parent / "results" / name for name in link.results]
    seen, out = set(), []
    for path in candidates:
        if path.is_file() and path.name not in seen:
            seen.add(path.name)
            out.append(path)
    return out


def _unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


PAGE_LOG_BYTES = 32 * 1024**2
"""Most bytes of agent.log a page holds (agent.log itself may be 100 MiB): its first
:data:`PAGE_LOG_HEAD_BYTES` and its end; a marker line says how much of the middle is left out."""

PAGE_LOG_HEAD_BYTES = 8 * 1024**2


def _read_log(path: Path) -> list[tuple[int, bytes]]:
    """(byte offset, bytes) of the parts of agent.log the page holds."""
    size = path.stat().st_size
    with path.open("rb") as log:
        if size <= PAGE_LOG_BYTES:
            return [(0, log.read())]
        head = log.read(PAGE_LOG_HEAD_BYTES)
        head = head[: head.rfind(b"\n") + 1]
        tail_start = size - (PAGE_LOG_BYTES - PAGE_LOG_HEAD_BYTES)
        log.seek(tail_start)
        tail = log.read()
        skip = tail.find(b"\n") + 1
        return [(0, head), (tail_start + skip, tail[skip:])]


def _count_lines(path: Path, start: int, end: int) -> int:
    count = 0
    with path.open("rb") as log:
        log.seek(start)
        while start < end:
            chunk = log.read(min(1 << 20, end - start))
            if not chunk:
                break
            count += chunk.count(b"\n")
            start += len(chunk)
    return count


def _log_lines(run_dir: Path, record: RunRecord) -> tuple[list[str], list[float | None], list[int]]:
    """agent.log's lines the page holds, when each arrived (None without ``agent.log.times``),
    and each one's line number in agent.log (a marker stands for the lines left out)."""
    path = run_dir / record.agent_log
    try:
        parts = _read_log(path)
    except OSError:
        return [], [], []
    marks: list[tuple[int, float]] = []
    try:
        for text in (run_dir / LOG_TIMES_FILE).read_text(encoding="ascii").splitlines():
            offset, _, moment = text.partition(" ")
            marks.append((int(offset), float(moment)))
    except (OSError, ValueError):
        marks = []
    offsets = [m[0] for m in marks]

    def arrived(offset: int) -> float | None:
        at = bisect_right(offsets, offset) - 1
        return marks[at][1] if at >= 0 else (marks[0][1] if marks else None)

    lines: list[str] = []
    times: list[float | None] = []
    numbers: list[int] = []
    number = 1
    for index, (start, raw) in enumerate(parts):
        if index:  # the middle of a long log is left out: one marker line says so
            gap_start = parts[0][0] + len(parts[0][1])
            left = _count_lines(path, gap_start, start)
            lines.append(
                f"[agent-eval view: {left} lines ({start - gap_start} bytes) of agent.log are "
                f"not on this page, which holds at most {PAGE_LOG_BYTES} bytes of it; read "
                "agent.log for them]"
            )
            times.append(arrived(gap_start))
            numbers.append(number)
            number += left
        for piece in raw.split(b"\n"):
            if not piece and start >= parts[index][0] + len(raw):
                break
            lines.append(piece.decode("utf-8", errors="replace").rstrip("\r"))
            times.append(arrived(start))
            numbers.append(number)
            number += 1
            start += len(piece) + 1
    return lines, times, numbers


def _turn(turn: Turn) -> dict[str, Any]:
    out: dict[str, Any] = {"r": turn.role, "x": turn.text}
    if turn.tools:
        out["tc"] = [
            {
                "n": t.name,
                "a": t.arguments
                if isinstance(t.arguments, str)
                else json.dumps(t.arguments, ensure_ascii=False, indent=1),
            }
            for t in turn.tools
        ]
    return out


def _call_entry(call: TranscriptCall, t0: float) -> dict[str, Any]:
    """What the page shows of one call (``at``, its start, and ``tools`` are taken out again
    when the timeline is built)."""
    added, earlier = new_turns(request_turns(call))
    return {
        "k": "call",
        "at": call.started_at,
        "i": call.call,
        "t": round(call.started_at - t0, 1),
        "lat": call.latency_s,
        "up": call.upstream_s,
        "st": call.status,
        "ref": call.refused_by,
        "m": call.model,
        "api": call.api,
        "in": call.input_tokens,
        "out": call.output_tokens,
        "c": call.cost_usd,
        "e": earlier,
        "new": [_turn(t) for t in added],
        "rep": [_turn(t) for t in reply_turns(call)],
        "cut": call.cut,
        "om": call.omitted,
        "tools": tool_names(call),
    }


def page_data(run_dir: Path, results: list[tuple[str, EvaluationResult]]) -> dict[str, Any]:
    """Everything the page shows, as JSON-able data; ``results``: each evaluation with where it
    is recorded (a results file's path, or the database)."""
    record = read_run(run_dir)
    t0 = _unix(record.started_at)
    lines, times, numbers = _log_lines(run_dir, record)
    # Each call is reduced to what the page shows as it is read: a day's transcript (up to
    # 256 MiB) is never held parsed in memory all at once.
    entries = sorted(
        (_call_entry(call, t0) for call in read_transcript(run_dir / TRANSCRIPT_FILE)),
        key=lambda e: e["at"],
    )
    timeline: list[dict[str, Any]] = []
    cum_in = cum_out = 0
    cum_cost = 0.0
    line = 0

    def flush_log(until: float | None) -> None:
        nonlocal line
        first = line
        while line < len(lines) and (until is None or (times[line] or 0.0) < until):
            line += 1
        if line > first:
            text = "\n".join(lines[first:line])
            at = times[first]
            timeline.append(
                {"k": "log", "t": None if at is None else round(at - t0, 1),
                 "l": numbers[first], "le": numbers[line - 1], "n": line - first, "x": text}
            )  # fmt: skip

    untimed = bool(lines) and times[0] is None
    if untimed:
        flush_log(None)
    tools_seen: list[str] | None = None
    for entry in entries:
        flush_log(entry.pop("at"))
        cum_in += entry["in"]
        cum_out += entry["out"]
        cum_cost += entry["c"] or 0.0
        entry.update(ci=cum_in, co=cum_out, cc=round(cum_cost, 6))
        tools = entry.pop("tools")
        if tools != tools_seen:
            entry["tools"] = tools
            tools_seen = tools
        timeline.append(entry)
    flush_log(None)
    evaluations = [_evaluation(path, result) for path, result in results]
    series: list[dict[str, Any]] = next((e["series"] for e in evaluations if e["series"]), [])
    usage = record.model_usage
    return {
        "run": record.model_dump(mode="json"),
        "evaluations": evaluations,
        "series": series,
        "timeline": timeline,
        "untimed_log": untimed,
        "log_lines": numbers[-1] if numbers else 0,
        "calls": len(entries),
        "tail": lines[-20:],
        "totals": {
            "tokens_in": cum_in,
            "tokens_out": cum_out,
            "cost_usd": round(cum_cost, 6) if usage is None else usage.cost_usd,
        },
    }


def _evaluation(where: str, result: EvaluationResult) -> dict[str, Any]:
    series = [
        {
            "elapsed_s": p.elapsed_s,
            "score": p.score.normalised if p.score and p.score.normalised is not None else None,
            "raw": p.score.raw if p.score else None,
            "status": p.status,
            "final": p.final,
            "snapshot": p.snapshot,
        }
        for p in sorted(result.over_time, key=lambda p: p.elapsed_s)
    ]
    from agent_eval.ranking import no_score, not_ranked

    return {
        "file": where,
        "result": result.model_dump(mode="json", exclude={"over_time"}),
        "series": series,
        "not_ranked": not_ranked(result),
        "no_score": no_score(result),
    }


def chart(series: list[dict[str, Any]], width: int = 640, height: int = 220) -> dict[str, Any]:
    """The score-over-time chart's geometry: points in the SVG's coordinates and axis labels
    (normalised score where the task has anchors, else the raw primary value)."""
    key = "score" if all(p["score"] is not None for p in series) else "raw"
    points = [(p["elapsed_s"], p[key]) for p in series if p[key] is not None]
    if not points:
        return {}
    pad = 40
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x_hi = max(xs) or 1.0
    y_lo, y_hi = min(ys), max(ys)
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 1, y_hi + 1

    def place(x: float, y: float) -> tuple[float, float]:
        return (
            round(pad + (width - 2 * pad) * x / x_hi, 1),
            round(height - pad - (height - 2 * pad) * (y - y_lo) / (y_hi - y_lo), 1),
        )

    placed = [place(x, y) for x, y in points]
    return {
        "width": width,
        "height": height,
        "label": "normalised score" if key == "score" else "primary metric",
        "points": " ".join(f"{x},{y}" for x, y in placed),
        "dots": [
            {"x": px, "y": py, "title": f"{x / 3600:.2f} h: {y:.4g}"}
            for (px, py), (x, y) in zip(placed, points, strict=True)
        ],
        "x_max": f"{x_hi / 3600:.2f} h",
        "y_lo": f"{y_lo:.4g}",
        "y_hi": f"{y_hi:.4g}",
        "pad": pad,
    }


def render(data: dict[str, Any]) -> str:
    """The complete HTML document (every inserted string autoescaped; the data's ``<``
    escaped so no string in it can close its script element)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
    from markupsafe import Markup

    env = Environment(
        loader=PackageLoader("agent_eval", "resources/run_page"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    assert env.loader is not None
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")
    asset = env.loader.get_source
    return env.get_template("run.html.j2").render(
        run=data["run"],
        evaluations=data["evaluations"],
        chart=chart(data["series"]),
        data=data,
        payload=Markup(payload),
        css=Markup(asset(env, "run.css")[0]),
        script=Markup(asset(env, "run.js")[0]),
    )


def write_run_page(run_dir: Path, target: Path, results: list[Path] | None = None) -> Path:
    """Write the page of the run in ``run_dir`` to ``target`` (atomically)."""
    record = read_run(run_dir)
    files = list(results or []) or linked_results(run_dir, record)
    text = render(page_data(run_dir, read_results(files)))
    return write_html(text, target)


PAGES_DIR = "run-pages"
"""Beside the leaderboard's page, the folder of its trials' run pages (``run-pages/<id>.html``;
not ``runs/``, the harness's own folder when the page is written in a project's root)."""

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
"""A run id usable as a file name and a link as it is (the harness's ids all are)."""


@dataclass(frozen=True)
class TrialPages:
    """What ``agent-eval leaderboard --html`` wrote beside its page."""

    links: dict[str, str]
    """Run id -> its page, relative to the leaderboard's page (``run-pages/<run_id>.html``)."""
    without_folder: list[str]
    """Trials' runs with no run folder (``<runs_dir>/<run_id>/run.json``): no page, no link."""
    problems: list[str]
    """Run folders whose page could not be written, and why."""


def write_trial_pages(
    trials: Iterable[tuple[str, str]], runs_dir: Path, page: Path, store: Store
) -> TrialPages:
    """Write the page of each trial's run (``(run_id, evaluation_id)``: the evaluation the
    board ranks, shown on the page from the database) whose folder is under ``runs_dir``, into
    ``run-pages/`` beside the leaderboard's ``page``; links are relative, so the folder can be
    published as a whole. A run folder that cannot be read is reported, never fatal."""
    links: dict[str, str] = {}
    without: list[str] = []
    problems: list[str] = []
    folder = page.parent / PAGES_DIR
    for run_id, evaluation_id in sorted(set(trials)):
        run_dir = runs_dir / run_id
        if not _SAFE_NAME.fullmatch(run_id) or not (run_dir / RUN_FILE).is_file():
            without.append(run_id)
            continue
        result = store.result(evaluation_id)
        shown = [] if result is None else [("the leaderboard's database", result)]
        try:
            text = render(page_data(run_dir, shown))
            write_html(text, folder / f"{run_id}.html")
        except (EvalUsageError, OSError, ValueError) as exc:
            problems.append(f"{run_dir}: {getattr(exc, 'message', None) or exc}")
            continue
        links[run_id] = f"{PAGES_DIR}/{run_id}.html"
    return TrialPages(links, without, problems)
