"""GPU selection: the accepted forms and the check against what the machine shows."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_contracts.errors import ExitCode
from agent_harness.errors import ConfigError, GPUError
from agent_harness.gpu_lock import GpuBusyError, acquire_gpus
from agent_harness.gpu_lock import holder as holder_of
from agent_harness.gpus import GpuSelection, check_gpus, default_gpus, parse_gpus


def test_forms() -> None:
    assert parse_gpus("none") == GpuSelection()
    assert parse_gpus("all").all
    assert parse_gpus("0").ids == ("0",)
    assert parse_gpus("0,1").ids == ("0", "1")
    assert default_gpus(0) == GpuSelection()
    assert default_gpus(2).ids == ("0", "1")


@pytest.mark.parametrize(
    "text", ["gpu0", "0,0", "0,00", "1,01", " 0, 0", "00,0", "1,a", "-1", "\u0661", "9" * 5000]
)
def test_bad_forms_are_usage_errors(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_gpus(text)
    assert err.value.exit_code == ExitCode.USAGE


def test_absent_gpus_are_an_environment_error() -> None:
    with pytest.raises(GPUError) as err:
        check_gpus(parse_gpus("0"), visible=[])
    assert err.value.exit_code == ExitCode.ENVIRONMENT
    with pytest.raises(GPUError, match="GPU 3"):
        check_gpus(parse_gpus("0,3"), visible=["0", "1"])
    check_gpus(parse_gpus("none"), visible=[])
    check_gpus(parse_gpus("1"), visible=["0", "1"])


# GPU tenancy: the lock works on ids, so no GPU is needed; only the visibility check is
# replaced in the run tests (GPUs cannot exist on these machines).

_HOLD = (
    "import sys, time\n"
    "from agent_harness.gpu_lock import acquire_gpus\n"
    "lease = acquire_gpus(sys.argv[1].split(','), 'held-run-1')\n"
    "print('held', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private folder of GPU locks (MLRB_GPU_LOCK_DIR) for this test and its children."""
    folder = tmp_path / "gpu-locks"
    monkeypatch.setenv("MLRB_GPU_LOCK_DIR", str(folder))
    return folder


def _holder(ids: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, ids], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_busy_gpu_is_refused_naming_its_run_and_freed_when_the_holder_dies(
    lock_dir: Path,
) -> None:
    holder = _holder("1")
    try:
        with pytest.raises(GpuBusyError) as err:
            acquire_gpus(["0", "1"], "second-run")
        assert err.value.exit_code == ExitCode.ENVIRONMENT
        assert "GPU 1" in err.value.message and "held-run-1" in err.value.message
        assert f"pid {holder.pid}" in err.value.message
        with acquire_gpus(["0"], "second-run") as lease:  # all or nothing: 0 was given back
            assert lease.ids == ("0",)
        with acquire_gpus(["1"], "sharing", share=True) as shared:  # asked for explicitly
            assert shared.ids == ("1",)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with acquire_gpus(["0", "1"], "third-run"):  # the kernel dropped the dead holder's lock
        assert holder_of("1")["run_id"] == "third-run"
        assert (lock_dir / "gpu-1.lock").read_bytes() == b""  # the lock file is never written
    with acquire_gpus(["1"], "fourth-run"):  # and the lease released both on exit
        pass


