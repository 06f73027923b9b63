"""Names of the images the tests build, tagged per test session, and their removal at its end.

Every image a test builds is ``mlrb-test/<name>:<SESSION_TAG>``: two sessions on one engine
(two CI runs, two developers) never share or delete each other's images, and
``pytest_sessionfinish`` (tests/conftest.py) removes this session's images, so a run leaves none.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

SESSION_TAG = f"session-{os.getpid()}-{secrets.token_hex(4)}"
"""The tag of every image this test session builds."""


def session_image(name: str) -> str:
    """The reference of this session's test image ``name``."""
    return f"mlrb-test/{name}:{SESSION_TAG}"


def remove_images(client: Any, tag: str = SESSION_TAG) -> list[str]:
    """Remove every ``mlrb-test/*`` image tagged ``tag``; returns the references removed."""
    removed = []
    for image in client.images.list(filters={"reference": f"mlrb-test/*:{tag}"}):
        for reference in image.tags:
            if reference.startswith("mlrb-test/") and reference.endswith(f":{tag}"):
                client.images.remove(reference, force=True)
                removed.append(reference)
    return removed
