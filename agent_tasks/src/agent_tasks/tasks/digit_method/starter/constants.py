"""Paths of the dev phase (read-only; the benchmark swaps in its test constants)."""

TRAIN_FILES = ("data/train.npz",)
"""Labelled digits a method trains on."""
DEV_FILE = "data/dev.npz"
"""Labelled digits the dev phase scores on."""
TEST_INPUTS_DIR = "test_inputs"
"""Hidden in the dev phase: the test constants point it at the benchmark's test inputs."""
OUTPUT_DIR = "output"
"""Where predictions are written."""
