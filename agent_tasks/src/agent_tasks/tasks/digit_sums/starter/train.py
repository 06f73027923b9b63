#!/usr/bin/env python3
"""Train the per-slot digit classifier that main.py uses, and save it as weights.npz.

Each test image is 8 x 32 pixels: four slots of 8 x 8, each empty or holding one digit. The
classifier labels one slot with 0-9, or 10 for an empty slot; main.py adds up the digits.

    python train.py                               # nearest centroid (the baseline)
    python train.py --method softmax --epochs 300 # softmax regression, more accurate

It trains on the first 1,197 digits of digits.npz and reports the digit-sum accuracy on
composed images made from the last 200 (never from the hidden test digits).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BLANK = 10
"""Class of an empty slot."""


def slot_features(slots: np.ndarray) -> np.ndarray:
    """(n, 8, 8) pixel values 0-16 -> (n, 64) floats in [0, 1]."""
    return slots.reshape(len(slots), -1).astype(np.float32) / 16.0


def train(x: np.ndarray, y: np.ndarray, method: str, epochs: int, lr: float) -> dict:
    """Weights of the chosen classifier over 11 classes (10 digits and the empty slot)."""
    feats = np.concatenate([slot_features(x), np.zeros((len(x) // 10, 64), np.float32)])
    labels = np.concatenate([y, np.full(len(x) // 10, BLANK)])
    if method == "centroid":
        centroids = np.stack([feats[labels == c].mean(axis=0) for c in range(BLANK + 1)])
        return {"method": np.array("centroid"), "centroids": centroids}
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.01, (64, BLANK + 1)).astype(np.float32)
    b = np.zeros(BLANK + 1, np.float32)
    onehot = np.eye(BLANK + 1, dtype=np.float32)[labels]
    for _ in range(epochs):
        logits = feats @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) / len(feats)
        w -= lr * (feats.T @ grad + 1e-4 * w)
        b -= lr * grad.sum(axis=0)
    return {"method": np.array("softmax"), "w": w, "b": b}


def predict_slots(weights: dict, slots: np.ndarray) -> np.ndarray:
    """Class (0-10) of each 8 x 8 slot."""
    feats = slot_features(slots)
    if str(weights["method"]) == "centroid":
        d = ((feats[:, None, :] - weights["centroids"][None]) ** 2).sum(axis=2)
        return d.argmin(axis=1)
    return (feats @ weights["w"] + weights["b"]).argmax(axis=1)


def digit_sums(weights: dict, images: np.ndarray) -> np.ndarray:
    """Sum of the digits in each (n, 8, 32) image."""
    slots = images.reshape(len(images), 8, 4, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    classes = predict_slots(weights, slots).reshape(len(images), 4)
    return np.where(classes == BLANK, 0, classes).sum(axis=1)


def compose(x: np.ndarray, y: np.ndarray, count: int, seed: int) -> tuple:
    """Images like the test images (2-4 digits in random slots) and their sums."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 8, 32), np.uint8)
    sums = np.zeros(count, np.int64)
    for i in range(count):
        k = int(rng.integers(2, 5))
        slots, picks = rng.choice(4, k, replace=False), rng.integers(0, len(x), k)
        for slot, pick in zip(slots, picks, strict=True):
            images[i, :, 8 * slot : 8 * slot + 8] = x[pick]
            sums[i] += int(y[pick])
    return images, sums


def main() -> None:
    """Train, report the held-out digit-sum accuracy, save the weights."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", choices=("centroid", "softmax"), default="centroid")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--lr", type=float, default=2.0)
    p.add_argument("--out", default=str(HERE / "weights.npz"))
    args = p.parse_args()
    data = np.load(HERE / "digits.npz")
    x, y = data["x"], data["y"]
    weights = train(x[:-200], y[:-200], args.method, args.epochs, args.lr)
    images, sums = compose(x[-200:], y[-200:], 500, seed=1)
    acc = float((digit_sums(weights, images) == sums).mean())
    print(f"held-out digit-sum accuracy ({args.method}): {acc:.4f}")
    np.savez(args.out, **weights)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
