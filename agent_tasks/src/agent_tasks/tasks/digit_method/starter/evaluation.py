"""Scoring of the digits task (read-only: restored before the test phase)."""

from __future__ import annotations

import numpy as np


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Share of digits predicted right."""
    return float((np.asarray(predicted) == np.asarray(labels)).mean())
