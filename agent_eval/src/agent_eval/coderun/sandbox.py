"""Sandboxes that re-run an agent's code: a container, or a bubblewrap process sandbox.

Both promise the same: no network, the code and the inputs read-only, one writable output
folder, a private ``/tmp``, a memory and process limit, the task's GPUs and nothing else, a hard
time limit measured here, no kernel keyrings (which would outlive the run), and no labels. Both
are allow-lists: the code sees a root built for it (the task's image, or the Python runtime
read-only), never the host's file system. See docs/code-deliverables.md for what each one does
and leaves open.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agent_contracts.gpu import GpuMemoryPeak, GpuMemorySampler, first_gpus
from agent_eval.errors import CodeEnvironmentError

Backend = Literal["docker", "process"]
"""Where the code runs: a container from the task's image, or a process sandbox."""

SANDBOX_UID = 65534
"""The unprivileged user (``nobody``) the code runs as, in both backends."""
PIDS_LIMIT = 256
"""Processes the code may have at once."""
FILE_SIZE_LIMIT_BYTES = 4 << 30
"""Largest file the process sandbox lets the code write."""
LOG_TAIL_BYTES = 4000
"""How much of the end of the code's output is kept in the result."""
CONTAINER_LABEL = "mlrb.coderun"
"""Label on every re-run container (its value: the sandbox's name)."""
CONTAINER_PATHS = {"work": "/work", "inputs": "/inputs", "output": "/output"}
"""Where the docker backend mounts the three folders."""


@dataclass(frozen=True)
class SandboxRequest:
    """One re-run: what to run, on which folders, under which limits."""

    command: tuple[str, ...]
    """argv; ``{work}``, ``{inputs}``, ``{output}`` and ``{python}`` are filled per backend."""
    work: Path
    """Host folder with the code (read-only inside)."""
    inputs: Path
    """Host folder with the hidden test inputs, never labels (read-only inside)."""
    output: Path
    """Host folder the code writes into (the only writable one)."""
    time_limit_s: float
    """Wall-clock limit; the code is killed when it is reached."""
    memory_gb: float
    """Memory limit."""
    name: str
    """Container name and label value (unique per re-run)."""
    gpus: int = 0
    """GPUs to give the code."""
    image: str | None = None
    """Image for the docker backend."""
    workdir: str | None = None
    """Working directory inside the container (default: the work folder)."""
    extra_mounts: tuple[tuple[Path, str], ...] = ()
    """(host path, container path) mounted read-only, docker backend only."""
    hide: tuple[Path, ...] = ()
    """Folders the process backend covers where its runtime folders hold them (the data
    folder); nothing else of the host is in its sandbox anyway."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables for the code."""


@dataclass(frozen=True)
class SandboxResult:
    """How a re-run ended, as measured by the evaluator."""

    backend: Backend
    exit_code: int | None
    """The code's exit status (None when it was killed at the time limit)."""
    timed_out: bool
    wall_s: float
    """Seconds from the start of the code to its end, measured here."""
    log_tail: str
    """The last lines of the code's stdout and stderr."""
    gpu_memory: GpuMemoryPeak | None = None
    """The code's GPU memory as the driver reported it while it ran (None: not sampled)."""


GPU_SAMPLE_S = 0.1
"""Seconds between two readings of the GPUs' memory while a re-run that was given GPUs runs."""


def _gpu_sampler(
    request: SandboxRequest, watched: list[str] | None = None, unmeasured: str | None = None
) -> GpuMemorySampler:
    """Watches the GPUs the code was given (``watched``: their ``nvidia-smi`` indices), or
    every GPU where the sandbox cannot confine the code to its own (the process sandbox binds
    every NVIDIA device node; ``CUDA_VISIBLE_DEVICES`` is only a request): then a growth on
    more GPUs than it was given is not claimed as its peak. Nothing when it was given none."""
    if not request.gpus:
        return GpuMemorySampler([], GPU_SAMPLE_S)
    return GpuMemorySampler(watched, GPU_SAMPLE_S, given=request.gpus, unmeasured=unmeasured)


