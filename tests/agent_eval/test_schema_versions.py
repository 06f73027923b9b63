"""Every schema version the project has written is still read; a newer one is refused, saying to
upgrade (exit 3), by the commands that read run.json, results files and evaluation reports.

``tests/fixtures/contracts`` keeps one file of each version (``<contract>-<version>.json``: as
the current code writes it; ``...-first.json``: as the first code of that version wrote it,
made with that commit's own model). Bumping a version fails
``test_a_file_of_the_current_version_is_kept`` until a file of the new version joins them, so
the older ones stay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from support.store import clear_database_env
from typer.testing import CliRunner

from agent_contracts.errors import NewerSchemaError
from agent_contracts.results import (
    REPORT_SCHEMA_VERSION,
    SCHEMA_VERSION,
    EvaluationReport,
    EvaluationResult,
)
from agent_contracts.run_record import SCHEMA_VERSION as RUN_SCHEMA_VERSION
from agent_contracts.run_record import RunRecord
from agent_eval.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"
MODELS = {"results": EvaluationResult, "run": RunRecord, "report": EvaluationReport}
CURRENT = {"results": SCHEMA_VERSION, "run": RUN_SCHEMA_VERSION, "report": REPORT_SCHEMA_VERSION}


def _fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: p.name)
def test_every_kept_version_loads(path: Path) -> None:
    model = MODELS[path.name.split("-")[0]]
    document = json.loads(path.read_text())
    loaded = model.model_validate(document)
    # What the file says survives the reading (fields added since take their defaults).
    assert _kept(document, loaded.model_dump(mode="json"))


def _kept(written: object, read: object) -> bool:
    """True when everything ``written`` holds is in ``read`` (which may hold more keys)."""
    if isinstance(written, dict) and isinstance(read, dict):
        return all(k in read and _kept(v, read[k]) for k, v in written.items())
    if isinstance(written, list) and isinstance(read, list):
        return len(written) == len(read) and all(map(_kept, written, read))
    return written == read


@pytest.mark.parametrize("contract", sorted(MODELS))
def test_a_file_of_the_current_version_is_kept(contract: str) -> None:
    assert (FIXTURES / f"{contract}-{CURRENT[contract]}.json").is_file()


def test_the_first_results_file_reads_as_its_writer_meant(tmp_path: Path) -> None:
    first = EvaluationResult.model_validate_json((FIXTURES / "results-1.0-first.json").read_bytes())
    assert first.constraints[0].outcome == "passed"  # from ``passed``, before ``outcome``
    assert first.conditions is None and first.comparable  # before conditions were recorded
    assert first.datasets == () and first.data_subset is False


def _newer(version: str | int) -> str | int:
    if isinstance(version, int):
        return version + 1
    major, minor = version.split(".")
    return f"{major}.{int(minor) + 1}"


@pytest.mark.parametrize("contract", sorted(MODELS))
def test_a_newer_version_is_refused_with_upgrade(contract: str) -> None:
    document = json.loads((FIXTURES / f"{contract}-{CURRENT[contract]}.json").read_text())
    document["schema_version"] = _newer(CURRENT[contract])
    document["a_field_from_the_future"] = 1
    with pytest.raises(NewerSchemaError) as info:
        MODELS[contract].model_validate(document)
    assert info.value.exit_code == 3
    assert repr(document["schema_version"]) in info.value.message
    assert "upgrade" in (info.value.hint or "")


def test_an_older_version_and_a_major_bump() -> None:
    document = json.loads((FIXTURES / f"results-{SCHEMA_VERSION}.json").read_text())
    assert EvaluationResult.model_validate({**document, "schema_version": "0.9"})
    with pytest.raises(NewerSchemaError):
        EvaluationResult.model_validate({**document, "schema_version": "2"})
    with pytest.raises(ValueError, match="not a version"):
        EvaluationResult.model_validate({**document, "schema_version": "1.x"})


# -- the commands that read them ----------------------------------------------------------------


def _results_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = clear_database_env(monkeypatch, tmp_path / "results")
    folder.mkdir()
    for path in FIXTURES.glob("results-*.json"):
        shutil.copy(path, folder / path.name)
    return folder


def test_sync_records_every_kept_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, app: typer.Typer
) -> None:
    folder = _results_folder(tmp_path, monkeypatch)
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["sync", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == len(list(FIXTURES.glob("results-*.json")))
    with Store.open(db_url) as store:
        stored = {r.evaluation_id: r for r in store.evaluations()}
        with store.engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT schema_version FROM evaluations")).all()
    for path in FIXTURES.glob("results-*.json"):
        kept = EvaluationResult.model_validate_json(path.read_bytes())
        assert stored[kept.evaluation_id] == kept
    assert {v for (v,) in versions} == {
        path.name.split("-")[1].removesuffix(".json") for path in FIXTURES.glob("results-*.json")
    }


def test_sync_names_a_newer_file_and_says_to_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: typer.Typer
) -> None:
    folder = _results_folder(tmp_path, monkeypatch)
    document = json.loads((FIXTURES / f"results-{SCHEMA_VERSION}.json").read_text())
    newer = folder / "20991231T000000Z_llm_efficiency_future00.json"
    newer.write_text(
        json.dumps({**document, "schema_version": "99.0", "evaluation_id": "f" * 32, "new": 1})
    )
    result = CliRunner().invoke(app, ["sync", str(folder)])
    assert result.exit_code == 2
    assert str(newer) in result.stderr
    assert "schema_version '99.0'" in result.stderr and "upgrade the mlrbench" in result.stderr
    assert "Traceback" not in result.output
    with Store.open(results_dir=folder) as store:
        assert len(store.evaluations()) == len(list(FIXTURES.glob("results-*.json")))  # the rest


def test_reproduce_refuses_a_newer_results_file_with_exit_3(
    tmp_path: Path, app: typer.Typer
) -> None:
    document = json.loads((FIXTURES / f"results-{SCHEMA_VERSION}.json").read_text())
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**document, "schema_version": "99.0", "new_field": True}))
    result = CliRunner().invoke(app, ["reproduce", str(newer)])
    assert result.exit_code == 3, result.output
    assert "error: this results file has schema_version '99.0'" in result.stderr
    assert "hint: upgrade the mlrbench packages" in result.stderr
    assert "Traceback" not in result.output


def test_view_refuses_a_run_json_from_a_newer_harness_with_exit_3(
    tmp_path: Path, app: typer.Typer
) -> None:
    run_dir = tmp_path / "runs" / "20991231T000000Z-llm_efficiency-abcdef"
    run_dir.mkdir(parents=True)
    document = json.loads((FIXTURES / f"run-{RUN_SCHEMA_VERSION}.json").read_text())
    (run_dir / "run.json").write_text(
        json.dumps({**document, "schema_version": RUN_SCHEMA_VERSION + 1, "sandbox": "vm"})
    )
    result = CliRunner().invoke(app, ["view", str(run_dir), "--html", str(tmp_path / "p.html")])
    assert result.exit_code == 3, result.output
    assert f"run.json has schema_version {RUN_SCHEMA_VERSION + 1}" in result.stderr
    assert "upgrade" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "p.html").exists()
