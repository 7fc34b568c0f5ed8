"""Distinctive phrases: how long `character compare` spends saying what changed in the wording.

Two stores, timed in this process after a warm-up call (imports not counted):

* the demo pair: `character demo`'s two simulated versions (sim/assistant-v1 and -v2, seed 0) on
  its suites (sycophancy, pushback, refusals), 5 epochs, lexical judge; the phrases for the whole
  pair and for each dimension the comparison moved, as compare's reports list them;
* synthetic runs (tests/synthetic_store.py, written straight to parquet) of N transcripts each,
  for how the time grows with the store (their replies are drawn from a small word pool: more
  distinct phrases per word than real replies, so a pessimistic case).

Each figure is the median of `repeats` calls of `phrases.distinctive_phrases`, which reads both
runs' transcripts.parquet, splits every generated reply into 1-3-word phrases, scores them with
the weighted log-odds ratio and picks example turns.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, Report, Stopwatch

QUICK = {"epochs": 1, "limit": 10, "sizes": [1000], "repeats": 1}
FULL = {"epochs": 5, "limit": None, "sizes": [1000, 10_000], "repeats": 5}
DEMO_SUITES = ["sycophancy", "pushback", "refusals"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, help="epochs of the demo pair (default 5)")
    parser.add_argument("--limit", type=int, help="first N probes of each demo suite (default all)")
    parser.add_argument("--repeats", type=int, help="timed calls per case (median; default 5)")


def _demo_pair(store: Path, epochs: int, limit: int | None) -> tuple[Path, Path]:
    from character.domain.targets import make_target
    from character.run.judges import resolve_judge
    from character.run.runner import RunRequest, execute, prepare

    folders = []
    for version in ("assistant-v1", "assistant-v2"):
        request = RunRequest(
            suites=DEMO_SUITES,
            target=make_target(f"sim/{version}", settings={"seed": 0}, name=version),
            judge=resolve_judge("lexical"),
            store=store,
            epochs=epochs,
            limit=limit,
            display="none",
        )
        prepared = prepare(request)
        execute(prepared)
        folders.append(prepared.dir)
    return folders[0], folders[1]


def _timed(baseline: Path, candidate: Path, moved: list[str], repeats: int) -> dict[str, Any]:
    from character.analysis.phrases import distinctive_phrases

    report = distinctive_phrases(baseline, candidate, moved)  # warm-up: polars' first query plans
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        report = distinctive_phrases(baseline, candidate, moved)
        seconds.append(time.perf_counter() - start)
    scopes = report.scopes.to_dicts()
    overall = next(s for s in scopes if s["scope"] == "all")
    return {
        "seconds": statistics.median(seconds),
        "transcripts": overall["transcripts_baseline"] + overall["transcripts_candidate"],
        "words": overall["words_baseline"] + overall["words_candidate"],
        "phrases_tested": overall["phrases_tested"],
        "scopes": len(scopes),
        "listed": report.phrases.height,
    }


def run(
    quick: bool = False,
    out_dir: Path | None = None,
    *,
    epochs: int | None = None,
    limit: int | None = None,
    repeats: int | None = None,
    sizes: list[int] | None = None,
) -> Report:
    settings = dict(QUICK if quick else FULL)
    settings.update(
        {
            k: v
            for k, v in {
                "epochs": epochs,
                "limit": limit,
                "repeats": repeats,
                "sizes": sizes,
            }.items()
            if v
        }
    )
    report = Report(
        "phrases",
        "Distinctive phrases (compare's 'what changed in the wording')",
        "quick" if quick else "full",
        settings,
    )
    clock = Stopwatch()
    from character.analysis.compare import compare_runs
    from character.analysis.phrases import moved_dimensions

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-phrases-") as scratch:
        store = Path(scratch)
        v1, v2 = _demo_pair(store / "demo", settings["epochs"], settings["limit"])
        moved = moved_dimensions(compare_runs(v1, v2).dimensions)
        demo = _timed(v1, v2, moved, settings["repeats"])
        rows.append(["demo pair", *_row(demo)])
        report.data["demo"] = {**demo, "moved": moved}
        report.add_headline(
            f"demo pair ({demo['transcripts']} transcripts, {len(moved)} moved dimensions)",
            f"{demo['seconds']:.2f} s",
        )
        sys.path.insert(0, str(REPO))
        from tests.synthetic_store import write_synthetic_run

        for size in settings["sizes"]:
            base = write_synthetic_run(
                store / "synthetic", transcripts=size, run_id=f"a-{size}", seed=0
            )
            cand = write_synthetic_run(
                store / "synthetic", transcripts=size, run_id=f"b-{size}", seed=1
            )
            figures = _timed(base, cand, [], settings["repeats"])
            rows.append([f"synthetic {size:,} per run", *_row(figures)])
            report.data[f"synthetic_{size}"] = figures
    report.add_table(
        f"Median of {settings['repeats']} call(s) of phrases.distinctive_phrases:",
        [
            "runs",
            "transcripts (both)",
            "words (both)",
            "phrases tested",
            "scopes",
            "listed",
            "seconds",
        ],
        rows,
    )
    return report.finish(clock(), out_dir)


def _row(figures: dict[str, Any]) -> list[Any]:
    return [
        figures["transcripts"],
        figures["words"],
        figures["phrases_tested"],
        figures["scopes"],
        figures["listed"],
        round(figures["seconds"], 3),
    ]
