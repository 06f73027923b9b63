"""Fixtures of the harness tests: busybox agent images and a scrubbed environment."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import (
    AGENT_IMAGE,
    AGENT_SCRIPT,
    BASE_IMAGE,
    DB_SECRET,
    FAKE_KEY,
    REPO,
    SCRUBBED,
)


@pytest.fixture(scope="session")
def agent_images(docker_client: Any, busybox_path: Path, tmp_path_factory: Any) -> dict[str, str]:
    """Build the busybox images (docker/test-images/busybox) the docker tests run."""
    context = tmp_path_factory.mktemp("busybox-image")
    shutil.copy(REPO / "docker" / "test-images" / "busybox" / "Dockerfile", context)
    shutil.copy(busybox_path, context / "busybox")
    docker_client.images.build(path=str(context), tag=BASE_IMAGE, network_mode="none", rm=True)
    agent = f'FROM {BASE_IMAGE}\nCMD ["/bin/sh", "-c", "{AGENT_SCRIPT}"]\n'
    docker_client.images.build(
        fileobj=io.BytesIO(agent.encode()), tag=AGENT_IMAGE, network_mode="none", rm=True
    )
    return {"base": BASE_IMAGE, "agent": AGENT_IMAGE}


@pytest.fixture(autouse=True)
def scrubbed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key or token of this machine leaks into a test."""
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    """An env file with a fake provider key and credentials the agent must never receive."""
    path = tmp_path / "agent.env"
    path.write_text(
        f"OPENAI_API_KEY={FAKE_KEY}\n"
        f"DB_PASSWORD={DB_SECRET}\n"
        f"DATABASE_URL=postgresql://mlrb:{DB_SECRET}@127.0.0.1/mlrb\n"
        "OTHER_SERVICE_TOKEN=other-FAKE-7777\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """A fresh runs folder."""
    return tmp_path / "runs"


@pytest.fixture(params=[pytest.param("docker", marks=pytest.mark.docker), "local"])
def runtime(request: pytest.FixtureRequest) -> str:
    """Each agent case runs under both runtimes (docker needs the engine and the images)."""
    if request.param == "docker":
        request.getfixturevalue("agent_images")
    return str(request.param)


@pytest.fixture(scope="module")
def runset_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sleeper tasks (0, 1 and 2 GPUs) registered as an installed task plugin, for this
    process (the catalogue is reloaded) and for the harnesses it starts (PYTHONPATH); removed
    when the test module ends, so no other test sees them in the catalogue."""
    import sys

    from runset_testkit import register_plugin

    from agent_tasks.registry import load

    site = register_plugin(tmp_path_factory.mktemp("runset"))
    sys.path.insert(0, str(site))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), old) if p)
    load(refresh=True)
    yield site
    sys.path.remove(str(site))
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old
    load(refresh=True)
