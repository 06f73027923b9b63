"""``agent-eval view`` (a page per run) and ``agent-eval export`` (runs as an Inspect eval log)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the evidence commands to ``app``."""

    @app.command("view")
    def view_command(
        run_dir: Annotated[Path, typer.Argument(help="A run folder (runs/<run_id>).")],
        html: Annotated[Path, typer.Option("--html", help="Write the run's page to this file.")],
        results: Annotated[
            list[Path] | None,
            typer.Option(
                "--results",
                help="A results file of this run (repeatable).",
                show_default="the files run.json names",
            ),
        ] = None,
    ) -> None:
        """Write one self-contained HTML page about a run: task, evaluation, score over time,
        a timeline of its log and model calls, and how it ended."""
        from agent_eval.run_page import write_run_page

        written = write_run_page(run_dir, html, results)
        typer.echo(f"wrote {written}")

    @app.command("export")
    def export_command(
        run_dirs: Annotated[list[Path], typer.Argument(help="Run folders (runs/<run_id>).")],
        output: Annotated[Path, typer.Option("-o", "--output", help="The log file (.json).")],
        format_: Annotated[
            str, typer.Option("--format", help="Log format: inspect (Inspect's eval log).")
        ] = "inspect",
        results: Annotated[
            list[Path] | None,
            typer.Option(
                "--results",
                help="Results files of these runs (repeatable).",
                show_default="the files each run.json names",
            ),
        ] = None,
    ) -> None:
        """Export runs (one task), their transcripts and evaluations as an Inspect eval log:
        one sample per run, its messages and model events, its score with metadata."""
        from agent_eval.errors import EvalUsageError
        from agent_eval.inspect_export import write_inspect_log

        if format_ != "inspect":
            raise EvalUsageError(f"unknown --format {format_!r}", hint="use --format inspect")
        written = write_inspect_log(run_dirs, output, results)
        typer.echo(f"wrote {written} ({len(run_dirs)} runs); open it with: inspect view")
