"""Host containment: what a hostile agent (root in its container included) can leave on the host.

Each case asserts what a user of the host would see: modes and owners of the files on the host,
special files and escaping links gone, what run.json says, the container gone.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import BASE_IMAGE, REPO, run_once

from agent_harness.gpus import GpuSelection
from agent_harness.output_safety import copy_out
from agent_harness.runtimes.base import Launch
from agent_harness.runtimes.container import (
    LABEL_RUN_ID,
    ROOT_CAPABILITIES,
    DockerRuntime,
    container_name,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs a harness running as root")

HOSTILE = (
    "cd /app/output && mkdir -p model && echo w > model/weights.bin"
    " && cp /bin/busybox suid && chmod 4755 suid"
    " && cp /bin/busybox sgid && chmod 2755 sgid"
    " && cp /bin/busybox sticky && chmod 1755 sticky"
    " && mkdir group && chmod 2777 group"
    " && mkfifo fifo"
    " && ln -s /etc/passwd passwd && ln -s ../../.. escape && ln -s model inside"
    " && mkdir up && ln -s .. up/up && ln -s up/up/.. climb"
    " && ln suid suid-twin"
    " ; mknod dev c 1 3; echo mknod=$?"
)
"""What a root agent leaves: privilege bits, a FIFO, links out, a device node (refused)."""

_CAPS = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "FOWNER": 3,
    "KILL": 5,
    "SETGID": 6,
    "SETUID": 7,
    "MKNOD": 27,
    "SYS_ADMIN": 21,
}


def _gone(docker_client: Any, run_id: str) -> bool:
    return not docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"}
    )


@pytest.mark.docker
@needs_root
@pytest.mark.usefixtures("agent_images")
@pytest.mark.parametrize(
    ("user", "sudo_uid"),
    [("host", None), ("image", None), ("image", 65534)],
    ids=["host-user-is-root", "root-image", "root-image-under-sudo"],
)
def test_root_agent_leaves_nothing_that_raises_privilege(
    runs_dir: Path,
    docker_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    user: str,
    sudo_uid: int | None,
) -> None:
    if sudo_uid is not None:  # the harness run as root through sudo by user 65534
        monkeypatch.setenv("SUDO_UID", str(sudo_uid))
        monkeypatch.setenv("SUDO_GID", str(sudo_uid))
    else:
        monkeypatch.delenv("SUDO_UID", raising=False)
        monkeypatch.delenv("SUDO_GID", raising=False)
    owner = sudo_uid if sudo_uid is not None else os.getuid()
    record, run_dir, _ = run_once("docker", runs_dir, HOSTILE, user=user)
    assert record.status == "completed", record.message
    out = run_dir / "output"
    log = (run_dir / "agent.log").read_text(encoding="utf-8")
    assert "mknod=1" in log  # no MKNOD capability, even as root
    entries = {p.relative_to(out).as_posix(): p.lstat() for p in out.rglob("*")}
    assert set(entries) == {
        "model", "model/weights.bin", "suid", "sgid", "sticky", "group", "up", "suid-twin",
    }  # fmt: skip
    for rel, st in entries.items():
        assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode), rel  # no link at all
        assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), rel
        assert (st.st_uid, st.st_gid) == (owner, owner), rel
        assert not st.st_mode & stat.S_IWOTH, rel
    assert stat.S_IMODE(entries["suid"].st_mode) == 0o755
    assert out.stat().st_uid == owner and not out.stat().st_mode & stat.S_IWOTH
    saved = json.loads((run_dir / "run.json").read_text())
    safety = saved["output_safety"]
    assert safety["safe"] is True and safety["owner"] == f"{owner}:{owner}"
    assert safety["copied"] is True
    assert safety["removed"] == {"fifo": 1, "symbolic link": 5}
    assert {"escape (symbolic link)", "passwd (symbolic link)"} <= set(safety["removed_examples"])
    assert "suid (-rwsr-xr-x -> -rwxr-xr-x)" in safety["mode_examples"]
    assert safety["modes_changed"] >= 5  # suid, sgid, sticky, group, and suid's twin name
    assert saved["deliverable"]["path"] == "output/model"  # what is left is still handed on
    assert stat.S_IMODE(run_dir.stat().st_mode) != 0o700  # opened again once safe
    assert _gone(docker_client, record.run_id)


@needs_root
def test_copy_out_on_the_host(tmp_path: Path) -> None:
    """What a container cannot make (device nodes, sockets, outside hard links, file caps)."""
    staging, out = tmp_path / "staging", tmp_path / "output"
    (staging / "sub").mkdir(parents=True)
    outside = tmp_path / "host-file"
    outside.write_text("host")
    os.mknod(staging / "dev", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mkfifo(staging / "sub" / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(staging / "sock"))
    os.link(outside, staging / "hardlink")
    caps = staging / "caps"
    caps.write_bytes(Path("/bin/busybox").read_bytes())
    has_caps = subprocess.run(["setcap", "cap_setuid+ep", str(caps)], capture_output=True)
    with (staging / "sparse").open("wb") as fh:  # 1 GiB of hole and one byte
        fh.truncate(1024**3)
        fh.seek(1024**2)
        fh.write(b"x")
    report = copy_out(staging, out, owner=(65534, 65534))
    assert report.safe and report.copied
    assert sorted(p.name for p in out.rglob("*")) == ["caps", "sparse", "sub"]
    assert outside.stat().st_uid == 0 and outside.read_text() == "host"  # never touched
    assert report.left_out["device node"] == 1 and report.left_out["socket"] == 1
    assert report.left_out["fifo"] == 1
    assert report.left_out["hard link to a file outside the folder"] == 1
    if has_caps.returncode == 0:
        assert report.attributes_dropped == 1
        assert (
            "cap_setuid"
            not in subprocess.run(
                ["getcap", str(out / "caps")], capture_output=True, text=True
            ).stdout
        )
    assert ((out / "caps").stat().st_uid, (out / "sub").stat().st_gid) == (65534, 65534)
    sparse = (out / "sparse").stat()
    assert sparse.st_size == 1024**3 and sparse.st_blocks * 512 < 1024**2  # still sparse
    assert report.bytes < caps.stat().st_size + 64 * 1024  # the hole was not copied as data


@needs_root
def test_a_harness_that_is_not_root_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    """Root's unreadable file under a harness that is not root: no copy, the reason said."""
    base = Path("/tmp") / f"h1-contain-{os.getpid()}"  # pytest's tmp_path is closed to nobody
    staging = base / "staging"
    staging.mkdir(parents=True)
    try:
        base.chmod(0o755)
        os.chown(base, 65534, 65534)
        staging.chmod(0o777)
        (staging / "model").mkdir()
        (staging / "model" / "weights.bin").write_bytes(b"w")
        (staging / "secret").write_bytes(b"root only")
        (staging / "secret").chmod(0o600)
        code = (
            "from pathlib import Path; import json\n"
            "from agent_harness.output_safety import secure_output\n"
            f"r = secure_output(Path({str(base)!r}), (65534, 65534))\n"
            "print(json.dumps({'safe': r.safe, 'failure': r.failure, 'left': r.staging_left,"
            " 'why': r.rejection()}))\n"
        )
        site = next(p for p in sys.path if p.endswith("site-packages"))  # pydantic, same 3.11
        path = ":".join([str(REPO / "agent_contracts" / "src"), str(REPO / "agent_harness" / "src"),
                         site])  # fmt: skip
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "/usr/bin/python3", "-c", code],
            capture_output=True, text=True, timeout=60,
            env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        if result.returncode != 0 and "Permission denied" in result.stderr:
            pytest.skip(f"user nobody cannot run the harness code here: {result.stderr[-200:]}")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["safe"] is False
        assert report["failure"] == "secret cannot be read (Permission denied)"
        assert list((base / "output").iterdir()) == []  # nothing handed on
        assert report["left"] is not None and "could not be removed" in report["left"]
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def _start(docker_client: Any, tmp_path: Path, user: str | None, command: str) -> Any:
    (tmp_path / "task").mkdir(exist_ok=True)
    (tmp_path / "output").mkdir(exist_ok=True)
    launch = Launch(
        run_id=f"h1-contain-{user or 'image'}-{os.getpid()}".replace(":", "-"),
        image=BASE_IMAGE,
        task_dir=tmp_path / "task",
        output_dir=tmp_path / "output",
        environment={},
        command=command,
        gpus=GpuSelection(),
        network="none",
        user=user,
        pids_limit=64,
    )
    chunks: list[bytes] = []
    proc = DockerRuntime(docker_client).start(launch, chunks.append)
    return proc, chunks, container_name(launch.run_id)


