"""One "did you mean" for every unknown name a user types (tasks, benchmarks, metrics, files)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.5
"""How alike (difflib's ratio) a name must be to be suggested."""


def closest(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates close to ``word``: case- and separator-blind (``TINY_LM`` and
    ``tiny-lm`` both mean ``tiny_lm``), then by spelling, then by containing one another."""
    folded: dict[str, str] = {}
    for candidate in candidates:
        folded.setdefault(candidate.lower().replace("-", "_"), candidate)
    key = word.lower().replace("-", "_")
    exact = [folded[key]] if key in folded else []
    close = [folded[c] for c in difflib.get_close_matches(key, list(folded), n=n, cutoff=CUTOFF)]
    if not close:
        close = [c for f, c in folded.items() if key and (key in f or f in key)][:n]
    return list(dict.fromkeys([*exact, *close]))[:n]


def did_you_mean(word: str, candidates: Iterable[str], *, known: str = "known") -> str:
    """``did you mean 'a', 'b'?`` when something is close, else ``<known>: a, b, c``."""
    pool = list(candidates)
    close = closest(word, pool)
    if close:
        return f"did you mean {', '.join(repr(c) for c in close)}?"
    return f"{known}: {', '.join(sorted(pool))}"