def _env(request: SandboxRequest, paths: dict[str, str]) -> dict[str, str]:
    """The whole environment of the code (an allow-list: nothing of the evaluator's own):
    offline, a private ``/tmp`` as home, the two folders named."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "USER": "nobody",
        "LOGNAME": "nobody",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(request.gpus)),
        "MLRB_INPUTS": paths["inputs"],
        "MLRB_OUTPUT": paths["output"],
    }
    env.update(request.env)
    return env


def _argv(request: SandboxRequest, paths: dict[str, str], python: str) -> list[str]:
    return [part.format(python=python, **paths) for part in request.command]


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ----------------------------------------------------------------------------- seccomp

KEYRING_SYSCALLS = {
    "x86_64": (0xC000003E, (248, 249, 250)),
    "aarch64": (0xC00000B7, (217, 218, 219)),
}
"""Per machine (``platform.machine()``): its ``AUDIT_ARCH_*`` value and the numbers of
``add_key``, ``request_key`` and ``keyctl``, the calls the process sandbox refuses."""
X32_SYSCALL_BIT = 0x40000000
"""Set in the syscall number of x86-64's x32 ABI, which reaches the same calls by other numbers."""
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
"""Seccomp's answers (``linux/seccomp.h``); ERRNO carries the errno in its low 16 bits."""
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_RET_K = 0x06
"""Classic-BPF opcodes (``linux/filter.h``): load the 32-bit word at an offset, jump when it
equals / is at least a constant, return a constant."""
SECCOMP_DATA_NR = 0
SECCOMP_DATA_ARCH = 4
"""Offsets in ``struct seccomp_data`` of the syscall number and the calling ABI's arch."""
KEYCTL_JOIN_SESSION_KEYRING = 1
"""``keyctl`` operation: join a keyring (with no name: a new anonymous one)."""


def seccomp_filter(machine: str | None = None) -> bytes:
    """The classic-BPF seccomp program (an array of ``struct sock_filter``: u16 code, u8 jt,
    u8 jf, u32 k) that the process sandbox gives bubblewrap (``--seccomp``): ``add_key``,
    ``request_key`` and ``keyctl`` fail with EPERM, every other call is allowed. Kernel
    keyrings outlive the sandbox (the user keyring of uid 65534 belongs to the host's user
    namespace), so a run could leave its answer there for a later one. A call through another
    ABI than the machine's own (i386 or x32 on x86-64), whose numbers differ, kills the
    process. A machine without known numbers is a :class:`CodeEnvironmentError`."""
    machine = machine or platform.machine()
    if machine not in KEYRING_SYSCALLS:
        raise CodeEnvironmentError(
            f"the process sandbox has no seccomp filter for this machine ({machine!r}; it "
            f"knows {', '.join(sorted(KEYRING_SYSCALLS))})",
            hint="run the evaluator on one of those, or use the docker sandbox "
            "(AGENT_EVAL_SANDBOX=docker)",
        )
    arch, refused = KEYRING_SYSCALLS[machine]
    kill, allow = SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_ALLOW
    program = [
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARCH),
        (BPF_JEQ_K, 1, 0, arch),  # the machine's own ABI: go on; any other: killed
        (BPF_RET_K, 0, 0, kill),
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR),
    ]
    if machine == "x86_64":
        program += [(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT), (BPF_RET_K, 0, 0, kill)]
    for left, number in zip(range(len(refused), 0, -1), refused, strict=True):
        program.append((BPF_JEQ_K, left, 0, number))  # jump to the EPERM return below
    program += [(BPF_RET_K, 0, 0, allow), (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM)]
    return b"".join(struct.pack("=HBBI", *op) for op in program)


@contextlib.contextmanager
def _seccomp_fd() -> Iterator[int]:
    """A memory file holding :func:`seccomp_filter`, read from its start by bubblewrap (pass it
    to the child with ``pass_fds``); closed afterwards."""
    fd = os.memfd_create("mlrb-seccomp", os.MFD_CLOEXEC)
    try:
        os.write(fd, seccomp_filter())
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


@functools.cache
def _session_keyring_joiner() -> Callable[[], object] | None:
    """``keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)`` through libc, made before any fork (the
    child then only calls it): the child joins a new anonymous session keyring instead of
    inheriting the evaluator's. None where libc or the machine's numbers are unknown."""
    if platform.machine() not in KEYRING_SYSCALLS:
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    keyctl = KEYRING_SYSCALLS[platform.machine()][1][2]
    return functools.partial(syscall, keyctl, KEYCTL_JOIN_SESSION_KEYRING, None)


