"""``agent-harness``: run an agent for a task, list past runs, clean up after a crash."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from agent_contracts.boundary import GuardedTyper, print_json
from agent_harness.option_values import (
    DEFAULT_GRACE,
    DEFAULT_LOG_LIMIT,
    DEFAULT_SNAPSHOT_LIMIT,
    CredentialsMode,
    EvalModeChoice,
    Network,
    Provider,
    Runtime,
)
from agent_harness.runset.cli import batch_app

app = GuardedTyper(
    name="agent-harness",
    help="Launch a research agent for a benchmark task under a hard time limit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(batch_app, name="batch")

RUNS_DIR_OPTION = typer.Option(
    "--runs-dir", envvar="AGENT_HARNESS_RUNS_DIR", help="Folder of run records."
)


@app.command("run")
def run_command(
    ctx: typer.Context,
    image: Annotated[
        str | None,
        typer.Argument(
            help="Agent image (a label under --runtime local); required without --config.",
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            "-t",
            help="Task name.",
            show_default="required without --config",
        ),
    ] = None,
    benchmark: Annotated[
        str | None,
        typer.Option(
            "--benchmark",
            "-b",
            help="Benchmark the task is asked under.",
            show_default="the task's own",
        ),
    ] = None,
    agent_label: Annotated[
        str | None,
        typer.Option(
            "--agent-label",
            help="Name of the agent on the leaderboard (recorded in run.json).",
            show_default="the image's name without registry and tag",
        ),
    ] = None,
    provider: Annotated[
        Provider, typer.Option("--provider", "-p", help="Provider whose key the agent gets.")
    ] = "none",
    credentials: Annotated[
        CredentialsMode,
        typer.Option(
            "--credentials",
            help="proxy: a per-run token for the harness's model-API proxy (the key stays "
            "here); direct: the real key, as the original system did.",
        ),
    ] = "proxy",
    budget_tokens: Annotated[
        int | None,
        typer.Option(
            "--budget-tokens",
            min=1,
            help="Model-API token budget (proxy only).",
            show_default="no budget",
        ),
    ] = None,
    budget_usd: Annotated[
        float | None,
        typer.Option(
            "--budget-usd",
            min=0.000001,
            help="Model-API cost budget in USD (proxy).",
            show_default="no budget",
        ),
    ] = None,
    gpus: Annotated[
        str | None,
        typer.Option(
            "--gpus", help="none, all, 0 or 0,1.", show_default="as many as the task asks"
        ),
    ] = None,
    time_limit: Annotated[
        str | None,
        typer.Option(
            "--time-limit", help="24h, 90m, 1h30m, 45s or seconds.", show_default="the task's"
        ),
    ] = None,
    grace: Annotated[
        str, typer.Option("--grace", help="Time between SIGTERM and SIGKILL at the deadline.")
    ] = DEFAULT_GRACE,
    disk_limit: Annotated[
        str | None,
        typer.Option(
            "--disk-limit",
            help="Disk the agent may fill: 500M, 20G or none.",
            show_default="the task's disk_gb",
        ),
    ] = None,
    snapshot_every: Annotated[
        str | None,
        typer.Option(
            "--snapshot-every",
            help="Copy the output into runs/<id>/snapshots/<elapsed_s>/ this often (30m, 2h), "
            "for agent-eval --over-time.",
            show_default="no snapshots",
        ),
    ] = None,
    snapshot_limit: Annotated[
        str,
        typer.Option("--snapshot-limit", help="Most bytes all snapshots together may hold."),
    ] = DEFAULT_SNAPSHOT_LIMIT,
    env_file: Annotated[
        Path | None,
        typer.Option("--env-file", help="Dotenv file with the credentials.", show_default="none"),
    ] = None,
    pass_env: Annotated[
        list[str] | None,
        typer.Option(
            "--pass-env", help="Pass this variable too (repeatable).", show_default="none"
        ),
    ] = None,
    pass_env_unsafe: Annotated[
        list[str] | None,
        typer.Option(
            "--pass-env-unsafe",
            help="Pass a variable that replaces the image's own: PATH, LD_*, PYTHON* (repeatable).",
            show_default="none",
        ),
    ] = None,
    runtime: Annotated[
        Runtime,
        typer.Option(
            "--runtime",
            help="docker, local, an installed runtime's name, or auto (docker if it answers).",
        ),
    ] = "auto",
    runs_dir: Annotated[Path, RUNS_DIR_OPTION] = Path("runs"),
    command: Annotated[
        str | None,
        typer.Option(
            "--command",
            help="Shell command run as the agent (local: required).",
            show_default="the image's command",
        ),
    ] = None,
    network: Annotated[
        Network,
        typer.Option("--network", help="Container network; auto: none without a provider."),
    ] = "auto",
    user: Annotated[
        str, typer.Option("--user", help="Container user: host, image, or UID[:GID].")
    ] = "host",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print run.json on stdout at the end.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Do not copy the agent's output to the console.")
    ] = False,
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate", help="Evaluate the deliverable right after the run (also on timeout)."
        ),
    ] = False,
    eval_mode: Annotated[
        EvalModeChoice,
        typer.Option(
            "--eval-mode",
            help="Evaluator in its image (docker runtime), as a process, or auto.",
        ),
    ] = "auto",
    eval_image: Annotated[
        str | None,
        typer.Option(
            "--eval-image",
            help="Evaluator image.",
            show_default="$AGENT_EVAL_IMAGE or mlrb/agent-eval:latest",
        ),
    ] = None,
    results_dir: Annotated[
        Path, typer.Option("--results-dir", help="Where the evaluation's results JSON goes.")
    ] = Path("results"),
    log_limit: Annotated[
        str,
        typer.Option("--log-limit", help="Cap of agent.log: 100M, 2G, 500K or bytes."),
    ] = DEFAULT_LOG_LIMIT,
    share_gpus: Annotated[
        bool,
        typer.Option("--share-gpus", help="Run even if another run on this host holds the GPUs."),
    ] = False,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Read the whole run description from this JSON file (a run set writes one "
            "per attempt) instead of the options; only --json may be given beside it.",
            show_default="none",
        ),
    ] = None,
) -> None:
    """Run an agent image (or a local command) for one task under a hard time limit."""
    from agent_harness.config import RunConfig, read_run_config
    from agent_harness.console import Progress
    from agent_harness.errors import ConfigError
    from agent_harness.run import run_agent

    if config_file is not None:
        # Only what was typed counts (``AGENT_HARNESS_RUNS_DIR`` and defaults do not).
        sources = {name: ctx.get_parameter_source(name) for name in ctx.params}
        beside = [
            param.opts[0] if param.param_type_name == "option" else "IMAGE"
            for param in ctx.command.params
            if param.name not in (None, "config_file", "as_json")
            and getattr(sources.get(param.name), "name", None) == "COMMANDLINE"
        ]
        if beside:
            raise ConfigError(
                f"--config describes the whole run; {', '.join(beside)} cannot be given beside it",
                hint="put the values in the file, or leave --config out and give the options",
            )
        config = read_run_config(config_file)
    else:
        for value, what in ((image, "IMAGE"), (task, "--task")):
            if value is None or not value.strip():
                raise ConfigError(
                    f"{what} is {'missing' if value is None else 'empty'}",
                    hint="give the agent image and the task, e.g. "
                    "agent-harness run my/agent:latest --task tiny_lm (or --config FILE)",
                )
        # The one place where the options meet the description's fields.
        config = RunConfig.model_validate(
            {
                "image": image,
                "agent_label": agent_label,
                "task": task,
                "benchmark": benchmark,
                "provider": provider,
                "credentials": credentials,
                "budget_tokens": budget_tokens,
                "budget_usd": budget_usd,
                "gpus": gpus,
                "time_limit": time_limit,
                "grace": grace,
                "disk_limit": disk_limit,
                "snapshot_every": snapshot_every,
                "snapshot_limit": snapshot_limit,
                "env_file": env_file,
                "pass_env": tuple(pass_env or ()),
                "pass_env_unsafe": tuple(pass_env_unsafe or ()),
                "runtime": runtime,
                "runs_dir": runs_dir,
                "command": command,
                "network": network,
                "user": user,
                "echo": not quiet,
                "evaluate": evaluate,
                "eval_mode": eval_mode,
                "eval_image": eval_image,
                "results_dir": results_dir,
                "log_limit": log_limit,
                "share_gpus": share_gpus,
            }
        )
    progress = Progress(echo=config.echo)
    record, run_dir = run_agent(config, progress)
    code = record.exit_code or 0
    if code == 0 and record.evaluation is not None:
        code = record.evaluation.exit_code
    try:
        if as_json:
            print_json(record.model_dump(mode="json"))
        else:
            typer.echo(f"{record.status}: {run_dir}")
        sys.stdout.flush()
    except BrokenPipeError:
        # stdout was closed (`... | head -3`): the run is recorded; keep its exit code.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if not progress.drain(0):
        # The console is stuck (a terminal that stopped reading): its writer thread holds
        # stderr, and a normal exit would wait for it forever. The run is recorded.
        os._exit(code)
    raise typer.Exit(code)


@app.command("runs")
def runs_command(
    runs_dir: Annotated[Path, RUNS_DIR_OPTION] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List past runs, oldest first."""
    from agent_contracts.versions import UPGRADE_HINT
    from agent_harness.run_json import from_newer_harness, list_records, unreadable_records

    found = list_records(runs_dir)
    broken = unreadable_records(runs_dir)
    newer = [name for name in broken if from_newer_harness(runs_dir / name)]
    if newer:
        shown = ", ".join(newer[:5]) + (" ..." if len(newer) > 5 else "")
        sys.stderr.write(
            f"warning: {len(newer)} run folder(s) in {runs_dir} have a run.json written by a "
            f"newer harness and are not listed: {shown}\nhint: {UPGRADE_HINT}\n"
        )
        broken = [name for name in broken if name not in newer]
    if broken:
        shown = ", ".join(broken[:5]) + (" ..." if len(broken) > 5 else "")
        sys.stderr.write(
            f"warning: {len(broken)} run folder(s) in {runs_dir} have a run.json that cannot be "
            f"read and are not listed: {shown}\n"
        )
    if as_json:
        print_json([r.model_dump(mode="json") for _, r in found])
        return
    from rich.console import Console
    from rich.table import Table

    from agent_harness.cleanup import abandoned
    from agent_harness.timelimit import format_seconds

    table = Table(title=f"{len(found)} runs in {runs_dir}", header_style="bold")
    longest = max((len(r.run_id) for _, r in found), default=6)
    table.add_column("run id", no_wrap=True, min_width=longest)  # the id is what users copy
    for column in ("task", "runtime", "image", "status", "exit", "duration", "ended by"):
        table.add_column(column, overflow="fold")
    for _, r in found:
        status: str = r.status
        if status == "running" and abandoned(r.harness_pid, r.host, None):
            status = "running (harness gone)"  # cleanup will mark it
        table.add_row(
            r.run_id,
            r.task,
            r.runtime,
            r.image,
            status,
            "" if r.exit_code is None else str(r.exit_code),
            "" if r.duration_s is None else format_seconds(r.duration_s),
            r.ended_by or "",
        )
    Console(width=max(Console().width, 120)).print(table)


