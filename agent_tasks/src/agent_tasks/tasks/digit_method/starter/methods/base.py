"""What every method implements."""

from __future__ import annotations

import numpy as np


class BaseMethod:
    """Learns from labelled 8 x 8 digits (values 0-16), then predicts labels 0-9."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Learn from images ``x`` (n, 8, 8) and labels ``y`` (n,)."""
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Labels of the images ``x`` (n, 8, 8)."""
        raise NotImplementedError
