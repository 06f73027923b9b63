"""One run description: the options, a run-set file and ``--config`` read the same texts with the
same parser per unit, and a run set's attempt file runs as the options it stands for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import BENCHMARK, TASK, clean_environ, harness
from runset_testkit import write_runset
from typer.testing import CliRunner

from agent_harness.cli import app
from agent_harness.config import RunConfig, RunConfigError, read_run_config
from agent_harness.errors import ConfigError
from agent_harness.runset.model import RunSetError, parse_runset

SIZE_OPTIONS = ("--disk-limit", "--log-limit", "--snapshot-limit")
SIZES_ACCEPTED = {
    "500M": 500 * 1024**2,
    "20GB": 20 * 1024**3,
    "1.5G": 3 * 1024**3 // 2,
    "2T": 2 * 1024**4,
    "2t": 2 * 1024**4,
    "500K": 500 * 1024,
    "4096": 4096,
    " 1 GiB ": 1024**3,
}
SIZES_REFUSED = ("", "0", "0M", "-1G", "1e9", "20X", "G", "1.G", "9" * 40, "1.5.G")

DURATION_OPTIONS = ("--time-limit", "--grace", "--snapshot-every")
DURATIONS_ACCEPTED = {"90m": 5400, "1h30m": 5400, "45s": 45, "3600": 3600, "1h30m15s": 5415}
DURATIONS_REFUSED = ("24hs", "1.5h", "1H", " 45s ", "-5m", "h", "30x", "1m1h", "9" * 400)

NO_TASK = "no_such_task_anywhere"
"""A task that does not exist: the CLI reads every option first, so a run that gets as far as
looking the task up has had its options accepted, and nothing starts either way."""


def _field(option: str) -> str:
    return option.removeprefix("--").replace("-", "_")


def _cli(option: str, text: str, runs_dir: Path) -> Any:
    return CliRunner().invoke(
        app,
        ["run", "agent", "--task", NO_TASK, "--runtime", "local", "--command", "true",
         "--runs-dir", str(runs_dir), option, text],
    )  # fmt: skip


def _file(field: str, value: Any, tmp_path: Path) -> Path:
    path = tmp_path / "attempt.json"
    path.write_text(json.dumps({"image": "agent", "task": TASK, field: value}), encoding="utf-8")
    return path


def _runset_problems(field: str, value: Any, tmp_path: Path, *, on_agent: bool) -> list[str]:
    agent: dict[str, Any] = {"name": "a", "command": "true"}
    content: dict[str, Any] = {"agents": [agent], "tasks": [TASK]}
    (agent if on_agent else content)[field] = value
    try:
        parse_runset(write_runset(tmp_path, **content))
    except RunSetError as exc:
        return [line.strip() for line in exc.message.splitlines()[1:]]
    return []


@pytest.mark.parametrize("option", SIZE_OPTIONS)
@pytest.mark.parametrize("text", sorted(SIZES_ACCEPTED))
def test_every_size_option_accepts_the_same_texts(
    option: str, text: str, tmp_path: Path, runs_dir: Path
) -> None:
    result = _cli(option, text, runs_dir)
    assert result.exit_code == 2 and f"unknown task {NO_TASK!r}" in result.output, result.output
    field = _field(option)
    assert getattr(read_run_config(_file(field, text, tmp_path)), field) == SIZES_ACCEPTED[text]
    assert _runset_problems(field, text, tmp_path, on_agent=True) == []


@pytest.mark.parametrize("option", SIZE_OPTIONS)
@pytest.mark.parametrize("text", SIZES_REFUSED)
def test_every_size_option_refuses_the_same_texts(
    option: str, text: str, tmp_path: Path, runs_dir: Path
) -> None:
    what = option.removeprefix("--").replace("-", " ")
    result = _cli(option, text, runs_dir)
    assert result.exit_code == 2 and f"error: invalid {what} " in result.output, result.output
    assert "hint: accepted forms: 500M, 20GB, 1.5G, 2T" in result.output
    field = _field(option)
    with pytest.raises(ConfigError, match=f"{field}: invalid {what}"):
        read_run_config(_file(field, text, tmp_path))
    (problem,) = _runset_problems(field, text, tmp_path, on_agent=True)
    assert problem.startswith(f"agents[0].{field}: invalid {what}")
    assert not runs_dir.exists()


def test_none_is_a_disk_limit_but_no_bound_for_the_log_or_snapshots(runs_dir: Path) -> None:
    assert RunConfig(image="a", task=TASK, disk_limit="none").disk_limit == "none"
    for option in ("--log-limit", "--snapshot-limit"):
        result = _cli(option, "none", runs_dir)
        assert result.exit_code == 2 and "error: invalid" in result.output


@pytest.mark.parametrize("option", DURATION_OPTIONS)
@pytest.mark.parametrize("text", sorted(DURATIONS_ACCEPTED))
def test_every_duration_option_accepts_the_same_texts(
    option: str, text: str, tmp_path: Path, runs_dir: Path
) -> None:
    result = _cli(option, text, runs_dir)
    assert result.exit_code == 2 and f"unknown task {NO_TASK!r}" in result.output, result.output
    field = option.removeprefix("--").replace("-", "_")
    assert getattr(read_run_config(_file(field, text, tmp_path)), field) == DURATIONS_ACCEPTED[text]
    assert _runset_problems(field, text, tmp_path, on_agent=False) == []


@pytest.mark.parametrize("option", DURATION_OPTIONS)
@pytest.mark.parametrize("text", DURATIONS_REFUSED)
def test_every_duration_option_refuses_the_same_texts(
    option: str, text: str, tmp_path: Path, runs_dir: Path
) -> None:
    result = _cli(option, text, runs_dir)
    assert result.exit_code == 2 and "error: invalid " in result.output, result.output
    assert "\nhint: " in result.output  # the accepted forms, or the longest limit
    field = _field(option)
    with pytest.raises(ConfigError, match=f"{field}: invalid"):
        read_run_config(_file(field, text, tmp_path))
    (problem,) = _runset_problems(field, text, tmp_path, on_agent=False)
    assert problem.startswith(f"{field}: invalid")
    assert not runs_dir.exists()


def test_a_number_in_a_file_is_seconds_or_bytes_held_to_the_same_bounds(tmp_path: Path) -> None:
    assert read_run_config(_file("time_limit", 45, tmp_path)).time_limit == 45
    assert read_run_config(_file("grace", 0, tmp_path)).grace == 0
    assert read_run_config(_file("log_limit", 4096, tmp_path)).log_limit == 4096
    for field, value in (("time_limit", 0), ("time_limit", 400 * 24 * 3600), ("grace", -1),
                         ("log_limit", 0), ("disk_limit", -5), ("time_limit", 1.5)):  # fmt: skip
        with pytest.raises(ConfigError, match=f"{field}: invalid"):
            read_run_config(_file(field, value, tmp_path))


def test_a_run_sets_attempt_file_runs_as_the_options_it_stands_for(tmp_path: Path) -> None:
    from agent_harness.runset.attempts import attempt_command, attempt_config
    from agent_harness.runset.model import load_runset

    command = "echo ran > model.txt"
    loaded = load_runset(
        write_runset(
            tmp_path,
            agents=[{"name": "scripted", "command": command, "log_limit": "1.5G",
                     "pass_env": ["SOME_NAME"], "user": "host"}],
            tasks=[{"name": TASK, "benchmark": BENCHMARK, "time_limit": "90s"}],
            grace="3s",
        )
    )  # fmt: skip
    (cell,) = loaded.cells
    folder = tmp_path / "attempt"
    argv = attempt_command(
        folder, attempt_config(loaded, cell, None, folder).model_dump(mode="json")
    )
    assert argv[-3:] == ["run", "--config", str(folder / "attempt.json")]
    env = clean_environ(SOME_NAME="passed")
    by_file = harness(*argv[-3:], env=env)
    assert by_file.returncode == 0, by_file.stderr
    options = tmp_path / "options"
    by_options = harness(
        "run", "scripted", "--agent-label", "scripted", "--task", TASK, "--benchmark", BENCHMARK,
        "--runtime", "local", "--command", command, "--time-limit", "90s", "--grace", "3s",
        "--log-limit", "1.5G", "--pass-env", "SOME_NAME", "--runs-dir", str(options), "--quiet",
        env=env,
    )  # fmt: skip
    assert by_options.returncode == 0, by_options.stderr
    assert by_file.stderr.splitlines()[0] == by_options.stderr.splitlines()[0]  # the time limit

    def record(runs: Path) -> dict[str, Any]:
        (path,) = runs.glob("*/run.json")
        data = json.loads(path.read_text())
        assert (path.parent / "output" / "model.txt").read_text() == "ran\n"
        unique = ("run_id", "started_at", "ended_at", "deadline", "duration_s", "harness_pid",
                  "agent_pid", "watchdog_pid", "run_dir", "log", "output_safety")  # fmt: skip
        return {k: v for k, v in data.items() if k not in unique}

    assert record(folder) == record(options)
    assert record(folder)["limits"]["time_limit_s"] == 90
    assert record(folder)["limits"]["grace_s"] == 3


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "is not a JSON object"),
        ('{"image": "a", "task": "t", "tim_limit": "2h"}',
         "tim_limit: unknown field (did you mean 'time_limit'?)"),
        ('{"image": "a", "task": "t", "time_limit": "24"}',
         "time_limit: invalid time limit '24': a bare number is seconds"),
        ('{"image": "a"}', "task: Field required"),
        ('{"image": "a", "task": "t", "gpus": "0,0", "grace": "-1"}', "has 2 problem(s)"),
        ('{"image": "a", "task": "tiny_lm", "runtime": "vm", "command": "true"}',
         "unknown runtime 'vm'"),
    ],
)  # fmt: skip
def test_a_bad_run_description_is_exit_2_naming_what_to_fix(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "attempt.json"
    path.write_text(content, encoding="utf-8")
    runs_dir = tmp_path / "runs"
    done = harness("run", "--config", str(path), env=None)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and expected in done.stderr, done.stderr
    assert "\nhint: " in done.stderr and done.stdout == ""
    assert not runs_dir.exists()


def test_config_and_options_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "attempt.json"
    path.write_text(json.dumps({"image": "a", "task": TASK}), encoding="utf-8")
    done = CliRunner().invoke(
        app, ["run", "img", "--config", str(path), "--time-limit", "2h", "--quiet"]
    )
    assert done.exit_code == 2
    assert "IMAGE, --time-limit, --quiet cannot be given beside it" in done.output
    assert "hint: put the values in the file" in done.output
    missing = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "absent.json")])
    assert missing.exit_code == 2 and "cannot read run description" in missing.output
    neither = CliRunner().invoke(app, ["run", "--task", TASK])
    assert neither.exit_code == 2 and "IMAGE is missing" in neither.output


def test_the_model_itself_raises_the_harness_error_not_pydantics() -> None:
    with pytest.raises(RunConfigError) as caught:
        RunConfig(image="a", task=TASK, time_limit="1H")
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("invalid time limit '1H'")
    assert caught.value.problems[0].startswith("time_limit: invalid time limit '1H'")
