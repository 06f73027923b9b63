"""`agent-tasks` as a user runs it: through typer's runner, and as the real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner, Result

from agent_tasks import get_task
from agent_tasks.catalogue import BENCHMARKS
from agent_tasks.cli import app

SCRIPT = Path(sys.executable).parent / "agent-tasks"


def invoke(*args: str) -> Result:
    """Run one command in-process."""
    return CliRunner().invoke(app, list(args))


def test_list_json_counts_every_benchmark() -> None:
    out = invoke("list", "--json")
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    counts = Counter(r["benchmark"] for r in rows)
    assert counts == {bench: len(names) for bench, names in BENCHMARKS.items()}
    assert [r["name"] for r in rows] == [n for names in BENCHMARKS.values() for n in names]
    tiny = next(r for r in rows if r["name"] == "tiny_lm")
    assert (tiny["primary_metric"], tiny["direction"], tiny["gpus"]) == (
        "bits_per_byte",
        "lower",
        0,
    )


def test_list_table_names_every_task() -> None:
    out = invoke("list", "--benchmark", "mlrc_bench")
    assert out.exit_code == 0
    assert "7 tasks" in out.stdout
    assert "mlrc_backdoor_trigger_recovery" in out.stdout  # never truncated


def test_list_unknown_benchmark_is_a_usage_error_with_a_hint() -> None:
    out = invoke("list", "--benchmark", "nope")
    assert out.exit_code == 2
    assert out.stderr.startswith("error: unknown benchmark 'nope'")
    assert "hint: known benchmarks:" in out.stderr and "smoke" in out.stderr
    close = invoke("list", "--benchmark", "mlrc")
    assert close.exit_code == 2 and "did you mean 'mlrc_bench'" in close.stderr


def test_show_json_is_the_public_spec() -> None:
    out = invoke("show", "tiny_lm", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    # What a user reads there, stated independently of the code that printed it.
    assert data["name"] == "tiny_lm" and data["benchmark"] == "smoke"
    assert data["primary_metric"] == "bits_per_byte"
    assert data["metrics"][0]["name"] == "bits_per_byte"
    assert data["metrics"][0]["direction"] == "lower"
    assert data["resources"]["gpus"] == 0
    assert data["resources"]["time_limit_s"] == 600
    assert "prompt" in data and "tiny" in data["prompt"].lower()
    assert "evaluation" not in data  # hidden evaluation data never shown
    assert "heldout.txt" not in out.stdout
    # Every other field of the spec is there, as JSON.
    spec = get_task("tiny_lm")
    assert set(data) == set(type(spec).model_fields) - {"evaluation"}


def test_show_table_has_the_facts_a_user_looks_for() -> None:
    out = invoke("show", "mlrc_llm_merging")
    assert out.exit_code == 0, out.output
    for fact in ("mlrc_bench", "https://llm-merging.github.io", "0.4933", "68.2"):
        assert fact in out.stdout


def test_show_unknown_task_is_a_usage_error() -> None:
    out = invoke("show", "x")
    assert out.exit_code == 2
    assert out.stderr.startswith("error: unknown task 'x'")
    assert "hint:" in out.stderr
    assert out.stdout == ""


def test_show_typo_gets_did_you_mean() -> None:
    out = invoke("show", "mlrc_meta_learnig")
    assert out.exit_code == 2
    assert "did you mean 'mlrc_meta_learning'" in out.stderr


def test_markup_characters_in_a_name_are_printed_as_typed() -> None:
    out = invoke("show", "x[/]")
    assert out.exit_code == 2
    assert out.stderr.startswith("error: unknown task 'x[/]'")


def test_prompt_prints_the_task_statement() -> None:
    out = invoke("prompt", "tiny_lm")
    assert out.exit_code == 0
    assert out.stdout.startswith("# Tiny language model on the CPU")
    assert "bits per byte" in out.stdout
    assert "at most 5,000,000 parameters" in out.stdout


def test_validate_passes_on_the_catalogue() -> None:
    out = invoke("validate")
    assert out.exit_code == 0, out.output
    assert "tasks valid" in out.stdout
    data = json.loads(invoke("validate", "--json").stdout)
    assert data["problems"] == [] and data["tasks"] >= 1 + 7


def test_console_script_exit_codes_and_streams() -> None:
    bad = subprocess.run([str(SCRIPT), "show", "x"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[0] == "error: unknown task 'x'"
    assert bad.stderr.splitlines()[1].startswith("hint: ")
    assert "Traceback" not in bad.stderr
    assert bad.stdout == ""
    good = subprocess.run(
        [str(SCRIPT), "list", "--json"], capture_output=True, text=True, timeout=120
    )
    assert good.returncode == 0, good.stderr
    names = [r["name"] for r in json.loads(good.stdout)]
    assert "tiny_lm" in names and "mlrc_meta_learning" in names
    usage = subprocess.run([str(SCRIPT), "show"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2  # a missing argument is a usage error too
