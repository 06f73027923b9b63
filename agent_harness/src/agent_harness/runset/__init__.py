"""Run sets: agents x tasks x trials, placed onto GPUs, resumable, locally or on Ray.

Importing the package is cheap; the names below load their modules on first use.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "RunSet": "agent_harness.runset.model",
    "Cell": "agent_harness.runset.model",
    "RunSetError": "agent_harness.runset.model",
    "load_runset": "agent_harness.runset.model",
    "Ledger": "agent_harness.runset.ledger",
    "Scheduler": "agent_harness.runset.scheduler",
    "run_set": "agent_harness.runset.control",
    "status_rows": "agent_harness.runset.control",
    "cancel_set": "agent_harness.runset.control",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agent_harness.runset' has no attribute {name!r}")
