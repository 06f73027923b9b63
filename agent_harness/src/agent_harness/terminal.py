"""What a terminal would make of the agent's text, and the two inert forms the harness shows.

The agent's output reaches a person twice: on the console (stripped: control sequences and
control characters removed) and in agent.log (escaped: each control character written as
visible text such as ``\\x1b``, so ``cat``, ``less -R`` or a terminal show the file as it is and
nothing in it moves the cursor, overwrites, clears or sets a title). Both forms are computed
here, each with a map back to the original text, so that redaction looks for credentials in
what a person would actually see (:meth:`agent_harness.secrets.Redactor.output`).

The agent's text is decoded from UTF-8 with ``surrogateescape``: a byte that is not UTF-8 is a
lone surrogate here, kept as that byte in agent.log (except 0x80-0x9F, which an 8-bit terminal
takes for C1 controls: escaped like them) and shown as U+FFFD on the console.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f"
"""C0 but tab and newline (carriage return included), DEL, and C1 (8-bit CSI, OSC, ST ...)."""
_SURROGATE = "\ud800-\udfff"
"""Lone surrogates: bytes that are not UTF-8, under ``surrogateescape``."""
_RAW_C1 = "\udc80-\udc9f"
"""Bytes 0x80-0x9F that are not UTF-8: C1 controls to an 8-bit terminal."""
_PAYLOAD = r"[^\x07\x1b\x9c\udc9c\r\n]*(?:\x07|\x1b\\|[\x9c\udc9c])?"

# Each pattern starts with one character class, so the regex engine skips plain text fast; what
# follows the first character depends on it (the lookbehinds).
_STRIPPED = re.compile(
    f"[{_CONTROL}{_SURROGATE}]"
    r"(?:(?<=\x1b)(?:\[[0-?]*[ -/]*[@-~]|[\]PX^_]" + _PAYLOAD + r"|[ -/]*[0-~])"
    r"|(?<=[\x9b\udc9b])[0-?]*[ -/]*[@-~]"
    r"|(?<=[\x90\x98\x9d-\x9f\udc90\udc98\udc9d-\udc9f])" + _PAYLOAD + r"|(?<=\r)\n)?"
)
"""What the console leaves out, token by token: control sequences a terminal acts on as a
whole (CSI: ``ESC [`` ... final byte; the strings OSC, DCS, SOS, PM and APC, ended by BEL or ST;
two-character escapes), in their 7-bit forms, as C1 characters and as raw C1 bytes (which an
8-bit terminal reads as controls); then any other control character, a CRLF, a lone surrogate.
No token reaches past a line end (a terminal may swallow more), so each line is judged alone,
however the output arrives."""
_ESCAPED = re.compile(f"[{_CONTROL}{_RAW_C1}](?:(?<=\r)\n)?")
"""What agent.log writes as text, character by character (a CRLF as one token)."""
_ESCAPE_TEXT = re.compile(r"\\x[0-9a-f]{2}(?:\[[0-?]*[ -/]*[@-~])?")
"""An escape as agent.log writes it, with the rest of a CSI that may follow."""
_MOVE = re.compile(r"(?:\x1b\[|[\x9b\udc9b])([0-9]{0,4})(?:;[0-9]*)*([CDG])")
_MOVES = re.compile(
    r"[\r\x08\x1b\x9b\udc9b]"
    r"(?:(?<=\r)(?!\n)|(?<=\x08)|(?<=\x1b)\[[0-9;]*[CDG]|(?<=[\x9b\udc9b])[0-9;]*[CDG])"
)
"""What moves the cursor along a line (and makes :class:`Drawn` differ from the stripped text)."""
_PLAIN_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n"


def tokens(text: str) -> list[tuple[int, int]]:
    """Where the console's tokens (control sequences and characters) are in ``text``."""
    return [match.span() for match in _STRIPPED.finditer(text)]


class Shown:
    """A text as a person sees it, with the way back to the text it was made from."""

    def __init__(
        self, original: str, tokens: re.Pattern[str], replace: Callable[[str], str], plain: bool
    ) -> None:
        self._original = original
        self._tokens = tokens
        self._replace = replace
        self._map: tuple[list[int], list[int], list[bool]] | None = None
        self.text = original if plain else "".join(self._pieces(None))
        """What is shown."""

    def _pieces(self, record: list[tuple[int, int, bool]] | None) -> list[str]:
        """The pieces of :attr:`text`; with ``record``, also (where each starts in the text,
        where its source starts in the original, whether it is kept one for one)."""
        text, tokens, replace = self._original, self._tokens, self._replace
        out: list[str] = []
        length = at = 0
        for match in tokens.finditer(text):
            i = match.start()
            if i > at:
                out.append(text[at:i])
                if record is not None:
                    record.append((length, at, True))
                length += i - at
            form = replace(match.group())
            if form:
                out.append(form)
                if record is not None:
                    record.append((length, i, False))
                length += len(form)
            at = match.end()
        if at < len(text):
            out.append(text[at:])
            if record is not None:
                record.append((length, at, True))
        return out

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The stretch of the original that the characters shown at ``start:end`` came from."""
        return self.source(start), self.source(end - 1) + 1

    def source(self, position: int) -> int:
        """The index in the original of the character shown at ``position``."""
        if self._map is None:
            record: list[tuple[int, int, bool]] = []
            if self.text is self._original:
                record.append((0, 0, True))
            else:
                self._pieces(record)
            self._map = ([r[0] for r in record], [r[1] for r in record], [r[2] for r in record])
        starts, sources, kept = self._map
        piece = bisect.bisect_right(starts, position) - 1
        return sources[piece] + (position - starts[piece] if kept[piece] else 0)


def _plain(text: str) -> bool:
    """Whether ``text`` is printable ASCII, tabs and newlines only (checked fast)."""
    return text.isascii() and not text.encode("ascii").translate(None, _PLAIN_ASCII)


def _stripped_form(token: str) -> str:
    if token[0] == "\r":
        return "\n"
    raw_c1 = "\udc80" <= token <= "\udc9f"
    return "\ufffd" if len(token) == 1 and "\ud800" <= token <= "\udfff" and not raw_c1 else ""


def _escaped_form(token: str) -> str:
    if token == "\r\n":
        return token
    if token == "\r":
        return "\n"
    code = ord(token)
    return f"\\x{code - 0xDC00 if code >= 0xDC00 else code:02x}"


def stripped(text: str) -> Shown:
    """The console form of ``text``: terminal control sequences and control characters
    removed (tab and newline kept; a carriage return becomes a line end), and bytes that are
    not UTF-8 shown as U+FFFD."""
    return Shown(text, _STRIPPED, _stripped_form, _plain(text))


def escaped(text: str) -> Shown:
    """The agent.log form of ``text``: every control character written as inert text.

    ESC becomes ``\\x1b``, a backspace ``\\x08``, a C1 character or a raw byte 0x80-0x9F
    ``\\x9b`` and so on; tab, newline and a carriage return before a newline stay; a carriage
    return anywhere else becomes a newline (as on the console). Everything else is kept as is,
    bytes that are not UTF-8 included.
    """
    return Shown(text, _ESCAPED, _escaped_form, _plain(text))


def unescaped(text: str) -> Shown:
    """``text`` as a reader who skips agent.log's escapes sees it: every ``\\xHH`` (and the
    rest of a CSI after it) left out, whether a control character or the agent wrote it."""
    return Shown(text, _ESCAPE_TEXT, lambda token: "", "\\x" not in text)


DRAWN_LINE_LIMIT = 4096
"""Longer lines are not drawn (each character costs Python time; a progress bar redrawn with
carriage returns for hours is one such line)."""


class Drawn:
    """A text as a terminal draws it, line by line: carriage returns, backspaces, tabs and
    cursor moves along the line (CSI ``C``, ``D``, ``G``) place each character in its cell, a
    later one overwriting an earlier; other controls draw nothing. Moves to another line
    (cursor up, absolute positions) are not followed; lines longer than
    :data:`DRAWN_LINE_LIMIT`, or without a move, are left out (the stripped text has them)."""

    def __init__(self, original: str) -> None:
        shown: list[str] = []
        index: list[int] = []
        at = 0
        for line in original.split("\n"):
            cells: list[tuple[str, int] | None] = []
            col = i = 0
            # A line is drawn only when something in it moves the cursor back or on (else
            # the stripped text shows it as drawn); a carriage return that starts it does not.
            moves = len(line) <= DRAWN_LINE_LIMIT and _MOVES.search(line.lstrip("\r"))
            while moves and i < len(line):
                token = _STRIPPED.search(line, i)
                end = token.start() if token is not None else len(line)
                if end > i:  # a run of characters, drawn from the cursor on
                    reach = col + end - i
                    cells.extend([None] * (reach - len(cells)))
                    cells[col:reach] = [(line[k], at + k) for k in range(i, end)]
                    col = reach
                if token is None:
                    break
                col = _moved(token.group(), col)
                i = token.end()
            if None in cells:
                last = at
                for k, cell in enumerate(cells):  # a gap: the source of the cell before it
                    cells[k] = cell = cell or (" ", last)
                    last = cell[1]
            if cells:
                chars, sources = zip(*cells, strict=True)
                shown.extend(chars)
                index.extend(sources)
            shown.append("\n")
            index.append(at + len(line))
            at += len(line) + 1
        self.text = "".join(shown[:-1])
        """What is drawn."""
        self._index = index

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The stretch of the original that the cells at ``start:end`` were drawn from (a cell
        drawn later may come from earlier in the original)."""
        cells = self._index[start:end]
        return min(cells), max(cells) + 1


def _moved(token: str, col: int) -> int:
    """The column after ``token`` (a control sequence or character) at column ``col``."""
    if token[0] == "\r":
        return 0
    if token == "\b":
        return max(0, col - 1)
    move = _MOVE.fullmatch(token)
    if move is None:
        return col
    count = int(move.group(1) or 1)
    final = move.group(2)
    return col + count if final == "C" else max(0, col - count) if final == "D" else count - 1


def drawn(text: str) -> Drawn | None:
    """``text`` as a terminal draws it, when anything in it moves the cursor along a line
    (else None: it is drawn as :func:`stripped` shows it)."""
    return Drawn(text) if not _plain(text) and _MOVES.search(text) else None


def strip_controls(text: str) -> str:
    """:func:`stripped` text of ``text`` (the console's form)."""
    return stripped(text).text


def escape_controls(text: str) -> str:
    """:func:`escaped` text of ``text`` (agent.log's form)."""
    return escaped(text).text
