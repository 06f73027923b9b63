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

import hashlib
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import ErrorDetails

from agent_contracts.suggestions import closest, did_you_mean
from agent_eval.errors import ImportFileError
from agent_eval.leaderboard.table import METRICS, Metric, ReferenceValue
from agent_tasks.spec import TaskSpec

BUILTIN_PACKAGE = "agent_eval.resources.references"
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
    folder = resources.files("agent_eval").joinpath("resources", "references")
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def builtin_path(name: str) -> Path:
    """Path of a shipped reference file (``mlrc_bench_paper`` ...); unknown names suggest close."""
    names = builtin_names()
    if name not in names:
        hint = did_you_mean(name, names, known="built-in reference files")
        raise ImportFileError(f"no built-in reference file {name!r}", hint=hint)
    return Path(
        str(resources.files("agent_eval").joinpath("resources", "references", f"{name}.json"))
    )


def _short(value: Any, limit: int = 40) -> str:
    """A value as an error message quotes it, cut to a readable length."""
    text = repr(value)
    if len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def _score(value: Any) -> float:
    """A published value: a real, finite number (a bool or a numeric string is refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"value must be a number, not {_short(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"value must be finite, not {_short(value)}")
    return number


Score = Annotated[float, BeforeValidator(_score)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ReferenceRow(BaseModel):
    """One agent's published numbers, by task key (catalogue name or alias)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    agent: Text
    """The agent's label as published (surrounding spaces ignored)."""
    scores: dict[str, Score] = Field(min_length=1)
    """Task key to value."""


class ReferenceTable(BaseModel):
    """A table of rows, all in one metric."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    metric: Metric
    """What the numbers are: ``relative`` (normalised), ``absolute`` or ``raw``."""
    rows: list[ReferenceRow] = Field(min_length=1)
    """The agents' rows."""
    note: str | None = None
    """Free text shown nowhere; for the file's reader."""


