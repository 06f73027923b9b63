"""``agent-eval``: evaluate what an agent delivered; fetch evaluation data; (more commands below).

``agent-eval --model_args PATH --task TASK`` (the quickstart's form, no subcommand) is the same
as ``agent-eval evaluate --model_args PATH --task TASK``. Heavy libraries (torch, transformers,
lm-eval) are imported inside command bodies so that ``--help`` is instant.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agent_contracts.boundary import GuardedTyper, print_json
from agent_eval.cli_leaderboard import RESULTS_DIR_DEFAULT

app = GuardedTyper(
    name="agent-eval",
    help="Evaluate what an ML Research Benchmark agent produced; record and rank results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RESULTS_DIR_ENV = "AGENT_EVAL_RESULTS_DIR"
"""Default results folder (the evaluator image sets ``/results``)."""

ROOT_OPTIONS = {"--help", "-h", "--version"}
"""Options that belong to ``agent-eval`` itself, not to the evaluate command."""


def _version(flag: bool) -> None:
    if flag:
        from agent_eval.environment import package_version

        typer.echo(package_version("mlrbench-eval") or "unknown")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Evaluate a model for a task: agent-eval --model_args PATH --task TASK."""


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _quiet_libraries() -> None:
    import logging
    import warnings

    # Environment switches, read when the libraries are imported later (importing them here
    # would cost seconds on commands that never need them).
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    for name in ("lm_eval", "lm-eval", "transformers", "datasets", "peft", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


@app.command("evaluate")
def evaluate_command(
    model_args: Annotated[
        str,
        typer.Option(
            "--model_args",
            "--model-args",
            help="Model folder, PEFT adapter folder, or run folder (with run.json).",
        ),
    ],
    task: Annotated[str, typer.Option("--task", help="Task name, e.g. llm_efficiency.")],
    results_dir: Annotated[
        Path | None,
        typer.Option(
            "--results-dir",
            help="Folder for the results JSON.",
            show_default=RESULTS_DIR_DEFAULT,
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    dtype: Annotated[
        str, typer.Option(help="auto (as stored), float32, float16 or bfloat16.")
    ] = "auto",
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", help="Override the batch size the task pins.", show_default="the task's"
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            help="Quick check: samples per lm-eval task, windows for perplexity, rows for "
            "generation (recorded in the result).",
            show_default="all",
        ),
    ] = None,
    metrics: Annotated[
        list[str] | None,
        typer.Option(
            "--metrics",
            help="Only these metrics (comma-separated or repeated).",
            show_default="all of the task's",
        ),
    ] = None,
    agent_label: Annotated[
        str | None,
        typer.Option(
            "--agent-label",
            help="Name of the agent on the leaderboard.",
            show_default="the run's agent_label",
        ),
    ] = None,
    no_db: Annotated[
        bool, typer.Option("--no-db", help="Write the JSON only; skip the database.")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Evaluation data folder.",
            show_default="$AGENT_EVAL_DATA_DIR or ~/.cache/mlrb-eval/data",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result JSON instead of the table.")
    ] = False,
    over_time: Annotated[
        bool,
        typer.Option(
            "--over-time",
            help="Also evaluate every snapshot of the run (runs/<id>/snapshots/<elapsed_s>/) "
            "and record the score over time in the result.",
        ),
    ] = False,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report-file",
            help="Also write what happened (exit code, results file, status, whether the result "
            "was recorded) as JSON to this file, for the program that started the evaluation.",
            show_default="none",
        ),
    ] = None,
) -> None:
    """Evaluate a model (or run) for a task: metrics, constraints, score; save and record."""
    from rich.console import Console
    from rich.status import Status

    from agent_eval.errors import EvalError, ResultsWriteError
    from agent_eval.evaluate import EvalOptions, Outcome, evaluate, validate

    out = Console(soft_wrap=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    options = EvalOptions(
        model_args=model_args,
        task=task,
        results_dir=results_dir or Path(os.environ.get(RESULTS_DIR_ENV) or "results"),
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        limit=limit,
        metrics=_split(metrics),
        agent_label=agent_label,
        record=not no_db,
        data_dir=data_dir,
        over_time=over_time,
    )
    validate(options)
    if report_file is not None:
        _check_report_file(report_file)
    _quiet_libraries()

    def run(status: Status) -> Outcome:
        try:
            return evaluate(options, progress=lambda s: status.update(s))
        except ResultsWriteError as exc:  # nothing is lost: the unsaved result goes to stdout
            sys.stdout.write(exc.document + "\n")
            raise

    with err.status("evaluating", spinner="dots") as status:
        outcome = run(status)
    if report_file is not None and (warning := _write_report(report_file, outcome)):
        err.print(f"warning: {warning}", style="yellow", markup=False)
    if as_json:
        sys.stdout.write(outcome.result.model_dump_json(indent=2) + "\n")
    else:
        from agent_eval.ranking import DUPLICATE_REASON
        from agent_eval.report import render_result

        more = (DUPLICATE_REASON,) if outcome.counted_twice else ()
        render_result(outcome.result, out, outcome.path, more)
    for note in outcome.notes:
        err.print(f"warning: {note}", style="yellow", markup=False)
    if outcome.failure is not None or outcome.result.status == "error":
        reason = outcome.failure or EvalError("the evaluation failed")
        err.print(f"results saved to {outcome.path}", style="dim", markup=False)
        if outcome.db_error is not None:  # the exit code says 5; the database is news too
            err.print(
                f"not recorded in the database: {outcome.db_error.message} (load it later with "
                f"'agent-eval sync {options.results_dir}')",
                style="yellow",
                markup=False,
            )
        raise reason
    if outcome.db_error is not None:
        exc = outcome.db_error
        exc.message = (
            f"the result is saved in {outcome.path} but the database write failed: {exc.message}"
        )
        exc.hint = f"load it later with 'agent-eval sync {options.results_dir}'"
        raise exc


def _check_report_file(path: Path) -> None:
    """A ``--report-file`` that names a file in an existing folder: checked before the
    evaluation starts (exit 2), not found out at its end."""
    from agent_eval.errors import EvalUsageError

    hint = "pass the path of a file in an existing folder, such as report.json"
    if path.name in ("", ".", "..") or path.is_dir():
        raise EvalUsageError(f"report file {str(path)!r} does not name a file", hint=hint)
    if not path.parent.is_dir():
        raise EvalUsageError(
            f"report file {str(path)!r}: the folder {str(path.parent)!r} does not exist",
            hint=hint,
        )
    # A report left by an earlier evaluation goes now: a report present afterwards is this
    # one's, and none means this evaluation ended before it had a result (exit 2, 3 ...).
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise EvalUsageError(
            f"report file {str(path)!r} cannot be replaced: {exc.strerror or exc}", hint=hint
        ) from None


def _write_report(path: Path, outcome: Any) -> str | None:
    """The hand-off report (``--report-file``), written atomically through a new file of its
    own (never through a link already beside it); a warning if it cannot be (the evaluation's
    own exit code stands)."""
    import contextlib
    import tempfile

    from agent_contracts.results import EvaluationReport

    report = EvaluationReport(
        exit_code=outcome.exit_code,
        results_file=str(outcome.path),
        status=outcome.result.status,
        recorded=outcome.recorded,
        database_error=outcome.db_error.message if outcome.db_error is not None else None,
    )
    partial: str | None = None
    try:
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o644)
            fh.write(report.model_dump_json(indent=2) + "\n")
        Path(partial).replace(path)
    except OSError as exc:
        if partial is not None:
            with contextlib.suppress(OSError):
                Path(partial).unlink()
        return f"the report file {str(path)!r} could not be written: {exc.strerror or exc}"
    return None


