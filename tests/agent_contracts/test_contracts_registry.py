"""The one registry tasks and metrics share: built-ins, real entry-point plugins, clashes,
broken plugins, local registrations and "did you mean"."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent_contracts.errors import ExitCode, MLRBError
from agent_contracts.registry import Registry

GROUP = "mlrb_test.things"


@dataclass(frozen=True)
class Thing:
    name: str
    colour: str = "plain"


class UnknownThing(MLRBError):
    exit_code = ExitCode.USAGE


class ThingPlugin(MLRBError):
    exit_code = ExitCode.USAGE


def make_registry(builtin: str) -> Registry[Thing]:
    return Registry(
        kind="thing",
        item_type=Thing,
        builtin_modules=(builtin,),
        group=GROUP,
        name_of=lambda t: t.name,
        aliases_of=lambda t: (f"{t.name}-alias",),
        unknown=lambda m, h: UnknownThing(m, hint=h),
        plugin_error=lambda m, h: ThingPlugin(m, hint=h),
        list_hint="run 'things list'",
    )


REG: Registry[Thing] | None = None


def thing(build):  # the decorator a package would define over its registry
    assert REG is not None
    REG.contribute(build, module=build.__module__, origin=f"{build.__module__}.{build.__name__}")
    return build


def install(
    site: Path, dist: str, module: str, source: str, target: str = "", group: str = GROUP
) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"  # the folder name's own rule
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{dist} = {module}{target}\n")


BUILTIN = """
from test_registry_contracts_glue import Thing, thing

@thing
def apple():
    return Thing("apple")

@thing
def banana():
    return Thing("banana", colour="yellow")

@thing
def broken_builtin():
    raise ValueError("a malformed built-in item")
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site folder on sys.path holding the built-in module and, per test, plugins."""
    global REG
    root = tmp_path / "site"
    root.mkdir()
    glue = root / "test_registry_contracts_glue.py"
    glue.write_text(
        f"from {__name__} import Thing, thing\n", encoding="utf-8"
    )  # the built-in module imports the decorator through a stable name
    (root / "mlrb_things_builtin.py").write_text(BUILTIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    REG = make_registry("mlrb_things_builtin")
    yield root
    for name in [m for m in sys.modules if m.startswith(("mlrb_things", "test_registry_c"))]:
        sys.modules.pop(name, None)
    REG = None


def registry() -> Registry[Thing]:
    assert REG is not None
    return REG


def test_builtins_load_lazily_and_a_bad_builtin_is_a_problem_not_a_crash(site: Path) -> None:
    loaded = registry().load()
    assert list(loaded.items) == ["apple", "banana"]
    assert registry().get("banana-alias").colour == "yellow"
    assert loaded.problems == ["mlrb_things_builtin.broken_builtin: a malformed built-in item"]


def test_a_module_plugin_and_a_function_plugin_join_and_leave_with_their_package(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(site, "lab-a", "mlrb_things_lab", """
        from test_registry_contracts_glue import Thing, thing

        @thing
        def cherry():
            return Thing("cherry", colour="red")
    """)  # fmt: skip
    install(site, "lab-b", "mlrb_things_fn", """
        from test_registry_contracts_glue import Thing

        def all_things():
            return [Thing("date"), Thing("elder")]
    """, target=":all_things")  # fmt: skip
    loaded = registry().load(refresh=True)
    assert not loaded.problems[1:], loaded.problems
    assert set(loaded.items) == {
        "apple",
        "banana",
        "cherry",
        "date",
        "elder",
    }
    assert registry().get("cherry").colour == "red"

    for dist in ("lab-a", "lab-b"):  # uninstall both; their modules stay imported
        (site / f"{dist.replace('-', '_')}-0.1.0.dist-info" / "entry_points.txt").unlink()
    assert set(registry().load(refresh=True).items) == {"apple", "banana"}


def test_a_plugin_cannot_replace_a_builtin_and_the_clash_is_reported(site: Path) -> None:
    install(site, "impostor", "mlrb_things_impostor", """
        from test_registry_contracts_glue import Thing, thing

        @thing
        def apple():
            return Thing("apple", colour="poisoned")
    """)  # fmt: skip
    loaded = registry().load(refresh=True)
    assert registry().get("apple").colour == "plain"
    assert any("thing name 'apple' is already registered" in p for p in loaded.problems)


def test_a_broken_plugin_is_an_error_naming_it_at_the_first_lookup(site: Path) -> None:
    install(site, "broken-lab", "mlrb_things_broken", "raise ImportError('no torch here')\n")
    loaded = registry().load(refresh=True)
    assert len(loaded.plugin_errors) == 1
    with pytest.raises(ThingPlugin) as info:
        registry().get("apple")
    assert str(info.value).startswith("thing plugin 'broken-lab' (mlrb_things_broken)")
    assert "ImportError: no torch here" in str(info.value)
    assert f"'{GROUP}' entry point 'broken-lab'" in (info.value.hint or "")
    assert info.value.exit_code == ExitCode.USAGE


def test_a_plugin_whose_builder_raises_anything_is_a_plugin_error(site: Path) -> None:
    install(site, "lab-raises", "mlrb_things_raises", """
        from test_registry_contracts_glue import thing

        @thing
        def fig():
            raise KeyError("boom")
    """)  # fmt: skip
    loaded = registry().load(refresh=True)
    assert [type(e) for e in loaded.plugin_errors] == [ThingPlugin]
    assert "KeyError" in str(loaded.plugin_errors[0])


def test_unknown_names_get_the_one_did_you_mean(site: Path) -> None:
    with pytest.raises(UnknownThing) as close:
        registry().get("BANANNA")
    assert close.value.hint == "did you mean 'banana', 'banana-alias'?"
    with pytest.raises(UnknownThing) as far:
        registry().get("zzz")
    assert far.value.hint == "run 'things list'"
    assert str(far.value) == "unknown thing 'zzz'"


def test_a_script_may_register_its_own_item_and_withdraw_it(site: Path) -> None:
    registry().load()
    mine = registry().contribute(lambda: Thing("grape"), module="my_script", origin="grape")
    assert registry().get("grape").name == "grape"
    registry().withdraw(mine)
    with pytest.raises(UnknownThing):
        registry().get("grape")


@pytest.fixture
def metric_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Installs metric plugins (real entry points) for one test; the registry forgets them after."""
    from agent_eval.metrics.registry import METRICS

    site = tmp_path / "metric_site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install_metric(dist: str, module: str, source: str, target: str = "") -> None:
        install(site, dist, module, source, target, group="agent_eval.metrics")
        modules.append(module)

    yield install_metric
    monkeypatch.undo()
    for module in modules:
        sys.modules.pop(module, None)
    METRICS.load(refresh=True)


