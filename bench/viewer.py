"""Viewer: how long the Runs and Transcripts pages take on a 10k-transcript run.

The store holds one synthetic run (tests/synthetic_store.py, written straight to parquet) of N
transcripts. In a fresh process, Streamlit's AppTest (`streamlit.testing.v1`) runs app.py and
times each script run: the Runs page (first run, then a rerun with Streamlit's caches warm), the
Transcripts page (first, cached), a full-text search, and opening another transcript. This is the
server side of a page view (reading the store, filtering, building the page); the browser's own
drawing of the tables is not in these figures.
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

    write_synthetic_run(store, transcripts=size, run_id=f"synthetic-{size}")
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
    timed("transcripts search", lambda: app.text_input(key="transcripts.query").set_value("turn 3 of pushback").run())
    probes = app.selectbox(key="transcripts.probe").options
    timed("open another transcript", lambda: app.selectbox(key="transcripts.probe").select(probes[-1]).run())
    emit({"times": times, "import_s": imported, "shown": shown})
    return 0


def run(quick: bool = False, out_dir: Path | None = None, **overrides: Any) -> Report:
    settings = {**(QUICK if quick else FULL), **{k: v for k, v in overrides.items() if v is not None}}
    report = Report("viewer", "Viewer page times", "quick" if quick else "full",
                    {**settings, "harness": "streamlit.testing.v1.AppTest", "generator": "tests/synthetic_store.py"})
    clock = Stopwatch()
    results: dict[int, dict[str, Any]] = {}
    for size in settings["sizes"]:
        with tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp:
            child_result = run_child(["-m", "bench.viewer", "child", tmp, str(size)], timeout_s=300)
        if child_result.returncode != 0 or not child_result.payload:
            raise RuntimeError(f"viewer benchmark failed at {size}:\n{child_result.stderr[-3000:]}")
        results[size] = {**child_result.payload, "peak_rss_mib": child_result.payload.get("peak_rss_mib")}
    steps = list(next(iter(results.values()))["times"])
    report.add_table(
        "Seconds per script run (AppTest, fresh process; the store holds one run of N transcripts):",
        ["step", *[f"{size:,} transcripts" for size in results]],
        [[step, *[f"{results[size]['times'][step]:.2f}" for size in results]] for step in steps],
    )
    size = max(results)
    times = results[size]["times"]
    for page in ("runs", "transcripts"):
        first = times[f"{page} (first)"]
        report.add_headline(f"{page.capitalize()} page, {size:,}-transcript run: first / cached", f"{first:.2f} s / {times[f'{page} (cached)']:.2f} s",
                            f"~{AIM_S:.0f} s", first <= AIM_S * 1.5)
    peaks = ", ".join(f"{n:,}: {r['peak_rss_mib']:.0f} MiB" for n, r in results.items())
    report.notes.append(f"Peak RSS of the viewer process: {peaks}.")
    report.data["results"] = {str(k): v for k, v in results.items()}
    return report.finish(clock(), out_dir)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], help="transcripts in the run, e.g. 1000,10000")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        raise SystemExit(child(sys.argv[2:]))
    raise SystemExit("use: python -m bench viewer [--quick]")
