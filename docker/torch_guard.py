"""Keep a base image's torch: pin it for pip, then fail the build if the install changed it anyway.

A CUDA base image ships a torch built for its CUDA runtime. The shared ``constraints.txt`` pins
the CPU build CI uses and versions (``sympy``) that base's torch may not accept; followed as they
are, pip would replace the base torch by another one without a word. So, inside the image build:

    python3 torch_guard.py pin SHARED_CONSTRAINTS IMAGE_CONSTRAINTS RECORD   # the base's python
    PYTHON  torch_guard.py check RECORD                                     # after pip install

``pin`` records the base's ``torch.__version__`` (and CUDA version) in RECORD and writes
IMAGE_CONSTRAINTS: torch and every installed package torch depends on (its installed
requirement closure: sympy, networkx, nvidia-*, triton ...) pinned to the base's versions, then
the shared pins of every other package. A package that cannot live with the base's torch makes
pip fail loudly instead. ``check`` imports torch with the image's python and exits 1 when its
version (or CUDA version) differs from the recorded one. A base without torch (the local Debian
base) records none; ``check`` then only requires that torch imports.

Standard library only: it runs in the base image before anything is installed.
"""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path

EXIT_REPLACED = 1
"""Exit status of ``check`` when torch changed or does not import; the build stops."""

EXIT_USAGE = 2
"""Exit status for a wrong command line."""


def canonical(name: str) -> str:
    """PEP 503 normalised project name (``Jinja2`` and ``jinja2`` are one package)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    """The project name at the start of a ``Requires-Dist`` line (markers and extras ignored)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return canonical(match.group(1)) if match else ""


def installed_versions() -> dict[str, str]:
    """Every distribution this python sees, by canonical name (the first one on sys.path wins)."""
    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions.setdefault(canonical(name), dist.version)
    return versions


def torch_closure(versions: dict[str, str]) -> dict[str, str]:
    """torch and the installed packages it requires, transitively, with their versions.

    Markers are not evaluated: a requirement that is installed is pinned whatever its marker,
    which pins at most a few packages too many and never one too few.
    """
    pins: dict[str, str] = {}
    todo = ["torch"]
    while todo:
        name = todo.pop()
        if name in pins or name not in versions:
            continue
        pins[name] = versions[name]
        requires = metadata.distribution(name).requires or []
        todo.extend(_requirement_name(r) for r in requires)
    return pins


def probe_torch() -> dict[str, str | None]:
    """``torch.__version__`` and ``torch.version.cuda`` as this python imports them (or None)."""
    try:
        import torch  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return {"torch": None, "cuda": None}
    return {"torch": str(torch.__version__), "cuda": torch.version.cuda}


def image_constraints(shared: str, pins: dict[str, str]) -> str:
    """The shared constraints with the base's pins replacing theirs for the pinned packages."""
    lines = [
        "# Written by docker/torch_guard.py: the base image's torch and its requirements first,",
        "# then the shared constraints for every other package.",
        *(f"{name}=={version}" for name, version in sorted(pins.items())),
    ]
    for line in shared.splitlines():
        name = _requirement_name(line.split("#", 1)[0])
        if name and name not in pins:
            lines.append(line.strip())
    return "\n".join(lines) + "\n"


def pin(shared_path: Path, out_path: Path, record_path: Path) -> int:
    """Record the base's torch and write the image's constraints (see the module docstring)."""
    found = probe_torch()
    pins = torch_closure(installed_versions()) if found["torch"] else {}
    out_path.write_text(image_constraints(shared_path.read_text(encoding="utf-8"), pins))
    record_path.write_text(json.dumps({**found, "pins": pins}, indent=2) + "\n")
    if found["torch"]:
        print(f"torch_guard: base torch {found['torch']} (CUDA {found['cuda']}); kept, with")
        print(f"torch_guard: {', '.join(f'{n}=={v}' for n, v in sorted(pins.items()))}")
    else:
        print("torch_guard: the base has no torch; the shared constraints choose it")
    return 0


def check(record_path: Path) -> int:
    """Exit 1 when the torch this python imports is not the base's (or does not import)."""
    record = json.loads(record_path.read_text(encoding="utf-8"))
    now = probe_torch()
    if now["torch"] is None:
        print("torch_guard: torch does not import after the install", file=sys.stderr)
        return EXIT_REPLACED
    if record["torch"] is None:
        print(f"torch_guard: torch {now['torch']} installed (the base had none)")
        return 0
    if (now["torch"], now["cuda"]) != (record["torch"], record["cuda"]):
        print(
            f"torch_guard: the base image's torch {record['torch']} (CUDA {record['cuda']}) "
            f"was replaced by torch {now['torch']} (CUDA {now['cuda']}) during the install.\n"
            "torch_guard: a package or a constraint needs another torch than the base's: "
            "choose a base image whose torch satisfies the constraints, or relax the pin "
            "in constraints.txt",
            file=sys.stderr,
        )
        return EXIT_REPLACED
    versions = installed_versions()
    moved = {n: (v, versions.get(n)) for n, v in record["pins"].items() if versions.get(n) != v}
    if moved:
        print(f"torch_guard: the base's torch requirements changed: {moved}", file=sys.stderr)
        return EXIT_REPLACED
    print(f"torch_guard: base torch {now['torch']} (CUDA {now['cuda']}) kept")
    return 0


def main(argv: list[str]) -> int:
    """``pin SHARED OUT RECORD`` or ``check RECORD``."""
    if len(argv) == 4 and argv[0] == "pin":
        return pin(Path(argv[1]), Path(argv[2]), Path(argv[3]))
    if len(argv) == 2 and argv[0] == "check":
        return check(Path(argv[1]))
    print(__doc__, file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
