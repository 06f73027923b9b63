"""Build the evaluator and reference-agent images without a container registry (docs/images.md).

    python scripts/build_images.py                      # both images, tag `latest`
    python scripts/build_images.py eval --data-dir ~/.cache/mlrb-eval/data
    python scripts/build_images.py eval --base-image pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime

Steps, each cached under ``--cache-dir`` (default ``$MLRB_IMAGE_CACHE``, else
``~/.cache/mlrb-images``) so that a second build redoes only the last two:

1. **Base** (``mlrb/base-python:<key>``, also tagged ``mlrb/base-python:local``): a minimal
   Debian bookworm with python3 and its venv module, made by ``debootstrap`` from the Debian
   mirror apt already uses, trimmed (no apt lists, .debs, docs, locales), kept as
   ``base-<key>.tar`` and ``docker import``-ed. Skipped when ``--base-image`` names another base.
2. **Wheelhouse** (``wheels-<key>/``, key: constraints.txt, the packages' pyproject.toml files
   and the Python version): ``pip wheel -c constraints.txt`` of the three packages' dependencies,
   from the package index pip is configured with (torch 2.13.0 is the CPU build).
3. **Project wheels**, built from the working tree on every run.
4. ``docker build --network none`` of each image from a context folder holding the Dockerfile,
   the wheels, constraints.txt, docker/torch_guard.py and (evaluator) the data folder.

Needs root, ``debootstrap`` (step 1 only) and a Docker engine. Exit 3 when one is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = tuple(sorted(p.parent.name for p in ROOT.glob("agent_*/pyproject.toml")))
"""The project's packages (folders ``agent_*`` with a pyproject.toml)."""
SUITE = "bookworm"
"""Debian release of the base: its python3 is 3.11, the version the wheelhouse is built for."""
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "bubblewrap")
"""Debian packages of the base: bubblewrap is the evaluator's code sandbox
(docs/code-deliverables.md)."""
TRIMMED = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)
"""Folders of the debootstrapped tree the images never need (the base shrinks by ~140 MB)."""
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""PATH of the base image (an imported tarball has no environment; Dockerfiles extend it)."""
BASE_RECIPE = "v2"
"""Bump when the base recipe changes in a way its key does not show."""
IMAGES = {
    "eval": ("docker/eval/Dockerfile", "mlrb/agent-eval"),
    "reference-agent": ("docker/reference-agent/Dockerfile", "mlrb/reference-agent"),
}
"""Image name on the command line -> (Dockerfile, repository)."""
EXIT_ENV = 3
"""Exit status when the machine lacks what a step needs (DESIGN.md: environment not ready)."""


class BuildError(Exception):
    """A step could not run; the message says what to install or fix."""


def log(message: str) -> None:
    """One progress line on stderr."""
    print(f"[build_images] {message}", file=sys.stderr, flush=True)


def run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, failing with its output's tail when it fails."""
    proc = subprocess.run(list(argv), text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        # pip's and the guard's verdicts first: a docker build buries them in its step log
        verdicts = [
            line for line in output.splitlines() if "ERROR" in line or "torch_guard" in line
        ]
        tail = "\n".join([*verdicts, "...", output[-3000:]])
        raise BuildError(f"{' '.join(argv[:4])} ... exited {proc.returncode}:\n{tail}")
    return proc


def digest(*parts: bytes) -> str:
    """A short key over the given bytes."""
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:12]


def base_key() -> str:
    """Key of the base image: the release, the packages and the recipe."""
    return digest(SUITE.encode(), ",".join(BASE_PACKAGES).encode(), BASE_RECIPE.encode())


def wheelhouse_key() -> str:
    """Key of the wheelhouse: the pins, the packages' dependencies and the Python version."""
    files = [ROOT / "constraints.txt", *(ROOT / p / "pyproject.toml" for p in PACKAGES)]
    python = f"{sys.version_info.major}.{sys.version_info.minor}".encode()
    return digest(python, *(f.read_bytes() for f in files))


def debian_mirror() -> str:
    """The Debian archive apt is configured with (deb822 ``URIs:`` or a one-line ``deb`` entry)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if uri.rstrip("/").endswith("/debian"):
                        return uri
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                words = line.split()
                if (
                    len(words) >= 3
                    and words[0] == "deb"
                    and words[1].rstrip("/").endswith("/debian")
                ):
                    return words[1]
    raise BuildError("no Debian mirror in /etc/apt/sources.list(.d); pass --mirror URL")


def image_exists(name: str) -> bool:
    """True when the engine has an image of this name."""
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def image_size_mb(name: str) -> float:
    """The image's size as `docker images` shows it, in MB."""
    size = run(["docker", "image", "inspect", "-f", "{{.Size}}", name]).stdout.strip()
    return round(int(size) / 1e6, 1)


