"""Re-running code deliverables in a sandbox: the budget tasks, the MLRC tasks, the smoke tasks.

See docs/code-deliverables.md. The public API: :func:`rerun` (lay out, sandbox, keep the
output), :func:`check_ready` (exit 3 naming what is missing) and :func:`statements`.
"""

from agent_eval.coderun.rerun import (
    CodeRunOutcome,
    check_ready,
    inputs_folder,
    labels_file,
    statements,
)
from agent_eval.coderun.run import rerun
from agent_eval.coderun.sandbox import SandboxRequest, SandboxResult, container_settings

__all__ = [
    "CodeRunOutcome",
    "SandboxRequest",
    "SandboxResult",
    "check_ready",
    "container_settings",
    "inputs_folder",
    "labels_file",
    "rerun",
    "statements",
]
