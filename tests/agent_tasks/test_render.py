"""TASK.md reads well: facts from the spec, stated once, in sentences an agent can follow."""

from __future__ import annotations

import re

import pytest

from agent_tasks import get_task, list_tasks, render_prompt


@pytest.mark.parametrize("spec", list_tasks(), ids=lambda s: s.name)
def test_no_line_of_task_md_repeats_and_no_constraint_reads_with_two_colons(spec) -> None:  # type: ignore[no-untyped-def]
    text = render_prompt(spec)
    bullets = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(bullets) == len(set(bullets)), "a bullet of TASK.md is repeated"
    sentences = [
        part.strip()
        for line in bullets
        for part in re.split(r"(?<=\.) ", line)
        if len(part.strip()) > 40
    ]
    repeated = {x for x in sentences if sentences.count(x) > 1}
    assert not repeated, f"said more than once: {repeated}"
    for line in bullets:
        if line.startswith("- Checked by the evaluator:"):
            assert line.count(":") == 1 or "`" in line, line
    starter_line = next(line for line in text.splitlines() if line.startswith("- `$TASK_DIR`"))
    assert ("starter/" in starter_line) == (spec.assets is not None)


def test_constraint_description_follows_the_limit_as_a_sentence() -> None:
    text = render_prompt(get_task("edge_llm_compression"))
    line = next(x for x in text.splitlines() if "at most 12 GB" in x)
    assert re.search(r"at most 12 GB\. [A-Z]", line), line


def test_mlrc_prompt_says_where_the_task_folder_comes_from() -> None:
    text = render_prompt(get_task("mlrc_meta_learning"))
    assert "your agent's image brings" in text
    assert "not part of `$TASK_DIR`" in text
