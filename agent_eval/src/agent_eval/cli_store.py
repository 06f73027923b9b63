"""``agent-eval sync`` and ``agent-eval history``: the database side of the evaluator's CLI."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from agent_eval.cli_leaderboard import RESULTS_DIR_DEFAULT, RESULTS_DIR_HELP

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from agent_eval.store import HistoryEntry
    from agent_eval.sync import SyncReport


def sync_command(
    results_dir: Annotated[
        Path, typer.Argument(help="Folder of saved results files (searched recursively).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Load saved results JSON into the database, adding only what is missing.

    Without DATABASE_URL or DB_* the database is RESULTS_DIR/mlrb.sqlite. Files that cannot be
    loaded are named and the command exits 2 after loading the others.
    """
    from rich.console import Console
    from rich.markup import escape

    from agent_contracts.boundary import fail, print_json
    from agent_eval.errors import EvalUsageError
    from agent_eval.sync import sync_folder

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with err.status(f"syncing {results_dir} ..."):
        report = sync_folder(results_dir)
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        render_sync(report, Console(highlight=False, soft_wrap=True))
    if report.bad:
        for bad in report.bad:
            err.print(f"[yellow]bad results file:[/] {escape(str(bad.path))}: {escape(bad.error)}")
        count = len(report.bad)
        raise fail(
            EvalUsageError(
                f"{count} results file{'s' if count != 1 else ''} could not be loaded",
                hint="fix or move the files named above; every other file was synced",
            )
        )


def render_sync(report: SyncReport, console: Console) -> None:
    """Print the counts of a sync."""
    console.print(f"synced {report.folder} into {report.database}", markup=False)
    console.print(f"  added            {report.added}")
    console.print(f"  already present  {report.present}")
    if report.skipped:
        console.print(f"  not results      {len(report.skipped)} (other JSON files, left alone)")
    console.print(f"  bad              {len(report.bad)}")


def history_command(
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="Only this task.", show_default="every task")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0, help="Newest N evaluations (0: all).")
    ] = 20,
    results_dir: Annotated[
        Path | None,
        typer.Option("--results-dir", help=RESULTS_DIR_HELP, show_default=RESULTS_DIR_DEFAULT),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print CSV (one header line) instead of a table.")
    ] = False,
) -> None:
    """List recorded evaluations, newest first, with their run's cost, tokens and GPU-hours."""
    from rich.console import Console

    from agent_contracts.boundary import print_json
    from agent_eval.errors import EvalUsageError
    from agent_eval.store import Store

    def read() -> tuple[str, list[HistoryEntry]]:
        from agent_eval.settings import mask_url, resolve_url

        url = resolve_url(results_dir=results_dir)
        database = url.database or ""
        on_disk = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
        if on_disk and not Path(database).expanduser().is_file():  # reading creates nothing
            return mask_url(url), []
        with Store.open(results_dir=results_dir) as store:
            return store.url, store.history(task=task, limit=limit or None)

    if as_json and as_csv:
        raise EvalUsageError("--json and --csv exclude each other", hint="pick one of them")
    url, entries = read()
    if as_json:
        print_json([entry.model_dump(mode="json") for entry in entries])
        return
    if as_csv:
        write_history_csv(entries, sys.stdout)
        return
    console = Console(highlight=False, soft_wrap=True)
    if not entries:
        where = f" for task {task!r}" if task else ""
        console.print(f"no evaluations recorded{where} in {url}", markup=False)
        return
    table = history_table(entries, title=f"{len(entries)} evaluations in {url}")
    if not console.is_terminal:
        # Piped: the table takes the width it needs, so no column is cut or squeezed.
        from rich.measure import Measurement

        needed = Measurement.get(console, console.options.update_width(100_000), table)
        console = Console(highlight=False, width=max(console.width, needed.maximum))
    console.print(table)


CSV_FIELDS = (
    "started_at",
    "evaluation_id",
    "run_id",
    "task",
    "benchmark",
    "agent_label",
    "status",
    "primary_metric",
    "primary_value",
    "normalised_score",
    "tokens",
    "cost_usd",
    "gpu_count",
    "run_duration_s",
    "working_time_s",
    "gpu_hours",
)
"""The columns of ``history --csv`` (empty where unknown)."""


def write_history_csv(entries: Sequence[HistoryEntry], out: TextIO) -> None:
    """The history as CSV with a header line."""
    import csv

    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for e in entries:
        row = e.model_dump(mode="json")
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in CSV_FIELDS})


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def history_table(entries: Sequence[HistoryEntry], title: str = "") -> Table:
    """The history as a rich table."""
    from rich.table import Table

    from agent_tasks.render import format_duration

    table = Table(title=title or None, header_style="bold")
    for name, justify in (
        ("when (UTC)", "left"),
        ("task", "left"),
        ("agent", "left"),
        ("model", "left"),
        ("status", "left"),
        ("primary", "right"),
        ("score", "right"),
        ("tokens", "right"),
        ("model $", "right"),
        ("GPU-h", "right"),
        ("run time", "right"),
        ("working", "right"),
        ("ranked", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    colours = {"ok": "green", "partial": "yellow", "error": "red"}
    for e in entries:
        table.add_row(
            e.started_at.strftime("%Y-%m-%d %H:%M"),
            e.task,
            e.agent_label or "-",
            (e.model_sha256 or "-")[:12],
            f"[{colours.get(e.status, 'white')}]{e.status}[/]",
            f"{e.primary_metric} {_number(e.primary_value)}",
            _number(e.normalised_score, 3),
            "-" if e.tokens is None else f"{e.tokens:,}",
            _number(e.cost_usd),
            _number(e.gpu_hours, 3),
            "-" if e.run_duration_s is None else format_duration(round(e.run_duration_s)),
            "-" if e.working_time_s is None else format_duration(round(e.working_time_s)),
            _ranked(e),
        )
    return table


def _ranked(e: HistoryEntry) -> str:
    """The ``ranked`` cell: yes, yes as a trial without a score (and why), or no (and why)."""
    from rich.markup import escape

    if e.not_ranked is not None:
        return f"[yellow]no: {escape(e.not_ranked)}[/]"
    from agent_eval.metrics.registry import unmeasured_metrics

    if e.primary_metric in unmeasured_metrics():
        return f"[yellow]yes, as a trial without a score: unmeasured {e.primary_metric}[/]"
    if e.status == "error":
        return "[yellow]yes, as a trial without a score: the evaluation failed[/]"
    if not e.constraints_passed:
        return "[yellow]yes, as a trial without a score: a constraint failed[/]"
    return "yes"


def register(app: typer.Typer) -> None:
    """Add ``sync`` and ``history`` to the ``agent-eval`` app."""
    app.command("sync")(sync_command)
    app.command("history")(history_command)
