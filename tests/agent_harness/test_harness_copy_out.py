"""Crafted output against the copy-out: what the host sees after a hostile root agent.

Each case runs the real ``agent-harness run`` (docker runtime, busybox image, the agent root in
its container) and ends either normally or by ``kill -9`` of the harness, so the watchdog ends
the run. Busybox has no ``setfacl``/``setfattr``: the POSIX ACLs and extended attributes the
agent would set are set from the host on its staging folder while it waits (what a root agent
with those tools does), before the run ends. Asserted: what a user of the host finds (entries,
kinds, modes, owners, ACLs, attributes, bytes), run.json, the victim files untouched, the
agent's staging folder and its file system gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import BASE_IMAGE, HARNESS, TASK, clean_environ, wait_for_line

from agent_harness.run_json import read_record

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs a harness running as root"),
    pytest.mark.usefixtures("agent_images"),
]

OWNER = 65534
"""The invoking user the output must belong to (the harness runs as root through sudo)."""

WAIT = "echo ready; while [ ! -e /app/output/go ]; do sleep 0.1; done; rm /app/output/go"
"""The agent waits here until the test has played its host-side part."""

PRIVILEGE = (
    "cd /app/output && mkdir -p model shared && echo weights > model/weights.bin"
    " && cp /bin/busybox suid && chmod 4755 suid && mkfifo fifo"
    " && ln -s /etc/shadow shadow && ln -s loop-b loop-a && ln -s loop-a loop-b"
    " && ln model/weights.bin twin && echo data > shared/file && chmod 777 shared"
    " && head -c 20000 /dev/zero | tr '\\0' '[' > submission.json"
    ' && echo \'{"run_id": "forged"}\' > run.json && ' + WAIT
)
"""Set-id root file, FIFO, a link to /etc/shadow, a two-link loop, a hard link, a folder
writable by all, a submission.json of 20,000 nested ``[``, a forged run.json."""

DEEP = (
    "cd /app/output && mkdir -p model && echo w > model/weights.bin"
    " && i=0; while [ $i -lt 1100 ]; do mkdir d && cd d; i=$((i+1)); done; " + WAIT
)
"""Folders nested 1,100 deep (recursion broke the old cleanup)."""


def _start(runs_dir: Path, command: str) -> subprocess.Popen[str]:
    env = clean_environ(
        SUDO_UID=str(OWNER),
        SUDO_GID=str(OWNER),
        MLRB_GPU_LOCK_DIR=str(runs_dir.parent / "gpu-locks"),
    )
    return subprocess.Popen(
        [str(HARNESS), "run", BASE_IMAGE, "--task", TASK, "--benchmark", "smoke",
         "--runtime", "docker", "--user", "host", "--network", "none",
         "--runs-dir", str(runs_dir), "--time-limit", "2m", "--grace", "2s",
         "--command", command],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _plant_attributes(staging: Path) -> None:
    """What a root agent with setfacl/setfattr does: grant another uid access and defaults."""
    for target in (staging / "model", staging / "model" / "weights.bin", staging / "shared"):
        subprocess.run(["setfacl", "-m", "u:4242:rwx", str(target)], check=True)
        subprocess.run(["setfattr", "-n", "user.planted", "-v", "yes", str(target)], check=True)
    for folder in (staging / "model", staging / "shared"):
        subprocess.run(["setfacl", "-d", "-m", "u:4242:rwx", str(folder)], check=True)
    assert (
        "user:4242:rwx"
        in subprocess.run(
            ["getfacl", "-p", str(staging / "model" / "weights.bin")],
            capture_output=True,
            text=True,
        ).stdout
    )  # the ACL is really there before the run ends


def _end(proc: subprocess.Popen[str], run_dir: Path, ending: str) -> dict[str, Any]:
    """Let the agent finish, the harness alive or killed (-9); the final run.json."""
    if ending == "watchdog":
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    (run_dir / "staging" / "go").touch()
    if ending == "harness":
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    else:
        import time

        end = time.time() + 60
        while (record := read_record(run_dir)) is not None and record.status == "running":
            assert time.time() < end, "the watchdog did not record the run"
            time.sleep(0.2)
    saved: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    assert saved["ended_by"] == ending
    assert saved["status"] == ("completed" if ending == "harness" else "error")
    return saved


def _host_view(out: Path) -> dict[str, os.stat_result]:
    found = {}
    stack = [out]
    while stack:
        folder = stack.pop()
        for entry in os.scandir(folder):
            st = entry.stat(follow_symlinks=False)
            found[Path(entry.path).relative_to(out).as_posix()] = st
            if stat.S_ISDIR(st.st_mode):
                stack.append(Path(entry.path))
    return found


def _staging_gone(run_dir: Path, reopened: bool = True) -> None:
    assert not (run_dir / "staging").exists() and not (run_dir / "staging.img").exists()
    mounts = Path("/proc/self/mounts").read_text()
    assert str(run_dir) not in mounts  # the staging file system is unmounted
    if reopened:  # the harness (or its watchdog) gives the run folder its mode back
        assert stat.S_IMODE(run_dir.stat().st_mode) != 0o700


@pytest.mark.parametrize("ending", ["harness", "watchdog"])
def test_a_root_agents_crafted_output_reaches_the_host_as_plain_files(
    runs_dir: Path, ending: str
) -> None:
    import shutil

    from support.preconditions import missing

    for tool in ("setfacl", "getfacl", "setfattr"):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed (apt-get install -y acl attr)")
    shadow = Path("/etc/shadow")
    shadow_before = (shadow.stat().st_mode, hashlib.sha256(shadow.read_bytes()).hexdigest())
    proc = _start(runs_dir, PRIVILEGE)
    try:
        run_dir = wait_for_line(runs_dir, "ready")
        _plant_attributes(run_dir / "staging")
        saved = _end(proc, run_dir, ending)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = run_dir / "output"
    entries = _host_view(out)
    assert set(entries) == {
        "model", "model/weights.bin", "suid", "twin", "shared", "shared/file", "submission.json",
    }  # fmt: skip
    for rel, st in entries.items():
        assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode), rel
        assert (st.st_uid, st.st_gid) == (OWNER, OWNER), rel
        assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), rel
        assert not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH), rel
        assert os.listxattr(out / rel, follow_symlinks=False) == [], rel
        if stat.S_ISREG(st.st_mode):
            assert st.st_nlink == 1, rel  # the agent's hard link is two plain files
    assert stat.S_IMODE(entries["suid"].st_mode) == 0o755
    assert stat.S_IMODE(entries["shared"].st_mode) == 0o755
    assert (out / "suid").read_bytes() == Path("/bin/busybox").read_bytes()
    assert (out / "model" / "weights.bin").read_text() == "weights\n"
    assert (out / "twin").read_text() == "weights\n"
    acls = subprocess.run(
        ["getfacl", "-R", "-s", "-p", str(out)], capture_output=True, text=True, check=True
    )
    assert acls.stdout == ""  # -s lists only entries with more than the base ACL: none
    assert (shadow.stat().st_mode, hashlib.sha256(shadow.read_bytes()).hexdigest()) == (
        shadow_before
    )
    safety = saved["output_safety"]
    assert safety["copied"] is True and safety["safe"] is True
    assert safety["owner"] == f"{OWNER}:{OWNER}" and safety["failure"] is None
    assert safety["removed"] == {
        "fifo": 1,
        "symbolic link": 3,
        "run.json: only the harness writes run records": 1,
    }
    assert "shadow (symbolic link)" in safety["removed_examples"]
    assert safety["attributes_dropped"] == 4  # model, shared, weights.bin and its twin name
    assert "suid (-rwsr-xr-x -> -rwxr-xr-x)" in safety["mode_examples"]
    assert safety["files_copied"] == 5 and safety["folders_copied"] == 2
    assert safety["staging_left"] is None and safety["staging_filesystem"] is True
    assert saved["deliverable"] is None
    assert "nested deeper than 32 levels" in saved["deliverable_rejected"]
    _staging_gone(run_dir)


@pytest.mark.parametrize("ending", ["harness", "watchdog"])
def test_folders_nested_1100_deep_leave_no_deliverable_and_no_crash(
    runs_dir: Path, ending: str
) -> None:
    proc = _start(runs_dir, DEEP)
    try:
        run_dir = wait_for_line(runs_dir, "ready")
        saved = _end(proc, run_dir, ending)
    finally:
        if proc.poll() is None:
            proc.kill()
    safety = saved["output_safety"]
    assert safety["copied"] is False and safety["safe"] is False
    assert "folders nested deeper than 128 levels" in safety["failure"]
    assert saved["deliverable"] is None
    assert "not copied out" in saved["deliverable_rejected"]
    out = run_dir / "output"
    assert out.is_dir() and list(out.iterdir()) == []  # nothing of the agent's is handed on
    assert (out.stat().st_uid, out.stat().st_gid) == (OWNER, OWNER)
    _staging_gone(run_dir)  # the 1,100-deep staging tree was removed (iteratively)


@pytest.mark.parametrize("user", ["65534", "65534:65534", "1234:5678"])
def test_a_numeric_user_can_write_its_own_output_folder(runs_dir: Path, user: str) -> None:
    from harness_testkit import harness

    done = harness(
        "run", BASE_IMAGE, "--task", TASK, "--benchmark", "smoke", "--runtime", "docker",
        "--user", user, "--network", "none", "--runs-dir", str(runs_dir), "--time-limit", "60",
        "--json", "--quiet", "--command",
        "id -u > /app/output/uid && mkdir /app/output/model && echo w > /app/output/model/w",
        env=clean_environ(MLRB_GPU_LOCK_DIR=str(runs_dir.parent / "gpu-locks")),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "completed" and record["deliverable"]["path"] == "output/model"
    out = runs_dir / record["run_id"] / "output"
    assert (out / "uid").read_text().strip() == user.split(":")[0]
    assert (out / "model" / "w").stat().st_uid == os.getuid()  # handed to the invoking user


def _watchdog_pid(run_dir: Path) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"agent_harness.watchdog" in cmdline and str(run_dir).encode() in cmdline:
                return int(entry.name)
    raise AssertionError(f"no watchdog of {run_dir}")


def test_cleanup_copies_out_a_run_whose_harness_and_watchdog_were_killed(runs_dir: Path) -> None:
    from harness_testkit import harness

    proc = _start(runs_dir, PRIVILEGE)
    try:
        run_dir = wait_for_line(runs_dir, "ready")
        os.kill(_watchdog_pid(run_dir), signal.SIGKILL)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (run_dir / "staging").is_dir() and str(run_dir) in Path("/proc/self/mounts").read_text()
    cleaned = harness("cleanup", "--runs-dir", str(runs_dir), "--json")
    assert cleaned.returncode == 0, cleaned.stderr
    assert [i["action"] for i in json.loads(cleaned.stdout)] == ["removed"]
    saved = json.loads((run_dir / "run.json").read_text())
    assert (saved["status"], saved["ended_by"]) == ("error", "cleanup")
    assert saved["output_safety"]["copied"] is True and saved["deliverable"] is None
    out = run_dir / "output"
    assert (out / "model" / "weights.bin").read_text() == "weights\n"
    assert not (out / "shadow").exists() and not (out / "fifo").exists()
    assert stat.S_IMODE((out / "suid").stat().st_mode) == 0o755
    _staging_gone(run_dir, reopened=False)  # cleanup does not know its mode: it stays 0700


def test_a_runs_folder_anyone_may_write_in_is_refused(tmp_path: Path) -> None:
    from harness_testkit import harness

    shared = tmp_path / "shared-runs"
    shared.mkdir()
    shared.chmod(0o777)
    done = harness("run", "local", "--task", TASK, "--benchmark", "smoke", "--runtime", "local",
                   "--runs-dir", str(shared), "--command", "true")  # fmt: skip
    assert done.returncode == 2 and "writable by every user and not sticky" in done.stderr
    assert list(shared.iterdir()) == []
    shared.chmod(0o1777)  # sticky, like /tmp: nobody can move another user's run folder
    done = harness("run", "local", "--task", TASK, "--benchmark", "smoke", "--runtime", "local",
                   "--runs-dir", str(shared), "--time-limit", "30s",
                   "--command", "true")  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("how", ["group-writable", "another user's"])
def test_a_runs_folder_another_user_controls_is_refused(tmp_path: Path, how: str) -> None:
    """Whoever may rename entries in the runs folder could swap a run's folder for a link the
    root harness then follows: a group-writable folder, or one of another user, is refused."""
    import os

    from harness_testkit import harness

    shared = tmp_path / "runs"
    shared.mkdir()
    if how == "group-writable":
        shared.chmod(0o775)
        said = "writable by its group and not sticky"
    else:
        os.chown(shared, 4242, 4242)
        said = "belongs to uid 4242"
    done = harness("run", "local", "--task", TASK, "--benchmark", "smoke", "--runtime", "local",
                   "--runs-dir", str(shared), "--command", "true")  # fmt: skip
    assert done.returncode == 2 and said in done.stderr, done.stderr
    assert "--runs-dir" in done.stderr and "Traceback" not in done.stderr
    assert list(shared.iterdir()) == []
