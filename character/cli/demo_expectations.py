"""What the demo's simulated comparison should find on the probes it played, beside what it found.

The personas' planted rates are averages over an unlimited pool of probes. Each bundled probe has
its own propensity, so on these probes the expected rates differ, and one seed is one draw around
them. The expected values and the spread over seeds come from the simulator's own code
(`engine/sim_expected.py`); the measured values come from the stored scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from character.domain.probes import Probe
from character.engine.personas import PERSONAS, PLANTED_DRIFTS
from character.engine.sim_expected import (
    central_range,
    difference_spread,
    expected_rate,
    percentile,
)
from character.store.layout import SCORES


def measured_rate(folder: Path, dimension: str) -> float | None:
    """Mean of the scored values of `rubric/dimension` in a stored run."""
    rubric, name = dimension.split("/", 1)
    value = (
        pl.scan_parquet(folder / SCORES)
        .filter(
            pl.col("rubric") == rubric, pl.col("dimension") == name, pl.col("status") == "scored"
        )
        .select(pl.col("value").mean())
        .collect()
        .item()
    )
    return float(value) if value is not None else None


def expectation_lines(
    folders: dict[str, Path], probes: Sequence[Probe], *, epochs: int, seed: int, seeds: int
) -> list[str]:
    """Lines for the demo: planted, expected on these probes, measured, and the seed's percentile.

    `folders` maps the two persona names (baseline first) to their run folders.
    """
    (base_name, base_dir), (cand_name, cand_dir) = folders.items()
    baseline, candidate = PERSONAS[base_name], PERSONAS[cand_name]
    lines = [
        "",
        "What the simulator should score here. Its planted rates are averages over an unlimited pool of",
        "probes; each bundled probe has its own propensity, so on these probes the expected rates differ,",
        f"and seed {seed} is one draw around them (expected values and spread computed from the simulator's",
        f"own propensities over {seeds} seeds; measured values from the stored scores):",
    ]
    for dimension, (attribute, _delta) in PLANTED_DRIFTS.items():
        before = expected_rate(baseline, dimension, probes)
        after = expected_rate(candidate, dimension, probes)
        got_before, got_after = (
            measured_rate(base_dir, dimension),
            measured_rate(cand_dir, dimension),
        )
        if None in (before, after, got_before, got_after):
            continue  # not played (e.g. --limit)
        assert before is not None and after is not None
        assert got_before is not None and got_after is not None
        spread = difference_spread(
            baseline, candidate, dimension, probes, epochs=epochs, seeds=range(seeds)
        )
        low, high = central_range(spread)
        measured = got_after - got_before
        lines += [
            f"  {dimension}: planted {getattr(baseline, attribute):.0%} -> {getattr(candidate, attribute):.0%} (pool);"
            f" expected on these probes {before:.1%} -> {after:.1%} ({_pp(after - before)});"
            f" measured {got_before:.1%} -> {got_after:.1%} ({_pp(measured)})",
            f"    seed {seed}'s difference lies at the {percentile(measured, spread):.1f}th percentile of"
            f" {len(spread)} seeds (95% of seeds give {_pp(low)} to {_pp(high)})",
        ]
    lines.append(
        f"Seed {seed} is fixed, not chosen for its result (the demo's seed was set to 0 before any run);"
        " the intervals in the comparison below describe this one draw."
    )
    return lines


def _pp(value: float) -> str:
    return f"{value * 100:+.1f} pp"
