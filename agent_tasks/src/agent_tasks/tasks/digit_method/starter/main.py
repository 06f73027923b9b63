#!/usr/bin/env python3
"""Run a method on the digits task (read-only: restored before the test phase).

    python main.py -m METHOD -p dev     # train on data/train.npz, score on data/dev.npz
    python main.py -m METHOD -p test    # run by the benchmark on the hidden test inputs

The dev phase prints the method's dev accuracy and writes ``output/dev_predictions.csv``.
The test phase trains on the files in ``constants.TRAIN_FILES`` and only writes predictions
(``<output>/test_predictions.csv``); the benchmark scores them with labels the method never sees.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import constants
import numpy as np
from evaluation import accuracy
from methods import all_methods


def main() -> int:
    """Run one phase of one method."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-m", "--method", required=True)
    p.add_argument("-p", "--phase", choices=("dev", "test"), default="dev")
    args = p.parse_args()
    methods = all_methods()
    if args.method not in methods:
        print(f"unknown method {args.method!r}; registered: {', '.join(methods)}")
        return 2
    train = [np.load(f) for f in constants.TRAIN_FILES]
    x_train = np.concatenate([t["x"] for t in train])
    y_train = np.concatenate([t["y"] for t in train])
    if args.phase == "dev":
        dev = np.load(constants.DEV_FILE)
        x_eval, y_eval = dev["x"], dev["y"]
        ids = [f"v{i:04d}" for i in range(len(x_eval))]
    else:
        folder = Path(constants.TEST_INPUTS_DIR)
        x_eval, y_eval = np.load(folder / "x.npy"), None
        ids = (folder / "ids.txt").read_text().split()
    started = time.perf_counter()
    method = methods[args.method]()
    method.fit(x_train, y_train)
    predicted = np.asarray(method.predict(x_eval))
    seconds = time.perf_counter() - started
    out = Path(constants.OUTPUT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{args.phase}_predictions.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "label"])
        writer.writerows(zip(ids, (int(v) for v in predicted), strict=True))
    print(f"{args.method} ({args.phase}): {len(ids)} predictions in {seconds:.3f} s")
    if y_eval is not None:
        print(f"dev accuracy: {accuracy(predicted, y_eval):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
