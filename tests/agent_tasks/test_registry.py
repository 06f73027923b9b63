"""The registry: lookup, did-you-mean, aliases, benchmark resolution, and real plugins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_contracts.registry import Loaded
from agent_tasks import (
    PluginError,
    UnknownBenchmarkError,
    UnknownTaskError,
    benchmarks,
    get_task,
    list_tasks,
    registry,
    resolve_task,
)
from agent_tasks.catalogue import BENCHMARKS
from agent_tasks.cli import app
from agent_tasks.spec import TaskSpec
from agent_tasks.validate import validate_all

PLUGIN_MODULE = '''
"""A lab's private tasks, shipped as an installed package."""

from agent_tasks import DeliverableSpec, MetricSpec, Resources, ScoreAnchors, TaskSpec, task


@task
def lab_secret_task() -> TaskSpec:
    """A private task."""
    return TaskSpec(
        name="lab_secret_task",
        benchmark="lab_private",
        title="A lab's private task",
        summary="Only installed where the lab's package is.",
        prompt="Do the private thing.",
        version="0.1.0",
        resources=Resources(gpus=0, time_limit_s=60),
        deliverable=DeliverableSpec(kind="hf_model", description="a model"),
        metrics=(MetricSpec(name="parameters", label="Parameters", direction="lower"),),
        primary_metric="parameters",
        anchors=ScoreAnchors(baseline=2.0, reference=1.0, source="made up for the test"),
    )
