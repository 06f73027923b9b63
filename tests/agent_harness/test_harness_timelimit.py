"""The one duration parser: accepted forms and every refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness_testkit import harness

from agent_contracts.errors import ExitCode
from agent_harness.errors import TimeLimitError
from agent_harness.timelimit import describe, format_seconds, parse_grace, parse_time_limit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24h", 86400),
        ("90m", 5400),
        ("1h30m", 5400),
        ("45s", 45),
        ("3600", 3600),
        ("1h30m15s", 5415),
        ("60", 60),
        ("5s", 5),
    ],
)
def test_accepted_forms(text: str, seconds: int) -> None:
    assert parse_time_limit(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["24hs", "0", "-5m", "", "1.5h", "h", "30x", "1m1h", "0s", "24h\t", " 45s ", "1H", "2M", "24",
     "59", "1", "24h\n"],
)  # fmt: skip
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


def test_a_bare_number_below_a_minute_asks_for_its_unit() -> None:
    with pytest.raises(TimeLimitError) as err:
        parse_time_limit("24")
    assert "a bare number is seconds" in err.value.message
    assert (
        err.value.hint is not None and "did you mean 24h? write 24s for seconds" in err.value.hint
    )


def test_grace_may_be_zero_but_not_garbage() -> None:
    assert parse_grace("0") == 0
    assert parse_grace("30s") == 30
    assert parse_grace("10") == 10  # a grace period is seconds; no minimum
    with pytest.raises(TimeLimitError):
        parse_grace("soon")


def test_describe_writes_what_a_user_types() -> None:
    assert [describe(n) for n in (86400, 5400, 45, 5415, 3600, 0)] == [
        "24h", "1h30m", "45s", "1h30m15s", "1h", "0s"
    ]  # fmt: skip


def test_format_seconds() -> None:
    assert format_seconds(3725) == "1:02:05"


@pytest.mark.parametrize(
    ("given", "line"),
    [
        (["--time-limit", "3600"], "time limit 1h (3600 seconds, from --time-limit)"),
        (["--time-limit", "90s"], "time limit 1m30s (90 seconds, from --time-limit)"),
        ([], "time limit 10m (600 seconds, from the task)"),
    ],
)
def test_the_harness_says_the_limit_it_understood_first(
    runs_dir: Path, given: list[str], line: str
) -> None:
    result = harness("run", "agent", "--task", "tiny_lm", "--benchmark", "smoke", "--runtime",
                     "local", "--runs-dir", str(runs_dir), *given, "--command", "true")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == f"agent-harness: {line}"


@pytest.mark.parametrize("given", ["24", "24h\t", " 45s ", "1H"])
def test_the_cli_refuses_near_misses_before_anything(runs_dir: Path, given: str) -> None:
    result = harness("run", "agent", "--task", "tiny_lm", "--runtime", "local", "--runs-dir",
                     str(runs_dir), "--time-limit", given, "--command", "true")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: invalid time limit {given!r}")
    assert "hint: " in result.stderr and "1h30m" in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
