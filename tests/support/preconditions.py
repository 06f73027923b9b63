"""What a test does when something it needs is not on this machine: skip with the reason, except
in CI (``CI=true``), where nothing may be missing and the test fails instead."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str) -> NoReturn:
    """Skip the test for a missing precondition, or fail it in CI where nothing may be missing."""
    if IN_CI:
        pytest.fail(f"{reason} (in CI this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)