'''


def install_plugin(root: Path, dist: str, module: str, source: str, target: str = "") -> Path:
    """Lay out an installed distribution (module + dist-info with an entry point) under root."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[agent_tasks.tasks]\n{dist} = {module}{target}\n", encoding="utf-8"
    )
    return root


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path acting as site-packages; the registry is reloaded without it after."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    monkeypatch.undo()
    for name in ("lab_tasks", "broken_tasks"):
        sys.modules.pop(name, None)
    registry.load(refresh=True)


# ----------------------------------------------------------------------------- lookup


def test_unknown_task_suggests_close_names() -> None:
    with pytest.raises(UnknownTaskError) as info:
        get_task("tiny_ln")
    assert str(info.value) == "unknown task 'tiny_ln'"
    assert info.value.hint is not None and "'tiny_lm'" in info.value.hint
    assert info.value.exit_code == 2


def test_unknown_task_without_close_names_points_to_the_list() -> None:
    with pytest.raises(UnknownTaskError) as info:
        get_task("x")
    assert str(info.value) == "unknown task 'x'"
    assert "agent-tasks list" in (info.value.hint or "")


def test_unknown_benchmark_suggests_close_names() -> None:
    with pytest.raises(UnknownBenchmarkError) as info:
        list_tasks("mlrc")
    assert str(info.value) == "unknown benchmark 'mlrc'"
    assert "'mlrc_bench'" in (info.value.hint or "")


def test_aliases_resolve_to_the_same_spec() -> None:
    assert get_task("weather_forcast").name == "mlrc_rainfall_prediction"
    assert get_task("llm-merging") is get_task("mlrc_llm_merging")
    assert "llm-merging" not in [s.name for s in list_tasks()]  # listed once, by name


def test_benchmarks_are_the_four_of_the_catalogue() -> None:
    assert {"full_benchmark", "mini_benchmark", "smoke", "mlrc_bench"} <= set(benchmarks())


def test_resolve_task_under_a_benchmark() -> None:
    assert resolve_task("tiny_lm", "smoke").name == "tiny_lm"
    assert resolve_task("tiny_lm").name == "tiny_lm"
    assert resolve_task("weather_forcast", "mlrc_bench").name == "mlrc_rainfall_prediction"
    with pytest.raises(UnknownTaskError, match="not part of benchmark 'mlrc_bench'"):
        resolve_task("tiny_lm", "mlrc_bench")
    with pytest.raises(UnknownBenchmarkError):
        resolve_task("tiny_lm", "smok")


def test_a_full_task_name_under_mini_benchmark_means_its_mini_variant() -> None:
    if "mini_llm_efficiency" not in {s.name for s in list_tasks()}:
        pytest.skip("the mini_benchmark catalogue is not registered yet")
    assert resolve_task("llm_efficiency", "mini_benchmark").name == "mini_llm_efficiency"
    assert resolve_task("llm_efficiency", "full_benchmark").name == "llm_efficiency"
    assert resolve_task("mini_llm_efficiency", "mini_benchmark").name == "mini_llm_efficiency"


def test_clashing_names_are_reported_not_overwritten() -> None:
    catalogue: Loaded[TaskSpec] = Loaded()
    spec = get_task("tiny_lm")
    registry.TASKS.add(catalogue, spec, "first")
    registry.TASKS.add(catalogue, spec.model_copy(update={"title": "impostor"}), "second")
    assert catalogue.items["tiny_lm"].title == spec.title
    assert catalogue.problems == ["second: task name 'tiny_lm' is already registered"]


# ----------------------------------------------------------------------------- plugins


def test_plugin_tasks_join_the_catalogue_through_an_entry_point(site: Path) -> None:
    install_plugin(site, "lab-tasks", "lab_tasks", PLUGIN_MODULE)
    catalogue = registry.load(refresh=True)
    assert catalogue.plugin_errors == []
    assert get_task("lab_secret_task").benchmark == "lab_private"
    assert "lab_private" in benchmarks()
    assert validate_all() == []
    out = CliRunner().invoke(app, ["list", "--benchmark", "lab_private", "--json"])
    assert out.exit_code == 0, out.output
    assert '"lab_secret_task"' in out.stdout


def test_plugin_tasks_leave_with_the_plugin(site: Path) -> None:
    install_plugin(site, "lab-tasks", "lab_tasks", PLUGIN_MODULE)
    registry.load(refresh=True)
    assert get_task("lab_secret_task")
    for entry in site.iterdir():  # uninstall: the module stays imported, its entry point goes
        if entry.is_dir():
            (entry / "entry_points.txt").unlink()
            (entry / "METADATA").unlink()
            entry.rmdir()
    registry.load(refresh=True)
    with pytest.raises(UnknownTaskError):
        get_task("lab_secret_task")


def test_plugin_may_point_at_a_function_returning_specs(site: Path) -> None:
    source = PLUGIN_MODULE.replace("@task\n", "") + (
        "\n\ndef all_specs():\n    return [lab_secret_task()]\n"
    )
    install_plugin(site, "lab-tasks", "lab_tasks", source, target=":all_specs")
    registry.load(refresh=True)
    assert get_task("lab_secret_task").title == "A lab's private task"


BROKEN = "raise RuntimeError('the lab forgot a dependency')\n"


def test_broken_plugin_is_a_plugin_error_naming_it(site: Path) -> None:
    install_plugin(site, "broken-lab", "broken_tasks", BROKEN)
    catalogue = registry.load(refresh=True)
    assert len(catalogue.plugin_errors) == 1
    with pytest.raises(PluginError) as info:
        get_task("tiny_lm")
    assert "'broken-lab'" in str(info.value)
    assert "the lab forgot a dependency" in str(info.value)
    assert "broken-lab" in (info.value.hint or "")
    assert any("broken-lab" in p for p in validate_all())


def test_plugin_whose_spec_function_raises_is_a_plugin_error(site: Path) -> None:
    source = PLUGIN_MODULE.replace(
        '    """A private task."""\n', '    """A private task."""\n    raise KeyError("boom")\n'
    )
    install_plugin(site, "lab-tasks", "lab_tasks", source)
    catalogue = registry.load(refresh=True)
    assert [str(e) for e in catalogue.plugin_errors] != []
    assert "'lab-tasks'" in str(catalogue.plugin_errors[0])


def test_broken_plugin_through_the_cli(site: Path) -> None:
    install_plugin(site, "broken-lab", "broken_tasks", BROKEN)
    registry.load(refresh=True)
    for args in (["list"], ["show", "tiny_lm"], ["validate"]):
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 2, (args, out.output)
        assert "broken-lab" in out.stderr
        assert "Traceback" not in out.output


def test_broken_plugin_through_the_console_script(site: Path) -> None:
    install_plugin(site, "broken-lab", "broken_tasks", BROKEN)
    script = Path(sys.executable).parent / "agent-tasks"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    done = subprocess.run(
        [str(script), "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: task plugin 'broken-lab'")
    assert "hint:" in done.stderr
    assert "Traceback" not in done.stderr


def test_suggestions_ignore_case_and_dashes() -> None:
    for typo in ("TINY_LM", "Tiny-LM"):
        with pytest.raises(UnknownTaskError) as err:
            get_task(typo)
        assert err.value.hint is not None and err.value.hint.startswith("did you mean 'tiny_lm'")


def test_a_task_under_the_wrong_benchmark_suggests_that_benchmarks_own_variant() -> None:
    from agent_tasks import UnknownTaskError, resolve_task

    with pytest.raises(UnknownTaskError) as caught:
        resolve_task("llm_merging", "mlrc_bench")
    assert "did you mean 'mlrc_llm_merging'?" in (caught.value.hint or "")


# ----------------------------------------------------------------------------- one folder per task

NEW_TASK = '''
"""The `my_new_task` task's spec, beside its prompt (prompt.md)."""

