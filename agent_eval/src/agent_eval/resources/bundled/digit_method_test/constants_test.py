"""Test-phase constants of the digit_method smoke task, swapped in by the evaluator."""

import os

TRAIN_FILES = ("data/train.npz", "data/dev.npz")
"""The test phase trains on every public labelled digit."""
DEV_FILE = "data/dev.npz"
"""Unused in the test phase."""
TEST_INPUTS_DIR = os.environ["MLRB_INPUTS"]
"""The hidden test inputs (x.npy, ids.txt; no labels), read-only."""
OUTPUT_DIR = os.environ["MLRB_OUTPUT"]
"""The only writable folder."""
