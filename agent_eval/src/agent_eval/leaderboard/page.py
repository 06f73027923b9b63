"""The leaderboard as one self-contained web page: inline CSS and JS, data embedded as JSON.

No external script, font, image or stylesheet is referenced, so the file works offline and on
any static host. The page's state (metric, trials mode, selected tasks, sort, view) is mirrored
in the URL fragment, e.g. ``leaderboard.html#metric=absolute&tasks=a,b&sort=avg&dir=asc``, so a
view can be shared as a link.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_eval.errors import EvalUsageError
from agent_eval.leaderboard.table import Board
from agent_eval.leaderboard.views import page_data

if TYPE_CHECKING:
    from jinja2 import Environment


def _environment() -> Environment:
    """The page's template environment: templates and assets are package data; autoescape on."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("agent_eval", "resources/page"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render_page(data: dict[str, Any], title: str = "ML Research Benchmark leaderboard") -> str:
    """The complete HTML document for this page data (every inserted string autoescaped)."""
    from markupsafe import Markup

    env = _environment()
    assert env.loader is not None
    # "<" escaped so no string in the data can close the script element; the JSON is otherwise
    # inserted verbatim (HTML escaping would corrupt it inside a script element).
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")
    asset = partial(env.loader.get_source, env)
    return env.get_template("page.html.j2").render(
        title=title,
        generated_at=str(data.get("generated_at", "")),
        payload=Markup(payload),
        css=Markup(asset("page.css")[0]),
        script=Markup(asset("page.js")[0]),
    )


def write_page(
    boards: list[Board],
    path: str | Path,
    title: str | None = None,
    pages: Mapping[str, str] | None = None,
    left_out: Sequence[tuple[str, str, str | None, str]] = (),
) -> Path:
    """Write the page for these boards atomically; return its path. ``pages``: run id -> the
    link to its run's page, relative to this page; ``left_out``: the evaluations not ranked,
    each with why (listed on the page, newest last).

    A path that is a folder, or whose folder cannot be made or written, is a usage error (exit 2)
    naming the path; no partial or temporary file is left behind.
    """
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    default = "ML Research Benchmark leaderboard"
    at = next((b.at_s for b in boards if b.at_s is not None), None)
    if at is not None:
        from agent_contracts.durations import describe

        default += f" at {describe(int(at))} into each run"
    text = render_page(page_data(boards, generated, pages, left_out), title or default)
    return write_html(text, Path(path))


def write_html(text: str, target: Path) -> Path:
    """Write a page atomically (readable like any new file); a usage error (exit 2) naming the
    path when it is a folder or cannot be written, leaving no partial file."""
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
