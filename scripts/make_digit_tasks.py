"""Generate the data of the two code smoke tasks from scikit-learn's bundled 8x8 digits.

``sklearn.datasets.load_digits`` ships 1,797 handwritten digits (8 x 8 pixels, values 0-16)
inside the package, so nothing is downloaded. The first 1,397 digits (in the package's order)
are public: the agents' starter files carry them. The test images are made from the last 400,
each **distorted** (a random affine and elastic warp at 32 x 32, then 4 x 4 block means back to
8 x 8, as the set itself was made): those 400 are public too (any scikit-learn has them), so
the test images must be no slice of them; none equals any of the 1,797 (checked here). Only
the evaluator's package holds the test images and their labels. Everything written is
identical on every run (fixed seeds).

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
PUBLIC_SET: set[bytes] = set()
"""The pixels of every digit scikit-learn ships (filled by main)."""
SEED = 20261129
DISTORTION = 0.6
"""Strength of the warp (1: up to 15 degrees of rotation, 15 % scale, 0.3 shear, 2.5 px shift
at 32 x 32, an elastic field of 40 px amplitude before smoothing). At 0.6 a nearest-neighbour
lookup over all 1,797 public digits (the 400 sources included) labels the test digits 8.5 points
better than the same lookup over the 1,397 starter digits (0.925 against 0.84); an exact
lookup finds none."""


def distort(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A new 8 x 8 digit (values 0-16) warped from ``image``: affine and elastic at 32 x 32."""
    from scipy import ndimage

    s = DISTORTION
    up = ndimage.zoom(image.astype(np.float64), 4, order=1)
    angle = np.deg2rad(rng.uniform(-15 * s, 15 * s))
    shear = rng.uniform(-0.3 * s, 0.3 * s)
    scale = rng.uniform(1 - 0.15 * s, 1 + 0.15 * s, size=2)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation @ np.array([[1, shear], [0, 1]]) @ np.diag(1 / scale)
    centre = np.array([15.5, 15.5])
    offset = centre - matrix @ centre + rng.uniform(-2.5 * s, 2.5 * s, size=2)
    warped = ndimage.affine_transform(up, matrix, offset=offset, order=1)
    field = [ndimage.gaussian_filter(rng.uniform(-1, 1, (32, 32)), 4) * 40 * s for _ in "yx"]
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    warped = ndimage.map_coordinates(warped, [rows + field[0], cols + field[1]], order=1)
    small = warped.reshape(8, 4, 8, 4).mean(axis=(1, 3))
    small *= image.sum() / max(float(small.sum()), 1e-9)  # the same amount of ink
    return np.clip(np.rint(small), 0, 16).astype(np.uint8)


def fresh(x: np.ndarray, public: set[bytes], rng: np.random.Generator) -> np.ndarray:
    """A distortion of ``x`` equal to none of the public digits (drawn again if it is)."""
    while True:
        made = distort(x, rng)
        if made.tobytes() not in public:
            return made


def compose(x: np.ndarray, y: np.ndarray, count: int, rng: np.random.Generator) -> tuple:
    """``count`` images of 8 x 32 pixels with 2-4 digits in random slots, and their sums; each
    digit distorted afresh."""
    images = np.zeros((count, 8, 8 * SLOTS), dtype=np.uint8)
    sums = np.zeros(count, dtype=np.int64)
    for i in range(count):
        k = int(rng.integers(2, SLOTS + 1))
        slots = rng.choice(SLOTS, size=k, replace=False)
        picks = rng.integers(0, len(x), size=k)
        for slot, pick in zip(slots, picks, strict=True):
            images[i, :, 8 * slot : 8 * slot + 8] = fresh(x[pick], PUBLIC_SET, rng)
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
    PUBLIC_SET.update(image.tobytes() for image in x)  # all 1,797: every one is public

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
    rng = np.random.default_rng(SEED + 1)
    np.save(hidden / "inputs/x.npy", np.stack([fresh(image, PUBLIC_SET, rng) for image in hid_x]))
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