def _caps(text: str, field: str) -> set[str]:
    line = next(x for x in text.splitlines() if x.startswith(field + ":"))
    mask = int(line.split()[1], 16)
    return {name for name, bit in _CAPS.items() if mask >> bit & 1}


@pytest.mark.docker
@pytest.mark.usefixtures("agent_images")
@pytest.mark.parametrize("user", ["0:0", "1000:1000", None])
def test_capabilities_process_limit_and_log_bound(
    docker_client: Any, tmp_path: Path, user: str | None
) -> None:
    command = (
        "grep -E '^Cap(Eff|Bnd)' /proc/self/status; mknod /app/output/dev c 1 3; echo mknod=$?;"
        # The fork loop runs in a subshell (sh exits when a fork fails); the count is a glob,
        # since no fork is left to count with.
        " (i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done);"
        " set -- /proc/[0-9]*; echo procs=$#"
    )
    proc, chunks, name = _start(docker_client, tmp_path, user, command)
    try:
        assert proc.wait(60) is not None
        host = docker_client.api.inspect_container(name)["HostConfig"]
    finally:
        proc.close()
    text = b"".join(chunks).decode()
    assert host["PidsLimit"] == 64 and host["CapDrop"] == ["ALL"]
    assert host["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-file": "2", "max-size": "512m"},
    }
    assert "no-new-privileges" in host["SecurityOpt"]
    assert "mknod=1" in text and not (tmp_path / "output" / "dev").exists()
    procs = int(text.split("procs=")[1].split()[0])
    assert "can't fork" in text and 60 <= procs <= 64  # the fork loop hit the limit
    expected = set(ROOT_CAPABILITIES) if user != "1000:1000" else set()
    assert _caps(text, "CapBnd") == expected
    assert _caps(text, "CapEff") == expected


