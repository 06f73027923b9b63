"""What the driver reports about GPUs: names and memory sampled around a piece of work.

The driver cannot exist on these machines: a scripted ``nvidia-smi`` (``support.gpu_driver``)
stands in for it; the sampler, its arithmetic and its reasons are the real ones."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.gpu_driver import path_with, scripted_nvidia_smi

from agent_contracts.gpu import GB, MIB, GpuMemorySampler, gpu_names


def test_the_peak_is_the_largest_growth_of_one_watched_gpu_over_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = [
        {"0": 1000, "1": 500, "2": 0},  # at the start
        {"0": 3000, "1": 500, "2": 70000},  # GPU 2 is not watched: another run's
        {"0": 7144, "1": 900, "2": 70000},
        {"0": 1000, "1": 500, "2": 0},
    ]
    tool = scripted_nvidia_smi(
        tmp_path, {"0": "NVIDIA A100-SXM4-80GB", "1": "NVIDIA A100-SXM4-80GB"}, readings
    )
    monkeypatch.setenv("PATH", path_with(tool))
    assert gpu_names(["1", "0", "7"]) == ["NVIDIA A100-SXM4-80GB"] * 2  # 7: not there
    with GpuMemorySampler(["0", "1"], 0.02) as sampler:
        time.sleep(0.5)
    peak = sampler.peak()
    assert peak.peak_gb == round(6144 * MIB / GB, 4)  # 6 GiB on GPU 0 (6.4425 GB)
    assert peak.samples >= 3 and "every 0.02 s" in peak.method


def test_without_a_gpu_or_a_driver_the_peak_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nothing = GpuMemorySampler([], 0.02)
    with nothing:
        pass
    assert nothing.peak().peak_gb is None and "no GPU was given" in nothing.peak().method

    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    with GpuMemorySampler(["0"], 0.02) as absent:
        time.sleep(0.1)
    assert absent.peak().peak_gb is None and "not on this machine's PATH" in absent.peak().method
    assert gpu_names(["0"]) == []

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "nvidia-smi").write_text("#!/bin/sh\necho 'driver mismatch' >&2\nexit 9\n")
    (broken / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", str(broken))
    with GpuMemorySampler(None, 0.02) as failing:
        time.sleep(0.1)
    assert failing.peak().peak_gb is None
    assert "did not report the GPUs' memory" in failing.peak().method
