"""What the `smoke` tasks share: real tasks small enough to run end to end on a laptop CPU."""

from __future__ import annotations

BENCHMARK = "smoke"
DIGITS_SOURCE = (
    "scikit-learn's bundled 8x8 digits (`sklearn.datasets.load_digits`, 1,797 images, no "
    "download); scripts/make_digit_tasks.py writes every file from them"
)
