"""Console rendering of an evaluation: metric table, constraints, score, where the JSON went.

Renderables are built by functions and printed on a console the caller passes in (tests render
into a ``StringIO``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent_contracts.results import EvaluationResult

ARROWS = {"higher": "↑", "lower": "↓"}
STATUS_STYLE = {"ok": "bold green", "partial": "bold yellow", "error": "bold red"}


def format_number(number: float, unit: str = "") -> str:
    """A value for a table: counts with separators, other numbers with 4 significant digits."""
    if unit in {"count", "tokens"} or (float(number).is_integer() and abs(number) >= 1000):
        return f"{int(number):,}"
    if number == 0:
        return "0"
    if abs(number) >= 1000:
        return f"{number:,.1f}"
    return f"{number:.4g}" if abs(number) < 1e-3 else f"{number:.4f}"


STDERR_NOISE = 1e-12
"""A standard error below this fraction of its value (at least of 1) is floating-point noise of
a zero spread (a ROUGE-L stderr of 7.8e-19 on identical scores): shown as 0."""


def format_stderr(stderr: float, value: float, unit: str = "") -> str:
    """A standard error for a table; noise of a zero spread shows as 0."""
    if abs(stderr) < STDERR_NOISE * max(1.0, abs(value)):
        return "0"
    return format_number(stderr, unit)


def _show(item: Any) -> str:
    if isinstance(item, float):
        return format_number(item)
    if isinstance(item, int) and not isinstance(item, bool):
        return f"{item:,}"
    if isinstance(item, list | tuple):
        return ", ".join(str(i) for i in item) or "-"
    return "-" if item is None else str(item)


def metrics_table(result: EvaluationResult) -> Table:
    """One row per metric value: value, ± stderr, unit, which direction is better."""
    table = Table(
        title=f"{result.task} · {result.benchmark} v{result.task_version}",
        header_style="bold",
        title_justify="left",
    )
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    table.add_column("± stderr", justify="right")
    table.add_column("Unit")
    table.add_column("Better", justify="center")
    for m in result.metrics:
        name = Text(m.name, style="bold" if m.name == result.primary_metric else "")
        if m.name == result.primary_metric:
            name.append(" (primary)", style="dim")
        table.add_row(
            name,
            format_number(m.value, m.unit),
            "-" if m.stderr is None else format_stderr(m.stderr, m.value, m.unit),
            m.unit,
            ARROWS[m.direction],
        )
    for e in result.errors:
        if e.stage.startswith("metric:"):
            table.add_row(
                Text(e.stage.removeprefix("metric:"), style="red"),
                Text("failed", style="red"),
                "-",
                "",
                "",
            )
    return table


def constraints_table(result: EvaluationResult) -> Table | None:
    """One row per constraint: limit, measured, pass/fail."""
    if not result.constraints:
        return None
    table = Table(title="Constraints", header_style="bold", title_justify="left")
    for column in ("Constraint", "Limit", "Measured", "Result", "How"):
        table.add_column(column)
    for c in result.constraints:
        verdict = (
            Text("pass", style="green")
            if c.passed
            else Text("FAIL", style="bold red")
            if c.passed is False
            else Text("not checked", style="dim")
        )
        table.add_row(c.kind, _show(c.limit), _show(c.measured), verdict, c.detail)
    return table


def summary(
    result: EvaluationResult, path: Path | None = None, more: tuple[str, ...] = ()
) -> Group:
    """Status, normalised score, model, environment and where the JSON went."""
    lines = [Text.assemble(("status: ", "bold"), (result.status, STATUS_STYLE[result.status]))]
    if result.score is not None:
        s = result.score
        norm = "n/a (no anchors)" if s.normalised is None else f"{s.normalised:.1f}"
        lines.append(
            Text.assemble(
                ("score: ", "bold"),
                f"{norm}  ",
                (
                    f"({s.metric} {format_number(s.raw)}; baseline {_show(s.baseline)} = 0, "
                    f"reference {_show(s.reference)} = 100, method {s.method})",
                    "dim",
                ),
            )
        )
    else:
        lines.append(Text.assemble(("score: ", "bold"), _no_score(result)))
    model = result.model
    lines.append(
        Text(
            f"model: {model.path} ({model.format}"
            + (f", {model.architecture}" if model.architecture else "")
            + (f", stored {model.dtype}" if model.dtype else "")
            + ")"
        )
    )
    if model.sha256:
        lines.append(Text(f"sha256: {model.sha256}", style="dim"))
    if result.run_id:
        lines.append(Text(f"run: {result.run_id}"))
    env = result.environment
    lines.append(
        Text(
            f"device: {env.device}"
            + (f" ({env.device_name})" if env.device_name else "")
            + (f", dtype {env.dtype}" if env.dtype else "")
            + (f", batch {env.batch_size}" if env.batch_size else "")
            + (f", {env.num_fewshot}-shot" if env.num_fewshot is not None else "")
            + (f", limit {env.sample_limit}" if env.sample_limit else "")
            + f", {result.duration_s:.1f} s",
            style="dim",
        )
    )
    lines.append(standing(result, more))
    for e in result.errors:
        lines.append(Text(f"error [{e.stage}] {e.type}: {e.message}", style="red"))
    if path is not None:
        lines.append(Text.assemble(("saved: ", "bold"), str(path)))
    return Group(*lines)


def standing(result: EvaluationResult, more: tuple[str, ...] = ()) -> Text:
    """Whether the leaderboard ranks this result, and why not (``more``: reasons only the
    database knows, such as a model already counted under a run)."""
    from agent_eval.ranking import no_score, not_ranked

    reasons = [*not_ranked(result), *more]
    if reasons:
        return Text.assemble(("not ranked: ", "bold yellow"), ("; ".join(reasons), "yellow"))
    failed = no_score(result)
    if failed:
        return Text.assemble(
            ("ranked as a trial without a score: ", "bold yellow"), ("; ".join(failed), "yellow")
        )
    return Text.assemble(("ranked: ", "bold"), "yes (conditions comparable, full data)")


def render_result(
    result: EvaluationResult, console: Console, path: Path | None = None, more: tuple[str, ...] = ()
) -> None:
    """Print the whole report of one evaluation on ``console`` (``more``: see :func:`standing`)."""
    console.print(metrics_table(result))
    constraints = constraints_table(result)
    if constraints is not None:
        console.print(constraints)
    console.print(Panel(summary(result, path, more), expand=False))


def _no_score(result: EvaluationResult) -> tuple[str, str]:
    """Why there is no score: the primary metric failed, or it was not asked for."""
    primary = result.primary_metric
    failed = any(e.stage in ("load", f"metric:{primary}") for e in result.errors)
    if failed or result.status == "error":
        return (f"none: the primary metric {primary} failed", "red")
    return (f"none: the primary metric {primary} was not computed (not among --metrics)", "yellow")
