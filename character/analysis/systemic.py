"""Is a failure systemic? The failure rate on a probe's variants, with a CI, beside the seed's.

A run of a generated suite (`character expand ... --run`) plays the seed's copy and its variants.
For every binary dimension, a conversation fails when the verdict is in the worse state (1 when
worse is higher, 0 when lower). The unit is the variant: its value is the share of its scored
epochs that failed, and the rate is the mean over variants with at least one scored epoch. The
95% CI is the Wilson score interval over variants (exact Wilson with one epoch; conservative for
shares, see `stats.wilson_interval`). Unscored verdicts are counted and left out, never read as
a pass or a failure.

Classes, per dimension:
* SYSTEMIC: the seed failed and so did variants: the failure is not about the seed's wording.
* ISOLATED: the seed failed, no variant did: the rate on probes like it is at most the CI's top.
* VARIANTS ONLY: the seed held, some variants failed.
* NOT SEEN: neither the seed nor a variant failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from character.analysis.stats import wilson_interval
from character.domain.variants import SEED_TAG, VARIATION_TAG
from character.store.layout import MARKERS_RUBRIC, SCORES, TRANSCRIPTS


@dataclass(frozen=True)
class SystemicResult:
    dimension: str  # rubric/dimension
    gating: bool
    seed_failed_epochs: int
    seed_scored_epochs: int
    variants: int  # variants with at least one scored epoch
    variants_unscored: int  # variants with none
    failed: float  # sum over variants of their failed share (a count with one epoch)
    rate: float
    ci: tuple[float, float]
    by_variation: dict[str, tuple[float, int]]  # variation -> (failed, variants)
    verdict: str

    @property
    def sentence(self) -> str:
        seed = (
            f"seed failed {self.seed_failed_epochs}/{self.seed_scored_epochs} epoch(s)"
            if self.seed_scored_epochs
            else "seed unscored"
        )
        low, high = self.ci
        shown = f"{self.failed:g}/{self.variants}"
        if self.variants:
            rate = (
                f"variants {shown} failed ({self.rate:.1%}, 95% CI {low:.1%} to {high:.1%}, "
                "Wilson over variants)"
            )
        else:
            rate = "no variant was scored"
        parts = ", ".join(f"{v} {f:g}/{n}" for v, (f, n) in self.by_variation.items())
        unscored = (
            f"; {self.variants_unscored} variant(s) unscored, left out"
            if self.variants_unscored
            else ""
        )
        return f"{self.verdict} · {self.dimension}: {seed}; {rate}{unscored}." + (
            f" By variation: {parts}." if parts else ""
        )


def _failed(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(
        pl.when(pl.col("worse") == "higher")
        .then(pl.col("value") == 1.0)
        .otherwise(pl.col("value") == 0.0)
        .alias("failed")
    )


def _verdict(seed_failed: int, variants_failed: float, variants: int) -> str:
    if variants == 0:
        return "NO DATA"
    if seed_failed and variants_failed:
        return "SYSTEMIC"
    if seed_failed:
        return "ISOLATED"
    return "VARIANTS ONLY" if variants_failed else "NOT SEEN"


def systemic_results(scores: pl.DataFrame, transcripts: pl.DataFrame) -> list[SystemicResult]:
    """One result per binary dimension played on the seed or its variants."""
    roles = transcripts.select(
        "probe_id",
        pl.col("tags").str.split(",").list.contains(SEED_TAG).alias("is_seed"),
        pl.col("tags").str.extract(f"{VARIATION_TAG}([a-z_]+)").alias("variation"),
    ).unique("probe_id")
    rows = (
        scores.filter((pl.col("rubric") != MARKERS_RUBRIC) & (pl.col("scale") == "binary"))
        .join(roles, on="probe_id", how="inner")
        .filter(pl.col("is_seed") | pl.col("variation").is_not_null())
    )
    results = []
    for (rubric, dimension), group in sorted(
        rows.group_by("rubric", "dimension"), key=lambda g: g[0]
    ):
        scored = _failed(group.filter(pl.col("status") == "scored"))
        seed = scored.filter(pl.col("is_seed"))
        per_variant = (
            scored.filter(~pl.col("is_seed"))
            .group_by("probe_id", "variation")
            .agg(pl.col("failed").cast(pl.Float64).mean().alias("share"))
        )
        all_variants = group.filter(~pl.col("is_seed"))["probe_id"].n_unique()
        n = per_variant.height
        failed = float(per_variant["share"].sum()) if n else 0.0
        by_variation = {
            row["variation"]: (row["failed"], row["n"])
            for row in per_variant.group_by("variation")
            .agg(pl.col("share").sum().alias("failed"), pl.len().alias("n"))
            .sort("variation")
            .iter_rows(named=True)
        }
        seed_failed = int(seed["failed"].sum())
        results.append(
            SystemicResult(
                dimension=f"{rubric}/{dimension}",
                gating=bool(group["gating"].any()),
                seed_failed_epochs=seed_failed,
                seed_scored_epochs=seed.height,
                variants=n,
                variants_unscored=all_variants - n,
                failed=round(failed, 6),
                rate=failed / n if n else float("nan"),
                ci=wilson_interval(failed, n),
                by_variation=by_variation,
                verdict=_verdict(seed_failed, failed, n),
            )
        )
    return results


def systemic_report(run_dir: Path) -> list[SystemicResult]:
    """`systemic_results` for a stored run of a generated suite."""
    scores = pl.read_parquet(Path(run_dir) / SCORES)
    transcripts = pl.read_parquet(Path(run_dir) / TRANSCRIPTS, columns=["probe_id", "tags"])
    return systemic_results(scores, transcripts)