def _writer(where: str) -> str:
    return (
        f"i=0; while true; do dd if=/dev/zero of={where}/f$i bs=1048576 count=4 2>/dev/null;"
        " i=$((i+1)); sleep 0.1; done"
    )


@pytest.mark.parametrize("where", ["output", "layer"])
def test_disk_limit_stops_the_agent(
    runtime: str, runs_dir: Path, where: str, request: pytest.FixtureRequest
) -> None:
    if where == "layer" and runtime == "local":
        pytest.skip("the local runtime has no container layer")
    target = "$OUTPUT_DIR" if where == "output" else "/"
    began = time.monotonic()
    record, run_dir, _ = run_once(runtime, runs_dir, _writer(target), disk_limit="20M")
    took = time.monotonic() - began
    assert (record.status, record.exit_code, record.stop_reason) == ("error", 4, "disk_limit")
    assert record.message is not None and "disk limit exceeded" in record.message
    assert record.limits.disk_bytes == 20 * 1024**2
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["stop_reason"] == "disk_limit" and saved["status"] == "error"
    assert took < 30  # stopped long before its 60 s limit
    if runtime == "docker":
        assert _gone(request.getfixturevalue("docker_client"), record.run_id)


HELD = (
    "echo kept > /app/output/kept;"
    " dd if=/dev/zero of=/app/output/big bs=1048576 count={out} 2>/dev/null;"
    " exec 3</app/output/big; rm /app/output/big;"
    " dd if=/dev/zero of=/big bs=1048576 count={layer} 2>/dev/null; exec 4</big; rm /big;"
    " echo held; sleep 120"
)
"""Files deleted but held open (their blocks stay used): in the output and the container layer."""