def make_base(cache: Path, mirror: str | None, timings: dict[str, float]) -> str:
    """The local base image's name; imported from the cached tarball, made if there is none."""
    key = base_key()
    name = f"mlrb/base-python:{key}"
    tarball = cache / f"base-{key}.tar"
    started = time.monotonic()
    if image_exists(name):
        log(f"base {name}: already in the engine")
    else:
        if not tarball.is_file():
            debootstrap_base(tarball, mirror or debian_mirror())
            timings["debootstrap_s"] = round(time.monotonic() - started, 1)
        log(f"base: docker import {tarball.name}")
        imported = time.monotonic()
        run(
            [
                *("docker", "import", "-c", f"ENV PATH={BASE_PATH}", "-c", "ENV LANG=C.UTF-8"),
                *("-c", 'CMD ["python3"]', str(tarball), name),
            ]
        )
        timings["import_s"] = round(time.monotonic() - imported, 1)
    run(["docker", "tag", name, "mlrb/base-python:local"])
    timings["base_s"] = round(time.monotonic() - started, 1)
    return name


def debootstrap_base(tarball: Path, mirror: str) -> None:
    """debootstrap a minimal Debian with python3 into a temporary folder, trim it, tar it."""
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is not installed: apt-get install -y debootstrap")
    if os.geteuid() != 0:
        raise BuildError("debootstrap needs root (it makes device nodes and chroots)")
    work = Path(tempfile.mkdtemp(prefix="base-", dir=tarball.parent))
    try:
        rootfs = work / "rootfs"
        log(f"base: debootstrap {SUITE} from {mirror} (about a minute)")
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                SUITE,
                str(rootfs),
                mirror,
            ]
        )
        for folder in TRIMMED:
            shutil.rmtree(rootfs / folder, ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        partial = work / "base.tar"
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."])
        partial.replace(tarball)  # only a complete tarball carries the cached name
    finally:
        shutil.rmtree(work, ignore_errors=True)


def make_wheelhouse(cache: Path, timings: dict[str, float]) -> Path:
    """The folder of third-party wheels for the pinned dependencies; built when absent."""
    folder = cache / f"wheels-{wheelhouse_key()}"
    if folder.is_dir():
        log(f"wheelhouse {folder.name}: cached")
        return folder
    started = time.monotonic()
    partial = Path(tempfile.mkdtemp(prefix="wheels-", dir=cache))
    try:
        log("wheelhouse: pip wheel -c constraints.txt (a few minutes the first time)")
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "-c",
                str(ROOT / "constraints.txt"),
                "-w",
                str(partial),
            ]
            + [str(ROOT / p) for p in PACKAGES]
        )
        for own in partial.glob("mlrbench_*.whl"):
            own.unlink()  # the project's wheels are built from the tree on every run
        partial.replace(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    timings["wheelhouse_s"] = round(time.monotonic() - started, 1)
    return folder


def project_wheels(target: Path) -> None:
    """The three packages' wheels, built from clean copies (no stale build/ folder in them)."""
    with tempfile.TemporaryDirectory(prefix="mlrb-src-") as tmp:
        copies = []
        for package in PACKAGES:
            copy = Path(tmp) / package
            shutil.copytree(
                ROOT / package,
                copy,
                ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
            )
            copies.append(str(copy))
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(target),
                *copies,
            ]
        )


def dependencies(package: str) -> list[str]:
    """Third-party requirements of a package and of the project's packages it requires."""
    projects = {}
    for folder in PACKAGES:
        text = (ROOT / folder / "pyproject.toml").read_text(encoding="utf-8")
        project = tomllib.loads(text)["project"]
        projects[project["name"]] = project.get("dependencies", [])
    by_folder = {folder: _project_name(folder) for folder in PACKAGES}
    todo, seen, found = [by_folder[package]], set(), []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for requirement in projects[name]:
            own = next((p for p in projects if requirement.startswith(p)), None)
            if own is not None:
                todo.append(own)
            elif requirement not in found:
                found.append(requirement)
    return found


def _project_name(folder: str) -> str:
    text = (ROOT / folder / "pyproject.toml").read_text(encoding="utf-8")
    return str(tomllib.loads(text)["project"]["name"])


