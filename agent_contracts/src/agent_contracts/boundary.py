"""The command-line boundary shared by every console script of the product.

A product error (:class:`~agent_contracts.errors.MLRBError`) becomes ``error: <message>`` and
``hint: <action>`` on stderr and its exit code; Ctrl-C becomes ``error: interrupted`` and 130.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from agent_contracts.errors import ExitCode, MLRBError

T = TypeVar("T")


def report_error(exc: MLRBError) -> None:
    """Print ``error: ...`` and, when there is one, ``hint: ...`` on stderr."""
    report(exc.message, exc.hint)


def report(message: str, hint: str | None = None) -> None:
    """Print an error message and an optional hint on stderr, plain text."""
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.stderr.flush()


def fail(exc: MLRBError) -> typer.Exit:
    """Report the error; return the Exit to raise with its code."""
    report_error(exc)
    return typer.Exit(int(exc.exit_code))


def guarded(call: Callable[[], T]) -> T:
    """Run a command body; a product error or Ctrl-C ends the command without a traceback."""
    try:
        return call()
    except MLRBError as exc:
        raise fail(exc) from None
    except KeyboardInterrupt:
        report("interrupted")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


class GuardedTyper(typer.Typer):
    """A typer app whose every command runs inside :func:`guarded`: one boundary per script."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        """Register a command; its body's product errors and Ctrl-C end it without a traceback."""
        register = super().command(*args, **kwargs)

        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(function)  # typer reads the wrapped function's signature
            def body(*call_args: Any, **call_kwargs: Any) -> Any:
                return guarded(lambda: function(*call_args, **call_kwargs))

            register(body)
            return function

        return decorator


def print_json(data: Any) -> None:
    """What a ``--json`` option prints: indented JSON on stdout, non-ASCII kept as is."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
