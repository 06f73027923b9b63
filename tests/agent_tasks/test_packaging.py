"""Packaging: agent_tasks installs on its own with its data, and the packages stay independent."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent_tasks.registry import list_tasks

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "agent_contracts": ROOT / "agent_contracts" / "src",
    "agent_tasks": ROOT / "agent_tasks" / "src",
    "agent_harness": ROOT / "agent_harness" / "src",
    "agent_eval": ROOT / "agent_eval" / "src",
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """agent_tasks and the contracts it needs installed (not editable) into a bare folder."""
    work = tmp_path_factory.mktemp("pkg")
    target = work / "target"
    offline = ["--no-build-isolation", "--no-index"]
    if importlib.util.find_spec("setuptools") is None:  # then pip fetches the build backend
        offline = []
    sources = []
    for name in ("agent_contracts", "agent_tasks"):
        # Built from a copy: a build writes build/ and *.egg-info next to the sources.
        sources.append(work / name)
        shutil.copytree(
            ROOT / name,
            work / name,
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "*.pyc"),
        )
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", *offline, "--target", str(target), *map(str, sources)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"pip install failed:\n{done.stdout}\n{done.stderr}")
    return target


@pytest.mark.slow
def test_install_ships_prompts_and_starter_files(installed: Path) -> None:
    tasks = installed / "agent_tasks" / "tasks"
    tiny = tasks / "tiny_lm"
    for rel in ("prompt.md", "starter/train.py", "starter/train.txt", "starter/README.md"):
        packaged = tiny / rel
        assert packaged.is_file(), rel
        original = SOURCES["agent_tasks"] / "agent_tasks" / "tasks" / "tiny_lm" / rel
        assert packaged.read_bytes() == original.read_bytes()
    source_prompts = sorted(
        p.parent.name
        for p in (SOURCES["agent_tasks"] / "agent_tasks" / "tasks").glob("*/prompt.md")
    )
    assert sorted(p.parent.name for p in tasks.glob("*/prompt.md")) == source_prompts
    assert (installed / "agent_tasks" / "py.typed").is_file()
    assert list(installed.glob("*.dist-info/entry_points.txt"))


@pytest.mark.slow
def test_installed_copy_lists_and_exports_without_the_repo(installed: Path, tmp_path: Path) -> None:
    code = (
        "import agent_tasks, sys\n"
        "print(agent_tasks.__file__)\n"
        "agent_tasks.export_task('tiny_lm', sys.argv[1])\n"
        "print(len(agent_tasks.list_tasks()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(installed)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "task")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    where, count = done.stdout.split()
    assert Path(where).is_relative_to(installed)
    assert int(count) == len(list_tasks())  # the installed copy lists the whole catalogue
    assert (tmp_path / "task" / "starter" / "train.py").is_file()


@pytest.mark.slow
def test_install_carries_no_hidden_evaluation_data(installed: Path) -> None:
    heldout = ROOT / "agent_eval/src/agent_eval/resources/bundled/tiny_lm_heldout/heldout.txt"
    first_story = heldout.read_text(encoding="utf-8").split("\n\n")[0]
    assert not list(installed.rglob("heldout*"))
    for path in installed.rglob("*.txt"):
        assert first_story not in path.read_text(encoding="utf-8", errors="replace"), path


def imported_packages(package: str) -> dict[str, set[str]]:
    """Top-level package names each module of ``package`` imports, by file."""
    found: dict[str, set[str]] = {}
    for path in sorted((SOURCES[package] / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("agent_harness", {"agent_eval"}),
        ("agent_eval", {"agent_harness"}),
        ("agent_tasks", {"agent_harness", "agent_eval"}),
        ("agent_contracts", {"agent_tasks", "agent_harness", "agent_eval"}),
    ],
)
def test_packages_do_not_import_each_other(package: str, forbidden: set[str]) -> None:
    modules = imported_packages(package)
    assert modules, f"no sources found for {package}"
    offenders = {path: names & forbidden for path, names in modules.items() if names & forbidden}
    assert offenders == {}


def test_agent_tasks_needs_only_its_light_dependencies() -> None:
    allowed = set(sys.stdlib_module_names) | {"agent_contracts", "agent_tasks"}
    allowed |= {"pydantic", "typer", "rich"}
    # Starter files run inside the agent's image, not as part of the package.
    modules = {
        path: names
        for path, names in imported_packages("agent_tasks").items()
        if "/starter/" not in path
    }
    heavy = {path: names - allowed for path, names in modules.items() if names - allowed}
    assert heavy == {}


RUNTIME_ONLY = {"psycopg2-binary"}
"""Declared but never imported by name: the PostgreSQL driver SQLAlchemy loads for a URL."""


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("package", list(SOURCES))
def test_every_import_is_declared_and_every_dependency_used(package: str) -> None:
    from importlib.metadata import packages_distributions

    project = tomllib.loads((SOURCES[package].parent / "pyproject.toml").read_text())["project"]
    extras = [d for group in project.get("optional-dependencies", {}).values() for d in group]
    declared = {_normal(re.split(r"[\[<>=!~; ]", d)[0]) for d in project["dependencies"]}
    optional = {_normal(re.split(r"[\[<>=!~; ]", d)[0]) for d in extras}
    ours = {"agent_contracts": "mlrbench-contracts", "agent_tasks": "mlrbench-tasks"}
    ours |= {"agent_harness": "mlrbench-harness", "agent_eval": "mlrbench-eval"}
    distributions = packages_distributions()
    imported: set[str] = set()
    for path, names in imported_packages(package).items():
        if "/starter/" in path:  # starter files run inside the agent's image
            continue
        for name in names - set(sys.stdlib_module_names) - {package}:
            found = [ours[name]] if name in ours else distributions.get(name)
            assert found, f"{path} imports {name!r}, which no installed distribution provides"
            imported.update(_normal(d) for d in found)
    assert imported - declared - optional == set(), "imported but not declared in pyproject.toml"
    assert declared - imported - RUNTIME_ONLY == set(), "declared but never imported"


def _module_graph(package: str) -> dict[str, set[str]]:
    """Module -> the package's own modules it imports (at any depth: a function-level import
    counts, so a cycle cannot hide behind one)."""
    root = SOURCES[package] / package
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        if "migrations" in path.parts or "/starter/" in str(path):
            continue
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            graph[name] |= {
                t for t in targets if t in modules and t != name and not name.startswith(t + ".")
            }
    return graph


@pytest.mark.parametrize("package", list(SOURCES))
def test_no_module_imports_one_that_imports_it_back(package: str) -> None:
    graph = _module_graph(package)
    assert graph, f"no modules found for {package}"

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            for nxt in graph[node]:
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = sorted((a, b) for a, targets in graph.items() for b in targets if reaches(b, a))
    assert cycles == []
