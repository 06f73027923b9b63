"""Helpers of the end-to-end tests: the product's console scripts run for real, with an
environment free of credentials, and the rows the embedded database holds."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRUBBED = (
    "OPENAI_API_KEY",
    "OPENAI",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC",
    "HF_TOKEN",
    "DATABASE_URL",
    "DB_USER",
    "DB_PASSWORD",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
)
FAKE_KEY = "sk-test-FAKE-e2e-4242424242"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without credentials or database settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(extra)
    return env


def cli(
    name: str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run one of the product's console scripts for real."""
    return subprocess.run(
        [str(BIN / name), *args],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        cwd=cwd,
        timeout=timeout,
    )


def evaluation_rows(results_dir: Path) -> list[tuple[Any, ...]]:
    """(evaluation_id, run_id, task, status) of every row in the embedded SQLite database."""
    db = results_dir / "mlrb.sqlite"
    with sqlite3.connect(db) as conn:
        return list(
            conn.execute(
                "SELECT evaluation_id, run_id, task, status FROM evaluations ORDER BY started_at"
            )
        )
