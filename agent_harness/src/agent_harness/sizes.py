"""The one parser of byte sizes: ``500M``, ``20GB``, ``1.5G``, ``2T``, ``1 GiB``, ``4096``.

Units are binary (``1G`` is 1024**3 bytes), upper or lower case, with an optional ``B`` or
``iB``; a fraction has at most six digits; a bare number is bytes. Every size option of the
harness (``--disk-limit``, ``--log-limit``, ``--snapshot-limit``) and of a run-set file is read
here, so they accept and refuse the same texts.
"""

from __future__ import annotations

import re

from agent_harness.errors import ConfigError

SIZE_FORMS = "500M, 20GB, 1.5G, 2T or a plain number of bytes (binary units: 1G is 1024**3)"
"""The accepted forms, as shown in error messages."""

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"([0-9]{1,15})(?:\.([0-9]{1,6}))?\s*([kmgt]?)(?:i?b)?")
_MAX_TEXT = 32
"""Longest text looked at: every accepted size is far shorter."""


def parse_size(text: str, *, what: str = "size") -> int:
    """Bytes meant by ``text`` (positive); anything else is a usage error (exit 2)."""
    value = text.strip().lower()
    match = _SIZE.fullmatch(value) if len(value) <= _MAX_TEXT else None
    shown = repr(text[:_MAX_TEXT]) + ("..." if len(text) > _MAX_TEXT else "")
    if match is None:
        raise ConfigError(f"invalid {what} {shown}", hint=f"accepted forms: {SIZE_FORMS}")
    whole, fraction, unit = match.groups()
    scale = _UNITS[unit]
    size = int(whole) * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
    if size <= 0:
        raise ConfigError(
            f"invalid {what} {shown}: it must be positive", hint=f"accepted forms: {SIZE_FORMS}"
        )
    return size
