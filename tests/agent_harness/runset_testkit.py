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
