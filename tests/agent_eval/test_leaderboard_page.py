"""The leaderboard page in a real headless Chromium, driven as a person would: clicks, then reads.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe`` (messages on
file descriptors 3 and 4, separated by NUL bytes), so no browser-automation package is needed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_leaderboard import (
    evaluation,
    make_spec,
    paper_reference_data,
    paper_specs,
    raw_for,
)

from agent_eval.leaderboard import (
    build_boards,
    parse_reference_data,
    rank_rows,
    render_page,
    write_page,
)
from agent_eval.leaderboard.views import page_data

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--remote-debugging-pipe",
]
# Puts the two pipe ends on fds 3 and 4, where Chromium expects them, then becomes Chromium.
_TRAMPOLINE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


class Browser:
    """A headless Chromium and one page of it, spoken to over the DevTools pipe."""

    def __init__(self, chromium: Path, profile: Path) -> None:
        to_child, self._send = os.pipe()
        self._recv, from_child = os.pipe()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _TRAMPOLINE,
                str(to_child),
                str(from_child),
                str(chromium),
                *FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            pass_fds=(to_child, from_child),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        browser: bool = False,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and wait for its answer (events meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not browser:
            message["sessionId"] = self.session
        os.write(self._send, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for reply in self._messages(deadline):
                if reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return dict(reply.get("result", {}))
                self.events.append(reply)

    def _messages(self, deadline: float) -> Iterator[dict[str, Any]]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._recv], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._recv, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\0")
        for raw in complete:
            yield json.loads(raw)

    def open(self, url: str) -> None:
        """Open a tab on this URL, sized like a laptop screen, and wait for the page's JS."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)
        attached = self.call(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            browser=True,
        )
        self.session = attached["sessionId"]
        self.call("Network.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1300, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        )
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.body && document.body.dataset.ready === '1'")

    def js(self, expression: str) -> Any:
        """Evaluate in the page; the JSON-able result."""
        out = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in out:
            raise RuntimeError(f"page error: {out['exceptionDetails']}")
        return out["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> None:
        """Poll until the expression is truthy in the page."""
        deadline = time.monotonic() + timeout
        while not self.js(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied {expression!r}")
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the centre of the element."""
        box = self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        assert box is not None, f"nothing on the page matches {selector}"
        x, y = box
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def screenshot(self, path: Path) -> None:
        """Save a PNG of the whole page."""
        height = self.js("document.documentElement.scrollHeight")
        shot = self.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": 1300,
                    "height": min(int(height), 6000),
                    "scale": 1,
                },
            },
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        """Ask the browser to quit; kill it if it does not."""
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", browser=True, timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._send)
        os.close(self._recv)


TABLE_JS = """(() => {
  const table = document.querySelector('#board');
  if (!table) return null;
  return {
    head: [...table.querySelectorAll('thead th')].map((th) => th.dataset.key),
    rows: [...table.querySelectorAll('tbody tr')].map((tr) => ({
      agent: tr.dataset.agent, kind: tr.dataset.kind,
      rank: tr.querySelector('td.rank').textContent,
      avg: tr.querySelector('td.avg').textContent,
      cells: Object.fromEntries([...tr.querySelectorAll('td[data-task]')].map(
        (td) => [td.dataset.task, {text: td.firstChild.textContent, tone: td.className}])),
    })),
  };
})()"""


@pytest.fixture(scope="module")
def scene() -> dict[str, Any]:
    """The paper's published rows plus two recorded agents (one missing a task)."""
    specs = paper_specs()
    batch = parse_reference_data(paper_reference_data(), specs)
    evs = []
    for i, rel in enumerate([40.0, 60.0, 50.0]):  # mean 50 on every task, 3 trials
        evs += [
            evaluation(s, raw_for(s, rel), agent="bold-agent", run_id=f"bold-{s.name}-{i}")
            for s in specs
        ]
    evs += [
        evaluation(s, raw_for(s, -2.0), agent="careful-agent", run_id=f"careful-{s.name}")
        for s in specs[1:]  # nothing on the first task
    ]
    boards = build_boards(evs, batch.values, specs)
    return {"specs": specs, "board": boards[0], "boards": boards}


@pytest.fixture
def browser(chromium_path: Path, tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium with its own profile."""
    b = Browser(chromium_path, tmp_path / "profile")
    yield b
    b.close()


def _agents(table: dict[str, Any]) -> list[str]:
    return [r["agent"] for r in table["rows"]]


def _row(table: dict[str, Any], agent: str) -> dict[str, Any]:
    return next(r for r in table["rows"] if r["agent"] == agent)


def test_page_is_self_contained(scene: dict[str, Any]) -> None:
    text = render_page(page_data(scene["boards"], "now"))
    assert not re.search(r"<script[^>]*\bsrc=", text)
    assert not re.search(r"<link\b", text)
    assert "@import" not in text and "url(" not in text
    assert text.count("<script") == 2  # the data and the code, both inline


def test_page_metric_filter_sort_and_details(
    browser: Browser, scene: dict[str, Any], tmp_path: Path
) -> None:
    board = scene["board"]
    page = write_page(scene["boards"], tmp_path / "leaderboard.html")
    browser.open(page.as_uri())

    # Default view: relative score, mean over trials; the reference row on top, then by average.
    table = browser.js(TABLE_JS)
    expected = [r.row.agent for r in rank_rows(board, "relative")]
    assert _agents(table) == expected
    assert table["rows"][0]["agent"] == "Top Human in Competition"
    assert table["rows"][0]["rank"] == "ref"
    bold = _row(table, "bold-agent")
    assert bold["rank"] == "🥇1" and bold["avg"] == "50.0"
    gemini = _row(table, "MLAB (gemini-exp-1206)")
    assert gemini["rank"] == "🥈2" and gemini["avg"] == "9.3"
    assert gemini["cells"]["mlrc_rainfall_prediction"] == {"text": "43.1", "tone": "pos"}
    assert gemini["cells"]["mlrc_meta_learning"] == {"text": "-1.1", "tone": "neg"}
    careful = _row(table, "careful-agent")  # misses a task: shown as missing, ranked last
    assert careful["cells"]["mlrc_temporal_action_loc"]["text"] == "—"
    assert careful["avg"] == "-2.0 (6/7)" and careful["rank"] == "9"
    assert _row(table, "MLAB (claude-3-5-sonnet-v2)")["avg"] == "-5.2"
    assert browser.js("document.querySelectorAll('#plot circle').length") > 0

    # Switch the metric to absolute improvement: the published absolute table, re-ranked.
    browser.click("input[name=metric][value=absolute]")
    browser.wait_for("location.hash.includes('metric=absolute')")
    table = browser.js(TABLE_JS)
    assert _agents(table) == [r.row.agent for r in rank_rows(board, "absolute")]
    assert _row(table, "Top Human in Competition")["avg"] == "280.7"
    published = [r for r in table["rows"] if r["kind"] == "published"]
    assert [r["agent"] for r in published[:2]] == [
        "MLAB (claude-3-5-sonnet-v2)",
        "MLAB (gemini-exp-1206)",
    ]
    assert _row(table, "MLAB (claude-3-5-sonnet-v2)")["avg"] == "31.9"

    # Filter to one task: only its column; rows ordered by it.
    browser.click("#no-tasks")
    assert browser.js("document.querySelector('#empty-state').textContent").startswith(
        "No task selected"
    )
    assert browser.js("document.querySelector('#board')") is None
    browser.click("input[data-task=mlrc_rainfall_prediction]")
    table = browser.js(TABLE_JS)
    assert table["head"] == ["rank", "agent", "mlrc_rainfall_prediction", "avg"]
    published = [r for r in table["rows"] if r["kind"] == "published"]
    assert [r["cells"]["mlrc_rainfall_prediction"]["text"] for r in published[:3]] == [
        "100.8",
        "91.4",
        "83.6",
    ]
    assert _row(table, "careful-agent")["rank"].endswith(tuple("0123456789"))

    # All tasks again, then sort by a column (descending, then ascending).
    browser.click("#all-tasks")
    browser.click("th[data-key=mlrc_machine_unlearning]")
    table = browser.js(TABLE_JS)
    values = [float(r["cells"]["mlrc_machine_unlearning"]["text"]) for r in table["rows"][1:]]
    assert values == sorted(values, reverse=True)
    assert _agents(table)[1:4] == [
        "bold-agent",
        "CoI-Agent (o1) + MLAB (gpt-4o)",
        "Human Idea + MLAB (gpt-4o)",
    ]
    browser.click("th[data-key=mlrc_machine_unlearning]")
    table = browser.js(TABLE_JS)
    assert table["rows"][0]["agent"] == "Top Human in Competition"  # the reference stays on top
    assert table["rows"][1]["agent"] == "MLAB (claude-3-5-sonnet-v2)"
    assert table["rows"][1]["cells"]["mlrc_machine_unlearning"]["text"] == "-58.6"
    assert "sort=mlrc_machine_unlearning" in browser.js("location.hash")
    assert "dir=asc" in browser.js("location.hash")
    browser.screenshot(ARTIFACTS / "leaderboard.png")

    # Best of k is its own, labelled view.
    browser.click("input[name=metric][value=relative]")
    browser.click("input[name=trials][value=best]")
    table = browser.js(TABLE_JS)
    assert _row(table, "bold-agent")["avg"] == "60.0"
    assert "best of k" in browser.js("document.querySelector('#metric-label').textContent")

    # Task details: the story and one card per task with its competition link.
    browser.click("nav button[data-view=details]")
    assert browser.js("document.querySelector('#details').hidden") is False
    cards = browser.js(
        "[...document.querySelectorAll('.card')].map((c) => [c.dataset.task,"
        " c.querySelector('a') && c.querySelector('a').href])"
    )
    assert [c[0] for c in cards] == [s.name for s in scene["specs"]]
    assert all(link and link.startswith("https://") for _, link in cards)
    assert "MLRC-Bench" in browser.js("document.querySelector('.story h2').textContent")
    browser.screenshot(ARTIFACTS / "leaderboard-details.png")

    # Nothing was fetched but the page itself.
    fetched = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert fetched and all(u.startswith(("file:", "data:", "about:")) for u in fetched), fetched


def test_page_reads_its_view_from_the_url_and_shows_empty_states(
    browser: Browser, scene: dict[str, Any], tmp_path: Path
) -> None:
    page = write_page(scene["boards"], tmp_path / "board.html")
    browser.open(page.as_uri() + "#metric=absolute&tasks=mlrc_llm_merging&sort=avg&dir=asc")
    table = browser.js(TABLE_JS)
    assert table["head"] == ["rank", "agent", "mlrc_llm_merging", "avg"]
    ranked = [r for r in table["rows"] if r["kind"] != "reference"]
    averages = [float(r["avg"].split()[0]) for r in ranked]
    assert averages == sorted(averages)

    empty = write_page([], tmp_path / "empty.html")
    browser.open(empty.as_uri())
    text = browser.js("document.querySelector('#empty-state').textContent")
    assert text.startswith("No results recorded yet")


HOSTILE = "</script><script>window.__pwned = 1</script><img src=x onerror='window.__pwned=2'>"
LONG_NAME = "agent-" + "x" * 300  # one word: nothing to break it at


def test_page_escapes_names_fits_long_ones_and_never_plots_raw_values_on_one_axis(
    browser: Browser, tmp_path: Path
) -> None:
    specs = paper_specs()
    doc = {
        "source": "a source with </script><b>markup</b> & 'quotes'",
        "benchmark": "mlrc_bench",
        "metric": "relative",
        "rows": [
            {"agent": LONG_NAME, "scores": {s.name: 10.0 for s in specs}},
            {"agent": "<img src=x onerror='window.__pwned=3'>", "scores": {specs[0].name: 1.0}},
        ],
    }
    refs = parse_reference_data(doc, specs).values
    evs = [
        evaluation(s, raw_for(s, rel), agent=HOSTILE, run_id=f"h-{s.name}-{i}")
        for s in specs
        for i, rel in enumerate([20.0, 30.0])
    ]
    page = write_page(build_boards(evs, refs, specs), tmp_path / "hostile.html")
    browser.open(page.as_uri())

    assert browser.js("window.__pwned === undefined")
    assert browser.js("document.querySelectorAll('main img, main b').length") == 0
    agents = _agents(browser.js(TABLE_JS))
    assert HOSTILE in agents and LONG_NAME in agents
    assert "</script><b>markup</b>" in browser.js("document.querySelector('.notes').textContent")
    # A long name wraps inside its column: every task column and the average stay in view.
    fits = "(() => { const w = document.querySelector('.tablewrap');"
    fits += " return w.scrollWidth <= w.clientWidth; })()"
    assert browser.js(fits)

    # Raw values of different tasks share no scale: the plot shows the relative score instead.
    browser.click("input[name=metric][value=raw]")
    browser.wait_for("location.hash.includes('metric=raw')")
    assert "no common scale" in browser.js("document.querySelector('#plot-note').textContent")
    labels = browser.js("[...document.querySelectorAll('#plot text')].map((t) => t.textContent)")
    assert "0.0" in labels  # the relative axis, with its baseline at 0
    assert browser.js("document.querySelectorAll('#plot circle').length") == len(specs)
    browser.screenshot(ARTIFACTS / "leaderboard-hostile-raw.png")

    # Only imported rows, which carry no raw values: say so, not "no results recorded".
    only_refs = write_page(build_boards([], refs, specs), tmp_path / "refs.html")
    browser.open(only_refs.as_uri() + "#metric=raw")
    text = browser.js("document.querySelector('#empty-state').textContent")
    assert text.startswith("No raw values for the selected tasks")


def test_plot_keeps_long_task_labels_inside_the_picture(browser: Browser, tmp_path: Path) -> None:
    specs = [
        make_spec("smoke_a", "smoke", title="Tiny language model on the CPU"),
        make_spec(
            "smoke_an_unusually_long_task_name_that_keeps_on_going",
            "smoke",
            title="A task title far longer than a column header may be",
        ),
    ]
    evs = [evaluation(s, raw_for(s, 50.0), agent="agent", run_id=s.name) for s in specs]
    page = write_page(build_boards(evs, [], specs), tmp_path / "labels.html")
    browser.open(page.as_uri())
    labels = browser.js(
        "[...document.querySelectorAll('#plot text.tasklabel')].map((t) =>"
        " [t.firstChild.textContent, t.getBBox().x, t.querySelector('title').textContent])"
    )
    assert [title for _, _, title in labels] == [s.title for s in specs]
    assert all(x >= 0 for _, x, _ in labels), labels  # nothing cut off on the left
    assert labels[0][0] == "Tiny language model on the CPU"
    assert labels[1][0].endswith("…") and len(labels[1][0]) == 40


def test_page_of_an_empty_database_shows_every_benchmarks_task_details(
    browser: Browser, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from agent_eval.cli import app
    from agent_tasks.registry import benchmarks, get_task

    page = tmp_path / "site" / "index.html"
    result = CliRunner().invoke(
        app, ["leaderboard", "--results-dir", str(tmp_path / "results"), "--html", str(page)]
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "results").exists()  # a view writes no database
    browser.open(page.as_uri() + "#view=details&benchmark=mlrc_bench")
    names = browser.js(
        "[...document.querySelectorAll('#bench-select option')].map(o => o.textContent)"
    )
    assert sorted(names) == sorted(benchmarks())
    cards = browser.js(
        "[...document.querySelectorAll('#details .card')].map(c => "
        "[c.dataset.task, (c.querySelector('a') || {}).href || null])"
    )
    spec = get_task("mlrc_llm_merging")
    links = dict(cards)
    assert spec.competition_url and links[spec.name].rstrip("/") == spec.competition_url.rstrip("/")
    assert len(cards) == 7
