"""What this machine's NVIDIA driver reports about its GPUs: their names, and their memory in use
while something runs. Shared by the harness (the run's GPUs and their memory while the agent
runs, in ``run.json``) and the evaluator (a code re-run's GPU memory).

Both read ``nvidia-smi`` (the driver's own tool; in a container it is there when the engine
gives the container a GPU). Memory is sampled: ``memory.used`` of the GPUs watched, read once
before the work starts, then by one ``nvidia-smi --loop-ms`` process every interval until it
ends. The peak is the largest growth of any one of them over its level at the start (a task's
rule is per GPU). It includes the CUDA context and, on a GPU shared with another process, that
process's growth too; a peak shorter than one interval can be missed. When a watched GPU's
memory falls below its level at the start (another process freed some while the work ran), the
work's use could hide in what was freed: nothing is claimed. When more GPUs grew than the work
was given, the growth cannot be told apart from another's (or the work used GPUs it was not
given): nothing is claimed. Without ``nvidia-smi``, or when it fails, nothing is claimed either,
and the peak says why.
"""

from __future__ import annotations

import contextlib
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
NOISE_MIB = 64
"""Growth of a GPU's used memory below which it does not count as used by anyone."""
FORMAT = "--format=csv,noheader,nounits"
STOP_WAIT_S = 5
"""How long stopping waits for ``nvidia-smi`` and for the thread reading it, each step."""


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


def _rows(text: str, fields: int) -> list[list[str]]:
    """CSV lines of ``fields`` values (the last may hold commas: a GPU's name)."""
    rows = [[part.strip() for part in line.split(",", fields - 1)] for line in text.splitlines()]
    return [row for row in rows if len(row) == fields and row[0]]


def _mib(text: str) -> int | None:
    """A reading in MiB, or None (``[N/A]``, ``[Not Supported]``)."""
    return int(text) if text.isascii() and text.isdigit() else None


