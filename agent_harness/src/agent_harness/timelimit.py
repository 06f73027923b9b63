"""The one parser of durations: time limits (``24h``, ``90m``, ``1h30m``, ``45s``, ``3600``)."""

from __future__ import annotations

import re

from agent_harness.errors import TimeLimitError

ACCEPTED_FORMS = "24h, 90m, 1h30m, 45s, 1h30m15s, or a plain number of seconds such as 3600"
"""The accepted forms, as shown in error messages."""

_PATTERN = re.compile(r"(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?")

MAX_SECONDS = 366 * 24 * 3600
"""The longest duration accepted (a year): anything longer is a typo, and would not fit a clock."""

_MAX_TEXT = 32
"""Longest text looked at: every accepted duration is far shorter, and ``int()`` of thousands of
digits raises instead of parsing (Python's limit on integer string conversion)."""


def parse_duration(text: str, *, what: str = "time limit", allow_zero: bool = False) -> int:
    """Seconds meant by ``text``; anything but the accepted forms is a usage error (exit 2)."""
    value = text.strip().lower()
    shown = repr(text) if len(text) <= _MAX_TEXT else f"{text[:_MAX_TEXT]!r}... ({len(text)} chars)"
    too_long = f"invalid {what} {shown}: longer than {MAX_SECONDS // 3600}h"
    seconds: int | None = None
    if len(value) > _MAX_TEXT:
        if re.fullmatch(r"[0-9hms]+", value):
            raise TimeLimitError(too_long, hint=f"give at most {MAX_SECONDS // 3600}h")
    elif value.isascii() and value.isdigit():
        seconds = int(value)
    else:
        match = _PATTERN.fullmatch(value)
        if match and any(match.group(k) for k in ("h", "m", "s")):
            seconds = (
                int(match.group("h") or 0) * 3600
                + int(match.group("m") or 0) * 60
                + int(match.group("s") or 0)
            )
    if seconds is None or (seconds == 0 and not allow_zero):
        kind = "a positive" if not allow_zero else "a"
        raise TimeLimitError(
            f"invalid {what} {shown}: expected {kind} duration",
            hint=f"accepted forms: {ACCEPTED_FORMS}",
        )
    if seconds > MAX_SECONDS:
        raise TimeLimitError(
            too_long, hint=f"give at most {MAX_SECONDS // 3600}h; accepted forms: {ACCEPTED_FORMS}"
        )
    return seconds


def parse_time_limit(text: str) -> int:
    """Seconds of a run's time limit (must be positive)."""
    return parse_duration(text, what="time limit")


def parse_grace(text: str) -> int:
    """Seconds between SIGTERM and SIGKILL at the deadline (0 kills at once)."""
    return parse_duration(text, what="grace period", allow_zero=True)


def format_seconds(seconds: float) -> str:
    """``H:MM:SS`` for a status line."""
    total = max(0, int(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
