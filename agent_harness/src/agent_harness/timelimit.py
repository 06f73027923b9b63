"""Durations of the harness: time limits (``24h``, ``90m``, ``1h30m``, ``45s``, ``3600``).

Exactly as typed: lower-case units, no spaces or tabs, ASCII digits. A bare number is seconds,
and for a time limit it must be at least :data:`BARE_MINIMUM_S` (a bare ``24`` is far likelier a
dropped ``h`` than a 24-second run).
"""

from __future__ import annotations

from agent_contracts import durations
from agent_contracts.durations import ACCEPTED_FORMS, BARE_MINIMUM_S, MAX_SECONDS, describe
from agent_contracts.errors import UsageError
from agent_harness.errors import TimeLimitError

__all__ = [
    "ACCEPTED_FORMS",
    "BARE_MINIMUM_S",
    "MAX_SECONDS",
    "describe",
    "format_seconds",
    "parse_duration",
    "parse_grace",
    "parse_interval",
    "parse_time_limit",
]


def parse_duration(
    text: str, *, what: str = "time limit", allow_zero: bool = False, bare_minimum: int = 0
) -> int:
    """Seconds meant by ``text`` (:func:`agent_contracts.durations.parse_duration`); anything
    but the accepted forms is a :class:`TimeLimitError` (exit 2)."""
    try:
        return durations.parse_duration(
            text, what=what, allow_zero=allow_zero, bare_minimum=bare_minimum
        )
    except UsageError as exc:
        raise TimeLimitError(exc.message, hint=exc.hint) from None


def parse_time_limit(text: str) -> int:
    """Seconds of a run's time limit (positive; a bare number must be at least 60)."""
    return parse_duration(text, what="time limit", bare_minimum=BARE_MINIMUM_S)


def parse_grace(text: str) -> int:
    """Seconds between SIGTERM and SIGKILL at the deadline (0 kills at once)."""
    return parse_duration(text, what="grace period", allow_zero=True)


def parse_interval(text: str) -> int:
    """Seconds between two snapshots of a run's output (positive)."""
    return parse_duration(text, what="snapshot interval")


def format_seconds(seconds: float) -> str:
    """``H:MM:SS`` for a status line."""
    total = max(0, int(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
