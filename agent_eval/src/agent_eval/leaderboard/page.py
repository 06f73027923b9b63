"""The leaderboard as one self-contained web page: inline CSS and JS, data embedded as JSON.

No external script, font, image or stylesheet is referenced, so the file works offline and on
any static host. The page's state (metric, trials mode, selected tasks, sort, view) is mirrored
in the URL fragment, e.g. ``leaderboard.html#metric=absolute&tasks=a,b&sort=avg&dir=asc``, so a
view can be shared as a link.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from agent_eval.errors import EvalUsageError
from agent_eval.leaderboard.table import Board
from agent_eval.leaderboard.views import page_data


def _asset(name: str) -> str:
    """Text of one of the page's own assets (shipped as package data, inlined in the page)."""
    return resources.files("agent_eval").joinpath("data", "page", name).read_text(encoding="utf-8")


_BODY = """<header><h1>__TITLE__</h1><p>Generated __WHEN__ from recorded evaluations and imported
published results. Scores: 0 = baseline, 100 = reference, per task.</p></header>
<nav><button data-view="board" class="active">Leaderboard</button>
<button data-view="details">Task details</button></nav>
<main id="app">
<section id="view-board">
<div class="panel controls">
<fieldset id="bench-box"><legend>Benchmark</legend><select id="bench-select"></select></fieldset>
<fieldset><legend>Metric</legend>
<label><input type="radio" name="metric" value="relative" checked> Relative to reference</label>
<label><input type="radio" name="metric" value="absolute"> Absolute improvement %</label>
<label><input type="radio" name="metric" value="raw"> Raw value</label></fieldset>
<fieldset><legend>Trials</legend>
<label><input type="radio" name="trials" value="mean" checked> Mean (95 % CI)</label>
<label><input type="radio" name="trials" value="best"> Best of k</label></fieldset>
<fieldset><legend>Tasks <button class="linkbtn" id="all-tasks" type="button">all</button>
<button class="linkbtn" id="no-tasks" type="button">none</button></legend>
<div class="taskboxes" id="task-filter"></div></fieldset>
</div>
<div class="panel"><div class="src" id="metric-label"></div><div id="board-host"></div></div>
<div class="panel"><h3 style="margin:0 0 6px">Per-task scores per agent</h3>
<div id="plot-host"></div></div>
</section>
<section id="details" hidden></section>
</main>"""


def render_page(data: dict[str, Any], title: str = "ML Research Benchmark leaderboard") -> str:
    """The complete HTML document for this page data."""
    # "<" escaped so no string in the data can close the script element.
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")
    body = _BODY.replace("__TITLE__", html.escape(title)).replace(
        "__WHEN__", html.escape(str(data.get("generated_at", "")))
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_asset('page.css')}</style></head>"
        f"<body>{body}"
        f'<script type="application/json" id="board-data">{payload}</script>'
        f"<script>{_asset('page.js')}</script></body></html>\n"
    )


def write_page(boards: list[Board], path: str | Path, title: str | None = None) -> Path:
    """Write the page for these boards atomically; return its path.

    A path that is a folder, or whose folder cannot be made or written, is a usage error (exit 2)
    naming the path; no partial or temporary file is left behind.
    """
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = render_page(page_data(boards, generated), title or "ML Research Benchmark leaderboard")
    target = Path(path)
    if target.is_dir():
        raise EvalUsageError(
            f"cannot write the page to {str(target)!r}: it is a folder",
            hint=f"give a file path, for example --html {target / 'leaderboard.html'}",
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
        reason = f"{str(blocking)!r} is a file" if blocking else exc.strerror or type(exc).__name__
        raise EvalUsageError(
            f"cannot create the folder {str(target.parent)!r} for the page: {reason}",
            hint="give --html a path in a folder you can write to",
        ) from None
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".html")
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # a page to publish: readable like any new file
        tmp.replace(target)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise EvalUsageError(
            f"cannot write the page to {str(target)!r}: {exc.strerror or type(exc).__name__}",
            hint="give --html a path in a folder you can write to",
        ) from None
    return target