# ----------------------------------------------------------------------------- process

SANDBOX_PATHS = {"work": "/sandbox/work", "inputs": "/sandbox/inputs", "output": "/sandbox/output"}
"""Where the process sandbox puts the three folders (under ``/sandbox``, apart from any
runtime folder bound at its own path)."""
TMP_SIZE_BYTES = 256 << 20
"""Size of the code's private ``/tmp`` (and ``/dev/shm``): memory, so bounded like the
container's."""
PROJECT_PACKAGES = ("agent_eval", "agent_harness", "agent_tasks", "agent_contracts")
"""The project's own packages: covered wherever the runtime holds them (the evaluator's code,
its bundled labels and its task catalogue are nothing the code needs)."""
CONTAINER_HINT = (
    "run the evaluator image with `--security-opt seccomp=unconfined` (docker run "
    "--security-opt seccomp=unconfined ...; README step 4), which lets its unprivileged "
    "bubblewrap create namespaces; on a host with AppArmor add `--security-opt "
    "apparmor=unconfined`"
)
"""What to do when bubblewrap cannot create namespaces inside a container."""


@dataclass(frozen=True)
class Isolation:
    """How bubblewrap isolates the code on this machine (probed once per process)."""

    privileged: bool
    """Root with CAP_SYS_ADMIN: bwrap mounts directly and ``setpriv`` turns the code into
    ``nobody`` inside; otherwise bwrap makes a user namespace (the code is 65534 inside it)."""
    drop_first: bool
    """Root without CAP_SYS_ADMIN (root in a container): become ``nobody`` before bwrap."""
    proc: bool
    """A new ``/proc`` can be mounted (Docker's masked ``/proc`` forbids it: then none)."""
    no_nested_userns: bool = True
    """bwrap's ``--disable-userns`` works (it writes ``/proc/sys/user``, which Docker mounts
    read-only: then the code may make user namespaces of its own, inside its sandbox)."""


def _in_container() -> bool:
    return Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()


def _cap_sys_admin() -> bool:
    """True when this process holds CAP_SYS_ADMIN (bit 21 of CapEff)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 21 & 1)
    return False


def _tool(name: str) -> str | None:
    found = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    return os.path.realpath(found) if found else None


def runtime_roots() -> tuple[Path, ...]:
    """Folders the code's Python needs, bound read-only at their own paths: ``/usr``, the
    evaluator's venv and its base interpreter. Never the checkout: an editable install's
    ``.pth`` names folders that are not bound, and ``PYTHONPATH`` does not reach the code."""
    found = {
        Path(p)
        for p in (
            "/usr",
            sys.prefix,
            sys.exec_prefix,
            sys.base_prefix,
            sys.base_exec_prefix,
            Path(os.path.realpath(sys.executable)).parent.parent,
        )
    }
    roots = sorted(p for p in found if p.is_dir() and p != Path("/"))
    return tuple(r for r in roots if not any(o != r and r.is_relative_to(o) for o in roots))


def _package_dir(name: str) -> Path | None:
    """Where an importable package lives, without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def masked_paths(hide: tuple[Path, ...] = ()) -> tuple[Path, ...]:
    """What is covered inside the runtime folders: the project's packages (the evaluator's
    labels ship in ``agent_eval/resources``), scikit-learn's bundled data (its digits are the
    public set the digit tasks come from) and ``hide`` (the evaluation data folder)."""
    found = [_package_dir(name) for name in PROJECT_PACKAGES]
    sklearn = _package_dir("sklearn")
    if sklearn is not None:
        found.append(sklearn / "datasets" / "data")
    real = sorted(
        {Path(os.path.realpath(p)) for p in [*found, *hide] if p is not None and p.exists()}
    )
    # a folder inside another covered one is covered already (and could not be mounted on)
    return tuple(p for p in real if not any(o != p and p.is_relative_to(o) for o in real))


