"""The software and hardware that produced an evaluation's numbers."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from agent_eval.results import Environment


def package_version(*names: str) -> str | None:
    """Installed version of the first of these distributions that is installed."""
    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def device_name(device: str) -> str | None:
    """The GPU's name, or the CPU's model name."""
    if device.startswith("cuda"):
        import torch

        return str(torch.cuda.get_device_name(device))
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def collect(
    *,
    device: str,
    dtype: str | None,
    device_requested: str | None = None,
    batch_size: int | None,
    num_fewshot: int | None,
    sample_limit: int | None,
) -> Environment:
    """An :class:`Environment` for this process."""
    return Environment(
        evaluator_version=package_version("mlrbench-eval", "agent_eval") or "unknown",
        lm_eval_version=package_version("lm_eval", "lm-eval"),
        torch_version=package_version("torch"),
        transformers_version=package_version("transformers"),
        python_version=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()} ({sys.platform})",
        device=device,
        device_requested=device_requested,
        device_name=device_name(device),
        dtype=dtype,
        batch_size=batch_size,
        num_fewshot=num_fewshot,
        sample_limit=sample_limit,
    )
