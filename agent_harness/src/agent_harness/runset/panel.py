"""What a user sees while a set runs: a live rich panel on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from agent_harness.timelimit import format_seconds

PLAIN_EVERY_S = 30.0
"""How often a plain (non-terminal) progress line is printed when nothing else happens."""


def _fmt(seconds: float | None) -> str:
    return "?" if seconds is None else format_seconds(max(0, int(seconds)))


def counts_line(snap: dict[str, Any]) -> str:
    """``12/24 done (10 ok, 2 failed) | 4 running | 8 queued | GPUs 3/4 | 1m20s, ~2m left``."""
    finished = snap["finished"]
    done = sum(finished.values())
    ok = finished.get("completed", 0)
    bad = done - ok
    parts = [
        f"{done}/{snap['total']} finished ({ok} completed, {bad} failed/timeout/error)",
        f"{len(snap['running'])} running",
        f"{snap['queued']} queued",
    ]
    if snap["gpus_total"]:
        parts.append(f"GPUs {snap['gpus_used']}/{snap['gpus_total']} busy")
    parts.append(f"elapsed {_fmt(snap['elapsed_s'])}, about {_fmt(snap['eta_s'])} left")
    if snap.get("stopping"):
        parts.append("STOPPING")
    return " | ".join(parts)


def panel(snap: dict[str, Any]) -> Any:
    """The live view: the counts, then one row per GPU and per running cell."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("running cell", no_wrap=True)
    table.add_column("GPUs")
    table.add_column("elapsed / limit")
    for run in snap["running"]:
        table.add_row(
            run["cell"],
            ",".join(run["gpus"]) or "-",
            f"{_fmt(run['elapsed_s'])} / {_fmt(run['limit_s'])}",
        )
    gpus = " ".join(
        f"[{'red' if holder else 'green'}]{gpu}[/]" for gpu, holder in snap["gpus"].items()
    )
    head = Text.from_markup(f"[bold]{snap['name']}[/]  " + counts_line(snap).replace("[", "\\["))
    parts: list[Any] = [head]
    if gpus:
        parts.append(Text.from_markup(f"GPUs: {gpus}"))
    if snap["running"]:
        parts.append(table)
    return Group(*parts)


class SetView:
    """Progress of a set: rich Live on a terminal, timestamped plain lines elsewhere."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live = tty if live is None else live
        self._live: Any = None
        self._last_plain = 0.0
        self._last_counts = ""

    def start(self) -> None:
        """Begin the live panel (terminal only)."""
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                console=Console(file=self.stream), refresh_per_second=4, transient=True
            )
            self._live.start()

    def say(self, text: str) -> None:
        """An event line (a cell started or ended)."""
        line = f"{time.strftime('%H:%M:%S')} batch: {text}"
        if self._live is not None:
            self._live.console.print(line, highlight=False, markup=False)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def update(self, snap: dict[str, Any]) -> None:
        """Refresh the panel, or print the counts now and then."""
        if self._live is not None:
            self._live.update(panel(snap))
            return
        counts = counts_line(snap).split(" | elapsed")[0]
        now = time.monotonic()
        if counts != self._last_counts or now - self._last_plain >= PLAIN_EVERY_S:
            self._last_counts, self._last_plain = counts, now
            self.say(counts_line(snap))

    def stop(self) -> None:
        """End the live panel."""
        if self._live is not None:
            self._live.stop()
            self._live = None