@app.command("cleanup")
def cleanup_command(
    runs_dir: Annotated[Path, RUNS_DIR_OPTION] = Path("runs"),
    force: Annotated[
        bool, typer.Option("--force", help="Also remove containers of runs that may be alive.")
    ] = False,
    all_runs_dirs: Annotated[
        bool,
        typer.Option(
            "--all-runs-dirs", help="Consider containers of every runs folder, not only --runs-dir."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Remove containers of abandoned runs (by label) and mark their runs as error."""
    from agent_harness.cleanup import as_json as cleaned_json
    from agent_harness.cleanup import cleanup

    done = cleanup(runs_dir, force=force, all_runs_dirs=all_runs_dirs)
    if as_json:
        print_json(cleaned_json(done))
        return
    if not [item for item in done if item.action != "engine-unreachable"]:
        typer.echo("nothing to clean up")
    for item in done:
        if item.action == "engine-unreachable":
            typer.echo(f"note: {item.reason}", err=True)
            continue
        proxy_folder = f"proxy folder {item.folder}" if item.folder else ""
        subject = " ".join(part for part in (item.run_id, item.container, proxy_folder) if part)
        line = f"{item.action}: {subject}"
        typer.echo(f"{line} ({item.reason})" if item.reason else line)


@app.command("version")
def version_command() -> None:
    """Print the version."""
    typer.echo("0.1.0")


def main() -> None:
    """Console-script entry point."""
    app()
