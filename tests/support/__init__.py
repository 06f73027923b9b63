"""Builders shared by the test modules (a test module never imports another test module).

``store``: results, run records and empty databases; ``leaderboard``: task specs with anchors,
evaluations and the MLRC-Bench paper; ``tiny_models``: tiny GPT-2s and tokenizers; ``e2e``: the
console scripts run for real; ``images``: per-session test image names. Fixtures shared by a
folder's tests are in its ``conftest.py``, which no test module imports.
"""
