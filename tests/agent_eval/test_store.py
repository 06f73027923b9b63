"""The database store: URL resolution, idempotent writes, runs, round-trips, migrations, references.

Every behaviour runs on the embedded SQLite file and on a real PostgreSQL server.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from support.store import (
    SECRET,
    clear_database_env,
    closed_port,
    count,
    down_url,
    make_result,
    make_run,
)

from agent_eval.errors import DatabaseError, EvalUsageError, ImportFileError
from agent_eval.results import write_result
from agent_eval.settings import EvalSettings, mask_url, resolve_url
from agent_eval.store import ReferenceRow, Store, record_result
from agent_eval.store.migrate import head_revision, upgrade


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No database settings in the environment; results folder in tmp_path."""
    return clear_database_env(monkeypatch, tmp_path / "results")


# -- URL resolution ----------------------------------------------------------------------------


def test_database_url_wins_over_db_parts(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://alice:pw@db.example:6543/evals")
    monkeypatch.setenv("DB_USER", "bob")
    monkeypatch.setenv("DB_HOST", "elsewhere")
    url = resolve_url()
    assert (url.username, url.host, url.port, url.database) == (
        "alice",
        "db.example",
        6543,
        "evals",
    )


def test_postgres_scheme_alias_is_accepted(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://alice@db.example/evals")
    assert resolve_url().get_backend_name() == "postgresql"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_url_without_a_driver_uses_psycopg2(scheme: str, clean_env: Path) -> None:
    # SQLAlchemy's own default PostgreSQL driver is not installed: a URL naming no driver must
    # still reach the server through psycopg2 (down here: exit 6, not a missing module).
    quoted = quote(SECRET, safe="")
    url = f"{scheme}://mlrb:{quoted}@127.0.0.1:{closed_port()}/bench"
    assert resolve_url(url).drivername == "postgresql+psycopg2"
    with pytest.raises(DatabaseError) as info:
        record_result(make_result(), url=url)
    assert info.value.exit_code == 6 and "s3cr" not in info.value.message


@pytest.mark.parametrize("driver", ["postgresql+nosuchdriver", "postgresql+asyncpg"])
def test_url_with_a_driver_not_installed_is_a_usage_error(driver: str, clean_env: Path) -> None:
    with pytest.raises(EvalUsageError) as info:
        Store.open(f"{driver}://mlrb:{quote(SECRET, safe='')}@127.0.0.1/bench")
    assert info.value.exit_code == 2 and driver in info.value.message
    assert "s3cr" not in info.value.message


def test_db_parts_build_a_psycopg2_url_with_quoted_password(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (
        ("DB_USER", "mlrb"),
        ("DB_PASSWORD", SECRET),
        ("DB_HOST", "pg.internal"),
        ("DB_PORT", "5433"),
        ("DB_NAME", "bench"),
    ):
        monkeypatch.setenv(name, value)
    url = resolve_url()
    assert url.drivername == "postgresql+psycopg2"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "mlrb",
        SECRET,
        "pg.internal",
        5433,
        "bench",
    )
    shown = mask_url(url)
    assert SECRET not in shown and "s3cr" not in shown and "***" in shown


def test_partial_db_parts_name_what_is_missing(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_USER", "mlrb")
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    with pytest.raises(EvalUsageError) as info:
        resolve_url()
    err = info.value
    assert err.exit_code == 2
    assert "DB_HOST" in err.message and "DB_NAME" in err.message
    assert "DB_USER" not in err.message.split("not set")[0]
    assert SECRET not in err.message and SECRET not in (err.hint or "")


def test_bad_port_is_a_usage_error(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PORT", "fivefourthreetwo")
    with pytest.raises(EvalUsageError, match="DB_PORT") as info:
        resolve_url()
    assert info.value.exit_code == 2


def test_malformed_database_url_is_not_echoed(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"not a url {SECRET}")
    with pytest.raises(EvalUsageError) as info:
        resolve_url()
    assert "DATABASE_URL" in info.value.message
    assert SECRET not in info.value.message


def test_without_settings_sqlite_in_the_results_folder(clean_env: Path, tmp_path: Path) -> None:
    url = resolve_url()
    assert url.get_backend_name() == "sqlite"
    assert Path(str(url.database)) == clean_env / "mlrb.sqlite"
    other = resolve_url(results_dir=tmp_path / "elsewhere")
    assert Path(str(other.database)) == tmp_path / "elsewhere" / "mlrb.sqlite"


def test_settings_hold_passwords_masked(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{SECRET}@h/d")
    settings = EvalSettings()
    assert SECRET not in repr(settings) and SECRET not in str(settings)


# -- writes and reads --------------------------------------------------------------------------


def test_recording_twice_keeps_one_row_with_its_metrics(db_url: str) -> None:
    result = make_result()
    with Store.open(db_url) as store:
        assert store.record(result) is True
        assert store.record(result) is False
        assert count(store, "evaluations") == 1
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT name, value, stderr, unit, direction FROM metric_values "
                    "WHERE evaluation_id = :id ORDER BY name"
                ),
                {"id": result.evaluation_id},
            ).all()
            columns = conn.execute(
                sa.text(
                    "SELECT task, benchmark, primary_value, normalised_score, constraints_passed, "
                    "model_sha256, agent_label FROM evaluations"
                )
            ).one()
    expected = sorted((m.name, m.value, m.stderr, m.unit, m.direction) for m in result.metrics)
    assert [tuple(r) for r in rows] == expected
    assert tuple(columns) == (
        "llm_efficiency",
        "full_benchmark",
        0.4127,
        61.2,
        False,
        result.model.sha256,
        "agent-a",
    )


def test_record_result_is_idempotent_across_opens(db_url: str) -> None:
    result = make_result()
    assert record_result(result, url=db_url) is True
    assert record_result(result, url=db_url) is False
    with Store.open(db_url) as store:
        assert count(store, "evaluations") == 1
        assert count(store, "metric_values") == 3


def test_record_result_defaults_to_sqlite_in_the_results_folder(clean_env: Path) -> None:
    assert record_result(make_result()) is True
    assert (clean_env / "mlrb.sqlite").is_file()
    with Store.open() as store:
        assert len(store.evaluations()) == 1


def test_evaluations_round_trip_equals_the_original(db_url: str) -> None:
    originals = [
        make_result("llm_efficiency", minutes=2),
        make_result("mini_llm_efficiency", benchmark="mini_benchmark", minutes=1),
        make_result("edge_llm_training", minutes=3, status="partial"),
    ]
    with Store.open(db_url) as store:
        for result in originals:
            store.record(result)
        assert store.evaluations() == sorted(originals, key=lambda r: r.started_at)
        assert store.evaluations(task="llm_efficiency") == [originals[0]]
        assert store.evaluations(benchmark="mini_benchmark") == [originals[1]]
        assert store.evaluations(tasks=["edge_llm_training", "llm_efficiency"]) == [
            originals[0],
            originals[2],
        ]
        assert store.evaluations(task="nope") == []


def test_run_row_is_stored_and_linked(db_url: str) -> None:
    result = make_result(run_id="run-20260301-0001")
    run = make_run("run-20260301-0001")
    with Store.open(db_url) as store:
        assert store.record(result, run=run) is True
        with store.engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT r.run_id, r.image_digest, r.provider, r.status, r.exit_code, "
                    "r.duration_s, r.started_at FROM evaluations e JOIN runs r "
                    "ON e.run_id = r.run_id"
                )
            ).one()
        assert row[:6] == (
            "run-20260301-0001",
            "example/agent@sha256:" + "c" * 64,
            "openai",
            "completed",
            0,
            9000.0,
        )
        assert store.run("run-20260301-0001") == run.model_dump(mode="json")
        # a second result of the same run does not duplicate the run
        assert store.record(make_result(run_id="run-20260301-0001"), run=run) is True
        assert count(store, "runs") == 1


def test_result_synced_before_its_run_gets_a_stub_completed_later(db_url: str) -> None:
    result = make_result(run_id="run-late")
    with Store.open(db_url) as store:
        store.record(result)
        assert store.run("run-late") == {"run_id": "run-late"}
        store.record(result, run=make_run("run-late", status="timeout"))
        late = make_run("run-late", status="timeout")
        assert store.run("run-late") == late.model_dump(mode="json")
        assert count(store, "runs") == 1


def test_run_record_of_another_run_is_refused(db_url: str) -> None:
    with Store.open(db_url) as store, pytest.raises(EvalUsageError, match="does not match"):
        store.record(make_result(run_id="run-a"), run=make_run("run-b"))
    with Store.open(db_url) as store:
        assert count(store, "evaluations") == 0


# -- database down -----------------------------------------------------------------------------


def test_unreachable_postgres_is_exit_6_with_masked_url(clean_env: Path) -> None:
    url = down_url()
    with pytest.raises(DatabaseError) as info:
        record_result(make_result(), url=url)
    err = info.value
    assert err.exit_code == 6
    assert "127.0.0.1" in err.message and "***" in err.message
    assert SECRET not in err.message and "s3cr" not in err.message
    assert "agent-eval sync" in (err.hint or "") and "saved as JSON" in (err.hint or "")


def test_unreachable_database_from_environment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (
        ("DB_USER", "mlrb"),
        ("DB_PASSWORD", SECRET),
        ("DB_HOST", "127.0.0.1"),
        ("DB_PORT", str(closed_port())),
        ("DB_NAME", "bench"),
    ):
        monkeypatch.setenv(name, value)
    with pytest.raises(DatabaseError) as opened:
        Store.open()
    assert opened.value.exit_code == 6
    assert SECRET not in opened.value.message
    with pytest.raises(DatabaseError) as recorded:
        record_result(make_result())
    assert f"agent-eval sync {clean_env}" in (recorded.value.hint or "")


def test_unusable_sqlite_location_is_exit_6(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DatabaseError) as info:
        Store.open(f"sqlite:///{blocker / 'sub' / 'db.sqlite'}")
    assert info.value.exit_code == 6


# -- migrations --------------------------------------------------------------------------------


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_empty_database_is_migrated_to_head_and_head_left_alone(db_url: str) -> None:
    with Store.open(db_url) as store:
        assert {
            "runs",
            "evaluations",
            "metric_values",
            "reference_results",
            "alembic_version",
        } <= _tables(store.engine)
        with store.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        assert version == head_revision()
        store.record(make_result())

    engine = sa.create_engine(db_url)
    statements: list[str] = []
    sa.event.listen(
        engine,
        "before_cursor_execute",
        lambda *args: statements.append(str(args[2]).strip().split()[0].upper()),
    )
    assert upgrade(engine) is False
    assert not {"CREATE", "ALTER", "DROP"} & set(statements)
    engine.dispose()
    with Store.open(db_url) as store:
        assert count(store, "evaluations") == 1


@pytest.mark.slow
def test_evaluators_starting_together_on_an_empty_database(db_url: str, tmp_path: Path) -> None:
    """Three processes migrate the same empty database and record at once: nothing is lost."""
    for worker in range(3):
        for i in range(10):
            write_result(make_result(minutes=i), tmp_path / f"w{worker}")
    code = (
        "import sys; from pathlib import Path; from agent_eval.results import read_result; "
        "from agent_eval.store import Store\n"
        f"with Store.open({db_url!r}) as s:\n"
        "    for f in sorted(Path(sys.argv[1]).glob('*.json')): s.record(read_result(f))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / f"w{worker}")],
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for worker in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    with Store.open(db_url) as store, store.engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        assert versions.all() == [head_revision()]
        assert count(store, "evaluations") == 30
        assert count(store, "metric_values") == 90


def test_database_from_a_newer_version_is_exit_6(db_url: str) -> None:
    Store.open(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff9999'"))
    engine.dispose()
    with pytest.raises(DatabaseError, match="ffff9999") as info:
        Store.open(db_url)
    assert info.value.exit_code == 6


@pytest.mark.slow
def test_migrations_ship_in_the_wheel(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "agent_eval"
    root = tmp_path / "src-copy"  # build from a copy: setuptools writes build/ next to the source
    shutil.copytree(
        source, root, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    out = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(root),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = out.glob("*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site)
    assert "agent_eval/migrations/env.py" in names
    assert any(n.startswith("agent_eval/migrations/versions/0001_") for n in names)
    # the installed copy (not the checkout) migrates a fresh database
    db = tmp_path / "fresh.sqlite"
    code = (
        "import agent_eval, sys; from agent_eval.store import Store; "
        f"assert agent_eval.__file__.startswith({str(site)!r}), agent_eval.__file__; "
        f"Store.open('sqlite:///{db}').close()"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        cwd=tmp_path,
    )
    engine = sa.create_engine(f"sqlite:///{db}")
    assert "evaluations" in _tables(engine)
    engine.dispose()


# -- reference results -------------------------------------------------------------------------


def _ref(
    agent: str, task: str, value: float, kind: str = "relative", **extra: Any
) -> dict[str, Any]:
    return {
        "agent_label": agent,
        "task": task,
        "benchmark": "mlrc_bench",
        "metric_kind": kind,
        "value": value,
        "source": "MLRC-Bench paper, Table 2",
        **extra,
    }


def test_add_references_and_read_them_back(db_url: str) -> None:
    rows = [
        _ref("Top Human", "llm-merging", 100.0),
        _ref("MLAB (gpt-4o)", "llm-merging", -1.3),
        _ref("MLAB (gpt-4o)", "rainfall-prediction", 9.3, kind="absolute"),
    ]
    with Store.open(db_url) as store:
        assert store.add_references(rows) == 3
        stored = store.references(benchmark="mlrc_bench")
        assert [(r.agent_label, r.task, r.metric_kind, r.value) for r in stored] == [
            ("MLAB (gpt-4o)", "llm-merging", "relative", -1.3),
            ("Top Human", "llm-merging", "relative", 100.0),
            ("MLAB (gpt-4o)", "rainfall-prediction", "absolute", 9.3),
        ]
        assert len({r.batch_id for r in stored}) == 1
        assert store.references(tasks=["rainfall-prediction"])[0].value == 9.3
        assert store.references(benchmark="full_benchmark") == []
        # importing the same source again replaces values, adds nothing
        assert store.add_references([ReferenceRow(**_ref("Top Human", "llm-merging", 99.0))]) == 1
        assert count(store, "reference_results") == 3
        assert store.references(tasks=["llm-merging"])[1].value == 99.0


def test_add_references_is_all_or_nothing(db_url: str) -> None:
    with Store.open(db_url) as store:
        store.add_references([_ref("Top Human", "llm-merging", 100.0)])
        good = [_ref("A", "llm-merging", 1.0), _ref("B", "llm-merging", 2.0)]
        with pytest.raises(ImportFileError, match="row 2") as info:
            store.add_references([*good, _ref("C", "llm-merging", 3.0, kind="percent")])
        assert info.value.exit_code == 2
        with pytest.raises(ImportFileError, match="rows 0 and 2"):
            store.add_references([*good, _ref("A", "llm-merging", 5.0)])
        with pytest.raises(ImportFileError, match="row 1"):
            store.add_references([good[0], _ref("D", "llm-merging", float("nan"))])
        assert [r.agent_label for r in store.references()] == ["Top Human"]


def test_add_references_rolls_back_on_a_database_failure(db_url: str) -> None:
    with Store.open(db_url) as store:
        if store.backend == "sqlite":  # a rule the third row breaks, checked by the database
            refuse = (
                "CREATE TRIGGER no_c BEFORE INSERT ON reference_results "
                "WHEN NEW.agent_label = 'C' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            refuse = "ALTER TABLE reference_results ADD CONSTRAINT no_c CHECK (agent_label <> 'C')"
        with store.engine.begin() as conn:
            conn.execute(sa.text(refuse))
        rows = [_ref("A", "t", 1.0), _ref("B", "t", 2.0), _ref("C", "t", 3.0)]
        with pytest.raises(DatabaseError) as info:
            store.add_references(rows)
        assert info.value.exit_code == 6
        assert store.references() == []


def test_upgrade_from_the_first_revision_remembers_quick_checks(db_url: str) -> None:
    from importlib.resources import as_file, files

    from alembic import command
    from alembic.config import Config

    database = make_url(db_url).database
    if db_url.startswith("sqlite") and database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(db_url)
    quick = make_result(minutes=1, evaluation_id="q" * 32)
    quick = quick.model_copy(
        update={"environment": quick.environment.model_copy(update={"sample_limit": 5})}
    )
    full = make_result(minutes=2, evaluation_id="f" * 32)
    made = make_result(minutes=3, evaluation_id="p" * 32)  # --metrics without the primary
    other = made.model_copy(
        update={"metrics": tuple(m for m in made.metrics if m.name != made.primary_metric)}
    )
    bare = make_result(minutes=4, evaluation_id="n" * 32).model_copy(update={"conditions": None})
    with as_file(files("agent_eval") / "migrations") as location:
        cfg = Config()
        cfg.set_main_option("script_location", str(location))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
    # Rows written by a version of the package that knew only the first revision.
    with engine.begin() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("evaluations")}
        assert "sample_limit" not in columns
    from agent_eval.store.rows import evaluation_row

    with engine.begin() as conn:
        for result in (quick, full, other, bare):
            row = evaluation_row(result, datetime.now(UTC))
            values = {
                c.name: getattr(row, c.name)
                for c in row.__table__.columns
                if c.name in columns  # those the first revision had
            }
            conn.execute(row.__table__.insert().values(**values))
    assert upgrade(engine) is True
    with engine.connect() as conn:
        limits = dict(
            conn.execute(sa.text("SELECT evaluation_id, sample_limit FROM evaluations")).all()
        )
        why = {
            row[0]: (row[1], bool(row[2]))
            for row in conn.execute(
                sa.text("SELECT evaluation_id, not_ranked, comparable FROM evaluations")
            ).all()
        }
    engine.dispose()
    assert limits == {"q" * 32: 5, "f" * 32: None, "p" * 32: None, "n" * 32: None}
    # A file without conditions, in a benchmark that declares a run policy.
    assert why.pop("n" * 32)[0].startswith("conditions not recorded (a results file without them)")
    # Filled from the stored results files: the quick check says why it is not ranked, and so
    # does the evaluation that did not compute its primary metric.
    assert why.pop("p" * 32) == (
        f"primary metric {made.primary_metric} not computed (--metrics): shown, never ranked "
        "or counted as the trial's latest evaluation",
        True,
    )
    assert why == {"q" * 32: ("a quick check (--limit 5)", True), "f" * 32: (None, True)}