def test_a_run_asking_for_a_busy_gpu_exits_3_before_any_run_folder(
    lock_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness_testkit import run_once

    from agent_harness import run as run_module

    monkeypatch.setattr(run_module, "check_gpus", lambda selection: None)  # no GPU here
    runs_dir = tmp_path / "runs"
    holder = _holder("0")
    try:
        with pytest.raises(GpuBusyError, match="held-run-1"):
            run_once("local", runs_dir, "echo hi", gpus="0")
        assert not list(runs_dir.iterdir())
        record, _, _ = run_once("local", runs_dir, "echo $CUDA_VISIBLE_DEVICES", gpus="0",
                                share_gpus=True)  # fmt: skip
        assert record.status == "completed"
    finally:
        holder.kill()
        holder.wait()
    record, run_dir, _ = run_once("local", runs_dir, "echo gpu=$CUDA_VISIBLE_DEVICES", gpus="0")
    assert record.status == "completed" and "gpu=0" in (run_dir / "agent.log").read_text()


_RUN_HOLDING_GPU_0 = (
    "import sys\n"
    "from pathlib import Path\n"
    "from agent_harness import run\n"
    "from agent_harness.config import RunConfig\n"
    "run.check_gpus = lambda selection: None  # no GPU on these machines; the lock needs ids\n"
    "run.run_agent(RunConfig(image='local', task='tiny_lm', benchmark='smoke', "
    "runtime='local', runs_dir=Path(sys.argv[1]), gpus='0', time_limit='4s', grace='1s', "
    "command=sys.argv[2]))\n"
)


def test_the_watchdog_keeps_the_gpus_of_an_agent_whose_harness_died(
    lock_dir: Path, tmp_path: Path
) -> None:
    import time

    from harness_testkit import wait_for_line

    runs_dir = tmp_path / "runs"
    agent = 'trap "" TERM; echo started; while true; do sleep 1; done'
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN_HOLDING_GPU_0, str(runs_dir), agent],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ,
    )  # fmt: skip
    try:
        run_dir = wait_for_line(runs_dir, "started")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with pytest.raises(GpuBusyError, match=run_dir.name):  # the watchdog holds it now
            acquire_gpus(["0"], "next-run")
        deadline = json.loads((run_dir / "run.json").read_text())["deadline"]
        while time.time() < deadline + 1 + 5:
            try:
                with acquire_gpus(["0"], "next-run"):
                    break
            except GpuBusyError:
                time.sleep(0.1)
        else:
            raise AssertionError("GPU 0 still held 5 s after deadline + grace")
        assert time.time() >= deadline  # not before the agent's end
    finally:
        if proc.poll() is None:
            proc.kill()


# Planted lock files: an unprivileged user (or agent code run as nobody with the host's /tmp)
# plants entries in the shared lock folder; a root harness must refuse them, never modify them.

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a harness run as root)")


def _as_nobody(*argv: str) -> None:
    subprocess.run(["runuser", "-u", "nobody", "--", *argv], check=True, capture_output=True)


