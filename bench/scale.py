"""Analysis at scale: load, compare and report two synthetic runs of 1k, 10k and 100k transcripts.

The runs are written straight to parquet by tests/synthetic_store.py (`write_synthetic_run`: the
store's schemas, 3 suites x 2 judged dimensions, 6 lexical markers, 5 epochs, ~1% unscored), a
baseline and a candidate with different seeds. Each step runs in a fresh process, so its time
and peak memory are its own (imports are timed apart and not counted):

* load: both runs' manifests, scores.parquet and transcripts.parquet into polars;
* compare: `compare.compare_runs(baseline, candidate)` (reads the tables itself, then validity,
  per-probe means, every test, Holm / BH, top movers, hard constraints, the gate);
* reports: `reports.write_reports(comparison, out)` (Markdown, HTML, JSON, JUnit).

Memory is the step's process peak RSS (imports included: about 150 MiB for polars alone, 250 MiB
with compare's imports; the JSON keeps the RSS after imports too). The aim (issue "Benchmarks"):
two 10k-transcript runs compared in at most 2 s on 2 cores, growth close to linear.

Before stats.sign_flip_test was vectorised (it used scipy's permutation_test), comparing two
10k-transcript runs took 11.4-14.6 s and 1.5 GB; BENCHMARKS.md keeps those figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, Report, Stopwatch, run_child

QUICK = {"sizes": [1000], "compare_timeout": 120}
FULL = {"sizes": [1000, 10_000, 100_000], "compare_timeout": 60}
EPOCHS = 5


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(argv: list[str]) -> int:
    """`python -m bench.scale child STEP STORE SIZE`: one timed step."""
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["generate", "load", "compare"])
    parser.add_argument("store", type=Path)
    parser.add_argument("size", type=int)
    args = parser.parse_args(argv)
    from bench.common import emit

    base, cand = args.store / f"base-{args.size}", args.store / f"cand-{args.size}"
    started = time.perf_counter()
    if args.step == "generate":
        sys.path.insert(0, str(REPO))
        from tests.synthetic_store import write_synthetic_run

        write_synthetic_run(
            args.store, transcripts=args.size, epochs=EPOCHS, run_id=base.name, seed=0
        )
        write_synthetic_run(
            args.store, transcripts=args.size, epochs=EPOCHS, run_id=cand.name, seed=1
        )
        emit({"seconds": time.perf_counter() - started})
        return 0
    import polars as pl

    from character.store.manifest import read_manifest

    if args.step == "load":
        imported, rss0 = time.perf_counter() - started, _rss_mib()
        started, cpu = time.perf_counter(), time.process_time()
        rows = 0
        for folder in (base, cand):
            read_manifest(folder)
            rows += pl.read_parquet(folder / "scores.parquet").height
            rows += pl.read_parquet(folder / "transcripts.parquet").height
        emit(
            {
                "import_s": imported,
                "rss_after_import_mib": rss0,
                "load_s": time.perf_counter() - started,
                "load_cpu_s": time.process_time() - cpu,
                "rows": rows,
            }
        )
        return 0

    from character.analysis.compare import compare_runs
    from character.analysis.reports import write_reports

    imported, rss0 = time.perf_counter() - started, _rss_mib()
    started, cpu = time.perf_counter(), time.process_time()
    comparison = compare_runs(base, cand)
    compare_s, compare_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    paths = write_reports(comparison, args.store / f"reports-{args.size}")
    reports_s, reports_cpu = time.perf_counter() - started, time.process_time() - cpu
    emit(
        {
            "import_s": imported,
            "rss_after_import_mib": rss0,
            "compare_s": compare_s,
            "compare_cpu_s": compare_cpu,
            "reports_s": reports_s,
            "reports_cpu_s": reports_cpu,
            "valid": comparison.valid,
            "verdict": comparison.verdict,
            "dimensions": comparison.dimensions.height,
            "report_bytes": {k: p.stat().st_size for k, p in paths.items()},
        }
    )
    return 0


def _step(step: str, store: Path, size: int, timeout: float) -> dict[str, Any]:
    args = ["-m", "bench.scale", "child", step, str(store), str(size)]
    try:
        result = run_child(args, timeout_s=timeout)
    except RuntimeError as exc:  # timed out: say so in the table
        return {"timed_out": True, "timeout_s": timeout, "error": str(exc)}
    if result.returncode != 0 or not result.payload:
        raise RuntimeError(f"scale step {step} ({size}) failed:\n{result.stderr[-3000:]}")
    payload = dict(result.payload)
    payload["memory_mib"] = payload["peak_rss_mib"] - payload.get("rss_after_import_mib", 0.0)
    payload["wall_s"] = result.seconds
    return payload


def _fmt_s(entry: dict[str, Any], key: str) -> str:
    if entry.get("timed_out"):
        return f"> {entry['timeout_s']:.0f} (timed out)"
    return f"{entry[key]:.2f}"


def run(quick: bool = False, out_dir: Path | None = None, **overrides: Any) -> Report:
    settings = {
        **(QUICK if quick else FULL),
        **{k: v for k, v in overrides.items() if v is not None},
    }
    report = Report(
        "scale",
        "Analysis at scale (synthetic runs)",
        "quick" if quick else "full",
        {**settings, "epochs": EPOCHS, "generator": "tests/synthetic_store.py"},
    )
    clock = Stopwatch()
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        store = Path(tmp)
        for size in settings["sizes"]:
            generated = _step("generate", store, size, timeout=300)
            load = _step("load", store, size, timeout=120)
            compare = _step("compare", store, size, settings["compare_timeout"])
            results.append(
                {
                    "transcripts": size,
                    "generate_s": generated["seconds"],
                    "load": load,
                    "compare": compare,
                }
            )
            rows.append(
                [
                    f"{size:,}",
                    f"{load['rows']:,}",
                    f"{load['load_s']:.2f}",
                    f"{load['peak_rss_mib']:.0f}",
                    _fmt_s(compare, "compare_s"),
                    _fmt_s(compare, "compare_cpu_s"),
                    _fmt_s(compare, "reports_s"),
                    "–" if compare.get("timed_out") else f"{compare['peak_rss_mib']:.0f}",
                ]
            )
    report.add_table(
        "Two runs of N transcripts each (5 epochs; fresh process per step; seconds wall unless noted):",
        [
            "transcripts per run",
            "rows loaded",
            "load s",
            "load peak RSS MiB",
            "compare s",
            "compare CPU s",
            "write reports s",
            "compare + reports peak RSS MiB",
        ],
        rows,
    )
    plain = [r for r in results if not r["compare"].get("timed_out")]
    growth = []
    for smaller, larger in zip(plain, plain[1:], strict=False):
        factor = larger["transcripts"] / smaller["transcripts"]
        growth.append(
            f"{smaller['transcripts']:,} -> {larger['transcripts']:,} (x{factor:.0f}): load x"
            f"{larger['load']['load_s'] / smaller['load']['load_s']:.1f}, compare x"
            f"{larger['compare']['compare_s'] / smaller['compare']['compare_s']:.1f}"
        )
    if growth:
        report.notes.append("Growth: " + "; ".join(growth) + " (linear would be the size factor).")
    at_10k = next((r for r in results if r["transcripts"] == 10_000), None)
    if at_10k is not None:
        c = at_10k["compare"]
        value = (
            _fmt_s(c, "compare_s")
            + " s"
            + ("" if c.get("timed_out") else f" (+ {c['reports_s']:.2f} s reports)")
        )
        report.add_headline(
            "compare two 10k-transcript runs (2 cores)",
            value,
            "<= 2 s",
            (not c.get("timed_out")) and c["compare_s"] <= 2.0,
        )
    report.notes.append(
        "Each run has N/5 probes over 3 suites, 2 judged dimensions per suite (4 binary tested by sign-flip, "
        "2 ordinal by paired t) plus 6 lexical markers and 8 categories: every test the comparison makes "
        "grows with the probe count."
    )
    report.data["results"] = results
    return report.finish(clock(), out_dir)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        help="transcripts per run, e.g. 1000,10000",
    )
    parser.add_argument(
        "--compare-timeout", type=float, help="seconds before a compare step is abandoned"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        raise SystemExit(child(sys.argv[2:]))
    raise SystemExit("use: python -m bench scale [--quick]")
