"""docker/torch_guard.py: the base's torch is pinned for pip, and a changed torch stops the build.

A CUDA base cannot be pulled here, so its python is played by this interpreter with a folder of
fake distributions on PYTHONPATH: a ``torch`` package (with ``__version__`` and dist-info) that
requires ``sympy==1.13.1``, as the CUDA base's torch 2.6.0 does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GUARD = REPO / "docker" / "torch_guard.py"
BUILD = REPO / "scripts" / "build_images.py"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SHARED = "# shared pins\nsympy==1.14.0\ntorch==2.13.0\nJinja2==3.1.6\ntransformers==5.23.0\n"


def fake_dist(site: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    """An installed distribution as importlib.metadata sees it, and its module."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    (site / name).mkdir()
    module = f"__version__ = {version!r}\n"
    if name == "torch":
        module += "class version:\n    cuda = '12.4' if '+cu' in __version__ else None\n"
    (site / name / "__init__.py").write_text(module)


def guard(site: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the guard with a python that sees only the stdlib and ``site``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-S", str(GUARD), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def cuda_base(tmp_path: Path) -> Path:
    """The site-packages of a CUDA base: torch 2.6.0+cu124, its sympy and Jinja2, and pandas."""
    site = tmp_path / "base"
    fake_dist(site, "torch", "2.6.0+cu124", ("sympy==1.13.1", "jinja2", 'triton; extra == "x"'))
    fake_dist(site, "sympy", "1.13.1", ("mpmath<1.4,>=1.1.0",))
    fake_dist(site, "mpmath", "1.3.0")
    fake_dist(site, "Jinja2", "3.1.4")
    fake_dist(site, "pandas", "2.2.0")  # installed, but not torch's: the shared pin stays
    return site


def test_pin_keeps_the_base_torch_and_its_requirements_over_the_shared_pins(
    tmp_path: Path,
) -> None:
    site = cuda_base(tmp_path)
    (tmp_path / "shared.txt").write_text(SHARED + "pandas==3.1.1\n")
    done = guard(site, "pin", tmp_path / "shared.txt", tmp_path / "image.txt", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    pins = [line for line in (tmp_path / "image.txt").read_text().splitlines() if "==" in line]
    assert pins == [
        "jinja2==3.1.4",
        "mpmath==1.3.0",
        "sympy==1.13.1",
        "torch==2.6.0+cu124",
        "transformers==5.23.0",
        "pandas==3.1.1",
    ]  # the shared sympy, torch and Jinja2 pins are gone; the others are kept
    record = json.loads((tmp_path / "r.json").read_text())
    assert (record["torch"], record["cuda"]) == ("2.6.0+cu124", "12.4")


def test_check_fails_when_the_install_replaced_the_base_torch(tmp_path: Path) -> None:
    base = cuda_base(tmp_path)
    (tmp_path / "shared.txt").write_text(SHARED)
    guard(base, "pin", tmp_path / "shared.txt", tmp_path / "image.txt", tmp_path / "r.json")
    assert guard(base, "check", tmp_path / "r.json").returncode == 0

    # what pip would leave after following the shared pins: a torch of its own choosing
    after = tmp_path / "after"
    fake_dist(after, "torch", "2.13.0+cu128", ("sympy>=1.13.3",))
    fake_dist(after, "sympy", "1.14.0")
    done = guard(after, "check", tmp_path / "r.json")
    assert done.returncode == 1
    assert "torch 2.6.0+cu124 (CUDA 12.4) was replaced by torch 2.13.0+cu128" in done.stderr


def test_check_fails_when_a_requirement_of_the_base_torch_moved(tmp_path: Path) -> None:
    base = cuda_base(tmp_path)
    (tmp_path / "shared.txt").write_text(SHARED)
    guard(base, "pin", tmp_path / "shared.txt", tmp_path / "image.txt", tmp_path / "r.json")
    after = tmp_path / "after"
    fake_dist(after, "torch", "2.6.0+cu124", ("sympy==1.13.1",))
    fake_dist(after, "sympy", "1.14.0")
    done = guard(after, "check", tmp_path / "r.json")
    assert done.returncode == 1
    assert "'sympy': ('1.13.1', '1.14.0')" in done.stderr


def test_a_base_without_torch_keeps_the_shared_pins_and_needs_torch_afterwards(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "shared.txt").write_text(SHARED)
    done = guard(empty, "pin", tmp_path / "shared.txt", tmp_path / "image.txt", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    assert "sympy==1.14.0" in (tmp_path / "image.txt").read_text()
    assert guard(empty, "check", tmp_path / "r.json").returncode == 1  # still no torch
    after = tmp_path / "after"
    fake_dist(after, "torch", "2.13.0+cpu")
    assert guard(after, "check", tmp_path / "r.json").returncode == 0


@pytest.fixture
def played_cuda_base(docker_client: Any, tmp_path: Path) -> Iterator[Any]:
    """Build the reference-agent image on the local Debian base plus a played CUDA torch.

    Yields a function ``build(with_sympy)``: the base's torch 2.6.0+cu124 requires
    ``sympy==1.13.1``, installed in the base when ``with_sympy``; the image is built by the build
    script, offline, from the wheelhouse that holds the CPU torch 2.13.0 and sympy 1.14.0 the
    shared pins would have pip take. It returns the script's result and the image's name.
    """
    made = subprocess.run(
        [sys.executable, str(BUILD), "--base-only"], capture_output=True, text=True, timeout=1800
    )
    if made.returncode == 3:  # no debootstrap or engine: skipped here, a failure in CI
        if IN_CI:
            pytest.fail(made.stderr[-2000:])
        pytest.skip(made.stderr[-500:])
    assert made.returncode == 0, made.stderr[-3000:]
    tag = f"test-{os.getpid()}"
    base, image = f"mlrb-test/played-cuda-base:{tag}", f"mlrb/reference-agent:{tag}"

    def build(with_sympy: bool) -> tuple[subprocess.CompletedProcess[str], str]:
        context = tmp_path / "context"
        fake_dist(context / "site", "torch", "2.6.0+cu124", ("sympy==1.13.1",))
        if with_sympy:
            fake_dist(context / "site", "sympy", "1.13.1")
        (context / "Dockerfile").write_text(
            f"FROM {json.loads(made.stdout)['base']}\n"
            f"LABEL mlrb.test={tag}\n"  # inherited by every image built on it
            "COPY site/ /usr/local/lib/python3.11/dist-packages/\n"
        )
        docker_client.images.build(path=str(context), tag=base, network_mode="none", rm=True)
        built = subprocess.run(
            [
                *(sys.executable, str(BUILD), "reference-agent", "--base-image", base),
                *("--tag", tag, "--prune-stages"),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        return built, image

    try:
        yield build
    finally:
        # the played base, the image and every layer a build left, failed ones too: newest first
        left = subprocess.run(
            ["docker", "images", "-q", "--filter", f"label=mlrb.test={tag}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        subprocess.run(["docker", "rmi", "-f", image, base], capture_output=True)
        for found in dict.fromkeys(left):
            subprocess.run(["docker", "rmi", "-f", found], capture_output=True)


@pytest.mark.docker
@pytest.mark.slow
def test_image_built_on_a_base_with_torch_keeps_that_torch_and_its_sympy(
    docker_client: Any, played_cuda_base: Any
) -> None:
    # the case for real: the shared pins say sympy 1.14.0, the base's torch needs 1.13.1
    built, image = played_cuda_base(with_sympy=True)
    assert built.returncode == 0, built.stderr[-4000:]
    shown = docker_client.containers.run(
        image,
        entrypoint=[
            "python",
            "-c",
            "import torch, sympy; print(torch.__version__, sympy.__version__)",
        ],
        network_mode="none",
        remove=True,
    )
    # the base's torch and sympy, not the wheelhouse's 2.13.0+cpu and 1.14.0
    assert shown.decode().split() == ["2.6.0+cu124", "1.13.1"]


@pytest.mark.docker
@pytest.mark.slow
def test_a_base_whose_torch_the_install_cannot_keep_fails_the_build(
    played_cuda_base: Any,
) -> None:
    # sympy 1.13.1 is neither in the base nor in the wheelhouse: keeping the base's torch is
    # impossible, and replacing it is not allowed, so the build stops
    built, _ = played_cuda_base(with_sympy=False)
    assert built.returncode == 3
    assert "ERROR: Cannot install torch==2.6.0+cu124" in built.stderr, built.stderr[-3000:]
