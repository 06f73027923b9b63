"""Fixtures shared by every test: offline settings, and the real services the tests use.

A test that needs a service it cannot find skips with the reason, except in CI (``CI=true``),
where a missing Docker engine, PostgreSQL server or browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from support.preconditions import missing  # noqa: E402 - after the offline switches


@pytest.fixture(autouse=True)
def passable_tmp_path(request: pytest.FixtureRequest) -> None:
    """Under root, let every user pass through (not list) the test's temporary folders: a root
    harness runs a local agent as ``nobody``, which must reach its run folder below them."""
    if os.geteuid() != 0 or "tmp_path" not in request.fixturenames:
        return
    tmp_path: Path = request.getfixturevalue("tmp_path")
    for folder in (tmp_path, *list(tmp_path.parents)[:2]):
        folder.chmod(folder.stat().st_mode | 0o111)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the images this session built (``support.images``): a run leaves none behind."""
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception:  # no SDK or no engine: this session built no image
        return
    from support.images import remove_images

    try:
        remove_images(client)
    finally:
        client.close()


@pytest.fixture(scope="session")
def docker_client():  # type: ignore[no-untyped-def]
    """A client of a real Docker engine (start one with `make services-start`)."""
    try:
        import docker
    except ImportError:
        missing("the docker SDK is not installed")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # any failure to reach the engine means: not ready
        missing(f"no Docker engine answers ({type(exc).__name__}); run `make services-start`")
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_path() -> Path:
    """The static busybox binary used to build `FROM scratch` test images."""
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        path = Path(candidate)
        if path.is_file():
            out = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True)
            if "dynamically" not in out.stdout:
                return path
    missing("static busybox not found (apt-get install -y busybox-static)")
    raise AssertionError  # unreachable: missing() raises


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a real PostgreSQL server started for this test session on 127.0.0.1."""
    bindir = _pg_bin()
    if bindir is None:
        missing("PostgreSQL server binaries not found (apt-get install -y postgresql)")
    assert bindir is not None
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="mlrb-pg-"))
    if as_root:  # initdb and postgres refuse to run as root
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, user="postgres")
    data = base / "data"
    port = _free_port()
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "-o",
            opts,
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "psql") if (bindir / "psql").exists() else "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-c",
                "CREATE DATABASE mlrb_test",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlrb_test"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def inspect_python() -> str:
    """A Python that has ``inspect_ai`` (``MLRB_INSPECT_PYTHON``, else the checkout's
    ``.venv-inspect`` made by ``make inspect-venv``, else this one if it has it): inspect_ai caps
    fsspec below our pin, so it lives in a venv of its own."""
    import importlib.util

    given = os.environ.get("MLRB_INSPECT_PYTHON")
    if given:
        return given
    made = Path(__file__).resolve().parent.parent / ".venv-inspect" / "bin" / "python"
    if made.exists():
        return str(made)
    if importlib.util.find_spec("inspect_ai") is not None:
        return sys.executable
    missing("inspect_ai is not installed: run `make inspect-venv` (or set MLRB_INSPECT_PYTHON)")
    raise AssertionError


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Headless Chromium for page tests."""
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).is_file():
            return Path(candidate)
    missing("chromium not found (apt-get install -y chromium)")
    raise AssertionError
