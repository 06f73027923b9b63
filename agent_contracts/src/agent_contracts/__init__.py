"""What the packages of the ML Research Benchmark share: errors and exit codes, the CLI boundary,
the run record (``run_record``), the results file's schema (``results``), the fields the database
keeps (``indexed``), the schema-version check every reader makes (``versions``), and the one
registry tasks and metrics are built on (``registry``, with ``names``' "did you mean").

See docs/contracts.md. This package is light (pydantic, typer) and imports none of the others;
every other package depends on it.
"""

from __future__ import annotations

from agent_contracts.boundary import GuardedTyper, fail, guarded, print_json, report_error
from agent_contracts.errors import ExitCode, MLRBError, UsageError

__all__ = [
    "ExitCode",
    "GuardedTyper",
    "MLRBError",
    "UsageError",
    "fail",
    "guarded",
    "print_json",
    "report_error",
]
