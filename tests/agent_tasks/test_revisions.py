"""Pinned Hub commits: the catalogue's specs read them from revisions.json, and
``scripts/pin_revisions.py`` fills that file from the Hub (here a scripted Hub on loopback)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent_tasks.catalogue.revisions import pinned_revisions, read_revisions
from agent_tasks.errors import SpecError

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "pin_revisions.py"
SCORED = {  # the task datasets the evaluator reads rows of
    "AlgorithmicResearchGroup/math_reasoning_autoformalization_track",
    "AlgorithmicResearchGroup/budget_model_train",
    "AlgorithmicResearchGroup/budget_model_inference",
}


def _commit(dataset: str) -> str:
    return hashlib.sha1(f"scripted {dataset}".encode()).hexdigest()


@pytest.fixture
def hub() -> Iterator[tuple[str, list[str]]]:
    """A Hub on loopback that answers every dataset's info with a commit of its own."""
    asked: list[str] = []

    class Hub(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if not path.startswith("/api/datasets/"):
                self.send_error(404)
                return
            dataset = path.removeprefix("/api/datasets/")
            asked.append(dataset)
            body = json.dumps({"id": dataset, "sha": _commit(dataset), "private": False}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def _script(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_ENDPOINT": endpoint}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120
    )


WIRED = """
import json, sys
import agent_tasks.catalogue.revisions as revisions
pins = json.loads(sys.argv[1])
revisions.pinned_revisions = lambda: pins  # as if revisions.json held these
from agent_tasks.registry import list_tasks
from agent_eval.prefetch import needs
seen = {}
for spec in list_tasks():
    for d in (*spec.datasets, *spec.evaluation.datasets):
        seen.setdefault(d.id, set()).add(d.revision)
    for kind, details in needs(spec):
        if kind == "hf":
            seen.setdefault("prefetch:" + details["id"], set()).add(details["revision"])
print(json.dumps({k: sorted(v, key=str) for k, v in seen.items()}))
"""


def test_every_spec_and_what_prefetch_fetches_read_the_pinned_commit() -> None:
    """With revisions.json holding a commit for each of the catalogue's Hub datasets, every
    spec that names one (the agents' data and the evaluator's hidden splits) and every split
    prefetch fetches carry exactly that commit."""
    ids = sorted({*SCORED, *(f"AlgorithmicResearchGroup/{n}" for n in (
        "minipile", "babylm", "edge_llm_training", "llm_merging"))})  # fmt: skip
    pins = {dataset: _commit(dataset) for dataset in ids}
    done = subprocess.run(
        [sys.executable, "-c", WIRED, json.dumps(pins)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    for dataset, commit in pins.items():
        assert seen[dataset] == [commit], dataset  # no spec reads it unpinned
    for dataset in SCORED:
        assert seen[f"prefetch:{dataset}"] == [pins[dataset]]  # fetched at that commit


def test_the_script_pins_every_unpinned_hub_dataset_from_the_hub(
    hub: tuple[str, list[str]], tmp_path: Path
) -> None:
    endpoint, asked = hub
    output = tmp_path / "revisions.json"
    done = _script("--output", str(output), endpoint=endpoint)
    assert done.returncode == 0, done.stderr
    pins = read_revisions(output.read_text(encoding="utf-8"))
    assert set(pins) >= SCORED
    for dataset, commit in pins.items():
        assert commit == _commit(dataset)  # exactly what the Hub served
    assert set(asked) == set(pins)  # only the unpinned ones were asked for, each once
    assert len(asked) == len(set(asked))


def test_check_lists_what_is_unpinned_and_fails_until_pinned(tmp_path: Path) -> None:
    done = _script("--check", "--evaluated-only", endpoint="http://127.0.0.1:9")
    unpinned = SCORED - set(pinned_revisions())
    assert done.returncode == (1 if unpinned else 0)
    for dataset in unpinned:
        assert f"{dataset}" in done.stdout and "NOT PINNED" in done.stdout


def test_without_the_hub_the_script_ends_in_seconds_with_exit_3(tmp_path: Path) -> None:
    output = tmp_path / "revisions.json"
    done = _script("--output", str(output), endpoint="https://hub.invalid")
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "cannot be reached" in done.stderr
    assert not output.exists()


@pytest.mark.parametrize(
    "text",
    [
        '{"revisions": {"a/b": "main"}}',
        '{"revisions": {"a/b": "c30699e8"}}',
        '{"revisions": ["a/b"]}',
        "not json",
    ],
)
def test_a_pin_that_is_not_a_full_commit_is_refused(text: str) -> None:
    with pytest.raises(SpecError):
        read_revisions(text)
