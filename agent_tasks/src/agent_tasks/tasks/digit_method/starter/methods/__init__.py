"""The registered methods: add yours to ``all_methods`` under the name you submit."""

from __future__ import annotations

from methods.base import BaseMethod
from methods.baseline import BaselineMethod


def all_methods() -> dict[str, type[BaseMethod]]:
    """Method name -> class."""
    return {"baseline": BaselineMethod}
