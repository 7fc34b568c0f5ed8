"""Viewer: how long the Runs, Transcripts and Compare pages take on 10k-transcript runs.

The store holds two synthetic runs (tests/synthetic_store.py, written straight to parquet) of N
transcripts each, with the same probes and independent scores (seeds 0 and 1), so about half of
their verdicts differ: a worst case for the Compare page's queue of changed verdicts. In a fresh
process, Streamlit's AppTest (`streamlit.testing.v1`) runs app.py and times each script run: the
Runs page (first run, then a rerun with Streamlit's caches warm), the Transcripts page (first,
cached), a full-text search, Next (the reading loop's step), the Compare page (first: statistics,
queue and side-by-side; cached), and Next in its queue. The changed-verdicts queue is also timed
alone (changes.changed_verdicts on the two verdict tables). This is the server side of a page
view (reading the store, computing, building the page); the browser's drawing is not included.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, Report, Stopwatch, run_child

QUICK = {"sizes": [1000]}
FULL = {"sizes": [1000, 10_000]}
PAGES = "character/viewer/pages/"
AIM_S = 1.0


def child(argv: list[str]) -> int:
    """`python -m bench.viewer child STORE SIZE`: write the run, then time the pages."""
    store, size = Path(argv[0]), int(argv[1])
    sys.path.insert(0, str(REPO))
    from tests.synthetic_store import write_synthetic_run

    baseline = write_synthetic_run(store, transcripts=size, run_id=f"synthetic-{size}-a", seed=0)
    candidate = write_synthetic_run(store, transcripts=size, run_id=f"synthetic-{size}-b", seed=1)
    import os

    os.environ["CHARACTER_STORE"] = str(store)
    started = time.perf_counter()
    from streamlit.testing.v1 import AppTest

    from bench.common import emit

    imported = time.perf_counter() - started
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    times: dict[str, float] = {}

    def timed(name: str, action) -> None:
        start = time.perf_counter()
        action()
        times[name] = time.perf_counter() - start
        if app.exception:
            raise RuntimeError(f"{name}: {[e.value for e in app.exception]}")

    timed("runs (first)", app.run)
    timed("runs (cached)", app.run)
    app.switch_page(PAGES + "transcripts.py")
    timed("transcripts (first)", app.run)
    timed("transcripts (cached)", app.run)
    shown = next(c.value for c in app.caption if c.value.endswith("transcripts"))
    timed(
        "transcripts search",
        lambda: app.text_input(key="transcripts.query").set_value("turn 3 of pushback").run(),
    )
    timed("transcripts next", lambda: app.button(key="transcripts.next").click().run())
    # A viewer process imports the statistics stack once, in the background at start (app.py);
    # timed apart so the page figures are what every later first view costs.
    start = time.perf_counter()
    import character.analysis.compare  # noqa: F401

    times["statistics stack import (once per process)"] = time.perf_counter() - start
    app.session_state["compare.baseline"] = baseline.name
    app.session_state["compare.candidate"] = candidate.name
    app.switch_page(PAGES + "compare.py")
    timed("compare (first)", app.run)
    timed("compare (cached)", app.run)
    queue_rows = len(app.dataframe[0].value)
    timed("compare next", lambda: app.button(key="compare.next").click().run())
    # The page draws the queue and the side-by-side view before the statistics (they fill the
    # verdict at the top last): time that part alone, with only the comparison cached.
    import streamlit as st

    from character.viewer import data

    st.cache_data.clear()
    start = time.perf_counter()
    data.comparison(baseline, candidate)
    times["statistics alone (compare_runs)"] = time.perf_counter() - start
    timed("compare queue + side by side (first)", app.run)

    from character.viewer.changes import changed_verdicts
    from character.viewer.transcript_index import load_verdicts

    verdicts = load_verdicts(baseline), load_verdicts(candidate)
    start = time.perf_counter()
    queue = changed_verdicts(*verdicts)
    times["changed-verdicts queue alone"] = time.perf_counter() - start
    emit(
        {
            "times": times,
            "import_s": imported,
            "shown": shown,
            "queue": queue.height,
            "queue_shown": queue_rows,
            "verdicts": verdicts[0].height,
        }
    )
    return 0


def run(quick: bool = False, out_dir: Path | None = None, **overrides: Any) -> Report:
    settings = {
        **(QUICK if quick else FULL),
        **{k: v for k, v in overrides.items() if v is not None},
    }
    report = Report(
        "viewer",
        "Viewer page times",
        "quick" if quick else "full",
        {
            **settings,
            "harness": "streamlit.testing.v1.AppTest",
            "generator": "tests/synthetic_store.py",
        },
    )
    clock = Stopwatch()
    results: dict[int, dict[str, Any]] = {}
    for size in settings["sizes"]:
        with tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp:
            child_result = run_child(["-m", "bench.viewer", "child", tmp, str(size)], timeout_s=300)
        if child_result.returncode != 0 or not child_result.payload:
            raise RuntimeError(f"viewer benchmark failed at {size}:\n{child_result.stderr[-3000:]}")
        results[size] = {
            **child_result.payload,
            "peak_rss_mib": child_result.payload.get("peak_rss_mib"),
        }
    steps = list(next(iter(results.values()))["times"])
    report.add_table(
        "Seconds per script run (AppTest, fresh process; the store holds one run of N transcripts):",
        ["step", *[f"{size:,} transcripts" for size in results]],
        [[step, *[f"{results[size]['times'][step]:.2f}" for size in results]] for step in steps],
    )
    size = max(results)
    times = results[size]["times"]
    for page in ("runs", "transcripts", "compare"):
        first = times[f"{page} (first)"]
        report.add_headline(
            f"{page.capitalize()} page, {size:,}-transcript run: first / cached",
            f"{first:.2f} s / {times[f'{page} (cached)']:.2f} s",
            f"~{AIM_S:.0f} s",
            first <= AIM_S * 1.5,
        )
    queue_first = times["compare queue + side by side (first)"]
    report.add_headline(
        f"Compare: changed-verdicts queue and side by side drawn, {size:,} per run (first)",
        f"{queue_first:.2f} s",
        f"<= {AIM_S:.0f} s",
        queue_first <= AIM_S,
    )
    report.notes.append(
        f"Changed verdicts at {size:,} transcripts per run: {results[size]['queue']:,} of "
        f"{results[size]['verdicts']:,} compared (independent synthetic scores: a worst case)."
    )
    peaks = ", ".join(f"{n:,}: {r['peak_rss_mib']:.0f} MiB" for n, r in results.items())
    report.notes.append(f"Peak RSS of the viewer process: {peaks}.")
    report.data["results"] = {str(k): v for k, v in results.items()}
    return report.finish(clock(), out_dir)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        help="transcripts in the run, e.g. 1000,10000",
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        raise SystemExit(child(sys.argv[2:]))
    raise SystemExit("use: python -m bench viewer [--quick]")
