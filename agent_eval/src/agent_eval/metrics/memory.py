"""Peak memory while the model runs inference.

CPU: the process's peak resident set size (``VmHWM`` in ``/proc/self/status``) while one
full-context forward pass and a short greedy generation run; the peak is reset first through
``/proc/self/clear_refs`` where the kernel allows it, and otherwise sampled by a thread reading
``VmRSS``. It includes the weights and the runtime, i.e. what the machine must provide to run the
model. GPU: ``torch.cuda.max_memory_allocated`` over the same work (weights included), on the
device that holds the weights. A model that runs on a GPU is always measured there: its host
memory says nothing about what running it needs, so a limit stated for the CPU (the edge tasks'
device DRAM) is judged on the GPU peak, and the value says which device it was.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_eval.metrics.likelihood import model_context
from agent_eval.metrics.registry import MetricContext, metric, param, value
from agent_eval.results import MetricValue
from agent_tasks.spec import MetricSpec

GB = 1e9
STATUS = Path("/proc/self/status")


def _status_kb(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class _Sampler(threading.Thread):
    """Reads VmRSS every few milliseconds and keeps the largest value."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb = _status_kb("VmRSS") or 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_kb = max(self.peak_kb, _status_kb("VmRSS") or 0)
            time.sleep(0.005)


@dataclass(frozen=True)
class MemoryPeak:
    """A measured peak."""

    gb: float
    device: str
    """``cpu`` or ``gpu``."""
    method: str
    where: str = "cpu"
    """The torch device measured (``cpu``, ``cuda:1``) and, for a GPU, its name."""


def inference_workload(loaded: Any, tokens: int) -> None:
    """One forward pass over ``tokens`` tokens and a 16-token greedy generation."""
    import torch

    vocab = int(loaded.model.config.vocab_size)
    ids = torch.tensor([[(13 * i + 5) % vocab for i in range(tokens)]], device=loaded.device)
    with torch.inference_mode():
        if loaded.is_seq2seq:
            loaded.model(input_ids=ids, decoder_input_ids=ids[:, : min(tokens, 64)])
        else:
            loaded.model(ids)
        loaded.model.generate(
            ids[:, : min(tokens, 32)],
            attention_mask=torch.ones_like(ids[:, : min(tokens, 32)]),
            do_sample=False,
            max_new_tokens=16,
            min_new_tokens=16,
            pad_token_id=getattr(loaded.model.config, "eos_token_id", None) or 0,
        )


def weights_device(model: Any) -> Any:
    """The torch device holding the model's weights (the first parameter's)."""
    import torch

    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def measure_peak(loaded: Any, device: str = "any", tokens: int | None = None) -> MemoryPeak:
    """Peak memory of inference on the model's device (``device`` cpu/gpu/any)."""
    import torch

    del device  # where the weights are decides; the requested device only labels the limit
    holder = weights_device(loaded.model)
    length = tokens or min(model_context(loaded.model), 1024)
    if holder.type == "cuda":
        torch.cuda.synchronize(holder)
        torch.cuda.reset_peak_memory_stats(holder)
        inference_workload(loaded, length)
        torch.cuda.synchronize(holder)
        peak = torch.cuda.max_memory_allocated(holder) / GB
        where = f"{holder} ({torch.cuda.get_device_name(holder)})"
        return MemoryPeak(peak, "gpu", f"torch.cuda.max_memory_allocated({holder})", where)
    sampler = None
    if not _reset_hwm():
        sampler = _Sampler()
        sampler.start()
    inference_workload(loaded, length)
    if sampler is not None:
        sampler.stop.set()
        sampler.join()
        return MemoryPeak(sampler.peak_kb * 1024 / GB, "cpu", "sampled VmRSS")
    return MemoryPeak((_status_kb("VmHWM") or 0) * 1024 / GB, "cpu", "VmHWM after reset")


def cached_peak(ctx: MetricContext, device: str) -> MemoryPeak:
    """The peak, measured once per evaluation and device."""
    key = f"peak_memory:{device}"
    if key not in ctx.cache:
        ctx.cache[key] = measure_peak(ctx.model(), device)
    peak: MemoryPeak = ctx.cache[key]
    return peak


@metric("peak_memory")
def peak_memory(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Peak memory (GB) while running a full-context forward pass and a short generation."""
    peak = cached_peak(ctx, str(param(mspec, "device", "any")))
    return [
        value(
            mspec,
            "peak_memory",
            peak.gb,
            unit="GB",
            direction="lower",
            device=peak.device,
            method=peak.method,
            measured_on=peak.where,
        ),
    ]