def link_tree(source: Path, target: Path) -> None:
    """Hard-link a folder's files into ``target`` (copy across file systems)."""
    shutil.copytree(source, target, copy_function=_link_or_copy)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def build_image(
    which: str,
    *,
    base: str,
    wheelhouse: Path,
    own_wheels: Path,
    tag: str,
    data_dir: Path | None,
    cache: Path,
    build_id: str,
    no_cache: bool = False,
) -> str:
    """Assemble the image's build context, ``docker build`` it offline; return the image name."""
    dockerfile, repository = IMAGES[which]
    name = f"{repository}:{tag}"
    ctx = Path(tempfile.mkdtemp(prefix=f"ctx-{which}-", dir=cache))
    try:
        shutil.copy2(ROOT / dockerfile, ctx / "Dockerfile")
        shutil.copy2(ROOT / "constraints.txt", ctx / "constraints.txt")
        shutil.copy2(ROOT / "docker" / "torch_guard.py", ctx / "torch_guard.py")
        link_tree(wheelhouse, ctx / "wheels")
        if which == "eval":
            link_tree(own_wheels, ctx / "project")
            wanted = dependencies("agent_eval")
            if data_dir is not None:
                link_tree(data_dir, ctx / "data")
            else:
                (ctx / "data").mkdir()
                (ctx / "data" / "README").write_text(
                    "No evaluation data baked in: build with --data-dir (docs/images.md).\n"
                )
        else:
            wanted = ["torch", "transformers", "tokenizers", "safetensors"]
            shutil.copy2(ROOT / "agents" / "reference" / "agent.py", ctx / "agent.py")
        (ctx / "requirements.txt").write_text("\n".join(wanted) + "\n", encoding="utf-8")
        log(f"docker build {name} (base {base})")
        run(
            [
                "docker",
                "build",
                "--network",
                "none",
                "--force-rm",  # no container of a failed step left behind
                *(["--no-cache"] if no_cache else []),
                "--build-arg",
                f"BASE_IMAGE={base}",
                "--build-arg",
                f"BUILD_ID={build_id}",
                "-t",
                name,
                str(ctx),
            ],
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return name


def prune_stages(build_id: str) -> None:
    """Remove the untagged install-stage images this build left (label ``mlrb.build``)."""
    found = subprocess.run(
        ["docker", "images", "-q", "--filter", f"label=mlrb.build={build_id}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    for image in dict.fromkeys(found):
        subprocess.run(["docker", "rmi", image], capture_output=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the images named on the command line; print a JSON summary of times and sizes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("images", nargs="*", help=f"of {', '.join(IMAGES)} (default: all)")
    parser.add_argument("--tag", default="latest", help="image tag (default: latest)")
    parser.add_argument("--base-image", help="build on this image instead of the local base")
    parser.add_argument("--data-dir", type=Path, help="evaluation data to bake into the evaluator")
    parser.add_argument("--mirror", help="Debian mirror (default: the one apt uses)")
    parser.add_argument(
        "--no-cache", action="store_true", help="build the images without the engine's layer cache"
    )
    parser.add_argument(
        "--base-only", action="store_true", help="make the base image (mlrb/base-python) only"
    )
    parser.add_argument(
        "--prune-stages",
        action="store_true",
        help="remove this build's install-stage images (its layer cache) afterwards",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("MLRB_IMAGE_CACHE", Path.home() / ".cache/mlrb-images")),
    )
    args = parser.parse_args(argv)
    wanted = args.images or list(IMAGES)
    unknown = [w for w in wanted if w not in IMAGES]
    if unknown:
        parser.error(f"unknown image {unknown[0]!r}; choose from {', '.join(IMAGES)}")
    timings: dict[str, float] = {}
    started = time.monotonic()
    build_id = f"{os.getpid()}-{time.time_ns()}"
    try:
        if (
            shutil.which("docker") is None
            or subprocess.run(["docker", "version"], capture_output=True).returncode
        ):
            raise BuildError("no Docker engine answers: bash scripts/services.sh start")
        if sys.version_info[:2] != (3, 11):
            raise BuildError(
                f"run this with Python 3.11 (the base's), not {sys.version.split()[0]}"
            )
        if args.data_dir is not None and not args.data_dir.is_dir():
            raise BuildError(f"--data-dir {args.data_dir} is not a folder")
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        base = args.base_image or make_base(args.cache_dir, args.mirror, timings)
        if args.base_only:
            print(json.dumps({"base": base, "steps_s": timings}, indent=2))
            return 0
        wheelhouse = make_wheelhouse(args.cache_dir, timings)
        built: dict[str, dict[str, float | str]] = {}
        with tempfile.TemporaryDirectory(prefix="own-", dir=args.cache_dir) as own:
            project_wheels(Path(own))
            for which in wanted:
                began = time.monotonic()
                name = build_image(
                    which,
                    base=base,
                    wheelhouse=wheelhouse,
                    own_wheels=Path(own),
                    tag=args.tag,
                    data_dir=args.data_dir,
                    cache=args.cache_dir,
                    build_id=build_id,
                    no_cache=args.no_cache,
                )
                built[which] = {
                    "image": name,
                    "build_s": round(time.monotonic() - began, 1),
                    "size_mb": image_size_mb(name),
                }
    except BuildError as exc:
        log(f"error: {exc}")
        return EXIT_ENV
    finally:
        if args.prune_stages:
            prune_stages(build_id)
    summary = {
        "build_id": build_id,
        "base": base,
        "base_size_mb": image_size_mb(base),
        "wheelhouse": wheelhouse.name,
        "steps_s": timings,
        "images": built,
        "total_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
