"""How often the target's replies were cut, blocked or empty in each version: exploratory findings.

A prompt that makes replies longer, so that more are cut at the token limit, is a real drift, and
so is a change in how often the provider's safety system blocks replies. The rates come from the
per-transcript markers `reply_truncated`, `reply_blocked` and `reply_empty` (share of
conversations with at least one such reply), which the comparison already tests with the other
exploratory findings (paired, Benjamini-Hochberg); this module words them for the report.
"""

from __future__ import annotations

import polars as pl

from character.engine.reply_shapes import SHAPE_MARKERS

WHAT = {
    "reply_truncated": "conversations with a reply cut at the token limit",
    "reply_blocked": "conversations with a reply blocked by the provider's safety system",
    "reply_empty": "conversations with an empty reply",
}


def reply_shape_notes(markers: pl.DataFrame) -> list[str]:
    """One sentence per reply shape seen in either version (rows of the comparison's markers
    table: marker, baseline_mean, candidate_mean, diff, ci95_lo, ci95_hi, test, p_two_sided,
    p_adjusted)."""
    notes = []
    rows = markers.filter(pl.col("marker").is_in(list(SHAPE_MARKERS.values())))
    for row in rows.sort("marker").iter_rows(named=True):
        if not (row["baseline_mean"] or row["candidate_mean"]):
            continue
        ci = ""
        if row["ci95_lo"] is not None and row["ci95_hi"] is not None:
            ci = f", 95% CI {row['ci95_lo'] * 100:+.1f} to {row['ci95_hi'] * 100:+.1f}"
        tested = ""
        if row["p_two_sided"] is not None:
            adjusted = f", BH p = {row['p_adjusted']:.3g}" if row["p_adjusted"] is not None else ""
            tested = f"; {row['test']} p = {row['p_two_sided']:.3g}{adjusted}"
        notes.append(
            f"exploratory · {WHAT[row['marker']]}: {row['baseline_mean'] * 100:.1f}% -> "
            f"{row['candidate_mean'] * 100:.1f}% ({row['diff'] * 100:+.1f} pp{ci}{tested})"
        )
    return notes
