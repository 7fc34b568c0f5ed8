"""Markers are compared only within one marker set.

Every marker row records the marker set that measured it in its `judge` column (`lexical-v1` for
runs judged by lexical-v1 and for runs made before marker sets were versioned, `markers-v2`
otherwise). Phrase markers from different sets measure different things ("as an airline" was a
refusal phrase in v1), so a comparison leaves them out and says so; the length and question
markers do not depend on any phrase list and are always compared.
"""

from __future__ import annotations

import polars as pl

from character.engine.reply_shapes import SHAPE_MARKERS
from character.store.layout import MARKERS_RUBRIC

# Markers that no phrase list measures, compared whatever the sets: length, questions, and how
# the target's replies ended (stop reasons: engine/reply_shapes.py).
SET_FREE_MARKERS = ("response_chars", "questions", *SHAPE_MARKERS.values())


def marker_sets(scores: pl.DataFrame) -> list[str]:
    """The marker sets a scores table's marker rows were measured with."""
    rows = scores.filter(pl.col("rubric") == MARKERS_RUBRIC)
    return sorted(str(v) for v in rows["judge"].fill_null("(unknown)").unique().to_list())


def comparable_markers(
    baseline_scores: pl.DataFrame, candidate_scores: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Both tables, without the phrase markers when the two runs used different marker sets,
    and the note that says so (empty when nothing was left out)."""
    base_sets, cand_sets = marker_sets(baseline_scores), marker_sets(candidate_scores)
    if not base_sets or not cand_sets or base_sets == cand_sets:
        return baseline_scores, candidate_scores, []

    def keep(scores: pl.DataFrame) -> pl.DataFrame:
        return scores.filter(
            (pl.col("rubric") != MARKERS_RUBRIC) | pl.col("dimension").is_in(SET_FREE_MARKERS)
        )

    note = (
        f"lexical markers were measured with different marker sets (baseline {', '.join(base_sets)}, "
        f"candidate {', '.join(cand_sets)}): phrase markers are not compared, only response length "
        "and questions; re-judge the baseline with the candidate's judge to measure both alike"
    )
    return keep(baseline_scores), keep(candidate_scores), [note]
