"""GPU selection: parse ``0``, ``0,1``, ``all``, ``none``; check what this machine can see."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agent_harness.errors import ConfigError, GPUError

GPU_FORMS = "none, all, an id such as 0, or ids such as 0,1"

NO_GPUS_ENV = ("NVIDIA_VISIBLE_DEVICES", "void")
"""Set in a container that was given no GPUs. Where the engine's default runtime is NVIDIA's,
its hook hands GPUs to whatever ``NVIDIA_VISIBLE_DEVICES`` the container's environment holds,
the image's own ``ENV`` included; ``void`` asks for none. A device request sets the variable
to exactly the GPUs requested."""

SIMULATED_GPUS_ENV = "AGENT_HARNESS_SIMULATED_GPUS"
"""TEST ONLY. Ids such as ``0,1,2,3`` of GPUs that do not exist, for scheduler tests and
benchmarks on machines without a GPU. When set, :func:`visible_gpus` lists these ids, and
:func:`device_request` gives the agent ``CUDA_VISIBLE_DEVICES`` instead of asking the engine for
devices. Nothing else changes (GPU locks included); nothing measured on a GPU may set it."""


@dataclass(frozen=True)
class GpuSelection:
    """Which GPUs an agent gets: none, every visible one, or these device ids."""

    ids: tuple[str, ...] = ()
    all: bool = False

    @property
    def wanted(self) -> bool:
        """True when any GPU is requested."""
        return self.all or bool(self.ids)

    def describe(self) -> str:
        """The selection as it is written on the command line."""
        if self.all:
            return "all"
        return ",".join(self.ids) if self.ids else "none"

    def as_record(self) -> str | list[str]:
        """The selection for run.json: ``"all"`` or a list of ids (empty for none)."""
        return "all" if self.all else list(self.ids)


def parse_gpus(text: str) -> GpuSelection:
    """The selection meant by ``text``; anything else is a usage error (exit 2)."""
    value = text.strip().lower()
    if value in {"none", ""}:
        return GpuSelection()
    if value == "all":
        return GpuSelection(all=True)
    parts = [p.strip() for p in value.split(",")]
    # ASCII digits only (\d takes other scripts' digits), and short: an id is a small number.
    if len(value) > 256 or not all(re.fullmatch(r"[0-9]{1,6}", p) for p in parts):
        raise ConfigError(f"invalid GPU selection {text[:256]!r}", hint=f"use {GPU_FORMS}")
    ids = tuple(str(int(p)) for p in parts)
    if len(set(ids)) != len(ids):  # 0,00 and 1,01 name one GPU twice
        raise ConfigError(
            f"invalid GPU selection {text!r}: a GPU is named twice", hint=f"use {GPU_FORMS}"
        )
    return GpuSelection(ids=ids)


def default_gpus(count: int) -> GpuSelection:
    """The selection for a task that needs ``count`` GPUs: ids 0..count-1, or none."""
    return GpuSelection(ids=tuple(str(i) for i in range(count)))


def simulated_gpus() -> list[str] | None:
    """The simulated GPU ids (:data:`SIMULATED_GPUS_ENV`), or None outside a simulation."""
    value = os.environ.get(SIMULATED_GPUS_ENV, "").strip()
    if not value:
        return None
    return list(parse_gpus(value).ids)


def device_request(selection: GpuSelection) -> tuple[GpuSelection, dict[str, str]]:
    """The selection to ask the runtime for, and variables to add to the agent's environment.

    Outside a simulation: the selection itself, nothing added. In a simulation the ids exist
    only on paper: no device is requested, the agent sees ``CUDA_VISIBLE_DEVICES`` of its ids.
    """
    if simulated_gpus() is None or not selection.wanted:
        return selection, {}
    return GpuSelection(), {"CUDA_VISIBLE_DEVICES": ",".join(selection.ids)}


def visible_gpus() -> list[str]:
    """Ids of the NVIDIA GPUs this machine shows (``nvidia-smi -L``, else ``/dev/nvidiaN``)."""
    simulated = simulated_gpus()
    if simulated is not None:
        return simulated
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            out = None
        if out is not None and out.returncode == 0:
            found = re.findall(r"^GPU (\d+):", out.stdout, flags=re.MULTILINE)
            if found:
                return found
    nodes = [p.name[len("nvidia") :] for p in Path("/dev").glob("nvidia[0-9]*")]
    return sorted((n for n in nodes if n.isdigit()), key=int)


def check_gpus(selection: GpuSelection, visible: list[str] | None = None) -> None:
    """Raise :class:`GPUError` (exit 3) when the selection asks for GPUs that are not there."""
    if not selection.wanted:
        return
    seen = visible_gpus() if visible is None else visible
    if not seen:
        raise GPUError(
            f"GPUs requested ({selection.describe()}) but none is visible on this machine",
            hint="pass --gpus none for a CPU run, or check the NVIDIA driver (nvidia-smi -L)",
        )
    absent = [i for i in selection.ids if i not in seen]
    if absent:
        raise GPUError(
            f"GPU {', '.join(absent)} requested but this machine shows only {', '.join(seen)}",
            hint="choose ids that `nvidia-smi -L` lists",
        )
