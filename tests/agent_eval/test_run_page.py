"""The page per run (``agent-eval view RUN_DIR --html FILE``), opened in headless Chromium.

A synthetic day-long run (5,000 model calls, 200,000 log lines) as the harness leaves it, with
a results file carrying a score-over-time series; hostile markup planted in agent.log and in a
model message must show as text and never run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from run_page_testkit import EVIL_LOG, EVIL_MESSAGE, call_text, make_run
from support.browser import Browser

from agent_eval.cli import main

CALLS, LOG_LINES = 5000, 200_000


def _view(*args: str) -> int:
    try:
        main(["view", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The day-long run and its results file."""
    return make_run(tmp_path_factory.mktemp("day"), calls=CALLS, log_lines=LOG_LINES)


@pytest.fixture
def browser(chromium_path: Path, tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium with its own profile."""
    b = Browser(chromium_path, tmp_path / "profile")
    yield b
    b.close()


def test_the_page_is_one_self_contained_file(tmp_path: Path) -> None:
    run_dir, results = make_run(tmp_path, calls=3, log_lines=20)
    page = tmp_path / "page.html"
    assert _view(str(run_dir), "--html", str(page), "--results", str(results)) == 0
    text = page.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", text) and not re.search(r"<link\b", text)
    assert "url(" not in text and "http://" not in text and "https://" not in text
    assert text.count("<script") == 2  # the data and the code, both inline
    assert EVIL_LOG not in text and EVIL_MESSAGE not in text  # never raw markup


def test_a_folder_without_run_json_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _view(str(tmp_path), "--html", str(tmp_path / "p.html")) == 2
    assert "has no run.json" in capsys.readouterr().err
    assert not (tmp_path / "p.html").exists()


@pytest.mark.browser
def test_a_day_long_run_opens_and_shows_calls_chart_and_ending(
    big_run: tuple[Path, Path], browser: Browser, tmp_path: Path
) -> None:
    run_dir, results = big_run
    page = tmp_path / "run.html"
    assert _view(str(run_dir), "--html", str(page), "--results", str(results)) == 0
    browser.open(page.as_uri())

    # The evaluation, its provenance, the chart of 24 snapshots, and the ending.
    evaluation = browser.js("document.querySelector('#evaluation').innerText")
    assert "perplexity = 30" in evaluation and "normalised score 75.00" in evaluation
    assert browser.js("document.querySelectorAll('#chart circle').length") == 24
    assert browser.js("document.querySelector('#chart polyline').getAttribute('points')")
    ending = browser.js("document.querySelector('#ending').innerText")
    assert "completed" in ending and "working time 86387.5 s" in ending
    assert "final line: deliverable saved to /app/output/model" in ending

    # The first call, expanded by a click: the turns it added (the hostile one as text) and
    # the reply, with its tokens and the running totals.
    browser.click("#call-1 > summary")
    browser.wait_for("!!document.querySelector('#call-1 .turn')")
    first = browser.js("document.querySelector('#call-1').innerText")
    assert EVIL_MESSAGE in first and call_text(1) in first
    assert "901 in / 40 out, $0.0002" in first and "so far 901 in / 40 out" in first
    # The hostile log line is text on the page; nothing it carried ran.
    assert EVIL_LOG in browser.js("document.querySelector('#timeline').innerText")
    assert browser.js("window.__pwned === undefined && !document.querySelector('img[src=x]')")

    # A call deep in the day, by its link: built on demand, opened, with its cumulative cost.
    browser.js("location.hash = '#call-4999'")
    browser.wait_for("!!document.querySelector('#call-4999 .turn')")
    deep = browser.js("document.querySelector('#call-4999').innerText")
    assert call_text(4999) in deep and "so far" in deep and "$0.9998" in deep
    # Scrolling to the bottom builds the rest, up to the last log line.
    browser.wait_for(
        "(window.scrollTo(0, document.body.scrollHeight), "
        "document.querySelector('#more').textContent === 'end of the timeline')",
        timeout=60,
    )
    assert browser.js("document.querySelectorAll('#timeline details.call').length") == CALLS
    last_log = browser.js("[...document.querySelectorAll('#timeline .log')].pop().innerText")
    assert (
        "final line: deliverable saved" in last_log
        and f"lines {LOG_LINES - 49}-{LOG_LINES + 1}" in last_log
    )


def test_a_log_longer_than_the_page_holds_keeps_its_start_and_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_eval import run_page

    run_dir, _ = make_run(tmp_path, calls=10, log_lines=2000)
    monkeypatch.setattr(run_page, "PAGE_LOG_BYTES", 20_000)
    monkeypatch.setattr(run_page, "PAGE_LOG_HEAD_BYTES", 5_000)
    data = run_page.page_data(run_dir, [])
    logs = [item for item in data["timeline"] if item["k"] == "log"]
    text = "\n".join(item["x"] for item in logs)
    assert logs[0]["l"] == 1 and text.startswith("[step 0] ")
    assert logs[-1]["le"] == 2001 and text.endswith(
        "final line: deliverable saved to /app/output/model"
    )
    assert "of agent.log are not on this page" in text
    assert "[step 1000] " not in text  # the middle is left out
    assert data["log_lines"] == 2001 and len(text) < 20_000 + 1_000
    # Line numbers stay agent.log's own on both sides of the gap.
    numbered = [(item["l"], item["le"]) for item in logs]
    assert all(a <= b for a, b in numbered) and numbered == sorted(numbered)


def test_the_page_says_whether_the_evaluation_is_ranked_and_why_not(tmp_path: Path) -> None:
    """The result names its run but was a quick check: the page says it is not ranked, and
    why, as the evaluate output and history do."""
    run_dir, results = make_run(tmp_path, calls=1, log_lines=5)
    document = json.loads(results.read_text())
    document["environment"]["sample_limit"] = 4
    results.write_text(json.dumps(document))
    page = tmp_path / "page.html"
    assert _view(str(run_dir), "--html", str(page), "--results", str(results)) == 0
    assert "not ranked</b>: a quick check (--limit 4)" in page.read_text()
