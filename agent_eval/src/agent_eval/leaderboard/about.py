"""What each benchmark is about (its question, how it is measured, what it found), told on the
page's task-details view."""

from __future__ import annotations

from typing import Any

_MLRC_BENCH: dict[str, Any] = {
    "title": "MLRC-Bench: research challenges from real ML competitions",
    "sections": [
        {
            "heading": "The question",
            "text": [
                "Language-model agents write code, run experiments and even draft papers. "
                "Whether they can invent a method that beats a well-tuned baseline on an open "
                "research problem is a different question, and judging ideas by asking another "
                "model whether they sound novel does not answer it.",
            ],
        },
        {
            "heading": "How it is measured",
            "text": [
                "Each task is a recent competition from a major ML venue (LLM merging, backdoor "
                "trigger recovery, temporal action localisation, rainfall prediction, machine "
                "unlearning, product recommendation, cross-domain meta-learning). The agent "
                "edits a method inside a fixed code layout, under a compute and runtime limit, "
                "and is scored on hidden test data with the competition's own metric.",
            ],
            "bullets": [
                "Objective metrics only: no model or person grades the idea.",
                "Hard limits on GPU memory and runtime, as in the competitions.",
                "Read-only evaluation code and hidden test data, restored before scoring.",
            ],
        },
        {
            "heading": "The score",
            "text": [
                "Per task, 0 is the competition's baseline and 100 the top human entry; the "
                "relative score measures how much of that gap an agent closes. It can be "
                "negative (worse than the baseline) and above 100. The average is the plain "
                "mean over tasks. A trial counts as a success when it closes at least 5 % of "
                "the gap.",
            ],
        },
        {
            "heading": "What the paper found",
            "text": [
                "The best agent in the MLRC-Bench paper closed about 9 % of the gap on average, "
                "picking the best of 8 trials on test scores. How innovative a language model "
                "judged an idea to be did not predict how well it worked.",
            ],
        },
        {
            "heading": "What this leaderboard adds",
            "text": [
                "Scores come from recorded evaluations. Over several trials the leaderboard "
                "shows the mean with a 95 % interval and pass@k; best-of-k is a separately "
                "labelled view. Published numbers appear as imported rows with their source.",
            ],
        },
    ],
}

_GENERIC: dict[str, Any] = {
    "title": "ML Research Benchmark",
    "sections": [
        {
            "heading": "What is measured",
            "text": [
                "An agent receives a research challenge, works in its own container under a "
                "hard time limit, and delivers an artefact (usually a model). A separate, "
                "offline evaluator measures that artefact with the task's metrics.",
                "Scores are normalised per task: 0 at the baseline, 100 at the reference. "
                "The average is the mean over tasks; a missing task is shown as missing, "
                "never as 0.",
            ],
        }
    ],
}


def about_benchmark(benchmark: str) -> dict[str, Any]:
    """Title and sections of the story shown for a benchmark."""
    if benchmark == "mlrc_bench":
        return _MLRC_BENCH
    story = dict(_GENERIC)
    story["title"] = f"ML Research Benchmark: {benchmark}"
    return story
