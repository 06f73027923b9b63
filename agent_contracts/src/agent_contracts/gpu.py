"""What this machine's NVIDIA driver reports about its GPUs: their names, and their memory in use
while something runs. Shared by the harness (the run's GPUs and their memory while the agent
runs, in ``run.json``) and the evaluator (a code re-run's GPU memory).

Both read ``nvidia-smi`` (the driver's own tool; in a container it is there when the engine
gives the container a GPU). Memory is sampled: ``memory.used`` of the GPUs watched, once before
the work starts and then every interval until it ends. The peak is the largest growth of any
one of them over its level at the start (a task's rule is per GPU). It includes the CUDA
context and, on a GPU shared with another process, that process's growth too (never less than
the work used); a peak shorter than one interval can be missed. Without ``nvidia-smi`` nothing
is sampled and the peak says why.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from types import TracebackType

from pydantic import BaseModel, ConfigDict

MIB = 1024 * 1024
GB = 1e9
"""The unit of the tasks' memory rules (as every memory figure of the results)."""
QUERY_TIMEOUT_S = 10
"""How long one ``nvidia-smi`` call may take before the driver counts as not answering."""


class GpuMemoryPeak(BaseModel):
    """GPU memory of one piece of work (an agent's run, a code re-run), as sampled."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    peak_gb: float | None
    """Largest growth of one watched GPU's used memory over its level at the start, in GB
    (None: not measured; ``method`` says why)."""
    samples: int = 0
    """Readings taken while the work ran."""
    method: str
    """How it was measured, or why it was not."""


def _query(fields: str) -> list[list[str]] | None:
    """One row of ``fields`` per GPU, or None when the driver does not answer."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return None
    try:
        done = subprocess.run(
            [tool, f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=QUERY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    rows = [[part.strip() for part in line.split(",")] for line in done.stdout.splitlines()]
    return [row for row in rows if len(row) == len(fields.split(",")) and row[0]] or None


def gpu_names(indices: list[str] | None = None) -> list[str]:
    """Names of these GPUs (``nvidia-smi`` indices; None: every GPU), in that order; empty when
    the driver does not answer or names none of them."""
    rows = _query("index,name")
    if rows is None:
        return []
    names = {row[0]: row[1] for row in rows}
    wanted = list(names) if indices is None else indices
    return [names[i] for i in wanted if i in names]


def _used_mib(indices: list[str] | None) -> dict[str, int] | None:
    rows = _query("index,memory.used")
    if rows is None:
        return None
    used = {row[0]: int(row[1]) for row in rows if row[1].isdigit()}
    if indices is not None:
        used = {i: mib for i, mib in used.items() if i in indices}
    return used or None


class GpuMemorySampler:
    """Samples around a piece of work: ``with GpuMemorySampler(...) as s: ...; s.peak()``, or
    :meth:`start` and :meth:`stop`.

    ``indices``: the ``nvidia-smi`` indices of the GPUs to watch (None: every GPU); an empty
    list watches nothing (the work was given no GPU)."""

    def __init__(self, indices: list[str] | None, interval_s: float) -> None:
        self.indices = indices
        self.interval_s = interval_s
        self.tool = shutil.which("nvidia-smi") if indices != [] else None
        self.before: dict[str, int] | None = None
        self.growth_mib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> GpuMemorySampler:
        """Read the level at the start, then sample in a thread until :meth:`stop`."""
        if self.tool is not None:
            self.before = _used_mib(self.indices)
        if self.before is not None:
            self._thread = threading.Thread(target=self._sample, name="gpu-memory", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> GpuMemoryPeak:
        """Stop sampling (safe to call twice); the peak."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.peak()

    def __enter__(self) -> GpuMemorySampler:
        return self.start()

    def _sample(self) -> None:
        assert self.before is not None
        while not self._stop.wait(self.interval_s):
            now = _used_mib(self.indices)
            if now is None:
                continue
            self.samples += 1
            for index, mib in now.items():
                self.growth_mib = max(self.growth_mib, mib - self.before.get(index, 0))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def peak(self) -> GpuMemoryPeak:
        """The peak over the work, or why there is none."""
        if self.indices == []:
            return GpuMemoryPeak(peak_gb=None, method="not measured: no GPU was given")
        if self.tool is None:
            return GpuMemoryPeak(
                peak_gb=None, method="not measured: nvidia-smi is not on this machine's PATH"
            )
        if self.before is None:
            return GpuMemoryPeak(
                peak_gb=None, method="not measured: nvidia-smi did not report the GPUs' memory"
            )
        if self.samples == 0:
            return GpuMemoryPeak(
                peak_gb=None,
                method=f"not measured: the work ended before the first reading "
                f"({self.interval_s:g} s)",
            )
        return GpuMemoryPeak(
            peak_gb=round(self.growth_mib * MIB / GB, 4),
            samples=self.samples,
            method=f"nvidia-smi memory.used every {self.interval_s:g} s: the largest growth of "
            f"one GPU over its level at the start ({self.samples} readings)",
        )
