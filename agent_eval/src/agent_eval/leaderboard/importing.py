"""Published reference results: the import file format, its validation, the built-in files.

A reference file holds per-task numbers someone published (a paper's table, a competition's top
entry), so the leaderboard can show them beside recorded agents::

    {
      "source": "MLRC-Bench paper (arXiv 2504.09702), Table 2",
      "benchmark": "mlrc_bench",
      "tables": [
        {"metric": "relative",
         "rows": [{"agent": "MLAB (gpt-4o)", "scores": {"mlrc_llm_merging": 2.0}},
                  {"agent": "Top Human in Competition", "scores": {"llm-merging": 100.0}}]}
      ]
    }

A single table may also be given directly as top-level ``metric`` and ``rows``. Task keys are
catalogue names or their aliases (upstream keys). A row named like the benchmark's reference
anchor ("Top Human in Competition") is shown as the reference row, never ranked. The whole file is
checked before anything is written; every problem is named by its place in the file.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from agent_eval.errors import ImportFileError
from agent_eval.leaderboard.table import METRICS, ReferenceValue
from agent_tasks.spec import TaskSpec

BUILTIN_PACKAGE = "agent_eval.data.references"
"""Folder (as a package resource path) of the reference files that ship with the product."""

MAX_PROBLEMS_SHOWN = 10


@dataclass(frozen=True)
class ReferenceBatch:
    """A validated reference file: its values and a content id that makes re-imports no-ops."""

    source: str
    benchmark: str
    batch_id: str
    values: tuple[ReferenceValue, ...]


def builtin_names() -> list[str]:
    """Names of the reference files shipped with the product."""
    folder = resources.files("agent_eval").joinpath("data", "references")
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def builtin_path(name: str) -> Path:
    """Path of a shipped reference file (``mlrc_bench_paper`` ...); unknown names suggest close."""
    names = builtin_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
        hint = (
            f"did you mean {', '.join(repr(c) for c in close)}?"
            if close
            else f"built-in reference files: {', '.join(names)}"
        )
        raise ImportFileError(f"no built-in reference file {name!r}", hint=hint)
    return Path(str(resources.files("agent_eval").joinpath("data", "references", f"{name}.json")))


def _key(name: str) -> str:
    return f"[{json.dumps(name)}]"


def _short(value: Any, limit: int = 40) -> str:
    """A value as an error message quotes it, cut to a readable length."""
    text = repr(value)
    if len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def _task_index(specs: list[TaskSpec]) -> dict[str, str]:
    index: dict[str, str] = {}
    for spec in specs:
        index[spec.name] = spec.name
        for alias in spec.aliases:
            index[alias] = spec.name
    return index


def parse_reference_data(
    data: Any, specs: list[TaskSpec], *, origin: str = "reference file"
) -> ReferenceBatch:
    """Check a whole reference document against the catalogue; raise one error naming every
    offending entry (nothing is returned, so nothing is written, when anything is wrong)."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ImportFileError(
            f"{origin}: the top level must be a JSON object, not {type(data).__name__}; "
            "nothing was imported",
            hint="see docs/leaderboard.md for the reference file format",
        )
    allowed = {"source", "benchmark", "url", "note", "tables", "metric", "rows"}
    for extra in sorted(set(data) - allowed):
        problems.append(f"{extra}: unknown field (allowed: {', '.join(sorted(allowed))})")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        problems.append("source: must be a non-empty string saying where the numbers come from")
    benchmark = data.get("benchmark")
    bench_specs: list[TaskSpec] = []
    if not isinstance(benchmark, str) or not benchmark:
        problems.append("benchmark: must be a benchmark name such as 'mlrc_bench'")
    else:
        bench_specs = [s for s in specs if s.benchmark == benchmark]
        if not bench_specs:
            names = sorted({s.benchmark for s in specs})
            close = difflib.get_close_matches(benchmark, names, n=3, cutoff=0.5)
            suggestion = (
                f"did you mean {', '.join(repr(c) for c in close)}?"
                if close
                else f"known: {', '.join(names)}"
            )
            problems.append(f"benchmark: unknown benchmark {benchmark!r} ({suggestion})")

    tables: list[tuple[str, Any]] = []
    if "tables" in data:
        if "rows" in data or "metric" in data:
            problems.append("tables: give either 'tables' or one 'metric' with 'rows', not both")
        if not isinstance(data["tables"], list) or not data["tables"]:
            problems.append("tables: must be a non-empty list of {metric, rows} objects")
        else:
            for i, table in enumerate(data["tables"]):
                if not isinstance(table, dict):
                    problems.append(f"tables[{i}]: must be an object with 'metric' and 'rows'")
                    continue
                for extra in sorted(set(table) - {"metric", "rows", "note"}):
                    problems.append(f"tables[{i}].{extra}: unknown field")
                tables.append((f"tables[{i}].", table))
    elif "rows" in data:
        tables.append(("", data))
    else:
        problems.append("rows: missing (give 'metric' and 'rows', or a list of 'tables')")

    index = _task_index(bench_specs)
    elsewhere = {
        key: spec for spec in specs if spec.benchmark != benchmark
        for key in (spec.name, *spec.aliases)
    }  # fmt: skip

    def hint_for(task_key: str) -> str:
        other = elsewhere.get(task_key)
        if other is not None and task_key not in index:
            return f"it is a task of benchmark {other.benchmark!r}, not of {benchmark!r}"
        close = difflib.get_close_matches(task_key, list(index), n=3, cutoff=0.5)
        if close:
            return f"did you mean {', '.join(repr(c) for c in close)}?"
        return f"tasks of {benchmark}: {', '.join(s.name for s in bench_specs)}"

    values: list[ReferenceValue] = []
    seen: set[tuple[str, str, str]] = set()
    for prefix, table in tables:
        metric = table.get("metric")
        if metric not in METRICS:
            problems.append(f"{prefix}metric: must be one of {', '.join(METRICS)}, not {metric!r}")
        rows = table.get("rows")
        if not isinstance(rows, list) or not rows:
            problems.append(f"{prefix}rows: must be a non-empty list")
            continue
        for r, row in enumerate(rows):
            where = f"{prefix}rows[{r}]"
            if not isinstance(row, dict):
                problems.append(f"{where}: must be an object with 'agent' and 'scores'")
                continue
            for extra in sorted(set(row) - {"agent", "scores"}):
                problems.append(f"{where}.{extra}: unknown field")
            agent = row.get("agent")
            if not isinstance(agent, str) or not agent.strip():
                problems.append(f"{where}.agent: must be a non-empty string")
                agent = None
            scores = row.get("scores")
            if not isinstance(scores, dict) or not scores:
                problems.append(f"{where}.scores: must be a non-empty object {{task: value}}")
                continue
            for task_key, value in scores.items():
                spot = f"{where}.scores{_key(task_key)}"
                task = index.get(task_key)
                if task is None and bench_specs:
                    problems.append(f"{spot}: unknown task {task_key!r} ({hint_for(task_key)})")
                if isinstance(value, bool) or not isinstance(value, int | float):
                    problems.append(f"{spot}: value must be a number, not {_short(value)}")
                    continue
                try:
                    number = float(value)
                except OverflowError:  # an integer too large for a float
                    number = math.inf
                if not math.isfinite(number):
                    problems.append(f"{spot}: value must be finite, not {_short(value)}")
                    continue
                if task is None or agent is None or metric not in METRICS:
                    continue
                ident = (agent.strip(), task, str(metric))
                if ident in seen:
                    problems.append(
                        f"{spot}: {agent.strip()!r} already has a {metric} value for {task!r}"
                    )
                    continue
                seen.add(ident)
                values.append(
                    ReferenceValue(
                        agent_label=agent.strip(),
                        task=task,
                        benchmark=str(benchmark),
                        metric=metric,
                        value=number,
                        source=str(source).strip(),
                    )
                )
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        listing = "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")
        raise ImportFileError(
            f"{origin} is not a valid reference file; nothing was imported:\n  {listing}",
            hint="fix the entries named above (format: docs/leaderboard.md) and import again",
        )
    canonical = json.dumps(
        [[v.agent_label, v.task, v.benchmark, v.metric, v.value, v.source] for v in values],
        sort_keys=True,
    )
    batch_id = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return ReferenceBatch(str(source).strip(), str(benchmark), batch_id, tuple(values))


def read_reference_file(path: str | Path, specs: list[TaskSpec]) -> ReferenceBatch:
    """Read and check a reference file (exit 2 on an unreadable or malformed file)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImportFileError(
            f"reference file {str(file)!r} does not exist",
            hint="give the path of a JSON file, or --builtin NAME for a shipped one",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"cannot read reference file {str(file)!r}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"{file.name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            hint="fix the JSON syntax; nothing was imported",
        ) from None
    except ValueError as exc:  # e.g. an integer literal with thousands of digits
        raise ImportFileError(
            f"{file.name} cannot be read as JSON: {str(exc).split(':')[0]}",
            hint="give every value as an ordinary number; nothing was imported",
        ) from None
    return parse_reference_data(data, specs, origin=file.name)