def test_a_metric_plugin_cannot_replace_a_builtin_metric(metric_site: Any) -> None:
    from typer.testing import CliRunner

    from agent_eval.cli import app
    from agent_eval.metrics.registry import METRICS, get_metric

    metric_site("impostor", "mlrb_things_metric", '''
        from agent_eval.metrics.registry import metric

        @metric("parameters", needs="nothing")
        def parameters(ctx, mspec):
            """An impostor parameter count."""
            return []
    ''')  # fmt: skip
    loaded = METRICS.load(refresh=True)
    assert not get_metric("parameters").description.startswith("An impostor")
    assert any("metric name 'parameters' is already registered" in p for p in loaded.problems)
    listed = CliRunner().invoke(app, ["metrics", "--json"])
    assert listed.exit_code == 0, listed.output
    assert "warning: metric plugin 'impostor'" in listed.stderr
    assert "metric name 'parameters' is already registered" in listed.stderr


def test_a_plugin_whose_builders_live_in_a_module_its_entry_point_imports_counts_at_once(
    site: Path,
) -> None:
    (site / "mlrb_things_shared.py").write_text(
        textwrap.dedent("""
            from test_registry_contracts_glue import Thing, thing

            @thing
            def kiwi():
                return Thing("kiwi", colour="green")
        """),
        encoding="utf-8",
    )
    install(site, "lab-split", "mlrb_things_entry", "import mlrb_things_shared\n")
    assert registry().get("kiwi").colour == "green"  # the first load, not only a refresh
    assert "kiwi" in registry().load(refresh=True).items

    (site / "lab_split-0.1.0.dist-info" / "entry_points.txt").unlink()
    assert "kiwi" not in registry().load(refresh=True).items  # it leaves with its package


def test_a_plugin_that_exits_at_import_is_a_plugin_error_not_the_end_of_the_program(
    site: Path,
) -> None:
    install(site, "lab-exits", "mlrb_things_exits", "raise SystemExit(3)\n")
    loaded = registry().load(refresh=True)
    assert [type(e) for e in loaded.plugin_errors] == [ThingPlugin]
    assert "SystemExit" in str(loaded.plugin_errors[0])


def test_an_entry_point_may_name_a_decorated_metric_function_itself(metric_site: Any) -> None:
    from agent_eval.metrics.registry import METRICS, get_metric

    metric_site("named", "mlrb_things_named", '''
        from agent_eval.metrics.registry import metric

        @metric("lab_named", needs="nothing")
        def lab_named(ctx, mspec):
            """A lab metric its entry point names directly."""
            return []
    ''', target=":lab_named")  # fmt: skip
    loaded = METRICS.load(refresh=True)
    assert loaded.plugin_errors == []
    assert get_metric("lab_named").description == "A lab metric its entry point names directly."


def test_a_function_plugin_returning_no_items_is_one_plugin_error(site: Path) -> None:
    install(site, "lab-str", "mlrb_things_str", """
        def all_things():
            return "apple"
    """, target=":all_things")  # fmt: skip
    loaded = registry().load(refresh=True)
    assert len(loaded.plugin_errors) == 1
    assert "returned str, not a Thing or a list of them" in str(loaded.plugin_errors[0])
    assert len(loaded.problems) == 2  # the built-in's own, and this one: not one per character