def _query(fields: str) -> list[list[str]] | None:
    """One row of ``fields`` per GPU, or None when the driver does not answer."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return None
    try:
        done = subprocess.run(
            [tool, f"--query-gpu={fields}", FORMAT],
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=QUERY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return _rows(done.stdout, len(fields.split(","))) or None


def gpu_names(indices: list[str] | None = None) -> list[str]:
    """Names of these GPUs (``nvidia-smi`` indices; None: every GPU), in that order; empty when
    the driver does not answer or does not name every one of them."""
    rows = _query("index,name")
    if rows is None:
        return []
    names = {row[0]: row[1] for row in rows}
    wanted = list(names) if indices is None else indices
    if any(i not in names for i in wanted):
        return []
    return [names[i] for i in wanted]


def first_gpus(count: int) -> list[tuple[str, str]]:
    """``(index, uuid)`` of the first ``count`` GPUs the driver lists here (fewer when it lists
    fewer; empty when it does not answer): a UUID names one GPU on the whole machine, where an
    index inside a container may not."""
    rows = _query("index,uuid") if count > 0 else None
    return [(row[0], row[1]) for row in (rows or [])[:count]]


def _used_mib(indices: list[str] | None) -> dict[str, int | None] | None:
    """GPU index -> MiB in use (None: no reading, ``[N/A]``, or a watched GPU the driver did
    not list), for these GPUs (None: every GPU listed); None when the driver does not answer."""
    rows = _query("index,memory.used")
    if rows is None:
        return None
    used = {row[0]: _mib(row[1]) for row in rows}
    if indices is not None:
        used = {i: used.get(i) for i in indices}
    return used or None


class GpuMemorySampler:
    """Samples around a piece of work: ``with GpuMemorySampler(...) as s: ...; s.peak()``, or
    :meth:`start` and :meth:`stop`.

    ``indices``: the ``nvidia-smi`` indices of the GPUs to watch (None: every GPU); an empty
    list watches nothing (the work was given no GPU). ``given``: how many GPUs the work was
    given, when more are watched than that (None: as many as are watched). ``unmeasured``: why
    the GPUs the work got are not known to be the ones watched (nothing is sampled)."""

    def __init__(
        self,
        indices: list[str] | None,
        interval_s: float,
        given: int | None = None,
        unmeasured: str | None = None,
    ) -> None:
        self.indices = indices
        self.interval_s = interval_s
        self.given = given
        self.unmeasured = unmeasured
        self.tool = shutil.which("nvidia-smi") if indices != [] and not unmeasured else None
        self.before: dict[str, int] | None = None
        self.growth: dict[str, int] = {}
        self.shrink: dict[str, int] = {}
        """The largest fall of each GPU below its level at the start (MiB)."""
        self.samples = 0
        self.failure: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> GpuMemorySampler:
        """Read the level at the start, then sample in a thread until :meth:`stop`."""
        if self.tool is None:
            return self
        levels = _used_mib(self.indices)
        if levels is None:
            return self
        missing = sorted(index for index, mib in levels.items() if mib is None)
        if missing:  # a GPU that cannot be read could be the one the work uses
            self.failure = f"nvidia-smi gave no memory reading of GPU {', '.join(missing)}"
            return self
        self.before = {index: mib for index, mib in levels.items() if mib is not None}
        try:
            # A session of its own: a Ctrl-C meant for the harness does not end the sampling.
            self._proc = subprocess.Popen(
                [self.tool, "--query-gpu=index,memory.used", FORMAT,
                 f"--loop-ms={max(1, round(self.interval_s * 1000))}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                encoding="utf-8", errors="replace", start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            self.failure = f"nvidia-smi could not be started: {exc}"
            return self
        self._thread = threading.Thread(target=self._read, name="gpu-memory", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        assert self.before is not None
        first = min(self.before)  # one reading per line of this GPU
        try:
            for line in self._proc.stdout:
                for index, value in _rows(line, 2):
                    mib = _mib(value)
                    if index not in self.before or mib is None:
                        continue  # not watched, or no level at the start to grow from
                    grew = mib - self.before[index]
                    self.growth[index] = max(self.growth.get(index, 0), grew)
                    self.shrink[index] = max(self.shrink.get(index, 0), -grew)
                    self.samples += index == first
        except Exception as exc:  # any surprise is a reading not made, never a number
            self.failure = f"reading nvidia-smi failed: {type(exc).__name__}: {exc}"

    def stop(self) -> GpuMemoryPeak:
        """Stop sampling (safe to call twice); the peak. Sampling that ended before the work
        did, or a driver that does not let go, is a reading not made."""
        if self._stopped:
            return self.peak()
        self._stopped = True
        if self._proc is not None:
            if self._proc.poll() is not None and self.failure is None:
                self.failure = "nvidia-smi stopped before the work ended"
            with contextlib.suppress(OSError):
                self._proc.terminate()
            try:
                self._proc.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                try:
                    self._proc.wait(timeout=STOP_WAIT_S)
                except subprocess.TimeoutExpired:  # stuck in the driver: left, not waited for
                    self.failure = "nvidia-smi did not stop (the driver does not answer)"
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT_S)
            if self._thread.is_alive():
                self.failure = self.failure or "reading nvidia-smi did not end"
        return self.peak()

    def __enter__(self) -> GpuMemorySampler:
        return self.start()

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
        if self.unmeasured is not None:
            return GpuMemoryPeak(peak_gb=None, method=f"not measured: {self.unmeasured}")
        if self.failure is not None:
            return GpuMemoryPeak(peak_gb=None, method=f"not measured: {self.failure}")
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
        freed = sorted(i for i, mib in self.shrink.items() if mib > NOISE_MIB)
        if freed:
            return GpuMemoryPeak(
                peak_gb=None,
                samples=self.samples,
                method=f"not measured: the memory in use on GPU {', '.join(freed)} fell below "
                "its level at the start (another process freed memory while the work ran, so "
                "the work's own use cannot be told from the growth)",
            )
        grown = sorted(i for i, mib in self.growth.items() if mib > NOISE_MIB)
        if self.given is not None and len(grown) > self.given:
            return GpuMemoryPeak(
                peak_gb=None,
                samples=self.samples,
                method=f"not measured: the memory of {len(grown)} GPUs grew (nvidia-smi "
                f"{', '.join(grown)}) while the work was given {self.given}: another process's "
                "use, or GPUs the work was not given, cannot be told apart from its own",
            )
        return GpuMemoryPeak(
            peak_gb=round(max(self.growth.values(), default=0) * MIB / GB, 4),
            samples=self.samples,
            method=f"nvidia-smi memory.used every {self.interval_s:g} s: the largest growth of "
            f"one GPU over its level at the start ({self.samples} readings)",
        )
