"""The one duration parser: accepted forms and every refusal."""

from __future__ import annotations

import pytest

from agent_contracts.errors import ExitCode
from agent_harness.errors import TimeLimitError
from agent_harness.timelimit import format_seconds, parse_grace, parse_time_limit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24h", 86400),
        ("90m", 5400),
        ("1h30m", 5400),
        ("45s", 45),
        ("3600", 3600),
        ("1h30m15s", 5415),
        (" 2H ", 7200),
    ],
)
def test_accepted_forms(text: str, seconds: int) -> None:
    assert parse_time_limit(text) == seconds


@pytest.mark.parametrize("text", ["24hs", "0", "-5m", "", "1.5h", "h", "30x", "1m1h", "0s"])
def test_refused_forms_are_usage_errors_listing_the_accepted_ones(text: str) -> None:
    with pytest.raises(TimeLimitError) as err:
        parse_time_limit(text)
    assert err.value.exit_code == ExitCode.USAGE
    assert repr(text) in err.value.message
    assert err.value.hint is not None and "1h30m" in err.value.hint


@pytest.mark.parametrize("text", ["\u00b2", "\u0663\u0660", "1\u0662h"])
def test_only_ascii_digits_count(text: str) -> None:
    # str.isdigit() and \\d accept other scripts' digits; int() then fails or surprises.
    with pytest.raises(TimeLimitError):
        parse_time_limit(text)


def test_absurdly_long_limits_are_refused_not_crashed() -> None:
    assert parse_time_limit("8784h") == 8784 * 3600
    for text in ("8785h", "9" * 30, "9" * 400):
        with pytest.raises(TimeLimitError) as err:
            parse_time_limit(text)
        assert "longer than 8784h" in err.value.message
    with pytest.raises(TimeLimitError):
        parse_grace("9" * 400)


def test_grace_may_be_zero_but_not_garbage() -> None:
    assert parse_grace("0") == 0
    assert parse_grace("30s") == 30
    with pytest.raises(TimeLimitError):
        parse_grace("soon")


def test_format_seconds() -> None:
    assert format_seconds(3725) == "1:02:05"
