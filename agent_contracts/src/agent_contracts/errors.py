"""The exception root and the exit codes every command of the product shares.

Each package derives its own base from :class:`MLRBError` (``TaskError`` in the catalogue,
``HarnessError`` in the harness, ``EvalError`` in the evaluator). The CLI boundary
(:mod:`agent_contracts.boundary`) catches ``MLRBError``, prints ``error: <message>`` and the hint
on stderr, and exits with the error's code; anything else is a bug and keeps its traceback
(exit 1). The codes are listed in docs/contracts.md.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of every command (see docs/contracts.md)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    ENVIRONMENT = 3
    AGENT_FAILED = 4
    EVALUATION_FAILED = 5
    DATABASE_FAILED = 6
    TIMEOUT = 124
    INTERRUPTED = 130
    """Ctrl-C (or SIGTERM/SIGHUP to the harness): 128 + SIGINT."""


class MLRBError(Exception):
    """Root of every error the product reports to a user without a traceback."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(
        self, message: str, *, hint: str | None = None, exit_code: ExitCode | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(MLRBError):
    """The user asked for something that cannot be done as asked (exit 2)."""

    exit_code = ExitCode.USAGE


class NewerSchemaError(MLRBError):
    """A file (run.json, a results file, an evaluation report) written by a newer version of
    the product than the one reading it (exit 3: upgrade the reader)."""

    exit_code = ExitCode.ENVIRONMENT
