"""The demo runs the reference agent in docker only when the image of the tag in force exists:
``MLRB_IMAGE_TAG`` (as CI sets it) names the tag; ``latest`` alone does not make it pick docker."""

from __future__ import annotations

import importlib.util
import io
import secrets
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", REPO / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_tag_the_demo_uses_latest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLRB_IMAGE_TAG", raising=False)
    assert _demo().agent_image() == "mlrb/reference-agent:latest"


@pytest.mark.docker
def test_the_demo_picks_docker_only_for_the_image_of_its_tag(
    docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = _demo()
    built, absent = f"probe-{secrets.token_hex(4)}", f"probe-{secrets.token_hex(4)}"
    reference = f"mlrb/reference-agent:{built}"
    docker_client.images.build(
        fileobj=io.BytesIO(b"FROM scratch\nLABEL mlrb-test=demo-probe\n"),
        tag=reference,
        network_mode="none",
        rm=True,
    )
    try:
        monkeypatch.setenv("MLRB_IMAGE_TAG", built)
        assert demo.agent_image() == reference
        assert demo.docker_image_ready(demo.agent_image())
        # Another tag in force: whatever else the engine has (latest included), no docker.
        monkeypatch.setenv("MLRB_IMAGE_TAG", absent)
        assert demo.agent_image() == f"mlrb/reference-agent:{absent}"
        assert not demo.docker_image_ready(demo.agent_image())
    finally:
        docker_client.images.remove(reference, force=True)
