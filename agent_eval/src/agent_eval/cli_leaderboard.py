"""``agent-eval leaderboard`` and ``agent-eval import``: the views and published references."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from agent_eval.leaderboard.table import Metric, TrialsMode
    from agent_eval.store import Store

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


LEFT_OUT_SHOWN = 10
"""Evaluations left out of the ranking listed under the table (the JSON lists them all)."""


@contextmanager
def reading_store(results_dir: Path | None) -> Iterator[tuple[str, Store]]:
    """The store a view reads, with its URL (password masked). A view writes nothing: a missing
    SQLite file (a mistyped --results-dir, a first start) is read as an empty database, not
    created on the spot."""
    from agent_eval.settings import mask_url, resolve_url
    from agent_eval.store import Store

    url = resolve_url(results_dir=results_dir)
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not Path(file).expanduser().exists():
        with Store.open("sqlite://") as empty:
            yield mask_url(url), empty
        return
    with Store.open(results_dir=results_dir) as store:
        yield store.url, store


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
            "--html",
            help="Write one self-contained web page to this path, and beside it "
            "run-pages/<run_id>.html: the page of each trial whose run folder is in --runs-dir, "
            "linked from the page.",
            show_default="none",
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Rank by the score each run had reached at this time budget (2h, 90m): its last "
            "snapshot scored by agent-eval --over-time at or before it; trials without one are "
            "listed apart, not ranked.",
            show_default="the final scores",
        ),
    ] = None,
    runs_dir: Annotated[
        Path,
        typer.Option(
            "--runs-dir",
            envvar="AGENT_HARNESS_RUNS_DIR",
            help="Folder of the run folders (runs/<run_id>) whose pages --html writes.",
        ),
    ] = Path("runs"),
    results_dir: Annotated[
        Path | None,
        typer.Option("--results-dir", help=RESULTS_DIR_HELP, show_default=RESULTS_DIR_DEFAULT),
    ] = None,
) -> None:
    """Rank agents by normalised score per task, with imported published results beside them."""
    from rich.console import Console

    from agent_contracts.boundary import print_json
    from agent_contracts.durations import parse_duration
    from agent_eval.leaderboard.page import write_page
    from agent_eval.leaderboard.query import load_boards, select, trials_of
    from agent_eval.leaderboard.views import HOW_TO, render_board, view_json
    from agent_eval.run_page import PAGES_DIR, write_trial_pages

    every = html is not None  # the page shows every benchmark's tasks, results or not
    at_s = None if at is None else parse_duration(at, what="time budget (--at)")
    err = Console(stderr=True, highlight=False)

    with reading_store(results_dir) as (url, store):
        boards = load_boards(store, benchmark, task, every_benchmark=every, at_s=at_s)
        chosen = select(store, benchmark, task)
        left_out = store.left_out(chosen.benchmarks, chosen.tasks)
        if html is not None:
            pages = write_trial_pages(trials_of(boards), runs_dir, html, store)
            page_left_out = store.left_out(None, None)  # the page shows every benchmark
    m: Metric = metric.value
    k: TrialsMode = trials.value
    if html is not None:
        path = write_page(boards, html, pages=pages.links, left_out=page_left_out)
        err.print(
            f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {len(boards)} benchmark(s)) "
            f"and {len(pages.links)} run page(s) in {path.parent / PAGES_DIR}",
            markup=False,
        )
        if pages.without_folder:
            err.print(
                f"{len(pages.without_folder)} trial(s) have no run folder in {runs_dir} "
                "(no page, no link); give --runs-dir the folder agent-harness wrote them to",
                markup=False,
            )
        for problem in pages.problems:
            err.print(f"no page for {problem}", markup=False)
        if not as_json:
            return
    if as_json:
        print_json(
            {
                "database": url,
                "benchmarks": [view_json(b, m, k, None) for b in boards],
                "not_ranked": [
                    {"evaluation_id": e, "task": t, "agent": a, "why": why}
                    for e, t, a, why in left_out
                ],
            }
        )
        return
    console = Console(highlight=False)
    if not boards:
        console.print(f"No results recorded yet in {url}.\n{HOW_TO}", markup=False)
        return
    for board in boards:
        if not board.rows:
            console.print(
                f"No results recorded for benchmark {board.benchmark!r} yet ({url}). {HOW_TO}",
                markup=False,
            )
            continue
        render_board(board, console, m, k)
    if left_out:
        console.print(
            f"not ranked: {len(left_out)} evaluation(s) (agent-eval history shows them)",
            markup=False,
        )
        for evaluation_id, task_name, agent, why in left_out[:LEFT_OUT_SHOWN]:
            console.print(
                f"  {evaluation_id[:12]} {task_name} {agent or '(no agent)'}: {why}", markup=False
            )


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


class AveragedMetric(StrEnum):
    """A number with a cross-task average."""

    relative = "relative"
    absolute = "absolute"


def compare_command(
    agent_a: Annotated[str, typer.Argument(help="First agent, named as the leaderboard shows it.")],
    agent_b: Annotated[str, typer.Argument(help="Second agent.")],
    benchmark: Annotated[
        str | None,
        typer.Option("--benchmark", "-b", help="Benchmark of both.", show_default="the shared one"),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option("--task", "-t", help="Only these tasks (repeat).", show_default="every task"),
    ] = None,
    metric: Annotated[
        AveragedMetric, typer.Option("--metric", help="Score compared (normalised).")
    ] = AveragedMetric.relative,
    plan_delta: Annotated[
        float | None,
        typer.Option(
            "--plan-delta",
            min=0.001,
            help="Also say how many trials per task detect a difference of this size.",
            show_default="no plan",
        ),
    ] = None,
    power: Annotated[
        float, typer.Option("--power", min=0.5, max=0.99, help="Power of the plan.")
    ] = 0.8,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    results_dir: Annotated[
        Path | None,
        typer.Option("--results-dir", help=RESULTS_DIR_HELP, show_default=RESULTS_DIR_DEFAULT),
    ] = None,
) -> None:
    """Compare two agents paired over the tasks both ran: difference, interval, test, P(A > B)."""
    from rich.console import Console

    from agent_contracts.boundary import print_json
    from agent_eval.leaderboard.query import compare_agents
    from agent_eval.leaderboard.views import UNCERTAINTY_NOTE, comparison_json

    with reading_store(results_dir) as (url, store):
        result = compare_agents(
            store, agent_a, agent_b, benchmark, task, metric.value, plan_delta, power, url
        )
    data = {"benchmark": result.benchmark, **comparison_json(result.comparison)}
    data["interval_method"] = UNCERTAINTY_NOTE
    plan = result.plan
    if plan is not None:
        data["plan"] = {
            "delta": plan.delta,
            "power": plan.power,
            "alpha": plan.alpha,
            "trials_per_task": plan.trials_per_task,
            "tasks_with_spread": plan.tasks_with_spread,
            "reason": plan.reason,
        }
    if as_json:
        print_json(data)
        return
    out = Console(highlight=False, soft_wrap=True)
    c = result.comparison
    ci = (
        "no interval (one trial per task)"
        if c.ci is None
        else f"95 % CI [{c.ci[0]:+.1f}, {c.ci[1]:+.1f}]"
    )
    out.print(
        f"{c.agent_a} vs {c.agent_b} on {result.benchmark} ({c.metric} score, "
        f"{len(c.tasks)} common task{'s' if len(c.tasks) != 1 else ''})",
        markup=False,
    )
    out.print(f"  mean difference (A - B)   {c.mean_difference:+.1f}   {ci}", markup=False)
    out.print(
        f"  paired test               p = {c.p_value:.3g}  (two-sided sign-flip permutation "
        f"test over tasks, {'exact' if c.exact else 'Monte Carlo'})",
        markup=False,
    )
    out.print(
        f"  P(A beats B on a task)    {c.p_a_beats_b:.0%}  (A ahead on {c.wins}, behind on "
        f"{c.losses}, level on {c.draws})",
        markup=False,
    )
    out.print("  largest differences:", markup=False)
    for t in c.tasks[:5]:
        out.print(
            f"    {t.task:<36} A {t.mean_a:7.1f}  B {t.mean_b:7.1f}  A-B {t.difference:+7.1f}",
            markup=False,
        )
    for who, only in ((c.agent_a, c.only_a), (c.agent_b, c.only_b)):
        if only:
            out.print(f"  only {who} ran: {', '.join(only)} (not compared)", markup=False)
    if plan is not None:
        if plan.trials_per_task is None:
            out.print(f"  plan: cannot say ({plan.reason})", markup=False)
        else:
            out.print(
                f"  plan: {plan.trials_per_task} trials per task and agent detect a difference "
                f"of {plan.delta:g} with {plan.power:.0%} power at the 5 % level (spread from "
                f"{plan.tasks_with_spread} of {len(c.tasks)} tasks)",
                markup=False,
            )
    if len(c.tasks) < 5:
        out.print(
            f"  note: with {len(c.tasks)} tasks the smallest possible p is "
            f"{2 / 2 ** len(c.tasks):.3g}",
            markup=False,
        )
    out.print(f"  interval: {UNCERTAINTY_NOTE}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``leaderboard``, ``compare`` and ``import`` to the ``agent-eval`` app."""
    app.command("leaderboard")(leaderboard_command)
    app.command("compare")(compare_command)
    app.command("import")(import_command)
