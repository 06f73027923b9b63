"""Small tools of the run-set tests: the sleeper-task plugin, run-set files, the batch CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
PLUGIN_MODULE = "mlrb_runset_test_tasks"


def register_plugin(root: Path) -> Path:
    """A folder for PYTHONPATH that registers the sleeper tasks as an installed task plugin."""
    site = root / "runset-plugin-site"
    site.mkdir(parents=True, exist_ok=True)
    source = (HERE / "runset_tasks.py").read_text(encoding="utf-8")
    (site / f"{PLUGIN_MODULE}.py").write_text(source, encoding="utf-8")
    dist = site / f"{PLUGIN_MODULE}-0.0.0.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {PLUGIN_MODULE}\nVersion: 0.0.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        f"[agent_tasks.tasks]\nrstest = {PLUGIN_MODULE}:specs\n", encoding="utf-8"
    )
    return site


def plugin_env(site: Path, **extra: str) -> dict[str, str]:
    """This environment with the plugin folder first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def write_runset(folder: Path, name: str = "set.yaml", **content: Any) -> Path:
    """A run-set YAML file with ``content``."""
    path = folder / name
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return path


def batch(
    *args: str, env: dict[str, str], timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m agent_harness batch ARGS`` as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "agent_harness", "batch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
    )


def start_batch(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The batch command started in the background, its output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agent_harness", "batch", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def ledger_events(folder: Path) -> list[dict[str, Any]]:
    """The set's ledger, one dict per event."""
    import json

    path = folder / "ledger.jsonl"
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def results_in_ledger(folder: Path) -> dict[str, str]:
    """Cell id -> the run folder of its final result, as the ledger says."""
    return {
        e["cell"]: e["run_dir"]
        for e in ledger_events(folder)
        if e["event"] == "end" and e["outcome"] in ("completed", "failed", "timeout", "error")
    }


def run_folders(folder: Path) -> dict[str, list[tuple[Path, str]]]:
    """Cell id -> every run folder the harness made for it, with its run.json status."""
    import json

    found: dict[str, list[tuple[Path, str]]] = {}
    runs = folder / "runs"
    if not runs.is_dir():
        return found
    for record in sorted(runs.glob("*/a*/*/run.json")):
        cell = record.parents[2].name
        status = json.loads(record.read_text(encoding="utf-8"))["status"]
        found.setdefault(cell, []).append((record.parent, status))
    return found


def audit(folder: Path, cells: list[str], before: dict[str, str]) -> dict[str, int]:
    """After a resume: cells run again though finished before, lost, and duplicated trials.

    ``before``: the results the ledger held when the scheduler was killed.
    """
    after = results_in_ledger(folder)
    folders = run_folders(folder)
    rerun = sum(1 for c, run_dir in before.items() if after.get(c) != run_dir)
    rerun += sum(1 for c in before if any(s != "interrupted" for p, s in folders.get(c, [])[1:]))
    lost = sum(1 for c in cells if c not in after)
    duplicated = sum(
        1
        for c in cells
        if sum(1 for _, s in folders.get(c, []) if s in ("completed", "failed", "timeout")) > 1
    )
    return {"rerun": rerun, "lost": lost, "duplicated": duplicated}


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


BEATS = (
    "i=0; while [ $i -lt {n} ]; do {clock} >> {out}beats.txt; sleep 0.05; i=$((i+1)); done; "
    "echo ok > {out}model.txt"
)
"""An agent that writes a timestamp every 50 ms (its heartbeat) into its output folder, then a
model file. ``clock``: ``date +%s.%N`` (local runtime); ``out``: the output folder with a slash
(``/app/output/`` in a container), empty for the local runtime (it runs there)."""


def event_time(event: dict[str, Any]) -> float:
    """A ledger event's time, Unix seconds."""
    from datetime import datetime

    return datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()


def beats(attempt: Path, offset: float = 0.0) -> list[float]:
    """The heartbeats a BEATS agent left in an attempt's run folder (plus ``offset``)."""
    # While the agent runs it writes into staging/; once it has ended, output/ holds the copy.
    found = list(attempt.glob("*/output/beats.txt")) or list(attempt.glob("*/staging/beats.txt"))
    if not found:
        return []
    text = found[0].read_text(encoding="utf-8", errors="replace")
    return [float(line.split()[0]) + offset for line in text.split("\n") if line.strip()]


def overlapping(folder: Path, offset: float = 0.0) -> list[str]:
    """Cells where an attempt's agent still beat at or after the next attempt's launch."""
    found = []
    for event in ledger_events(folder):
        if event["event"] != "launch" or int(event["attempt"]) < 2:
            continue
        previous = folder / "runs" / event["cell"] / f"a{int(event['attempt']) - 1}"
        seen = beats(previous, offset)
        if seen and max(seen) >= event_time(event):
            found.append(event["cell"])
    return found