def _run_on_gpu_97(lock_folder: Path, runs_dir: Path) -> subprocess.CompletedProcess[str]:
    from harness_testkit import clean_environ, harness

    env = clean_environ(MLRB_GPU_LOCK_DIR=str(lock_folder), AGENT_HARNESS_SIMULATED_GPUS="97")
    return harness("run", "local", "--task", "tiny_lm", "--benchmark", "smoke", "--runtime",
                   "local", "--runs-dir", str(runs_dir), "--gpus", "97", "--time-limit", "30s",
                   "--command", "true", env=env)  # fmt: skip


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder like /tmp: root's, sticky, writable by all (pytest's tmp_path is closed)."""
    import shutil

    base = Path("/tmp") / f"h17-gpu-{os.getpid()}"
    base.mkdir(mode=0o755)
    base.chmod(0o1777)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@needs_root
@pytest.mark.parametrize("plant", ["link", "file", "hard-link", "folder"])
def test_a_planted_lock_entry_is_refused_and_never_modified(
    shared_folder: Path, tmp_path: Path, plant: str
) -> None:
    victim = tmp_path / "victim"  # root's, 0600, in a folder closed to others
    victim.write_bytes(b"root:secret\n")
    victim.chmod(0o600)
    locks = shared_folder / "mlrb-gpu-locks"
    if plant == "folder":  # nobody made the lock folder first, open to all, not sticky
        _as_nobody("mkdir", "-m", "0777", str(locks))
        _as_nobody("ln", "-s", str(victim), str(locks / "gpu-97.lock"))
    else:
        locks.mkdir()
        locks.chmod(0o1777)  # as the harness leaves it: root's, sticky
        if plant == "link":
            _as_nobody("ln", "-s", str(victim), str(locks / "gpu-97.lock"))
        elif plant == "file":
            _as_nobody("sh", "-c", f"echo planted > {locks / 'gpu-97.lock'}")
        else:  # nobody cannot hard-link root's file here (protected_hardlinks): root plays it
            os.link(victim, locks / "gpu-97.lock")
    runs_dir = tmp_path / "runs"
    done = _run_on_gpu_97(locks, runs_dir)
    assert done.returncode == 3, done.stderr
    why = {
        "link": "it is a link",
        "file": "it belongs to uid 65534",
        "hard-link": "it has 2 names",
        "folder": "it belongs to uid 65534",
    }[plant]
    assert why in done.stderr and str(locks) in done.stderr
    assert "hint:" in done.stderr and "Traceback" not in done.stderr
    assert victim.read_bytes() == b"root:secret\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600 and victim.stat().st_uid == 0
    assert not runs_dir.exists() or not any(runs_dir.iterdir())  # refused before any run
    if plant == "file":
        assert (locks / "gpu-97.lock").read_text() == "planted\n"  # not truncated or written


@needs_root
def test_a_clean_shared_folder_still_works_and_the_lock_file_stays_empty(
    shared_folder: Path, tmp_path: Path
) -> None:
    locks = shared_folder / "mlrb-gpu-locks"
    done = _run_on_gpu_97(locks, tmp_path / "runs")
    assert done.returncode == 0, done.stderr
    st = locks.stat()
    assert stat.S_IMODE(st.st_mode) == 0o1777 and st.st_uid == 0
    lock = locks / "gpu-97.lock"
    assert lock.read_bytes() == b"" and stat.S_IMODE(lock.stat().st_mode) == 0o644


def test_run_json_names_the_runs_gpus_and_their_memory_peak_while_the_agent_ran(
    tmp_path: Path, runtime: str
) -> None:
    """The harness asks the driver what the run's GPUs are and, where the runtime confines the
    agent to them (a container), samples their memory while the agent runs; a local agent could
    use any GPU, so its peak is not claimed. A scripted nvidia-smi stands in for the driver
    (there is no GPU here; the GPU ids are simulated likewise). GPU 1 is another run's: its
    growth is not the agent's."""
    from harness_testkit import BASE_IMAGE, clean_environ, harness
    from support.gpu_driver import path_with, scripted_nvidia_smi

    tool = scripted_nvidia_smi(
        tmp_path / "driver",
        {"0": "NVIDIA A100-SXM4-80GB", "1": "NVIDIA H100 80GB HBM3"},
        [{"0": 1000, "1": 0}, {"0": 5096, "1": 60000}, {"0": 3000, "1": 60000}],
    )
    runs_dir = tmp_path / "runs"
    env = clean_environ(
        MLRB_GPU_LOCK_DIR=str(tmp_path / "locks"),
        AGENT_HARNESS_SIMULATED_GPUS="0,1",
        PATH=path_with(tool),
    )
    agent = BASE_IMAGE if runtime == "docker" else "local"
    done = harness("run", agent, "--task", "tiny_lm", "--benchmark", "smoke", "--runtime",
                   runtime, "--runs-dir", str(runs_dir), "--gpus", "0", "--time-limit", "30s",
                   "--command", "sleep 3", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (record,) = (json.loads(p.read_text()) for p in runs_dir.glob("*/run.json"))
    assert record["gpus"] == ["0"]
    assert record["gpu_models"] == ["NVIDIA A100-SXM4-80GB"]
    memory = record["gpu_memory"]
    if runtime == "docker":
        assert memory["peak_gb"] == round(4096 * 1024 * 1024 / 1e9, 4), memory
        assert memory["samples"] >= 2 and "every 1 s" in memory["method"]
    else:
        assert memory["peak_gb"] is None
        assert "'local' runtime does not confine the agent to its GPUs" in memory["method"]

    # A run given no GPU records none, and asks the driver nothing.
    calls = (tmp_path / "driver" / "state" / "calls").read_text().count("\n")
    again = harness("run", agent, "--task", "tiny_lm", "--benchmark", "smoke", "--runtime",
                    runtime, "--runs-dir", str(tmp_path / "cpu"), "--gpus", "none",
                    "--time-limit", "30s", "--command", "true", env=env)  # fmt: skip
    assert again.returncode == 0, again.stderr
    (cpu,) = (json.loads(p.read_text()) for p in (tmp_path / "cpu").glob("*/run.json"))
    assert cpu["gpu_models"] == [] and cpu["gpu_memory"] is None
    assert (tmp_path / "driver" / "state" / "calls").read_text().count("\n") == calls