def _visible_at(path: Path, roots: tuple[Path, ...]) -> list[Path]:
    """Where ``path`` shows inside the sandbox (through each runtime root that holds it)."""
    real = Path(os.path.realpath(path))
    seen: list[Path] = []
    for root in roots:
        real_root = Path(os.path.realpath(root))
        if real == real_root or not real.is_relative_to(real_root):
            if real_root.is_relative_to(real):
                raise CodeEnvironmentError(
                    f"the runtime folder {str(root)!r} lies inside {str(path)!r}, which holds "
                    "data the code must not see",
                    hint="keep the evaluation data and the evaluator apart from the Python "
                    "runtime (another --data-dir)",
                )
            continue
        seen.append(root / real.relative_to(real_root))
    return seen


def _dirs(path: str, made: set[str]) -> list[str]:
    """``--dir`` for each missing ancestor of ``path`` (0755: the code may traverse them)."""
    args: list[str] = []
    for parent in reversed(Path(path).parents):
        name = str(parent)
        if name != "/" and name not in made:
            made.add(name)
            args += ["--perms", "0755", "--dir", name]
    return args


def bwrap_argv(
    request: SandboxRequest, argv: list[str], isolation: Isolation, bwrap: str, seccomp_fd: int
) -> list[str]:
    """The bubblewrap command line: a root built for the code (see docs/code-deliverables.md),
    with the seccomp filter that ``seccomp_fd`` holds (:func:`seccomp_filter`)."""
    roots = runtime_roots()
    args = [bwrap, "--die-with-parent", "--new-session", "--seccomp", str(seccomp_fd)]
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--hostname", "sandbox"]
    if not isolation.privileged:
        args += ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
        if isolation.no_nested_userns:
            args += ["--disable-userns"]
    made: set[str] = set()
    for root in roots:
        args += [*_dirs(str(root), made), "--ro-bind", str(root), str(root)]
        made.add(str(root))
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        link = Path(top)
        if link.is_symlink():
            args += ["--symlink", str(link.readlink()), top]
        elif link.is_dir() and top not in made:
            args += ["--ro-bind", top, top]
    for hidden in masked_paths(request.hide):
        for inside in _visible_at(hidden, roots):
            if hidden.is_dir():
                args += ["--perms", "0755", "--tmpfs", str(inside), "--remount-ro", str(inside)]
            else:
                args += ["--ro-bind", "/dev/null", str(inside)]
    args += ["--dev", "/dev", "--perms", "1777", "--size", str(TMP_SIZE_BYTES), "--tmpfs"]
    args += ["/dev/shm"]
    if request.gpus:  # the NVIDIA device nodes (the driver's libraries are under /usr)
        for node in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(node), str(node)]
    if isolation.proc:
        args += ["--proc", "/proc"]
    args += ["--perms", "1777", "--size", str(TMP_SIZE_BYTES), "--tmpfs", "/tmp"]
    args += ["--perms", "0755", "--dir", "/sandbox"]
    args += ["--ro-bind", str(request.work), SANDBOX_PATHS["work"]]
    args += ["--ro-bind", str(request.inputs), SANDBOX_PATHS["inputs"]]
    args += ["--bind", str(request.output), SANDBOX_PATHS["output"]]
    args += ["--remount-ro", "/", "--chdir", request.workdir or SANDBOX_PATHS["work"], "--"]
    if isolation.privileged:
        setpriv = _tool("setpriv")
        assert setpriv is not None  # checked by probe()
        args += [
            setpriv,
            f"--reuid={SANDBOX_UID}",
            f"--regid={SANDBOX_UID}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]
    return args + argv


def _preexec(
    memory_gb: float, gpus: int, drop_first: bool, join_keyring: Callable[[], object] | None
) -> None:  # pragma: no cover - child
    _limits(memory_gb, gpus)
    if join_keyring is not None:
        # a failure (a kernel without keyrings, a key quota reached) is left alone: the
        # seccomp filter keeps the code from every keyring anyway
        join_keyring()
    if drop_first:
        os.setgroups([])
        os.setgid(SANDBOX_UID)
        os.setuid(SANDBOX_UID)


def _limits(memory_gb: float, gpus: int) -> None:  # pragma: no cover - runs in the child
    import resource

    if gpus == 0:  # CUDA maps far more address space than it uses: no AS limit with GPUs
        size = int(memory_gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    resource.setrlimit(resource.RLIMIT_NPROC, (PIDS_LIMIT, PIDS_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT_BYTES, FILE_SIZE_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@functools.cache
def probe() -> Isolation | str:
    """How the process sandbox runs here, or why it cannot (tried once: a real bwrap)."""
    bwrap = _tool("bwrap")
    if bwrap is None:
        return "bubblewrap is not installed (`apt-get install bubblewrap`)"
    root = os.geteuid() == 0
    privileged = root and _cap_sys_admin()
    if privileged and _tool("setpriv") is None:
        return "setpriv is not installed (util-linux provides it)"
    try:
        seccomp_filter()  # a machine whose syscall numbers it does not know: not ready
    except CodeEnvironmentError as exc:
        return exc.message
    true = _tool("true")
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mlrb-probe-") as folder:
        Path(folder).chmod(0o755)
        request = SandboxRequest(
            command=(),
            work=Path(folder),
            inputs=Path(folder),
            output=Path(folder),
            time_limit_s=30,
            memory_gb=1,
            name="probe",
        )
        # the most isolation that works here: a /proc of its own, no nested user namespaces
        for proc, nested in ((True, True), (True, False), (False, True), (False, False)):
            isolation = Isolation(
                privileged=privileged,
                drop_first=root and not privileged,
                proc=proc,
                no_nested_userns=nested and not privileged,
            )
            with _seccomp_fd() as seccomp:
                done = subprocess.run(
                    bwrap_argv(request, [true or "/bin/true"], isolation, bwrap, seccomp),
                    capture_output=True,
                    text=True,
                    env={},
                    timeout=60,
                    pass_fds=(seccomp,),
                    preexec_fn=functools.partial(
                        _preexec, 1, 0, isolation.drop_first, _session_keyring_joiner()
                    ),
                )
            if done.returncode == 0:
                return isolation
            errors.append(done.stderr.strip())
    why = f"bubblewrap cannot build the sandbox here ({errors[-1] or errors[0]})"
    if _in_container():
        return f"{why}; {CONTAINER_HINT}"
    return (
        f"{why}; run the evaluator as root, or allow unprivileged user namespaces "
        "(sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone, or the AppArmor "
        "restriction kernel.apparmor_restrict_unprivileged_userns=0)"
    )


def process_sandbox_ready() -> str | None:
    """None when the process sandbox can run here, else why not (with what to do)."""
    found = probe()
    return found if isinstance(found, str) else None


def run_process(request: SandboxRequest, python: str) -> SandboxResult:
    """Run the code in a bubblewrap sandbox built from an allow-list (see the module doc)."""
    isolation = probe()
    if isinstance(isolation, str):
        raise CodeEnvironmentError(
            f"the process sandbox cannot run here: {isolation}",
            hint="see docs/code-deliverables.md ('Process sandbox')",
        )
    bwrap = _tool("bwrap")
    assert bwrap is not None
    paths = dict(SANDBOX_PATHS)
    log = request.output.parent / f"{request.output.name}.log"
    join_keyring = _session_keyring_joiner()
    with _seccomp_fd() as seccomp, log.open("xb") as sink, _gpu_sampler(request) as gpu:
        argv = bwrap_argv(request, _argv(request, paths, python), isolation, bwrap, seccomp)
        started = time.perf_counter()
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=_env(request, paths),
            start_new_session=True,
            pass_fds=(seccomp,),
            preexec_fn=functools.partial(
                _preexec, request.memory_gb, request.gpus, isolation.drop_first, join_keyring
            ),
        )
        timed_out = False
        try:
            code: int | None = child.wait(timeout=request.time_limit_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            # bwrap dies; its sandbox's first process follows (--die-with-parent), and with
            # it the PID namespace: every process the code started, even detached ones.
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            code = None
        wall = time.perf_counter() - started
    return SandboxResult(
        backend="process",
        exit_code=code,
        timed_out=timed_out,
        wall_s=wall,
        log_tail=_tail(log),
        gpu_memory=gpu.peak(),
    )


# ----------------------------------------------------------------------------- docker


def docker_client() -> object | None:
    """A client of a Docker engine that answers, or None."""
    try:
        from docker.client import from_env

        client = from_env(timeout=30)
        client.ping()
    except Exception:  # no SDK, no socket, engine down: all mean "no engine"
        return None
    return client


def image_present(client: object, image: str) -> bool:
    """True when the engine has ``image`` locally (nothing is ever pulled)."""
    import docker

    try:
        client.images.get(image)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        return False
    return True


def container_settings(
    request: SandboxRequest, gpu_uuids: list[str] | None = None
) -> dict[str, object]:
    """Keyword arguments of ``containers.create`` for a re-run (pure; tested without an engine).
    ``gpu_uuids``: the GPUs to give it, by UUID (None: the engine's first ``request.gpus``)."""
    paths = dict(CONTAINER_PATHS)
    volumes = {
        str(request.work): {"bind": paths["work"], "mode": "ro"},
        str(request.inputs): {"bind": paths["inputs"], "mode": "ro"},
        str(request.output): {"bind": paths["output"], "mode": "rw"},
    }
    for host, inside in request.extra_mounts:
        volumes[str(host)] = {"bind": inside, "mode": "ro"}
    megabytes = max(int(request.memory_gb * 1024), 6)
    settings: dict[str, object] = {
        "command": _argv(request, paths, "python3"),
        "name": request.name,
        "labels": {CONTAINER_LABEL: request.name},
        "network_mode": "none",
        "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
        "working_dir": request.workdir or paths["work"],
        "volumes": volumes,
        "read_only": True,
        "tmpfs": {"/tmp": "size=256m"},
        "mem_limit": f"{megabytes}m",
        "memswap_limit": f"{megabytes}m",
        "pids_limit": PIDS_LIMIT,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "environment": _env(request, paths),
        "detach": True,
    }
    if request.gpus:
        import docker

        settings["device_requests"] = [
            docker.types.DeviceRequest(device_ids=gpu_uuids, capabilities=[["gpu"]])
            if gpu_uuids
            else docker.types.DeviceRequest(count=request.gpus, capabilities=[["gpu"]])
        ]
        settings["environment"] = {
            k: v for k, v in _env(request, paths).items() if k != "CUDA_VISIBLE_DEVICES"
        }
    return settings


def run_docker(request: SandboxRequest, client: object) -> SandboxResult:
    """Run the code in a container of ``request.image``; the container is removed afterwards."""
    import requests

    import docker

    if request.image is None:
        raise CodeEnvironmentError("the docker sandbox needs the task's image")
    if not image_present(client, request.image):
        raise CodeEnvironmentError(
            f"the task's environment image {request.image!r} is not on this Docker engine",
            hint="build or load it first (nothing is ever pulled)",
        )
    try:  # the code's files must be writable by nobody in the output folder
        os.chown(request.output, SANDBOX_UID, SANDBOX_UID)
    except PermissionError:
        request.output.chmod(0o777)
    # The GPUs by UUID, so the ones watched are the ones given (an index may differ between
    # this process, in a container of its own, and the engine).
    chosen = first_gpus(request.gpus)
    unmeasured = None
    if len(chosen) < request.gpus:  # the engine picks: maybe GPUs this process cannot see
        if chosen:
            unmeasured = (
                f"this process sees {len(chosen)} GPU(s) and the re-run was given "
                f"{request.gpus}: the engine chose them, so they are not the ones watched"
            )
        chosen = []
    settings = container_settings(request, [uuid for _, uuid in chosen] or None)
    container = client.containers.create(request.image, **settings)  # type: ignore[attr-defined]
    timed_out = False
    code: int | None = None
    try:
        with _gpu_sampler(request, [index for index, _ in chosen] or None, unmeasured) as gpu:
            started = time.perf_counter()
            container.start()
            try:
                status = container.wait(timeout=request.time_limit_s)
                code = int(status.get("StatusCode", -1))
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                timed_out = True
                with contextlib.suppress(docker.errors.APIError):  # it may have just ended
                    container.kill()
                container.wait(timeout=30)
            wall = time.perf_counter() - started
        raw = container.logs(stdout=True, stderr=True, tail=200)
        tail = raw.decode("utf-8", "replace")[-LOG_TAIL_BYTES:]
    finally:
        with contextlib.suppress(docker.errors.APIError):  # already gone
            container.remove(force=True)
    return SandboxResult(
        backend="docker",
        exit_code=None if timed_out else code,
        timed_out=timed_out,
        wall_s=wall,
        log_tail=tail,
        gpu_memory=gpu.peak(),
    )
