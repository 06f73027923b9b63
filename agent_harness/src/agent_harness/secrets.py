"""Credentials: which ones reach the agent, and their redaction from everything it prints.

Only the chosen provider's key (under its modern and its original name), ``HF_TOKEN`` when
present and the names given with ``--pass-env`` reach the agent, as environment variables.
Each name is looked up in the harness's own environment first and then in the env file (the
usual dotenv precedence). Database credentials never reach the agent, whatever their case;
names that would break the image (``PATH``, ``LD_*``, ``PYTHON*``) only through
``--pass-env-unsafe``.
"""

from __future__ import annotations

import codecs
import io
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from agent_harness import terminal
from agent_harness.errors import CredentialError

PROVIDER_KEYS: dict[str, tuple[str, str]] = {
    "openai": ("OPENAI_API_KEY", "OPENAI"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC"),
}
"""Each provider's key: (modern name, name used by the original system)."""

PROVIDERS = ("openai", "anthropic", "none")
"""Providers accepted by ``--provider``; ``none`` is for scripted agents that call no API."""

OPTIONAL_NAMES = ("HF_TOKEN",)
"""Credentials passed when present, never required."""

CONTRACT_NAMES = frozenset(
    {"TASK_NAME", "BENCHMARK", "PROVIDER", "TIME_LIMIT_S", "DEADLINE", "TASK_DIR", "OUTPUT_DIR"}
)
"""Variables the harness sets itself; ``--pass-env`` cannot override them."""

_DATABASE = re.compile(r"DB_\w*|DATABASE_URL|PG\w*|POSTGRES\w*|AGENT_EVAL_\w*", re.IGNORECASE)
"""Names of database credentials and evaluator settings: what the evaluator's settings read
(``DATABASE_URL``, ``DB_*``, ``AGENT_EVAL_*``) and what libpq and the postgres image read
(``PG*``, ``POSTGRES_*``). Environment names are case-sensitive, but the evaluator's settings are
not, so ``db_password`` is refused as well."""

_IMAGE_BREAKING = re.compile(r"PATH|LD_\w*|PYTHON\w*", re.IGNORECASE)
"""Names that change how the image's programs are found and loaded; they pass only through
``--pass-env-unsafe``."""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

REDACTED = "[REDACTED]"
"""What a credential value is replaced with in logs and on the console."""


@dataclass(frozen=True)
class Credentials:
    """The credentials one run passes to its agent; values never show in a repr."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        """The variable names, sorted (safe to record)."""
        return sorted(self.values)

    def secrets(self) -> list[str]:
        """The distinct values, for redaction."""
        return sorted({v for v in self.values.values() if v})


def read_env_file(path: str | Path) -> dict[str, str]:
    """The assignments of a dotenv file; unreadable or malformed files are usage errors."""
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    target = Path(path)
    hint = "pass --env-file with a readable file of NAME=value lines"
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CredentialError(f"env file {str(target)!r} does not exist", hint=hint) from None
    except IsADirectoryError:
        raise CredentialError(f"env file {str(target)!r} is a folder", hint=hint) from None
    except PermissionError:
        raise CredentialError(f"env file {str(target)!r} cannot be read", hint=hint) from None
    except UnicodeDecodeError:
        raise CredentialError(f"env file {str(target)!r} is not UTF-8 text", hint=hint) from None
    except OSError as exc:
        raise CredentialError(f"env file {str(target)!r}: {exc.strerror}", hint=hint) from None
    bad = [b.original.line for b in parse_stream(io.StringIO(text)) if b.error]
    if bad:
        lines = ", ".join(str(n) for n in bad[:5])
        raise CredentialError(
            f"env file {str(target)!r} is malformed (line {lines})",
            hint="each line must be NAME=value, a comment (#) or empty; quote values with spaces",
        )
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {k: v for k, v in values.items() if v is not None}


def check_pass_env(names: Iterable[str], unsafe: Iterable[str] = ()) -> list[str]:
    """Validate ``--pass-env`` (and ``--pass-env-unsafe``) names.

    Database credentials and names the harness sets are always refused; names that would break
    the image (``PATH``, ``LD_*``, ``PYTHON*``) pass only when given with ``--pass-env-unsafe``.
    """
    allowed = set(unsafe)
    chosen: list[str] = []
    for name in [*names, *unsafe]:
        if not _NAME.match(name):
            raise CredentialError(
                f"--pass-env {name!r} is not an environment variable name",
                hint="pass a name such as WANDB_API_KEY, one per --pass-env",
            )
        if _DATABASE.fullmatch(name):
            raise CredentialError(
                f"--pass-env {name!r} is a database credential or evaluator setting; "
                "it never reaches the agent",
                hint="the agent has no business with the results database",
            )
        if name in CONTRACT_NAMES:
            raise CredentialError(
                f"--pass-env {name!r} is set by the harness itself", hint="drop that --pass-env"
            )
        if _IMAGE_BREAKING.fullmatch(name) and name not in allowed:
            raise CredentialError(
                f"--pass-env {name!r} would replace the image's own {name} and can break it",
                hint=f"pass it with --pass-env-unsafe {name} if that is really meant",
            )
        if name not in chosen:
            chosen.append(name)
    return chosen


def select_credentials(
    provider: str,
    file_values: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
    pass_env: Iterable[str] = (),
    pass_env_unsafe: Iterable[str] = (),
) -> Credentials:
    """The credentials for the agent; a provider without its key is a usage error (exit 2)."""
    env = os.environ if environ is None else environ

    def lookup(*names: str) -> str | None:
        for source in (env, file_values):
            for name in names:
                if source.get(name):
                    return source[name]
        return None

    def present_but_empty(*names: str) -> bool:
        return any(name in source for source in (env, file_values) for name in names)

    chosen: dict[str, str] = {}
    if provider in PROVIDER_KEYS:
        modern, original = PROVIDER_KEYS[provider]
        key = lookup(modern, original)
        if key is None and present_but_empty(modern, original):
            raise CredentialError(
                f"provider {provider!r} needs {modern} (or {original}), which is empty",
                hint=f"put the key after {modern}= in the env file (or the environment), "
                "or choose --provider none",
            )
        if key is None:
            raise CredentialError(
                f"provider {provider!r} needs {modern} (or {original}), which is not set",
                hint=f"add {modern}=... to the env file, or choose --provider none",
            )
        chosen[modern] = chosen[original] = key
    for name in OPTIONAL_NAMES:
        value = lookup(name)
        if value:
            chosen[name] = value
    for name in check_pass_env(pass_env, pass_env_unsafe):
        value = lookup(name)
        if value is None and present_but_empty(name):
            value = ""  # named on purpose: the agent gets it, empty as it is
        if value is None:
            raise CredentialError(
                f"--pass-env {name!r} is set neither in the environment nor in the env file",
                hint=f"add {name}=... to the env file, or drop that --pass-env",
            )
        chosen[name] = value
    return Credentials(chosen)


class Shown(NamedTuple):
    """One piece of the agent's output, redacted, in the two forms a person sees."""

    log: str
    """For agent.log: control characters written as inert text (:func:`terminal.escaped`)."""
    console: str
    """For the console: control sequences removed (:func:`terminal.stripped`)."""


class Redactor:
    """Replaces every credential value in text with ``[REDACTED]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        parts: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            parts.add(secret)
            # A multi-line value may be printed line by line: hide each sizeable line too.
            parts.update(p for p in re.split(r"[\r\n]+", secret) if len(p) >= 4)
        ordered = sorted(parts, key=len, reverse=True)
        self.longest = len(ordered[0]) if ordered else 0
        self._parts = ordered
        self._pattern = re.compile("|".join(re.escape(p) for p in ordered)) if ordered else None

    def _present(self, text: str) -> bool:
        # Substring search is many times faster than the pattern: the pattern runs only when
        # some value is there.
        return any(part in text for part in self._parts)

    def __call__(self, text: str) -> str:
        """``text`` with every credential value replaced."""
        return self._pattern.sub(REDACTED, text) if self._pattern and self._present(text) else text

    def output(self, text: str) -> Shown:
        """The agent's ``text`` for agent.log and the console, every credential value that
        either form would show replaced (see :meth:`hide`)."""
        stripped, escaped = terminal.stripped(text), terminal.escaped(text)
        spans = self._spans(text, stripped, escaped)
        if not spans:
            return Shown(escaped.text, stripped.text)
        text = _replaced(text, spans)
        # Both forms again from the redacted text, each redacted once more as it is.
        return Shown(self(terminal.escape_controls(text)), self(terminal.strip_controls(text)))

    def hide(self, text: str) -> str:
        """``text`` with every stretch that shows a credential value replaced.

        A value is looked for in what a person sees: the console's form (control sequences
        removed, so ``sk-`` ESC ``[m`` ``rest`` is the key), agent.log's form (controls as
        visible text, so the payload of an unterminated OSC string is seen), and agent.log's
        form read past its ``\\xHH`` escapes. Where a value shows, the whole stretch of ``text``
        it came from (control sequences within it included) becomes ``[REDACTED]``.
        """
        spans = self._spans(text, terminal.stripped(text), terminal.escaped(text))
        return _replaced(text, spans) if spans else text

    def _spans(
        self, text: str, stripped: terminal.Shown, escaped: terminal.Shown
    ) -> list[tuple[int, int]]:
        if self._pattern is None:
            return []
        spans: list[tuple[int, int]] = []
        searched: list[str] = []
        for chain in _chains(text, stripped, escaped):
            shown = chain[0].text
            if shown in searched or not self._present(shown):
                continue  # the same text as a form already searched, or no value in it
            searched.append(shown)
            for match in self._pattern.finditer(shown):
                spans.append(_span(chain, match.start(), match.end()))
        return spans


Form = terminal.Shown | terminal.Drawn
"""A form of the agent's text as a person sees it."""


