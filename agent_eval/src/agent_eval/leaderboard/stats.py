"""Statistics over trials: mean with a t interval, pass@k, and MLRC-Bench capability levels."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

SUCCESS_THRESHOLD = 5.0
"""A trial succeeds when its normalised score closes at least 5 % of the baseline-to-reference
gap (MLRC-Bench's definition)."""

CONFIDENCE = 0.95
"""Coverage of the interval reported around a mean over trials."""


@functools.lru_cache(maxsize=256)
def t_quantile(coverage: float, df: int) -> float:
    """The t such that P(|T| <= t) = coverage (two-sided), for df >= 1 degrees of freedom.

    Cached: a board asks for the same few degrees of freedom hundreds of times."""
    from scipy.stats import t as student_t

    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must lie in (0, 1), got {coverage}")
    return float(student_t.ppf((1.0 + coverage) / 2.0, df))


@dataclass(frozen=True)
class Estimate:
    """A mean over trials with its confidence interval (None bounds when n < 2)."""

    mean: float
    n: int
    low: float | None = None
    high: float | None = None

    @property
    def half_width(self) -> float | None:
        """Half the interval's width, or None without an interval."""
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2.0


def mean_interval(values: Sequence[float], coverage: float = CONFIDENCE) -> Estimate | None:
    """Mean with a two-sided t interval (sample sd, df = n - 1); no interval for one value."""
    n = len(values)
    if n == 0:
        return None
    mean = math.fsum(values) / n
    if n == 1:
        return Estimate(mean=mean, n=1)
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = t_quantile(coverage, n - 1) * math.sqrt(var / n)
    return Estimate(mean=mean, n=n, low=mean - half, high=mean + half)


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """Unbiased pass@k from n trials of which c succeeded: 1 - C(n-c, k) / C(n, k).

    None when k > n (not estimable from these trials).
    """
    if n < 0 or c < 0 or c > n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        return None
    if n - c < k:
        return 1.0
    # The ratio as a product keeps it exact-ish without huge binomials.
    ratio = 1.0
    for i in range(k):
        ratio *= (n - c - i) / (n - i)
    return 1.0 - ratio


PASS_AT = (1, 3, 5, 8)
"""The k values reported by default (8 matches MLRC-Bench's trials per agent)."""

LEVELS = {
    1: "no valid output",
    3: "below the baseline",
    5: "above the baseline, under 5 % of the gap",
    6: "5-50 % of the gap",
    7: "50-100 % of the gap",
    8: "above the reference",
}
"""MLRC-Bench capability levels this product can tell apart (L2 and L4 need dev-phase scores,
which the evaluator does not record)."""


def capability_level(normalised: float | None) -> int:
    """The MLRC-Bench level of one trial from its normalised score (None: no valid output)."""
    if normalised is None:
        return 1
    if normalised <= 0:
        return 3
    if normalised < SUCCESS_THRESHOLD:
        return 5
    if normalised < 50:
        return 6
    if normalised <= 100:
        return 7
    return 8