class ReferenceFile(BaseModel):
    """A reference file: where the numbers come from, their benchmark, one or more tables."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    source: Text
    """Where the numbers come from (a paper's table, a competition page)."""
    benchmark: Text
    """The benchmark the tasks belong to."""
    url: str | None = None
    """A link to the source."""
    note: str | None = None
    """Free text for the file's reader."""
    tables: list[ReferenceTable] | None = Field(default=None, min_length=1)
    """Several tables (one per metric)."""
    metric: Metric | None = None
    """The metric of a single table given at the top level."""
    rows: list[ReferenceRow] | None = Field(default=None, min_length=1)
    """The rows of a single table given at the top level."""

    def all_tables(self) -> list[tuple[str, ReferenceTable]]:
        """Each table with the prefix that names its place in the file."""
        if self.tables is not None:
            return [(f"tables[{i}].", t) for i, t in enumerate(self.tables)]
        assert self.metric is not None and self.rows is not None  # checked by _shape
        return [("", ReferenceTable(metric=self.metric, rows=self.rows))]


_REQUIREMENTS = {
    "source": "must be a non-empty string saying where the numbers come from",
    "benchmark": "must be a benchmark name such as 'mlrc_bench'",
    "tables": "must be a non-empty list of {metric, rows} objects",
    "rows": "must be a non-empty list",
    "agent": "must be a non-empty string",
    "scores": "must be a non-empty object {task: value}",
    "metric": f"must be one of {', '.join(METRICS)}",
}


def _place(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the file names it: ``tables[0].rows[3].scores["x"]``."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i > 0 and loc[i - 1] == "scores":
            out += f"[{json.dumps(part)}]"
        else:
            out += f".{part}" if out else part
    return out


def _problem(error: ErrorDetails) -> str:
    """One validation error as a line naming its place and what to give instead."""
    loc = tuple(error["loc"])
    place = _place(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{place}: unknown field"
    if kind == "value_error":
        return f"{place}: {error['ctx']['error']}"
    last = loc[-1] if loc else ""
    if isinstance(last, int):
        return f"{place}: must be an object with 'agent' and 'scores'"
    requirement = _REQUIREMENTS.get(str(last), error["msg"])
    if kind == "literal_error":
        requirement += f", not {_short(error['input'])}"
    return f"{place}: {requirement}"


def _shape_problems(data: dict[str, Any]) -> list[str]:
    if "tables" in data and ("rows" in data or "metric" in data):
        return ["tables: give either 'tables' or one 'metric' with 'rows', not both"]
    if "tables" not in data and "rows" not in data:
        return ["rows: missing (give 'metric' and 'rows', or a list of 'tables')"]
    if "rows" in data and "metric" not in data:
        return [f"metric: missing ({_REQUIREMENTS['metric']})"]
    return []


def _task_index(specs: list[TaskSpec]) -> dict[str, str]:
    index: dict[str, str] = {}
    for spec in specs:
        index[spec.name] = spec.name
        for alias in spec.aliases:
            index[alias] = spec.name
    return index


def _raw_scores(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (place, task key) in the document, read leniently, so unknown tasks are named even
    when other entries fail validation."""
    tables = data.get("tables")
    found = (
        [(f"tables[{i}].", t) for i, t in enumerate(tables) if isinstance(t, dict)]
        if isinstance(tables, list)
        else [("", data)]
    )
    keys: list[tuple[str, str]] = []
    for prefix, table in found:
        rows = table.get("rows")
        for r, row in enumerate(rows if isinstance(rows, list) else []):
            scores = row.get("scores") if isinstance(row, dict) else None
            for key in scores if isinstance(scores, dict) else []:
                keys.append((f"{prefix}rows[{r}].scores[{json.dumps(key)}]", str(key)))
    return keys


def _catalogue_problems(data: dict[str, Any], specs: list[TaskSpec]) -> list[str]:
    """The benchmark and every task key checked against the catalogue."""
    benchmark = data.get("benchmark")
    if not isinstance(benchmark, str) or not benchmark.strip():
        return []  # already named by validation
    benchmark = benchmark.strip()
    bench_specs = [s for s in specs if s.benchmark == benchmark]
    if not bench_specs:
        names = sorted({s.benchmark for s in specs})
        return [f"benchmark: unknown benchmark {benchmark!r} ({did_you_mean(benchmark, names)})"]
    index = _task_index(bench_specs)
    elsewhere = {
        key: spec for spec in specs if spec.benchmark != benchmark
        for key in (spec.name, *spec.aliases)
    }  # fmt: skip
    problems = []
    for spot, task_key in _raw_scores(data):
        if task_key in index:
            continue
        other = elsewhere.get(task_key)
        if other is not None:
            why = f"it is a task of benchmark {other.benchmark!r}, not of {benchmark!r}"
        else:
            close = closest(task_key, index)
            why = (
                did_you_mean(task_key, close)
                if close
                else f"tasks of {benchmark}: {', '.join(s.name for s in bench_specs)}"
            )
        problems.append(f"{spot}: unknown task {task_key!r} ({why})")
    return problems


def _values(doc: ReferenceFile, specs: list[TaskSpec]) -> tuple[list[str], list[ReferenceValue]]:
    """The file's values, one per (agent, task, metric); a second one is a problem."""
    index = _task_index([s for s in specs if s.benchmark == doc.benchmark])
    problems: list[str] = []
    values: list[ReferenceValue] = []
    seen: set[tuple[str, str, str]] = set()
    for prefix, table in doc.all_tables():
        for r, row in enumerate(table.rows):
            for task_key, number in row.scores.items():
                task = index[task_key]
                ident = (row.agent, task, table.metric)
                if ident in seen:
                    spot = f"{prefix}rows[{r}].scores[{json.dumps(task_key)}]"
                    problems.append(
                        f"{spot}: {row.agent!r} already has a {table.metric} value for {task!r}"
                    )
                    continue
                seen.add(ident)
                values.append(
                    ReferenceValue(
                        agent_label=row.agent,
                        task=task,
                        benchmark=doc.benchmark,
                        metric=table.metric,
                        value=number,
                        source=doc.source,
                    )
                )
    return problems, values


def parse_reference_data(
    data: Any, specs: list[TaskSpec], *, origin: str = "reference file"
) -> ReferenceBatch:
    """Check a whole reference document against the catalogue; raise one error naming every
    offending entry (nothing is returned, so nothing is written, when anything is wrong)."""
    if not isinstance(data, dict):
        raise ImportFileError(
            f"{origin}: the top level must be a JSON object, not {type(data).__name__}; "
            "nothing was imported",
            hint="see docs/leaderboard.md for the reference file format",
        )
    problems = _shape_problems(data)
    values: list[ReferenceValue] = []
    try:
        doc = ReferenceFile.model_validate(data)
    except ValidationError as exc:
        problems += [_problem(e) for e in exc.errors()]
    problems += _catalogue_problems(data, specs)
    if not problems:
        problems, values = _values(doc, specs)
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
    return ReferenceBatch(doc.source, doc.benchmark, batch_id, tuple(values))


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
