"""``--help`` shows every option's default, in every command of every console script (the
promise of docs/contracts.md): an option whose default is None says in words what None means."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from agent_eval.cli import app as eval_app
from agent_harness.cli import app as harness_app
from agent_tasks.cli import app as tasks_app

APPS = {"agent-tasks": tasks_app, "agent-harness": harness_app, "agent-eval": eval_app}


def _commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, [*path, name])
    else:
        yield path, command


def _options() -> Iterator[tuple[str, list[str], Any]]:
    for script, app in APPS.items():
        for path, command in _commands(typer.main.get_command(app), []):
            for option in command.params:
                if getattr(option, "param_type_name", "") != "option" or option.name == "help":
                    continue
                if option.is_flag or option.required:
                    continue  # a switch is off unless given; a required option has none
                yield script, path, option


def test_every_option_that_takes_a_value_says_its_default() -> None:
    silent = [
        f"{script} {' '.join(path)} {option.opts[0]}"
        for script, path, option in _options()
        if option.show_default is False
        or (option.default is None and not isinstance(option.show_default, str))
    ]
    assert silent == []


@pytest.mark.parametrize(
    ("script", "args", "option", "shown"),
    [
        ("agent-harness", ["run", "--help"], "--command", "the image's command"),
        ("agent-eval", ["evaluate", "--help"], "--metrics", "all of the task's"),
        ("agent-eval", ["prefetch", "--help"], "--tasks", "every task"),
        ("agent-tasks", ["list", "--help"], "--benchmark", "every benchmark"),
    ],
)
def test_the_rendered_help_carries_the_words(
    script: str, args: list[str], option: str, shown: str
) -> None:
    result = CliRunner().invoke(APPS[script], args, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    line = next(row for row in result.output.splitlines() if f" {option} " in row)
    assert f"[default: {shown}]" in line or f"[default: ({shown})]" in line, line