@pytest.mark.docker
@needs_root
@pytest.mark.usefixtures("agent_images")
@pytest.mark.parametrize(("out_mib", "layer_mib"), [(600, 600), (60, 60)], ids=["600+600", "60+60"])
def test_deleted_but_open_files_count_against_the_disk_limit(
    runs_dir: Path, out_mib: int, layer_mib: int
) -> None:
    """--disk-limit 100M: the output is a file system of that size (600 MiB cannot be written
    there, deleted or not), and deleted files held in the container layer are counted, so the
    run ends ``disk_limit`` (60 + 60 MiB: neither alone passes the limit), what was written
    is copied out, and the staging image never grows past the limit and its margin."""
    from harness_testkit import clean_environ, harness

    from agent_harness.disk_limit import MARGIN_BYTES

    image_blocks: list[int] = []
    done_flag = threading.Event()

    def sample() -> None:  # the host's disk taken by the staging file system, while it runs
        while not done_flag.is_set():
            for image in runs_dir.glob("*/staging.img"):
                with contextlib.suppress(OSError):
                    image_blocks.append(image.stat().st_blocks * 512)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        done = harness(
            "run", BASE_IMAGE, "--task", "tiny_lm", "--benchmark", "smoke", "--runtime",
            "docker", "--network", "none", "--runs-dir", str(runs_dir), "--time-limit", "60",
            "--disk-limit", "100M", "--json", "--quiet",
            "--command", HELD.format(out=out_mib, layer=layer_mib),
            env=clean_environ(MLRB_GPU_LOCK_DIR=str(runs_dir.parent / "gpu-locks")),
        )  # fmt: skip
    finally:
        done_flag.set()
        sampler.join()
    assert done.returncode == 4, done.stderr
    record = json.loads(done.stdout)
    assert (record["status"], record["stop_reason"]) == ("error", "disk_limit")
    assert "deleted files still open" in record["message"]
    run_dir = runs_dir / record["run_id"]
    if out_mib == 60:  # both files held before the limit was seen passed (600: stopped sooner)
        assert "held" in (run_dir / "agent.log").read_text()
    assert (run_dir / "output" / "kept").read_text() == "kept\n"  # what was written is kept
    safety = record["output_safety"]
    assert safety["staging_filesystem"] is True and safety["safe"] is True
    assert image_blocks and max(image_blocks) <= 100 * 1024**2 + MARGIN_BYTES
    assert not (run_dir / "staging.img").exists() and not (run_dir / "staging").exists()


def test_disk_limit_option_is_checked_before_anything_starts(runs_dir: Path) -> None:
    from agent_harness.errors import ConfigError

    for bad in ("20X", "-1G", "0", "1e9", "9" * 5000):
        with pytest.raises(ConfigError):
            run_once("local", runs_dir, "true", disk_limit=bad)
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
    record, _, _ = run_once("local", runs_dir, "true", disk_limit="none")
    assert record.limits.disk_bytes is None and record.status == "completed"


def test_run_folder_is_closed_while_the_agent_runs(runs_dir: Path) -> None:
    seen: list[int] = []

    def look() -> None:
        for _ in range(100):
            folders = list(runs_dir.glob("*/staging")) if runs_dir.exists() else []
            if folders:
                seen.append(stat.S_IMODE(folders[0].parent.stat().st_mode))
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=look)
    watcher.start()
    record, run_dir, _ = run_once("local", runs_dir, "sleep 2")
    watcher.join()
    # Under root the local agent runs as nobody: its group may pass through (0710), no one else.
    assert seen == [0o710 if os.geteuid() == 0 else 0o700]
    assert stat.S_IMODE(run_dir.stat().st_mode) != 0o700 and record.output_safety is not None


