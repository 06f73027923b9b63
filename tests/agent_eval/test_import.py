"""Reference files: the whole file is checked first, every offending entry is named, and the shipped
MLRC-Bench paper file is valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.leaderboard import make_spec, paper_reference_data, paper_specs

from agent_contracts.errors import ExitCode
from agent_eval.errors import ImportFileError
from agent_eval.leaderboard import (
    builtin_names,
    builtin_path,
    parse_reference_data,
    read_reference_file,
)


def _specs() -> list[Any]:
    return [
        make_spec("mlrc_llm_merging", aliases=("llm-merging",)),
        make_spec("mlrc_temporal_action_loc", aliases=("perception_temporal_action_loc",)),
        make_spec("other_task", benchmark="other_bench"),
    ]


def _doc(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "source": "A paper, Table 1",
        "benchmark": "mlrc_bench",
        "metric": "relative",
        "rows": [
            {"agent": "Agent A", "scores": {"mlrc_llm_merging": 5.0, "llm-merging": None}},
        ],
    }
    doc["rows"][0]["scores"].pop("llm-merging")
    doc.update(over)
    return doc


def _problems(data: Any) -> str:
    with pytest.raises(ImportFileError) as info:
        parse_reference_data(data, _specs(), origin="refs.json")
    assert info.value.exit_code == ExitCode.USAGE
    assert "nothing was imported" in info.value.message
    return info.value.message


def test_aliases_resolve_to_catalogue_names() -> None:
    doc = _doc(
        rows=[
            {"agent": "A", "scores": {"llm-merging": 5.0, "perception_temporal_action_loc": -1}},
            {"agent": "Top Human in Competition", "scores": {"mlrc_llm_merging": 100}},
        ]
    )
    batch = parse_reference_data(doc, _specs())
    got = {(v.agent_label, v.task): v.value for v in batch.values}
    assert got == {
        ("A", "mlrc_llm_merging"): 5.0,
        ("A", "mlrc_temporal_action_loc"): -1.0,
        ("Top Human in Competition", "mlrc_llm_merging"): 100.0,
    }
    assert {v.metric for v in batch.values} == {"relative"}
    assert batch.batch_id == parse_reference_data(doc, _specs()).batch_id  # content-addressed


def test_unknown_task_is_named_with_its_place_and_a_suggestion() -> None:
    doc = _doc(
        rows=[
            {"agent": "A", "scores": {"mlrc_llm_merging": 1.0}},
            {"agent": "B", "scores": {"mlrc_llm_merging": 1.0}},
            {"agent": "C", "scores": {"mlrc_llm_merging": 1.0}},
            {"agent": "D", "scores": {"tal": 1.0, "llm_merging": 2.0}},
        ]
    )
    message = _problems(doc)
    assert "rows[3].scores[\"tal\"]: unknown task 'tal'" in message
    assert 'rows[3].scores["llm_merging"]' in message and "did you mean" in message
    assert "'mlrc_llm_merging'" in message or "'llm-merging'" in message


def test_non_numeric_values_are_named() -> None:
    doc = _doc(
        rows=[
            {
                "agent": "A",
                "scores": {"mlrc_llm_merging": "5.0", "mlrc_temporal_action_loc": True},
            }
        ]
    )
    message = _problems(doc)
    assert "rows[0].scores[\"mlrc_llm_merging\"]: value must be a number, not '5.0'" in message
    assert 'rows[0].scores["mlrc_temporal_action_loc"]: value must be a number' in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([1, 2], "top level must be a JSON object"),
        (_doc(source=""), "source: must be a non-empty string"),
        (_doc(benchmark="mlrc_bnech"), "did you mean 'mlrc_bench'"),
        (_doc(metric="percent"), "metric: must be one of relative, absolute, raw"),
        (_doc(rows=[]), "rows: must be a non-empty list"),
        (_doc(rows=["A"]), "rows[0]: must be an object"),
        (_doc(rows=[{"agent": "", "scores": {"mlrc_llm_merging": 1}}]), "rows[0].agent"),
        (_doc(rows=[{"agent": "A", "scores": {}}]), "rows[0].scores: must be a non-empty"),
        (_doc(rows=[{"agent": "A", "score": {}}]), "rows[0].score: unknown field"),
        (_doc(colour="red"), "colour: unknown field"),
        (
            {"source": "s", "benchmark": "mlrc_bench", "tables": [{"metric": "raw"}]},
            "tables[0].rows: must be a non-empty list",
        ),
        (
            _doc(
                rows=[
                    {"agent": "A", "scores": {"mlrc_llm_merging": 1}},
                    {"agent": "A", "scores": {"llm-merging": 2}},
                ]
            ),
            "already has a relative value",
        ),
    ],
)
def test_wrong_shapes_are_usage_errors(data: Any, expected: str) -> None:
    assert expected in _problems(data)


def test_every_problem_is_listed_at_once() -> None:
    doc = _doc(
        rows=[
            {"agent": "A", "scores": {"nope": 1.0}},
            {"agent": "B", "scores": {"mlrc_llm_merging": "x"}},
        ]
    )
    message = _problems(doc)
    assert 'rows[0].scores["nope"]' in message and 'rows[1].scores["mlrc_llm_merging"]' in message


def test_unreadable_and_invalid_json_files(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="does not exist"):
        read_reference_file(tmp_path / "missing.json", _specs())
    bad = tmp_path / "bad.json"
    bad.write_text('{"source": "x",', encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"bad.json is not valid JSON: .* line 1"):
        read_reference_file(bad, _specs())


def test_builtin_paper_file_is_valid_and_complete() -> None:
    assert "mlrc_bench_paper" in builtin_names()
    path = builtin_path("mlrc_bench_paper")
    assert path.is_file()
    batch = read_reference_file(path, paper_specs())
    assert batch.benchmark == "mlrc_bench"
    agents = {v.agent_label for v in batch.values}
    assert len(agents) == 8 and "Top Human in Competition" in agents
    # 7 agents + top human, 7 tasks, relative and absolute
    assert len(batch.values) == 8 * 7 * 2
    data = paper_reference_data()
    assert json.dumps(data).count("Top Human in Competition") == 2


def test_unknown_builtin_suggests() -> None:
    with pytest.raises(ImportFileError, match="no built-in reference file") as info:
        builtin_path("mlrc_paper")
    assert info.value.hint and "mlrc_bench_paper" in info.value.hint


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10**400, "value must be finite, not 1000000000"),  # too large for a float
        (float("nan"), "value must be finite, not nan"),
        (float("-inf"), "value must be finite, not -inf"),
        ("x" * 500, "value must be a number, not 'xxxx"),
    ],
)
def test_values_that_are_no_finite_float_are_named(value: Any, expected: str) -> None:
    message = _problems(_doc(rows=[{"agent": "A", "scores": {"mlrc_llm_merging": value}}]))
    assert expected in message
    assert len(message) < 400  # a huge value is quoted cut short, not in full


def test_agent_names_differing_only_by_spaces_are_duplicates() -> None:
    doc = _doc(
        rows=[
            {"agent": "A ", "scores": {"mlrc_llm_merging": 1}},
            {"agent": " A", "scores": {"llm-merging": 2}},
        ]
    )
    assert "rows[1].scores[\"llm-merging\"]: 'A' already has a relative value" in _problems(doc)


def test_task_of_another_benchmark_says_which() -> None:
    message = _problems(_doc(rows=[{"agent": "A", "scores": {"other_task": 1}}]))
    assert "unknown task 'other_task' (it is a task of benchmark 'other_bench'" in message


def test_integer_with_thousands_of_digits_is_a_usage_error(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    huge.write_text('{"source": "s", "value": ' + "9" * 5000 + "}", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"huge\.json cannot be read as JSON") as info:
        read_reference_file(huge, _specs())
    assert info.value.exit_code == ExitCode.USAGE
