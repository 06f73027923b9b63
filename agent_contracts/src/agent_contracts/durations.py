"""The one parser of durations (``24h``, ``90m``, ``1h30m``, ``45s``, ``3600``), shared by the
harness (time limits, grace, snapshot intervals) and the evaluator (the leaderboard's time budget).

Exactly as typed: lower-case units, no spaces or tabs, ASCII digits. A bare number is seconds;
a caller may require a bare number to be at least some size (a bare ``24`` time limit is far
likelier a dropped ``h`` than a 24-second run).
"""

from __future__ import annotations

import re

from agent_contracts.errors import UsageError

ACCEPTED_FORMS = "24h, 90m, 1h30m, 45s, 1h30m15s, or a plain number of seconds from 60 (3600)"
"""The accepted forms, as shown in error messages."""

_ANY_SECONDS_FORMS = "24h, 90m, 1h30m, 45s, 1h30m15s, or a plain number of seconds (30)"

BARE_MINIMUM_S = 60
"""The smallest time limit given as a bare number of seconds; shorter ones need their unit."""

_PATTERN = re.compile(r"(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?")

MAX_SECONDS = 366 * 24 * 3600
"""The longest duration accepted (a year): anything longer is a typo, and would not fit a clock."""

_MAX_TEXT = 32
"""Longest text looked at: every accepted duration is far shorter, and ``int()`` of thousands of
digits raises instead of parsing (Python's limit on integer string conversion)."""


def parse_duration(
    text: str, *, what: str = "time limit", allow_zero: bool = False, bare_minimum: int = 0
) -> int:
    """Seconds meant by ``text``; anything but the accepted forms is a usage error (exit 2).

    A bare number below ``bare_minimum`` is refused too, with the hint that it needs a unit.
    """
    shown = repr(text) if len(text) <= _MAX_TEXT else f"{text[:_MAX_TEXT]!r}... ({len(text)} chars)"
    too_long = f"invalid {what} {shown}: longer than {MAX_SECONDS // 3600}h"
    forms = f"accepted forms: {ACCEPTED_FORMS if bare_minimum else _ANY_SECONDS_FORMS}"
    seconds: int | None = None
    bare = False
    if len(text) > _MAX_TEXT:
        if re.fullmatch(r"[0-9hms]+", text):
            raise UsageError(too_long, hint=f"give at most {MAX_SECONDS // 3600}h")
    elif text.isascii() and text.isdigit():
        seconds, bare = int(text), True
    else:
        match = _PATTERN.fullmatch(text)
        if match and any(match.group(k) for k in ("h", "m", "s")):
            seconds = (
                int(match.group("h") or 0) * 3600
                + int(match.group("m") or 0) * 60
                + int(match.group("s") or 0)
            )
    if seconds is None or (seconds == 0 and not allow_zero):
        kind = "a positive" if not allow_zero else "a"
        raise UsageError(
            f"invalid {what} {shown}: expected {kind} duration{_why(text)}", hint=forms
        )
    if bare and 0 < seconds < bare_minimum:
        raise UsageError(
            f"invalid {what} {shown}: a bare number is seconds, and {seconds} seconds is too short "
            "to be meant",
            hint=f"did you mean {seconds}h? write {seconds}s for seconds ({seconds}m for minutes); "
            f"{forms}",
        )
    if seconds > MAX_SECONDS:
        raise UsageError(too_long, hint=f"give at most {MAX_SECONDS // 3600}h; {forms}")
    return seconds


def _why(text: str) -> str:
    """What is wrong with a near miss, said plainly."""
    if text != text.strip():
        return " (spaces, tabs or line ends around it)"
    if any(c in "HMS" for c in text) and _PATTERN.fullmatch(text.lower()):
        return " (units are lower case: h, m, s)"
    return ""


def describe(seconds: int) -> str:
    """``seconds`` in the unit form a user types (``24h``, ``1h30m``, ``45s``)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"