def _chains(text: str, stripped: terminal.Shown, escaped: terminal.Shown) -> list[tuple[Form, ...]]:
    """The forms a person sees, each with the forms it was made from (innermost last): the
    console's, agent.log's, agent.log's read past its escapes, and the line a terminal would
    draw from the raw text (when anything in it moves the cursor along the line)."""
    chains: list[tuple[Form, ...]] = [
        (stripped,),
        (escaped,),
        (terminal.unescaped(escaped.text), escaped),
    ]
    drawn = terminal.drawn(text)
    if drawn is not None:
        chains.append((drawn,))
    return chains


def _span(chain: tuple[Form, ...], start: int, end: int) -> tuple[int, int]:
    """The stretch of the original that ``chain``'s outermost form shows at ``start:end``."""
    for form in chain:
        start, end = form.span(start, end)
    return start, end


def _replaced(text: str, spans: list[tuple[int, int]]) -> str:
    pieces: list[str] = []
    at = 0
    for start, end in sorted(spans):
        if end <= at:
            continue
        if start >= at:
            pieces.append(text[at:start])
            pieces.append(REDACTED)
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


class StreamRedactor:
    """Redacts a byte stream that arrives in arbitrary chunks.

    Bytes are decoded as UTF-8 with ``surrogateescape`` (a byte that is not UTF-8 comes back as
    itself in agent.log). Text is released a line at a time, so a value split across two chunks
    is still seen whole; a very long line without a line end is released early, except for a
    tail holding the last characters either form would show (as many as the longest value),
    which waits for the next chunk. Where that tail would itself be longer than the limit (a
    flood of control sequences), the line is released whole and broken with a line end in both
    forms, so no value can be completed across the break on a screen.
    """

    def __init__(self, redactor: Redactor, max_pending: int = 65536) -> None:
        self._redactor = redactor
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self._pending = ""
        self._max_pending = max(max_pending, redactor.longest * 2)

    def feed(self, chunk: bytes) -> Shown:
        """Redacted text that is now safe to write (may be empty)."""
        self._pending += self._decoder.decode(chunk)
        # Whole lines, so a carriage return within one is drawn over as a terminal would; a
        # line too long to be drawn (a progress bar redrawn for hours) is cut at its carriage
        # returns too, as the forms shown end a line there.
        cut = self._pending.rfind("\n")
        if len(self._pending) - cut > terminal.DRAWN_LINE_LIMIT:
            cut = max(cut, self._pending.rfind("\r", 0, len(self._pending) - 1))
        if cut >= 0:
            ready, self._pending = self._pending[: cut + 1], self._pending[cut + 1 :]
            return _joined(self._redactor.output(ready), self._release_long())
        return self._release_long()

    def _release_long(self) -> Shown:
        if len(self._pending) <= self._max_pending:
            return Shown("", "")
        text = self._redactor.hide(self._pending)  # a value across the cut is hidden now
        keep = self._redactor.longest - 1
        cut = len(text)
        if keep > 0:
            for chain in _chains(text, terminal.stripped(text), terminal.escaped(text)):
                shown = len(chain[0].text)
                cut = min(cut, _span(chain, shown - keep, shown)[0]) if shown >= keep else 0
            for start, end in terminal.tokens(text):  # never cut a control sequence in two
                if start < cut < end:
                    cut = start
        if len(text) - cut > self._max_pending or cut == 0:
            self._pending = ""
            broken = self._redactor.output(text)
            return Shown(broken.log + "\n", broken.console + "\n")
        self._pending = text[cut:]
        return self._redactor.output(text[:cut])

    def flush(self) -> Shown:
        """Whatever is left at the end of the stream, redacted."""
        self._pending += self._decoder.decode(b"", final=True)
        text, self._pending = self._pending, ""
        return self._redactor.output(text)


def _joined(first: Shown, second: Shown) -> Shown:
    return Shown(first.log + second.log, first.console + second.console)
