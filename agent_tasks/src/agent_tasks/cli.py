"""``agent-tasks``: list, show, render, export and validate the task catalogue."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from agent_contracts.boundary import GuardedTyper, print_json
from agent_contracts.errors import ExitCode

app = GuardedTyper(
    name="agent-tasks",
    help="The task catalogue of the ML Research Benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("list")
def list_command(
    benchmark: Annotated[
        str | None,
        typer.Option(
            "--benchmark",
            "-b",
            help="Only the tasks of this benchmark.",
            show_default="every benchmark",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the registered tasks."""
    from agent_tasks.registry import list_tasks
    from agent_tasks.render import format_duration

    specs = list_tasks(benchmark)
    if as_json:
        print_json(
            [
                {
                    "name": s.name,
                    "benchmark": s.benchmark,
                    "title": s.title,
                    "summary": s.summary,
                    "primary_metric": s.primary_metric,
                    "direction": s.primary.direction,
                    "time_limit_s": s.resources.time_limit_s,
                    "gpus": s.resources.gpus,
                    "version": s.version,
                }
                for s in specs
            ]
        )
        return
    table = Table(title=f"{len(specs)} tasks", header_style="bold")
    table.add_column("task", no_wrap=True, style="bold")
    table.add_column("benchmark", no_wrap=True)
    table.add_column("title", ratio=1)
    table.add_column("primary metric", ratio=1)
    table.add_column("time", no_wrap=True, justify="right")
    table.add_column("GPUs", no_wrap=True, justify="right")
    for s in specs:
        arrow = "↑" if s.primary.direction == "higher" else "↓"
        table.add_row(
            s.name,
            s.benchmark,
            escape(s.title),
            f"{escape(s.primary.label)} {arrow}",
            format_duration(s.resources.time_limit_s),
            str(s.resources.gpus),
        )
    Console(width=max(Console().width, 120)).print(table)


@app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Task name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the spec as JSON.")] = False,
) -> None:
    """Show one task's spec (what an agent is told; hidden evaluation details excluded)."""
    from agent_tasks.export import starter_files
    from agent_tasks.registry import get_task
    from agent_tasks.render import describe_constraint, format_duration

    spec = get_task(name)
    if as_json:
        print_json(spec.public_dict())
        return
    console = Console()
    table = Table(
        show_header=False, title=f"{spec.name}: {escape(spec.title)}", title_justify="left"
    )
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    r = spec.resources
    rows = [
        ("benchmark", spec.benchmark),
        ("version", spec.version),
        ("summary", spec.summary),
        ("time limit", f"{format_duration(r.time_limit_s)} ({r.time_limit_s} s)"),
        (
            "GPUs",
            f"{r.gpus}"
            + (f" x {r.gpu_type}" if r.gpu_type else "")
            + (f", {r.gpu_memory_gb:g} GB" if r.gpu_memory_gb else ""),
        ),
        ("CPU / RAM", f"{r.cpus or '-'} cores / {f'{r.ram_gb:g} GB' if r.ram_gb else '-'}"),
        ("deliverable", f"{spec.deliverable.kind} at {spec.deliverable.path}"),
        ("primary metric", f"{spec.primary.label} ({spec.primary.direction} is better)"),
        ("metrics", ", ".join(m.name for m in spec.metrics)),
        (
            "anchors",
            f"baseline {_anchor(spec.anchors.baseline)}, reference "
            f"{_anchor(spec.anchors.reference_value)}"
            + (
                f" (+{spec.anchors.reference_improvement_pct:g} % over the baseline)"
                if spec.anchors.reference_improvement_pct is not None
                else ""
            )
            + f" ({spec.anchors.source})",
        ),
        ("constraints", "\n".join(describe_constraint(c) for c in spec.constraints) or "-"),
        (
            "datasets",
            "\n".join(d.id + (f" [{d.config}]" if d.config else "") for d in spec.datasets) or "-",
        ),
        (
            "starting models",
            ", ".join(spec.starting_models) or ("from scratch" if spec.from_scratch else "-"),
        ),
        ("starter files", ", ".join(starter_files(spec)) or "-"),
        ("competition", spec.competition_url or "-"),
    ]
    for key, value in rows:
        table.add_row(key, escape(value))
    for d in spec.decisions:
        table.add_row(
            "decision", f"{escape(d.topic)}: {escape(d.choice)} [dim]({escape(d.source)})[/]"
        )
    console.print(table)


@app.command("prompt")
def prompt_command(
    name: Annotated[str, typer.Argument(help="Task name.")],
    raw: Annotated[
        bool, typer.Option("--raw", help="Print markdown source, not rendered.")
    ] = False,
) -> None:
    """Print the task statement (TASK.md) an agent receives."""
    from agent_tasks.registry import get_task
    from agent_tasks.render import render_prompt

    text = render_prompt(get_task(name))
    if raw or not sys.stdout.isatty():
        sys.stdout.write(text)
    else:
        Console().print(Markdown(text))


@app.command("export")
def export_command(
    name: Annotated[str, typer.Argument(help="Task name.")],
    dest: Annotated[Path, typer.Argument(help="Folder to write TASK.md, task.json, starter/.")],
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty folder (replaces those three).")
    ] = False,
) -> None:
    """Write a task's folder for an agent."""
    from agent_tasks.export import export_task

    out = export_task(name, dest, force=force)
    Console(stderr=True).print(f"exported [bold]{escape(name)}[/] to {escape(str(out))}")


@app.command("validate")
def validate_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print problems as JSON.")] = False,
) -> None:
    """Check every registered spec; exit 2 when any has a problem."""
    from agent_tasks.registry import load
    from agent_tasks.validate import validate_all

    problems = validate_all()
    count = len(load().items)
    if as_json:
        print_json({"tasks": count, "problems": problems})
    elif problems:
        err = Console(stderr=True)
        for p in problems:
            err.print(f"[red]problem:[/] {escape(p)}", markup=True, highlight=False)
        err.print(f"{len(problems)} problem(s) in {count} tasks")
    else:
        Console().print(f"[green]ok[/]: {count} tasks valid")
    if problems:
        raise typer.Exit(int(ExitCode.USAGE))


def _anchor(value: float | None) -> str:
    return "not published" if value is None else f"{value:g}"


def main() -> None:
    """Console-script entry point."""
    app()
