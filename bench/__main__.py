"""python -m bench [throughput|judge-cost|scale|viewer|decisions|local|phrases|all] [--quick] [--out DIR]

Each benchmark prints its table and writes reports/bench/<name>.json and <name>.md (machine,
date, settings, figures). --quick runs a small smoke version; the full versions are bounded to a
few minutes each. `all` runs every benchmark in turn and keeps going past a failure.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from bench.common import DEFAULT_OUT

# benchmark name -> (module in bench/, one-line help). Each module has
# run(quick, out_dir, **options) -> Report and add_arguments(parser).
BENCHMARKS = {
    "throughput": ("bench.throughput", "run wall time vs ideal and vs a plain inspect eval"),
    "judge-cost": ("bench.judge_cost", "judge tokens, requests, cacheable prefix, batch savings"),
    "decisions": ("bench.decisions", "gate false-fail rate and power vs naive rules"),
    "scale": ("bench.scale", "load, compare and report synthetic 1k/10k/100k-transcript runs"),
    "viewer": ("bench.viewer", "Runs, Transcripts and Compare page render time on 10k-transcript runs"),
    "local": ("bench.local", "local model tokens/s: character run vs raw llama.cpp; demo part 2 time"),
    "phrases": ("bench.phrases", "distinctive phrases on the demo pair and on 1k/10k-transcript runs"),
}


def _parser(selected: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quick", action="store_true", help="a fast smoke version")
    common.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where results go (default {DEFAULT_OUT})")
    sub = parser.add_subparsers(dest="benchmark", required=True)
    for name, (module_name, help_text) in BENCHMARKS.items():
        child = sub.add_parser(name, help=help_text, parents=[common])
        if name == selected:  # import only the benchmark asked for
            importlib.import_module(module_name).add_arguments(child)
    sub.add_parser("all", help="every benchmark in turn", parents=[common])
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if a in BENCHMARKS), None)
    args = _parser(selected).parse_args(argv)
    names = list(BENCHMARKS) if args.benchmark == "all" else [args.benchmark]
    options = {k: v for k, v in vars(args).items() if k not in ("out", "benchmark", "quick")}
    failures = 0
    start = time.perf_counter()
    for name in names:
        try:
            report = importlib.import_module(BENCHMARKS[name][0]).run(
                quick=args.quick, out_dir=args.out, **options
            )
        except Exception as exc:  # in `all`, one broken benchmark must not hide the others
            if args.benchmark != "all":
                raise
            failures += 1
            print(f"{name}: FAILED: {type(exc).__name__}: {exc}\n", file=sys.stderr, flush=True)
            continue
        print(report.markdown())
        print(f"-> {args.out / (report.name + '.md')}\n", flush=True)
    if len(names) > 1:
        print(f"{len(names) - failures} of {len(names)} benchmarks ran in {time.perf_counter() - start:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
