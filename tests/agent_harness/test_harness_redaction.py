"""A hostile agent prints its credentials split by terminal control sequences: neither the
console, nor agent.log (as bytes, on a terminal, or with its escapes removed), nor run.json
shows one whole. agent.log keeps every other byte, those that are not UTF-8 included."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from harness_testkit import BASE_IMAGE, BENCHMARK, FAKE_HF, FAKE_KEY, TASK, clean_environ, harness

from agent_harness.secrets import REDACTED, Redactor, Shown, StreamRedactor
from agent_harness.terminal import escape_controls

PASSED = "svc-FAKE-pass-env-4444555566667777"
"""A ``--pass-env`` value."""

_CSI = re.compile(r"(?:\x1b\[|[\x9b\udc9b])([0-?]*)[ -/]*([@-~])")
_STRING = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
_ESC = re.compile(r"\x1b[ -/]*[0-~]")


def render(text: str) -> str:
    """What a terminal shows for ``text``: cursor moves (CR, BS, tab, CSI A/B/C/D/G/H),
    overwriting, erasing (CSI K); other sequences act invisibly and other controls show
    nothing. A line feed also returns the carriage (a tty's usual ``onlcr``)."""
    rows: list[list[str]] = [[]]
    row = col = 0
    i = 0
    while i < len(text):
        csi = _CSI.match(text, i)
        other = _STRING.match(text, i) or _ESC.match(text, i)
        if csi:
            arg = int(csi.group(1).split(";")[0] or 1) if csi.group(1)[:1].isdigit() else 1
            final = csi.group(2)
            if final == "A":
                row = max(0, row - arg)
            elif final == "B":
                row += arg
            elif final == "C":
                col += arg
            elif final == "D":
                col = max(0, col - arg)
            elif final in "GH":
                col = arg - 1
            elif final == "K":
                del rows[row][col:]
            i = csi.end()
        elif other:
            i = other.end()
        else:
            ch = text[i]
            i += 1
            if ch == "\n":
                row, col = row + 1, 0
            elif ch == "\r":
                col = 0
            elif ch == "\b":
                col = max(0, col - 1)
            elif ch == "\t":
                col = (col // 8 + 1) * 8
            elif ch.isprintable():
                while len(rows) <= row:
                    rows.append([])
                line = rows[row]
                line.extend(" " * (col + 1 - len(line)))
                line[col] = ch
                col += 1
        while len(rows) <= row:
            rows.append([])
    return "\n".join("".join(line) for line in rows)


def unescaped(log: str) -> str:
    """agent.log as a reader who ignores its ``\\xHH`` escapes (and what follows them) sees it."""
    return re.sub(r"\\x[0-9a-f]{2}(?:\[[0-?]*[ -/]*[@-~])?", "", log)


def _halves(key: str) -> tuple[str, str]:
    return key[:8], key[8:]


HEAD, REST = _halves(FAKE_KEY)

SPLITS = {
    "csi": (f"{HEAD}\x1b[m{REST}\n", True),
    "sgr-colours": (f"\x1b[1;31m{HEAD}\x1b[0m\x1b[32m{REST}\x1b[0m\n", True),
    "osc-title": (f"{HEAD}\x1b]0;title\x07{REST}\n", True),
    "osc-hyperlink": (f"{HEAD}\x1b]8;;http://x/\x1b\\{REST}\x1b]8;;\x1b\\\n", True),
    "c1-csi": (f"{HEAD}\x9bm{REST}\n", True),
    "c1-osc": (f"{HEAD}\x9d0;t\x9c{REST}\n", True),
    "nul-and-del": (f"{HEAD}\x00\x7f{REST}\n", True),
    "backspaces": (f"{HEAD}XX\b\b{REST}\n", True),
    "carriage-return": (f"{' ' * len(HEAD)}{REST}\r{HEAD}\n", True),
    "cursor-back": (f"{HEAD}XXXX\x1b[4D{REST}\n", True),
    "raw-c1-csi": (f"{HEAD}\udc9bm{REST}\n", True),
    "cursor-up": (f"{HEAD}\n\x1b[A\x1b[{len(HEAD) + 1}G{REST}\n", False),
    "unterminated-osc": (f"\x1b]0;{FAKE_KEY}", False),
    "after-an-unterminated-osc": (f"\x1b]0;\n{HEAD}\x1b[m{REST}\n", True),
}
"""Ways to print the key that a terminal (or agent.log's escaped form) shows whole, and whether
the key is then ``[REDACTED]`` in both forms (with control sequences removed, or drawn along a
line as a terminal would; a move to another line is not followed)."""


def _stream(data: bytes, size: int, max_pending: int = 65536) -> Shown:
    stream = StreamRedactor(Redactor([FAKE_KEY]), max_pending=max_pending)
    parts = [stream.feed(data[i : i + size]) for i in range(0, len(data), size)]
    parts.append(stream.flush())
    return Shown("".join(p.log for p in parts), "".join(p.console for p in parts))


def _assert_never_whole(shown: Shown, key: str = FAKE_KEY) -> None:
    for form in (shown.log, shown.console):
        assert key not in form
        assert key not in render(form)
        assert key not in unescaped(form)
    # agent.log holds no control character a terminal would act on.
    assert not re.search(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)", shown.log)


@pytest.mark.parametrize("size", [1, 3, 1000])
@pytest.mark.parametrize("name", sorted(SPLITS))
def test_a_key_split_by_control_sequences_is_never_shown_whole(name: str, size: int) -> None:
    text, in_stripped = SPLITS[name]
    # The attack works: on a terminal that gets the raw text, or in agent.log's escaped form
    # unredacted (an unterminated OSC string's payload is plain text there), or to a reader
    # who skips its escapes.
    log = escape_controls(text)
    assert FAKE_KEY in render(text) or FAKE_KEY in log or FAKE_KEY in unescaped(log)
    shown = _stream(text.encode("utf-8", "surrogateescape"), size)
    _assert_never_whole(shown)
    if in_stripped:
        assert REDACTED in shown.log and REDACTED in shown.console
    if FAKE_KEY in escape_controls(text):
        assert REDACTED in shown.log


def test_a_flood_of_control_sequences_inside_a_key_breaks_the_line() -> None:
    text = "." * 50 + HEAD + "\x1b[m" * 200 + REST + "\n"
    shown = _stream(text.encode(), 7, max_pending=64)
    _assert_never_whole(shown)


def test_a_long_line_keeps_a_key_whole_across_an_early_release() -> None:
    text = "." * 500 + HEAD + "\x1b[1m\x1b[0m" + REST + "." * 500
    shown = _stream(text.encode(), 5, max_pending=64)
    _assert_never_whole(shown)
    assert REDACTED in shown.log and REDACTED in shown.console


def test_agent_log_keeps_every_other_byte() -> None:
    data = b"caf\xc3\xa9 \xff\xfe raw\tend\r\nnext\x1b[31mred\rover\n"
    shown = _stream(data, 2)
    assert shown.log.encode("utf-8", "surrogateescape") == (
        b"caf\xc3\xa9 \xff\xfe raw\tend\r\nnext\\x1b[31mred\nover\n"
    )
    assert shown.console == "café \ufffd\ufffd raw\tend\nnextred\nover\n"


def _command(variable: str) -> str:
    """A shell agent that prints ``$variable`` split in every way above (octal escapes: busybox
    and dash printf alike), and saves it to ``output/value-<variable>``."""
    pad = " " * 8
    return (
        f'k=${variable}; r=${{k#????????}}; h=${{k%"$r"}}; '
        f'printf %s "$k" > "$OUTPUT_DIR/value-{variable}"; '
        'printf \'%s\\033[m%s\\n\' "$h" "$r"; '
        'printf \'\\033[1;31m%s\\033[0m\\033[32m%s\\033[0m\\n\' "$h" "$r"; '
        'printf \'%s\\033]0;title\\007%s\\n\' "$h" "$r"; '
        'printf \'%s\\233m%s\\n\' "$h" "$r"; '
        'printf \'%s\\302\\233m%s\\n\' "$h" "$r"; '
        'printf \'%sXX\\b\\b%s\\n\' "$h" "$r"; '
        f'printf \'{pad}%s\\r%s\\n\' "$r" "$h"; '
        'printf \'%s\\000\\177%s\\n\' "$h" "$r"; '
        "printf '%s' \"$h\"; sleep 0.3; printf '\\033[1m%s\\n' \"$r\"; "
        "printf '\\033]0;%s\\n' \"$k\"; "
    )


@pytest.mark.parametrize("credentials", ["direct", "proxy"])
def test_split_credentials_never_show_on_the_console_in_agent_log_or_run_json(
    runtime: str, runs_dir: Path, credentials: str
) -> None:
    import os

    if credentials == "proxy" and runtime == "docker" and os.geteuid() != 0:
        pytest.skip("the proxy's forwarder needs a root harness under docker")
    command = _command("OPENAI_API_KEY") + _command("HF_TOKEN") + _command("MY_SERVICE_TOKEN")
    command += "printf 'raw \\377\\376 bytes\\n'"
    env = clean_environ(OPENAI_API_KEY=FAKE_KEY, HF_TOKEN=FAKE_HF, MY_SERVICE_TOKEN=PASSED)
    image = BASE_IMAGE if runtime == "docker" else "agent"
    result = harness(
        "run", image, "--task", TASK, "--benchmark", BENCHMARK, "--runtime", runtime,
        "--runs-dir", str(runs_dir), "--network", "none", "--provider", "openai",
        "--credentials", credentials, "--pass-env", "MY_SERVICE_TOKEN", "--time-limit", "60",
        "--json", "--command", command, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    run_dir = runs_dir / record["run_id"]
    values = {FAKE_HF, PASSED}
    printed = {p.read_text() for p in (run_dir / "output").glob("value-*")}
    assert len(printed) == 3 and {FAKE_HF, PASSED} <= printed
    token = (printed - values).pop()
    assert (token == FAKE_KEY) == (credentials == "direct")
    values |= {token, FAKE_KEY}
    log_bytes = (run_dir / "agent.log").read_bytes()
    log = log_bytes.decode("utf-8", "surrogateescape")
    shown = Shown(log, result.stderr)
    run_json = (run_dir / "run.json").read_text()
    for value in values:
        _assert_never_whole(shown, value)
        assert value not in run_json and value not in result.stdout
        assert value.encode() not in log_bytes
    # Each value's CSI, colour, OSC, C1 (raw and UTF-8), backspace, carriage return and NUL
    # splits and its two-write split are redacted in both forms (the OSC payload: agent.log).
    assert log.count(REDACTED) >= 3 * 10 and result.stderr.count(REDACTED) >= 3 * 9
    assert b"raw \xff\xfe bytes\n" in log_bytes  # bytes that are not UTF-8 are kept
    assert "agent| raw \ufffd\ufffd bytes" in result.stderr


@pytest.mark.parametrize("credentials", ["proxy", "direct"])
def test_a_key_the_agent_puts_in_its_submission_path_is_redacted_from_harness_lines(
    runs_dir: Path, credentials: str
) -> None:
    """The harness's own lines quote what the agent chose: redacted like its output, whether the
    agent holds the proxy's per-run token (the default) or the provider's key."""
    command = (
        'k=$OPENAI_API_KEY; r=${k#????????}; h=${k%"$r"}; '
        'printf \'%s\' "$k" > "$OUTPUT_DIR/value"; '
        'printf \'{"model_path": "../%s\\\\u001b[m%s/%s"}\' "$h" "$r" "$k" '
        '> "$OUTPUT_DIR/submission.json"'
    )
    env = clean_environ(OPENAI_API_KEY=FAKE_KEY)
    result = harness(
        "run", "agent", "--task", TASK, "--benchmark", BENCHMARK, "--runtime", "local",
        "--runs-dir", str(runs_dir), "--provider", "openai", "--credentials", credentials,
        "--time-limit", "60", "--json", "--command", command, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    held = (runs_dir / record["run_id"] / "output" / "value").read_text()
    assert (held == FAKE_KEY) == (credentials == "direct") and len(held) > 8
    assert "deliverable rejected: " in result.stderr
    assert record["deliverable_rejected"] and REDACTED in record["deliverable_rejected"]
    for text in (
        result.stderr,
        result.stdout,
        (runs_dir / record["run_id"] / "run.json").read_text(),
    ):
        for secret in (held, FAKE_KEY):
            assert (
                secret not in text and secret not in render(text) and secret not in unescaped(text)
            )


def test_a_progress_bar_redrawn_on_one_long_line_is_released_as_it_comes() -> None:
    """A line longer than a terminal line is drawn here is cut at its carriage returns."""
    stream = StreamRedactor(Redactor([FAKE_KEY]))
    released = [stream.feed(f"\r{i:>6}/100000 [{'#' * 60}]".encode()).console for i in range(300)]
    assert "".join(released).count("/100000") > 200  # not held back until a newline
    shown = _stream(f"{'.' * 5000}\r{' ' * len(HEAD)}{REST}\r{HEAD}\n".encode(), 64)
    _assert_never_whole(shown)  # too long to be drawn: the pieces stay apart, on two lines
