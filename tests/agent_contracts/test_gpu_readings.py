"""What the driver reports about GPUs: names and memory sampled around a piece of work.

The driver cannot exist on these machines: a scripted ``nvidia-smi`` (``support.gpu_driver``)
stands in for it; the sampler, its arithmetic and its reasons are the real ones."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.gpu_driver import path_with, scripted_nvidia_smi

from agent_contracts.gpu import GB, MIB, GpuMemorySampler, first_gpus, gpu_names


def test_the_peak_is_the_largest_growth_of_one_watched_gpu_over_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = [
        {"0": 1000, "1": 500, "2": 0},  # at the start
        {"0": 3000, "1": 500, "2": 70000},  # GPU 2 is not watched: another run's
        {"0": 7144, "1": 900, "2": 70000},
        {"0": 1000, "1": 500, "2": 0},
    ]
    names = {"0": "NVIDIA A100-SXM4-80GB", "1": "NVIDIA A100, PCIe", "2": "NVIDIA H100"}
    tool = scripted_nvidia_smi(tmp_path, names, readings)
    monkeypatch.setenv("PATH", path_with(tool))
    assert gpu_names(["1", "0"]) == ["NVIDIA A100, PCIe", "NVIDIA A100-SXM4-80GB"]
    assert gpu_names(["0", "7"]) == []  # a GPU the driver does not name: none is known
    assert [index for index, _ in first_gpus(2)] == ["0", "1"]
    with GpuMemorySampler(["0", "1"], 0.05) as sampler:
        time.sleep(0.5)
    peak = sampler.peak()
    assert peak.peak_gb == round(6144 * MIB / GB, 4)  # 6 GiB on GPU 0 (6.4425 GB)
    assert peak.samples >= 3 and "every 0.05 s" in peak.method


def test_growth_on_more_gpus_than_the_work_was_given_is_not_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Code given one GPU that spreads 24 GB over two (or a neighbour's use of another GPU)
    cannot pass a 16 GB rule: nothing is measured, and the reason says why."""
    readings = [{"0": 0, "1": 0}, {"0": 12288, "1": 12288}]
    tool = scripted_nvidia_smi(tmp_path, {"0": "A", "1": "B"}, readings)
    monkeypatch.setenv("PATH", path_with(tool))
    with GpuMemorySampler(None, 0.05, given=1) as sampler:
        time.sleep(0.3)
    peak = sampler.peak()
    assert peak.peak_gb is None
    assert "the memory of 2 GPUs grew" in peak.method and "was given 1" in peak.method


def test_memory_freed_below_the_start_while_the_work_ran_claims_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 GB held by another process at the start and freed once the work began: the work's
    own 28 GB then never shows as growth. Nothing is claimed, so a 6 GB rule is not passed."""
    readings = [{"0": 40960}, {"0": 1000}, {"0": 29672}, {"0": 29672}]
    tool = scripted_nvidia_smi(tmp_path, {"0": "NVIDIA A100-SXM4-40GB"}, readings)
    monkeypatch.setenv("PATH", path_with(tool))
    with GpuMemorySampler(["0"], 0.05) as sampler:
        time.sleep(0.4)
    peak = sampler.peak()
    assert peak.peak_gb is None, peak
    assert "fell below its level at the start" in peak.method


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
    assert gpu_names(["0"]) == [] and first_gpus(1) == []

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "nvidia-smi").write_text("#!/bin/sh\necho 'driver mismatch' >&2\nexit 9\n")
    (broken / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", str(broken))
    with GpuMemorySampler(None, 0.02) as failing:
        time.sleep(0.1)
    assert failing.peak().peak_gb is None
    assert "did not report the GPUs' memory" in failing.peak().method


def test_a_gpu_without_a_reading_at_the_start_or_a_sampler_that_dies_claims_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU that reads [N/A] at the start could be the one the work uses: nothing is claimed
    (never a growth counted from zero, never a peak of the others alone). Sampling that ends
    before the work does is not a measurement of the whole work either."""
    tool = scripted_nvidia_smi(tmp_path, {"0": "A", "1": "B"}, [{"0": 100}, {"0": 1124, "1": 900}])
    used = tmp_path / "state" / "used"
    used.write_text("0, 100\\n1, [N/A]\n0, 1124\\n1, 9000\n")  # GPU 1 reads [N/A] at first
    monkeypatch.setenv("PATH", path_with(tool))
    with GpuMemorySampler(None, 0.05) as sampler:
        time.sleep(0.3)
    assert sampler.peak().peak_gb is None
    assert "no memory reading of GPU 1" in sampler.peak().method

    used.write_text("0, 100\\n1, 50\n0, 1124\\n1, 50\n")
    with GpuMemorySampler(["0"], 0.05) as died:
        time.sleep(0.3)
        assert died._proc is not None
        died._proc.kill()  # the loop ends while the work goes on
        died._proc.wait()
    assert died.peak().peak_gb is None
    assert "nvidia-smi stopped before the work ended" in died.peak().method
    assert died.stop() == died.peak()  # stopping twice changes nothing
