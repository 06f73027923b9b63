"""Timed scores under load: the same `digit_sums` deliverables evaluated again and again.

    python benchmarks/timed_scores.py [--evaluations 10] [--loads none,hog] [--hogs N]
                                      [--out timed_scores.json]

Builds the two deliverables of benchmarks/coderun.py, the starter baseline (train.py defaults
+ main.py) and the better model (what agents/reference/agent.py delivers: softmax regression,
1,000 epochs), and evaluates each ``--evaluations`` times with the real evaluator (process
sandbox, default options), alternating baseline and better model. With ``hog`` load, ``--hogs``
busy processes (default: one per CPU) spin beside it the whole time; each stops by itself after
``--hog-seconds`` and all are stopped when the load's evaluations end.

Reported per load: each deliverable's TWE (min, max, max/min spread; target: within 10 %),
its normalised score (baseline anchor = 0), its median time ratio to the baseline's code, the
measured wall seconds of its scored run (what TWE used before timing against the baseline),
and whether the better model beat the baseline in every evaluation (target: all).

``--rounds N`` times with N counted rounds instead of ``TIMING_ROUNDS`` (the evaluator's
constant), to measure what more rounds buy.

Usage (as root, from the repository root): python benchmarks/timed_scores.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from coderun import build  # the baseline and reference deliverables, built as for the anchors

HOG = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
"""A busy loop that stops by itself."""


def start_hogs(count: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    """``count`` busy processes, each ending after ``seconds`` at the latest."""
    code = HOG.format(seconds=seconds)
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def stop_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the hogs this script started (each by its own process)."""
    for hog in hogs:
        hog.terminate()
    for hog in hogs:
        hog.wait()


def evaluate_once(model: Path, scratch: Path) -> dict[str, Any]:
    """One evaluation of ``model`` on digit_sums: its TWE and how it was timed."""
    from agent_eval.evaluate import EvalOptions, evaluate

    started = time.perf_counter()
    outcome = evaluate(
        EvalOptions(
            model_args=str(model),
            task="digit_sums",
            results_dir=scratch / "results",
            record=False,
            data_dir=scratch / "data",
        )
    )
    result = outcome.result
    assert result.status == "ok", result.errors
    twe = result.metric("twe")
    assert twe is not None and twe.timing is not None and result.score is not None
    return {
        "twe": twe.value,
        "normalised": result.score.normalised,
        "ratio": twe.timing.ratio,
        "ratio_min": twe.timing.ratio_min,
        "ratio_max": twe.timing.ratio_max,
        "baseline_s": twe.timing.baseline_s,
        "scored_run_s": twe.details["measured_s"],
        "evaluation_s": round(time.perf_counter() - started, 2),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Min, max and max/min spread of each deliverable's TWE, and its medians."""
    twe = [r["twe"] for r in rows]
    ratio = sorted(r["ratio"] for r in rows)
    scored = [r["scored_run_s"] for r in rows]
    return {
        "twe_min": round(min(twe), 3),
        "twe_max": round(max(twe), 3),
        "twe_spread_pct": round(100 * (max(twe) / min(twe) - 1), 1),
        "normalised": [round(r["normalised"], 1) for r in rows],
        "ratio_median": ratio[len(ratio) // 2],
        "scored_run_s_min": min(scored),
        "scored_run_s_max": max(scored),
        "evaluation_s_median": sorted(r["evaluation_s"] for r in rows)[len(rows) // 2],
    }


def main() -> None:
    """Build, load, evaluate, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=10)
    parser.add_argument("--loads", default="none,hog")
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--hog-seconds", type=float, default=1800)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--rounds", type=int, default=None, help="counted rounds (default: TIMING_ROUNDS)"
    )
    args = parser.parse_args()
    from agent_eval.coderun import timing

    if args.rounds is not None:  # to measure the trade-off; evaluations use TIMING_ROUNDS
        timing.TIMING_ROUNDS = args.rounds
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "evaluations": args.evaluations,
        "rounds": timing.TIMING_ROUNDS,
        "warmup_rounds": timing.TIMING_WARMUP,
        "loads": {},
    }
    with tempfile.TemporaryDirectory(prefix="timed-scores-") as tmp:
        scratch = Path(tmp)
        models = {
            "baseline": build("digit_sums", "baseline", scratch / "baseline"),
            "better": build("digit_sums", "reference", scratch / "better"),
        }
        for load in args.loads.split(","):
            hogs = start_hogs(args.hogs, args.hog_seconds) if load == "hog" else []
            rows: dict[str, list[dict[str, Any]]] = {"baseline": [], "better": []}
            try:
                for index in range(args.evaluations):
                    order = ("baseline", "better") if index % 2 == 0 else ("better", "baseline")
                    for kind in order:
                        rows[kind].append(evaluate_once(models[kind], scratch))
                    print(
                        f"{load:4s} #{index}: "
                        + "  ".join(
                            f"{k} TWE {rows[k][-1]['twe']:.2f} (ratio {rows[k][-1]['ratio']:.3f}, "
                            f"scored run {rows[k][-1]['scored_run_s']:.3f} s)"
                            for k in rows
                        ),
                        flush=True,
                    )
            finally:
                stop_hogs(hogs)
            wins = sum(
                b["twe"] > a["twe"] for a, b in zip(rows["baseline"], rows["better"], strict=True)
            )
            entry: dict[str, Any] = {
                "hogs": len(hogs),
                "baseline": summary(rows["baseline"]),
                "better": summary(rows["better"]),
                "better_wins": f"{wins}/{args.evaluations}",
                "rows": rows,
            }
            report["loads"][load] = entry
            for kind in ("baseline", "better"):
                s = entry[kind]
                print(
                    f"{load:4s} {kind:8s} TWE {s['twe_min']:.2f}-{s['twe_max']:.2f} "
                    f"(spread {s['twe_spread_pct']:.1f} %), normalised {s['normalised']}, "
                    f"median ratio {s['ratio_median']:.3f}, scored run alone "
                    f"{s['scored_run_s_min']:.3f}-{s['scored_run_s_max']:.3f} s, "
                    f"evaluation {s['evaluation_s_median']:.1f} s",
                    flush=True,
                )
            print(
                f"{load:4s} better model beats the baseline in {entry['better_wins']}", flush=True
            )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
