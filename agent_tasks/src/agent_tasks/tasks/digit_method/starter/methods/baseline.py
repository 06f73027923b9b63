"""The baseline method: nearest class centroid."""

from __future__ import annotations

import numpy as np

from methods.base import BaseMethod


class BaselineMethod(BaseMethod):
    """Predicts the class whose mean image is nearest (Euclidean distance)."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Mean image per class."""
        flat = x.reshape(len(x), -1).astype(np.float64)
        self.classes = np.unique(y)
        self.centroids = np.stack([flat[y == c].mean(axis=0) for c in self.classes])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The class of the nearest centroid."""
        flat = x.reshape(len(x), -1).astype(np.float64)
        d = ((flat[:, None, :] - self.centroids[None]) ** 2).sum(axis=2)
        return self.classes[d.argmin(axis=1)]
