"""Generate the data of the two code smoke tasks from scikit-learn's bundled 8x8 digits.

``sklearn.datasets.load_digits`` ships 1,797 handwritten digits (8 x 8 pixels, values 0-16)
inside the package, so nothing is downloaded. The first 1,397 digits (in the package's order)
are public: the agents' starter files carry them. The last 400 are hidden: only the evaluator's
package holds them. Everything written is identical on every run (fixed seeds).

- ``digit_sums`` (budget-inference miniature): images of 8 x 32 pixels, four slots of 8 columns,
  2 to 4 of them holding a digit, labelled with the sum of the digits. The starter gets the
  public digits (``starter/digits.npz``); the evaluator gets 300 composed test images as binary
  PGM files (``bundled/digit_sums_test/inputs/test/<image_id>.pgm``) and their sums
  (``bundled/digit_sums_test/test.jsonl``).
- ``digit_method`` (MLRC-structured miniature): plain digit classification. The starter's
  ``data/train.npz`` holds public digits 0-999 and ``data/dev.npz`` digits 1000-1396 (with
  labels); the evaluator holds the hidden 400 as inputs (``inputs/x.npy``, ``inputs/ids.txt``)
  and labels (``test.jsonl``).

Run ``python scripts/make_digit_tasks.py`` to (re)write every file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TASKS = ROOT / "agent_tasks/src/agent_tasks/tasks"
BUNDLED = ROOT / "agent_eval/src/agent_eval/resources/bundled"
PUBLIC = 1_397
"""Digits 0..1396 are public; 1397..1796 are hidden."""
SLOTS = 4
TEST_IMAGES = 300
SEED = 20261129


def compose(x: np.ndarray, y: np.ndarray, count: int, rng: np.random.Generator) -> tuple:
    """``count`` images of 8 x 32 pixels with 2-4 digits in random slots, and their sums."""
    images = np.zeros((count, 8, 8 * SLOTS), dtype=np.uint8)
    sums = np.zeros(count, dtype=np.int64)
    for i in range(count):
        k = int(rng.integers(2, SLOTS + 1))
        slots = rng.choice(SLOTS, size=k, replace=False)
        picks = rng.integers(0, len(x), size=k)
        for slot, pick in zip(slots, picks, strict=True):
            images[i, :, 8 * slot : 8 * slot + 8] = x[pick]
            sums[i] += int(y[pick])
    return images, sums


def pgm(image: np.ndarray) -> bytes:
    """A binary PGM (P5) with maximum value 16."""
    h, w = image.shape
    return f"P5\n{w} {h}\n16\n".encode() + image.astype(np.uint8).tobytes()


def main() -> None:
    """Write every file of both tasks."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images.astype(np.uint8)
    y = digits.target.astype(np.int64)
    pub_x, pub_y, hid_x, hid_y = x[:PUBLIC], y[:PUBLIC], x[PUBLIC:], y[PUBLIC:]

    sums_starter = TASKS / "digit_sums/starter"
    sums_starter.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(sums_starter / "digits.npz", x=pub_x, y=pub_y)
    images, sums = compose(hid_x, hid_y, TEST_IMAGES, np.random.default_rng(SEED))
    test_dir = BUNDLED / "digit_sums_test/inputs/test"
    test_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (image, total) in enumerate(zip(images, sums, strict=True)):
        image_id = f"s{i:04d}"
        (test_dir / f"{image_id}.pgm").write_bytes(pgm(image))
        rows.append({"image_id": image_id, "digit_sum": str(int(total))})
    (BUNDLED / "digit_sums_test/test.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )

    data = TASKS / "digit_method/starter/data"
    data.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(data / "train.npz", x=pub_x[:1000], y=pub_y[:1000])
    np.savez_compressed(data / "dev.npz", x=pub_x[1000:], y=pub_y[1000:])
    hidden = BUNDLED / "digit_method_test"
    (hidden / "inputs").mkdir(parents=True, exist_ok=True)
    np.save(hidden / "inputs/x.npy", hid_x)
    ids = [f"d{i:04d}" for i in range(len(hid_x))]
    (hidden / "inputs/ids.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
    (hidden / "test.jsonl").write_text(
        "".join(
            json.dumps({"id": i, "label": str(int(v))}) + "\n"
            for i, v in zip(ids, hid_y, strict=True)
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
