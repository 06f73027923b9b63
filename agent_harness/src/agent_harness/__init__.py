"""Launch a research agent for a task under a hard time limit, with only named credentials.

Importing the package is cheap; the names below load their modules on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "RunConfig": "agent_harness.config",
    "read_run_config": "agent_harness.config",
    "RunRecord": "agent_harness.run_json",
    "run_agent": "agent_harness.run",
    "preflight": "agent_harness.run",
    "cleanup": "agent_harness.cleanup",
    "parse_time_limit": "agent_harness.timelimit",
    "parse_duration": "agent_harness.timelimit",
    "HarnessError": "agent_harness.errors",
    "TimeLimitError": "agent_harness.errors",
    "CredentialError": "agent_harness.errors",
    "EngineNotReadyError": "agent_harness.errors",
    "ImageError": "agent_harness.errors",
    "GPUError": "agent_harness.errors",
    "ConfigError": "agent_harness.errors",
    "acquire_gpus": "agent_harness.gpu_lock",
    "GpuLease": "agent_harness.gpu_lock",
    "GpuBusyError": "agent_harness.gpu_lock",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agent_harness' has no attribute {name!r}")