@app.command("prefetch")
def prefetch_command(
    tasks: Annotated[
        list[str] | None,
        typer.Option(
            "--tasks",
            help="Tasks whose data to fetch (comma-separated or repeated).",
            show_default="every task",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where to lay the data out.",
            show_default="$AGENT_EVAL_DATA_DIR or ~/.cache/mlrb-eval/data",
        ),
    ] = None,
) -> None:
    """Download (online) and lay out the evaluation data of tasks, for offline evaluation."""
    from rich.console import Console

    from agent_eval.datasets import data_dir as resolve_data_dir
    from agent_eval.prefetch import prefetch
    from agent_tasks.registry import get_task

    names = _split(tasks)
    for name in names or []:
        get_task(name)  # an unknown task is a usage error before anything is fetched
    root = resolve_data_dir(data_dir)
    console = Console(stderr=True, highlight=False)
    done = prefetch(names, root, log=lambda m: console.print(m, style="dim", markup=False))
    console.print(f"{len(done)} dataset(s) in {root}", markup=False)


@app.command("metrics")
def metrics_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the metric keys task specs may name."""
    from rich.console import Console
    from rich.table import Table

    from agent_eval.metrics import available
    from agent_eval.metrics.registry import METRICS

    found = available()
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for problem in METRICS.load().problems:  # a plugin's clash with a built-in, say
        err.print(f"warning: {problem}", style="yellow", markup=False)
    if as_json:
        rows = [
            {
                "key": r.key,
                "needs": r.needs,
                "description": r.description,
                "unmeasured": r.unmeasured,
            }
            for r in found.values()
        ]
        print_json(rows)
        return
    table = Table(header_style="bold")
    for column in ("Metric", "Needs", "Description"):
        table.add_column(column)
    for r in found.values():
        note = f" (not measured by the evaluator yet: {r.unmeasured})" if r.unmeasured else ""
        table.add_row(r.key, r.needs, r.description + note)
    Console().print(table)


@app.command("reproduce")
def reproduce_command(
    results_file: Annotated[
        Path, typer.Argument(help="A results file (results/<name>.json) to evaluate again.")
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Evaluation data folder (its content must match the record's hashes).",
            show_default="$AGENT_EVAL_DATA_DIR or ~/.cache/mlrb-eval/data",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Evaluate a result's model again from its record alone and compare every metric.

    The model and the data must still match the record's hashes (else exit 5, naming the input);
    each metric is identical, within the recorded timing band, or different (exit 5 when any
    metric is different or missing).
    """
    from rich.console import Console
    from rich.table import Table

    from agent_eval.errors import EvalError
    from agent_eval.reproduce import reproduce

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    _quiet_libraries()
    with err.status(f"reproducing {results_file}", spinner="dots"):
        found = reproduce(results_file, data_dir=data_dir)
    if as_json:
        print_json(
            {
                "results_file": str(results_file),
                "task": found.record.task,
                "model_sha256": found.record.model.sha256,
                "reproduced": found.reproduced,
                "metrics": [
                    {
                        "name": m.name,
                        "recorded": m.recorded,
                        "reproduced": m.reproduced,
                        "verdict": m.verdict,
                        "band": list(m.band) if m.band else None,
                    }
                    for m in found.metrics
                ],
                "differences": [
                    {"field": d.field, "recorded": d.recorded, "reproduced": d.reproduced}
                    for d in found.differences
                ],
                "notes": found.notes,
            }
        )
    else:
        table = Table(
            title=f"{found.record.task}: {results_file.name} reproduced", title_justify="left"
        )
        for column in ("Metric", "Recorded", "Reproduced", "Verdict"):
            table.add_column(column)
        for m in found.metrics:
            table.add_row(
                m.name,
                f"{m.recorded:.6g}",
                "-" if m.reproduced is None else f"{m.reproduced:.6g}",
                m.verdict + (f" ({m.band[0]:.4g}..{m.band[1]:.4g})" if m.band is not None else ""),
            )
        out = Console(soft_wrap=False)
        out.print(table)
        for note in found.notes:
            out.print(f"note: {note}", markup=False)
    if not found.reproduced:
        off = [m.name for m in found.metrics if m.verdict in ("different", "missing")]
        off += [d.field for d in found.differences]
        raise EvalError(
            f"not reproduced: {', '.join(off)} differ from the record",
            hint="the notes name each difference and what changed in the environment "
            "(versions, device)",
        )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; an option first (the quickstart form) means ``evaluate``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0].startswith("-") and args[0] not in ROOT_OPTIONS:
        args = ["evaluate", *args]
    app(args=args, prog_name="agent-eval")


# --- Commands of other modules -------------------------------------------------------------
# Each module adds its commands with one line here: ``from agent_eval.<module> import register
# as _register_<name>; _register_<name>(app)``. Keep their heavy imports inside the commands.
from agent_eval.cli_leaderboard import register as _register_leaderboard  # noqa: E402

_register_leaderboard(app)
from agent_eval.cli_store import register as _register_store  # noqa: E402

_register_store(app)
from agent_eval.cli_evidence import register as _register_evidence  # noqa: E402

_register_evidence(app)
