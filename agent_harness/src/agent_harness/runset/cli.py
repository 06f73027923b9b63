"""``agent-harness batch``: run a run set (agents x tasks x trials), resume it, see it, stop it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import typer

from agent_contracts.boundary import GuardedTyper, print_json

batch_app = GuardedTyper(
    name="batch",
    help="Run sets: agents x tasks x trials on the GPUs of a host, or across machines on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RUNSET = typer.Argument(help="Run-set file (YAML); see docs/run-sets.md.")
Backends = Literal["local", "ray"]


@contextlib.contextmanager
def _stdout_on_stderr(active: bool) -> Iterator[None]:
    """While the set runs with ``--json``: whatever writes to stdout (Ray's client and its C++
    core included) writes to stderr instead, so that stdout holds the JSON alone."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _go(
    runset: Path,
    backend: Backends,
    address: str | None,
    as_json: bool,
    *,
    resume: bool,
    fresh: bool,
) -> None:
    from rich.console import Console

    from agent_harness.runset.control import (
        evaluator_leaderboard,
        make_backend,
        results_table,
        run_set,
        status_rows,
    )
    from agent_harness.runset.panel import SetView

    view = SetView()  # the Ray token comes from RAY_AUTH_TOKEN(_PATH), never from argv
    with _stdout_on_stderr(as_json):
        loaded, summary = run_set(
            runset, make_backend(backend, address), view, resume=resume, fresh=fresh
        )
    rows = status_rows(loaded)
    if as_json:
        print_json({"exit_code": summary.exit_code, "cells": rows})
    else:
        Console(file=sys.stderr, width=max(Console().width, 120)).print(results_table(loaded, rows))
        board = evaluator_leaderboard(loaded) if not summary.interrupted else None
        if board is not None:
            sys.stderr.write(board.stdout + board.stderr)
    if summary.interrupted:
        sys.stderr.write("error: interrupted; `agent-harness batch resume` continues the set\n")
    raise typer.Exit(summary.exit_code)


BACKEND = typer.Option("--backend", help="local: this host; ray: a Ray cluster.")
ADDRESS = typer.Option(
    "--address",
    help="The Ray cluster's head node, HOST:PORT or ray://HOST:PORT (required with --backend "
    "ray; nothing is started for you). Not loopback: a token in RAY_AUTH_TOKEN is required.",
    show_default="none; --backend ray needs one",
)
JSON = typer.Option("--json", help="Print the cells as JSON at the end.")


@batch_app.command("run")
def batch_run(
    runset: Annotated[Path, RUNSET],
    backend: Annotated[Backends, BACKEND] = "local",
    address: Annotated[str | None, ADDRESS] = None,
    as_json: Annotated[bool, JSON] = False,
) -> None:
    """Start a run set; refuses one that was already started (use resume)."""
    _go(runset, backend, address, as_json, resume=False, fresh=True)


@batch_app.command("resume")
def batch_resume(
    runset: Annotated[Path, RUNSET],
    backend: Annotated[Backends, BACKEND] = "local",
    address: Annotated[str | None, ADDRESS] = None,
    as_json: Annotated[bool, JSON] = False,
) -> None:
    """Continue a set after a crash or Ctrl-C: finished cells are never run again."""
    _go(runset, backend, address, as_json, resume=True, fresh=False)


@batch_app.command("status")
def batch_status(
    runset: Annotated[Path, RUNSET],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where a set stands: every cell queued, running, finished (and how), or unsettled."""
    from rich.console import Console

    from agent_harness.runset.control import results_table, status_rows
    from agent_harness.runset.model import load_runset
    from agent_harness.runset.scheduler import lock_holder

    loaded = load_runset(runset, local_gpus=False)
    rows = status_rows(loaded)
    holder = lock_holder(loaded.folder)
    if as_json:
        print_json({"scheduler_pid": holder, "folder": str(loaded.folder), "cells": rows})
        return
    Console(width=max(Console().width, 120)).print(results_table(loaded, rows))
    counts: dict[str, int] = {}
    for row in rows:
        key = row["outcome"] or row["state"]
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    who = f"scheduler pid {holder}" if holder else "no scheduler running"
    typer.echo(f"{summary}; {who}; folder {loaded.folder}")


@batch_app.command("cancel")
def batch_cancel(
    runset: Annotated[Path, RUNSET],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Stop a set: every running cell stops cleanly and is recorded as interrupted."""
    from agent_harness.runset.control import cancel_set

    done = cancel_set(runset, say=lambda t: typer.echo(t, err=True))
    if as_json:
        print_json(done)
        return
    if done["scheduler"]:
        typer.echo(f"scheduler {done['scheduler']} stopped: {done['stopped']}")
    elif done["harnesses"]:
        typer.echo(f"stopped {len(done['harnesses'])} harness(es) left by a crashed scheduler")
    else:
        typer.echo("nothing was running")
