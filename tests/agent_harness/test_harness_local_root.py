"""The local runtime under a root harness: the agent is a hostile root-started command that
tries to rewrite its TASK.md every way it can; it runs as an unprivileged user without
capabilities, and TASK.md keeps its bytes."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from harness_testkit import BENCHMARK, TASK, harness

from agent_tasks.export import export_task
from agent_tasks.registry import resolve_task

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs a harness running as root")

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "python3"
"""A Python every user can run (this process's may live under root's 0700 home)."""

_SETUID_TO_OWNER = (
    "import os, sys; p = os.environ['TASK_DIR'] + '/TASK.md'; st = os.stat(p)\n"
    "try:\n"
    "    os.setgroups([]); os.setgid(st.st_gid); os.setuid(st.st_uid)\n"
    "    os.chmod(p, 0o644); open(p, 'w').write('pwned')\n"
    "except OSError as exc:\n"
    "    print('setuid refused:', exc); sys.exit(1)\n"
)

HOSTILE = (
    "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status; "
    'echo "ids uid=$(id -u) gid=$(id -g) groups=$(id -G)"; '
    "(echo pwned > $TASK_DIR/TASK.md) 2>/dev/null && echo WROTE-direct || echo REFUSED-direct; "
    "(chmod u+w $TASK_DIR/TASK.md) 2>/dev/null && echo WROTE-chmod || echo REFUSED-chmod; "
    "(chown $(id -u) $TASK_DIR/TASK.md) 2>/dev/null && echo WROTE-chown || echo REFUSED-chown; "
    "(mv $TASK_DIR/TASK.md $TASK_DIR/moved) 2>/dev/null && echo WROTE-mv || echo REFUSED-mv; "
    f'{SYSTEM_PYTHON} -c "$SETUID" && echo WROTE-setuid || echo REFUSED-setuid; '
    "(setpriv --reuid=0 --regid=0 true) 2>/dev/null && echo ROOT-AGAIN || echo NO-ROOT; "
    "mkdir -p $OUTPUT_DIR/model && echo w > $OUTPUT_DIR/model/weights.bin && echo OUTPUT-OK"
)


def _expected_task_md(tmp: Path, time_limit_s: int) -> bytes:
    """TASK.md as the harness writes it for this task and time limit."""
    spec = resolve_task(TASK, BENCHMARK)
    resources = spec.resources.model_copy(update={"time_limit_s": time_limit_s})
    export_task(spec.model_copy(update={"resources": resources}), tmp / "expected")
    return (tmp / "expected" / "TASK.md").read_bytes()


@pytest.mark.parametrize(("user", "ids"), [(None, "65534:65534"), ("4242:4343", "4242:4343")])
def test_a_hostile_local_agent_under_root_cannot_rewrite_its_task(
    runs_dir: Path, tmp_path: Path, user: str | None, ids: str
) -> None:
    env = {**os.environ, "SETUID": _SETUID_TO_OWNER}
    result = harness(
        "run", "agent", "--task", TASK, "--benchmark", BENCHMARK, "--runtime", "local",
        "--runs-dir", str(runs_dir), "--time-limit", "60", "--json", "--command", HOSTILE,
        "--pass-env", "SETUID", *(["--user", user] if user else []), env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    run_dir = runs_dir / record["run_id"]
    log = (run_dir / "agent.log").read_text()
    caps = dict(re.findall(r"^(Cap\w+|NoNewPrivs):\s*(\w+)$", log, re.MULTILINE))
    assert caps == {
        "CapInh": "0" * 16, "CapPrm": "0" * 16, "CapEff": "0" * 16, "CapBnd": "0" * 16,
        "CapAmb": "0" * 16, "NoNewPrivs": "1",
    }  # fmt: skip
    uid, gid = ids.split(":")
    assert f"ids uid={uid} gid={gid} groups={gid}\n" in log
    assert "WROTE" not in log and "ROOT-AGAIN" not in log, log
    for way in ("direct", "chmod", "chown", "mv", "setuid"):
        assert f"REFUSED-{way}" in log
    assert "setuid refused: [Errno 1] Operation not permitted" in log  # Python ran, and was refused
    assert "NO-ROOT" in log and "OUTPUT-OK" in log
    task_md = run_dir / "task" / "TASK.md"
    assert task_md.read_bytes() == _expected_task_md(tmp_path, 60)
    assert not (run_dir / "task" / "moved").exists()
    assert record["status"] == "completed" and record["user"] == ids
    assert record["deliverable"] is not None
    weights = run_dir / "output" / "model" / "weights.bin"
    assert weights.stat().st_uid == 0  # handed back to the invoking user after the run
    assert stat.S_IMODE(run_dir.stat().st_mode) != 0o710 and run_dir.stat().st_gid == 0


def test_a_run_folder_the_agent_user_cannot_reach_is_refused_before_anything(
    tmp_path: Path,
) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    runs_dir = closed / "runs"
    result = harness(
        "run", "agent", "--task", TASK, "--runtime", "local", "--runs-dir", str(runs_dir),
        "--command", "true",
    )  # fmt: skip
    assert result.returncode == 3
    assert "runs as 65534:65534 under root" in result.stderr
    assert "hint: choose a --runs-dir that every user can pass through" in result.stderr
    assert not any(runs_dir.iterdir())  # no run folder


@pytest.mark.parametrize("user", ["0", "0:0", "1000:0", "image", "nobody"])
def test_a_local_agent_under_root_is_never_root(runs_dir: Path, user: str) -> None:
    result = harness(
        "run", "agent", "--task", TASK, "--runtime", "local", "--runs-dir", str(runs_dir),
        "--user", user, "--command", "true",
    )  # fmt: skip
    assert result.returncode == 2
    assert f"--user {user!r}" in result.stderr and "hint:" in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
