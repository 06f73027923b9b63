"""``agent-eval leaderboard`` and ``agent-eval import``: the views and published references."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from agent_eval.leaderboard.table import Metric, TrialsMode

RESULTS_DIR_HELP = "Folder of the embedded SQLite database, when no DATABASE_URL or DB_* is set."
RESULTS_DIR_DEFAULT = "$AGENT_EVAL_RESULTS_DIR or results/"
"""How ``--help`` shows the results folder's default (it is resolved at run time)."""


class MetricChoice(StrEnum):
    """The number a leaderboard shows."""

    relative = "relative"
    absolute = "absolute"
    raw = "raw"


class TrialsChoice(StrEnum):
    """How several trials become one number."""

    mean = "mean"
    best = "best"


EMPTY_MESSAGE = (
    "No results recorded yet in {url}.\n"
    "Evaluate an agent (agent-eval --model_args PATH --task TASK), or import published results: "
    "agent-eval import --builtin mlrc_bench_paper"
)


def leaderboard_command(
    benchmark: Annotated[
        str | None,
        typer.Option(
            "--benchmark", "-b", help="Only this benchmark.", show_default="every benchmark"
        ),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task",
            "-t",
            help="Only these tasks (repeat; names or aliases).",
            show_default="every task",
        ),
    ] = None,
    metric: Annotated[
        MetricChoice,
        typer.Option(
            "--metric",
            help="relative: 0 = baseline, 100 = reference; absolute: improvement over the "
            "baseline in %; raw: the primary metric's value.",
        ),
    ] = MetricChoice.relative,
    trials: Annotated[
        TrialsChoice,
        typer.Option(
            "--trials", help="mean over trials (with a 95 % interval), or best of k (labelled)."
        ),
    ] = TrialsChoice.mean,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", help="Write one self-contained web page to this path.", show_default="none"
        ),
    ] = None,
    results_dir: Annotated[
        Path | None,
        typer.Option("--results-dir", help=RESULTS_DIR_HELP, show_default=RESULTS_DIR_DEFAULT),
    ] = None,
) -> None:
    """Rank agents by normalised score per task, with imported published results beside them."""
    from rich.console import Console

    from agent_contracts.boundary import print_json
    from agent_eval.leaderboard.page import write_page
    from agent_eval.leaderboard.query import load_boards
    from agent_eval.leaderboard.views import render_board, view_json
    from agent_eval.settings import mask_url, resolve_url
    from agent_eval.store import Store

    every = html is not None  # the page shows every benchmark's tasks, results or not

    def read() -> tuple[str, list[Any]]:
        url = resolve_url(results_dir=results_dir)
        file = url.database if url.get_backend_name() == "sqlite" else None
        if file and file != ":memory:" and not Path(file).expanduser().exists():
            # A view writes nothing: a missing SQLite file (a mistyped --results-dir, a first
            # start) is an empty database, not one created on the spot.
            with Store.open("sqlite://") as empty:
                return mask_url(url), load_boards(empty, benchmark, task, every_benchmark=every)
        with Store.open(results_dir=results_dir) as store:
            return store.url, load_boards(store, benchmark, task, every_benchmark=every)

    url, boards = read()
    m: Metric = metric.value
    k: TrialsMode = trials.value
    if html is not None:
        path = write_page(boards, html)
        Console(stderr=True, highlight=False).print(
            f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {len(boards)} benchmark(s))",
            markup=False,
        )
        if not as_json:
            return
    if as_json:
        print_json(
            {
                "database": url,
                "benchmarks": [view_json(b, m, k, None) for b in boards],
            }
        )
        return
    console = Console(highlight=False)
    if not boards:
        console.print(EMPTY_MESSAGE.format(url=url), markup=False)
        return
    for board in boards:
        if not board.rows:
            console.print(
                f"No results recorded for benchmark {board.benchmark!r} yet ({url}).", markup=False
            )
            continue
        render_board(board, console, m, k)


def import_command(
    file: Annotated[
        Path | None, typer.Argument(help="Reference file (JSON; format in docs/leaderboard.md).")
    ] = None,
    builtin: Annotated[
        str | None,
        typer.Option(
            "--builtin",
            help="Import a reference file shipped with the product.",
            show_default="none",
        ),
    ] = None,
    list_builtin: Annotated[
        bool, typer.Option("--list-builtin", help="List the shipped reference files and exit.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Validate the file only; write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    results_dir: Annotated[
        Path | None,
        typer.Option("--results-dir", help=RESULTS_DIR_HELP, show_default=RESULTS_DIR_DEFAULT),
    ] = None,
) -> None:
    """Import published per-task results (a paper's table, a top human entry) as reference rows.

    The whole file is checked first; any wrong entry is named and nothing is imported (exit 2).
    Importing the same file again adds nothing.
    """
    from rich.console import Console

    from agent_contracts.boundary import print_json
    from agent_eval.errors import EvalUsageError
    from agent_eval.leaderboard.importing import builtin_names, builtin_path, read_reference_file
    from agent_eval.leaderboard.query import import_batch
    from agent_eval.store import Store
    from agent_tasks.registry import list_tasks

    out = Console(highlight=False, soft_wrap=True)
    if list_builtin:  # plain tab-separated lines (rich would turn the tab into spaces)
        for name in builtin_names():
            sys.stdout.write(f"{name}\t{builtin_path(name)}\n")
        return

    def run() -> dict[str, Any]:
        if (file is None) == (builtin is None):
            raise EvalUsageError(
                "give either a reference FILE or --builtin NAME",
                hint=f"built-in reference files: {', '.join(builtin_names())}",
            )
        path = builtin_path(builtin) if builtin is not None else file
        assert path is not None
        batch = read_reference_file(path, list_tasks())
        summary: dict[str, Any] = {
            "file": str(path),
            "source": batch.source,
            "benchmark": batch.benchmark,
            "values": len(batch.values),
            "agents": len({v.agent_label for v in batch.values}),
        }
        if check:
            return {**summary, "checked_only": True}
        with Store.open(results_dir=results_dir) as store:
            report = import_batch(store, batch)
            summary.update(
                database=store.url,
                written=report.written,
                new=report.new,
                unchanged=report.unchanged,
                updated=report.updated,
            )
        return summary

    summary = run()
    if as_json:
        print_json(summary)
        return
    if summary.get("checked_only"):
        out.print(
            f"ok: {summary['file']} is valid: {summary['values']} values for "
            f"{summary['agents']} rows of {summary['benchmark']} (nothing written)",
            markup=False,
        )
        return
    out.print(
        f"imported {summary['values']} values ({summary['agents']} rows) from "
        f"{summary['source']!r} into {summary['database']}: {summary['new']} new, "
        f"{summary['unchanged']} already present, {summary['updated']} updated"
    )


def register(app: typer.Typer) -> None:
    """Add ``leaderboard`` and ``import`` to the ``agent-eval`` app."""
    app.command("leaderboard")(leaderboard_command)
    app.command("import")(import_command)