from agent_tasks.catalogue.assets import assets_of, prompt_of
from agent_tasks.registry import task
from agent_tasks.spec import DeliverableSpec, MetricSpec, Resources, ScoreAnchors, TaskSpec


@task
def my_new_task() -> TaskSpec:
    """A task added as one folder."""
    return TaskSpec(
        name="my_new_task",
        benchmark="smoke",
        title="My new task",
        summary="A task that lives in one folder.",
        prompt=prompt_of("my_new_task"),
        version="1.0.0",
        resources=Resources(gpus=0, time_limit_s=60),
        deliverable=DeliverableSpec(kind="hf_model", description="a model"),
        metrics=(MetricSpec(name="perplexity", label="PPL", direction="lower"),),
        primary_metric="perplexity",
        anchors=ScoreAnchors(baseline=40.0, reference=20.0, source="a test"),
        assets=assets_of("my_new_task"),
    )
'''


def copy_of_the_package(tmp_path: Path) -> Path:
    """A copy of the agent_tasks sources with one more task folder, ``tasks/my_new_task/``."""
    source = Path(registry.__file__).parent
    root = tmp_path / "src"
    package = root / "agent_tasks"
    shutil.copytree(source, package, ignore=shutil.ignore_patterns("__pycache__"))
    folder = package / "tasks" / "my_new_task"
    (folder / "starter").mkdir(parents=True)
    (folder / "__init__.py").write_text('"""Assets of my_new_task."""\n', encoding="utf-8")
    (folder / "task.py").write_text(NEW_TASK, encoding="utf-8")
    (folder / "prompt.md").write_text("Train something small.\n", encoding="utf-8")
    (folder / "starter" / "train.py").write_text("print('train')\n", encoding="utf-8")
    return root


def agent_tasks_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``agent-tasks ARGS`` with the package at ``root`` first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    return subprocess.run(
        [sys.executable, "-c", "from agent_tasks.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_builtin_task_folders_and_the_benchmarks_lists_agree() -> None:
    assert registry.catalogue_problems() == []
    listed = [name for names in BENCHMARKS.values() for name in names]
    assert [s.name for s in list_tasks() if s.name in listed] == listed
    assert registry.task_folders() == sorted(listed)
    for name in listed:
        folder = Path(registry.__file__).parent / "tasks" / name
        assert (folder / "task.py").is_file() and (folder / "prompt.md").is_file(), name
        assert get_task(name).benchmark in BENCHMARKS


def test_a_new_task_folder_is_found_and_must_be_listed_in_its_benchmark(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path)
    unlisted = agent_tasks_in(root, "validate", "--json")
    assert unlisted.returncode == 2
    assert json.loads(unlisted.stdout)["problems"] == [
        "task folder agent_tasks.tasks.my_new_task: not listed under its benchmark 'smoke' in "
        "agent_tasks.catalogue.BENCHMARKS"
    ]
    shown = agent_tasks_in(root, "show", "my_new_task", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["prompt"] == "Train something small.\n"

    catalogue = root / "agent_tasks" / "catalogue" / "__init__.py"
    text = catalogue.read_text(encoding="utf-8")
    listed = text.replace('"digit_method")', '"digit_method", "my_new_task")')
    assert listed != text
    catalogue.write_text(listed, encoding="utf-8")
    valid = agent_tasks_in(root, "validate")
    assert valid.returncode == 0, valid.stderr
    rows = json.loads(agent_tasks_in(root, "list", "--benchmark", "smoke", "--json").stdout)
    assert [r["name"] for r in rows][-1] == "my_new_task"
    export = tmp_path / "export"
    exported = agent_tasks_in(root, "export", "my_new_task", str(export))
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in (export / "starter").iterdir()) == ["train.py"]


def test_a_listed_name_without_its_folder_is_a_problem(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path)
    shutil.rmtree(root / "agent_tasks" / "tasks" / "my_new_task")
    shutil.rmtree(root / "agent_tasks" / "tasks" / "digit_method")
    checked = agent_tasks_in(root, "validate", "--json")
    assert checked.returncode == 2
    assert json.loads(checked.stdout)["problems"] == [
        "benchmark 'smoke' lists 'digit_method', but no folder agent_tasks.tasks.digit_method "
        "holds a task.py"
    ]
