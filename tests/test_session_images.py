"""The suite leaves no test image in the engine: images are tagged per session and the session's
end removes its own, never another session's."""

from __future__ import annotations

import io
import secrets
from typing import Any

import pytest
from support.images import SESSION_TAG, remove_images, session_image

pytestmark = pytest.mark.docker


def _build(client: Any, reference: str) -> None:
    client.images.build(
        fileobj=io.BytesIO(b"FROM scratch\nLABEL mlrb-test=probe\n"),
        tag=reference,
        network_mode="none",
        rm=True,
    )


def test_test_images_are_tagged_per_session() -> None:
    assert session_image("harness-busybox") == f"mlrb-test/harness-busybox:{SESSION_TAG}"
    assert not SESSION_TAG.endswith("latest")


def test_removal_takes_one_sessions_images_and_leaves_another_sessions(docker_client: Any) -> None:
    mine, other = f"probe-{secrets.token_hex(4)}", f"probe-{secrets.token_hex(4)}"
    _build(docker_client, f"mlrb-test/probe-a:{mine}")
    _build(docker_client, f"mlrb-test/probe-b:{mine}")
    _build(docker_client, f"mlrb-test/probe-a:{other}")
    try:
        removed = remove_images(docker_client, mine)
        assert sorted(removed) == [f"mlrb-test/probe-a:{mine}", f"mlrb-test/probe-b:{mine}"]
        left = {t for image in docker_client.images.list("mlrb-test/*") for t in image.tags}
        assert f"mlrb-test/probe-a:{other}" in left
        assert not {f"mlrb-test/probe-a:{mine}", f"mlrb-test/probe-b:{mine}"} & left
    finally:
        remove_images(docker_client, other)
