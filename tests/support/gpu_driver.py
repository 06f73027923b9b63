"""A scripted ``nvidia-smi`` for tests on machines without a GPU (the driver cannot exist here).

It answers the queries the project makes (``agent_contracts.gpu``): the GPUs' names and UUIDs,
their memory in use once (the first reading of a list), and in a loop (``--loop-ms``: the
other readings, one per interval, the last repeating until it is stopped). Everything else it
is asked exits 9. What it was asked is appended to ``calls`` in its state folder.
"""

from __future__ import annotations

import os
from pathlib import Path

SCRIPT = """#!/bin/sh
state={state}
echo "$*" >> "$state/calls"
case "$*" in
  *index,name*) cat "$state/names" ;;
  *index,uuid*) sed 's/, .*//; s/.*/&, GPU-00000000-0000-0000-0000-00000000000&/' "$state/names" ;;
  *index,memory.used*--loop-ms=*)
    for arg in "$@"; do case "$arg" in --loop-ms=*) ms=${{arg#--loop-ms=}} ;; esac; done
    secs=$(awk "BEGIN {{ print $ms / 1000 }}")
    n=2
    while :; do
      line=$(sed -n "${{n}}p" "$state/used")
      if [ -n "$line" ]; then n=$((n + 1)); else line=$(tail -n 1 "$state/used"); fi
      printf '%b\\n' "$line" || exit 0
      sleep "$secs" > /dev/null
    done ;;
  *index,memory.used*) printf '%b\\n' "$(sed -n 1p "$state/used")" ;;
  *) exit 9 ;;
esac
"""


def scripted_nvidia_smi(
    folder: Path, names: dict[str, str], used_mib: list[dict[str, int]]
) -> Path:
    """A folder holding ``nvidia-smi`` (put it first on PATH): GPUs ``names`` (index -> name),
    and per call the MiB each index uses (``used_mib[0]`` is the first reading)."""
    state = folder / "state"
    state.mkdir(parents=True)
    (state / "calls").write_text("")
    (state / "names").write_text("".join(f"{i}, {name}\n" for i, name in names.items()))
    (state / "used").write_text(
        "".join(
            ";".join(f"{i}, {mib}" for i, mib in reading.items()).replace(";", "\\n") + "\n"
            for reading in used_mib
        )
    )
    tool = folder / "bin" / "nvidia-smi"
    tool.parent.mkdir()
    tool.write_text(SCRIPT.format(state=state))
    tool.chmod(0o755)
    for path in (folder, state, tool.parent):
        path.chmod(0o755)
    for name in ("calls", "names", "used"):
        (state / name).chmod(0o666)
    return tool.parent


def path_with(bin_dir: Path) -> str:
    """PATH with ``bin_dir`` first."""
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