@pytest.mark.docker
@needs_root
@pytest.mark.usefixtures("agent_images")
def test_a_harness_that_is_not_root_and_a_root_image(docker_client: Any) -> None:
    """The real CLI as user nobody (in the docker group) with --user image and a root image."""
    import grp

    try:
        docker_gid = grp.getgrnam("docker").gr_gid
    except KeyError:
        pytest.skip("no docker group: a user that is not root cannot reach the engine here")
    base = Path("/tmp") / f"h1-contain-nonroot-{os.getpid()}"
    base.mkdir(mode=0o755)
    try:
        os.chown(base, 65534, 65534)
        site = next(p for p in sys.path if p.endswith("site-packages"))  # same CPython 3.11
        packages = ("agent_contracts", "agent_tasks", "agent_harness", "agent_eval")
        src = [str(REPO / pkg / "src") for pkg in packages]
        agent = (
            "cd /app/output && cp /bin/busybox suid && chmod 4755 suid"
            " && mkdir model && echo w > model/weights.bin"
        )
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={docker_gid}",
                     "/usr/bin/python3", "-c"]  # fmt: skip
        env = {"PATH": "/usr/bin:/bin", "HOME": str(base), "PYTHONPATH": ":".join([*src, site])}
        probe = "import docker, pydantic_core, agent_harness.cli; docker.from_env().ping()"
        ready = subprocess.run([*as_nobody, probe], capture_output=True, text=True, env=env)
        if ready.returncode != 0:  # another Python than the venv's, or no engine access
            pytest.skip(f"user nobody cannot run the harness here: {ready.stderr[-300:]}")
        result = subprocess.run(
            [*as_nobody, "from agent_harness.cli import main; main()",
             "run", BASE_IMAGE, "--task", "tiny_lm", "--benchmark", "smoke", "--runtime",
             "docker", "--user", "image", "--network", "none", "--runs-dir", str(base / "runs"),
             "--time-limit", "60", "--json", "--quiet", "--command", agent],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        record = json.loads(result.stdout)
        run_dir = base / "runs" / record["run_id"]
        # Root's files are readable: the copy is the invoking user's, plain, and accepted.
        assert record["deliverable"]["path"] == "output/model"
        safety = record["output_safety"]
        assert safety["safe"] is True and safety["owner"] == "65534:65534"
        out = run_dir / "output"
        for path in (out, out / "suid", out / "model", out / "model" / "weights.bin"):
            st = path.stat()
            assert (st.st_uid, st.st_gid) == (65534, 65534), path
            assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH), path
        # What root left in the agent's folder cannot all be removed by nobody: said, and the
        # run folder stays closed to other users.
        assert "could not be removed" in safety["staging_left"]
        assert not (run_dir / "staging" / "suid").exists()  # removed where the folder allows
        assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
        assert _gone(docker_client, record["run_id"])
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


@needs_root
def test_local_root_agent_output_is_cleaned_too(runs_dir: Path) -> None:
    """The local runtime is no sandbox, but its output gets the same cleanup (under root the
    agent runs as nobody, so its mknod fails)."""
    command = (
        "cp /bin/busybox suid && chmod 4755 suid && (mknod dev c 1 3 || true) && mkfifo fifo"
        " && ln -s /etc/passwd passwd && ln -s ../../.. escape && ln -s suid inside"
    )
    record, run_dir, _ = run_once("local", runs_dir, command)
    assert record.status == "completed", record.message
    out = run_dir / "output"
    assert sorted(p.name for p in out.iterdir()) == ["suid"]
    assert stat.S_IMODE((out / "suid").stat().st_mode) == 0o755
    assert not (out / "dev").exists()
    assert record.output_safety is not None and record.output_safety.removed == {
        "fifo": 1,
        "symbolic link": 3,
    }


@pytest.mark.docker
def test_an_images_own_nvidia_visible_devices_does_not_reach_gpus_on_a_run_given_none(
    runs_dir: Path, docker_client: Any, agent_images: dict[str, str]
) -> None:
    """An agent image that sets ``NVIDIA_VISIBLE_DEVICES=all`` would get every GPU from an
    engine whose default runtime is NVIDIA's: a run given no GPU runs with ``void`` (none)."""
    image = "mlrb-test/greedy-gpus:1"
    recipe = f"FROM {agent_images['base']}\nENV NVIDIA_VISIBLE_DEVICES=all\n"
    docker_client.images.build(
        fileobj=io.BytesIO(recipe.encode()), tag=image, network_mode="none", rm=True
    )
    try:
        record, run_dir, _ = run_once(
            "docker", runs_dir, "echo visible=$NVIDIA_VISIBLE_DEVICES", image=image, gpus="none"
        )
    finally:
        docker_client.images.remove(image, force=True)
    assert record.status == "completed"
    assert "visible=void\n" in (run_dir / "agent.log").read_text(encoding="utf-8")
