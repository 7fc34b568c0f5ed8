"""What opening a run's tables costs: `layout.check_tables` on a synthetic 10k-transcript run.

`python -m bench.table_check [--size 10000] [--repeats 7]`

check_tables reads each table's footer (schema), then range-checks the numbers analysis uses
(`table_schema.VALUE_RULES`: epoch, value on its scale, spread, turn, counts) in one polars pass
over those columns. This prints the median time of the footer-only part and of the whole check,
so the cost of the value check is its difference. The run comes from tests/synthetic_store.py
(the store's schemas, 3 suites x 2 judged dimensions, 6 lexical markers, 5 epochs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO


def _median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--size", type=int, default=10_000, help="transcripts in the run")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import polars as pl

    from character.store import layout
    from character.store.layout import SCORES, TRANSCRIPTS
    from tests.synthetic_store import write_synthetic_run

    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_run(Path(tmp), transcripts=args.size, run_id="bench-check", seed=0)
        folder = Path(tmp) / "bench-check"
        rows = pl.scan_parquet(folder / SCORES).select(pl.len()).collect().item()
        footers = _median_seconds(
            lambda: [pl.read_parquet_schema(folder / name) for name in (SCORES, TRANSCRIPTS)],
            args.repeats,
        )
        whole = _median_seconds(lambda: layout.check_tables(folder), args.repeats)
    print(f"run: {args.size:,} transcripts, {rows:,} score rows; median of {args.repeats}")
    print(f"footers only:            {footers * 1000:7.1f} ms")
    print(f"check_tables (+ values): {whole * 1000:7.1f} ms")
    print(f"value check:             {(whole - footers) * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
