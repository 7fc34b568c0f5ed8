"""The columns and types of a run's two tables, scores.parquet and transcripts.parquet.

Kept apart from `tables` (which reads inspect logs, and so imports inspect) so that checking a
stored table's schema on read (`layout.check_tables`) costs no inspect import.
"""

from __future__ import annotations

from typing import Any

import polars as pl

SCORE_SCHEMA: dict[str, Any] = {
    "run_id": pl.String,
    "suite": pl.String,
    "probe_id": pl.String,
    "kind": pl.String,
    "category": pl.String,
    "pair": pl.String,
    "hard_constraint": pl.Boolean,
    "epoch": pl.Int32,
    "rubric": pl.String,
    "dimension": pl.String,
    "scale": pl.String,
    "worse": pl.String,
    "gating": pl.Boolean,
    "status": pl.String,
    "value": pl.Float64,
    "label": pl.String,
    "turn": pl.Int32,
    "by_turn": pl.String,  # per-turn 0/1 dimensions: JSON list of [turn, value] (value may be null)
    "reason": pl.String,
    "cause": pl.String,
    "judge": pl.String,
    "judge_kind": pl.String,
    "evidence": pl.String,  # JSON list of {turn, role, quote, verified}
    "reasoning": pl.String,
    "flags": pl.String,  # comma-separated
    "repeats": pl.Int32,
    "spread": pl.Float64,
}

TRANSCRIPT_SCHEMA: dict[str, Any] = {
    "run_id": pl.String,
    "suite": pl.String,
    "probe_id": pl.String,
    "kind": pl.String,
    "category": pl.String,
    "tags": pl.String,  # comma-separated
    "epoch": pl.Int32,
    "n_turns": pl.Int32,
    "response_chars": pl.Float64,
    "error": pl.String,
    "model_calls": pl.Int32,  # target and judge calls made for this sample
    "retries": pl.Int32,  # API retries inspect made inside those calls (429, 529, 5xx, timeouts)
    "failed_calls": pl.Int32,  # calls that ended in an error (a dropped stream, a malformed body)
    "sample_retries": pl.Int32,  # times the whole conversation was replayed after an error
    "messages": pl.String,  # JSON list of {role, content, scripted, simulated (user), stop_reason (assistant)}
    "text": pl.String,  # lower-cased conversation, for full-text search
    # how each generated reply ended, in order (reply_shapes.STOP_REASONS; "unrecorded" for a
    # reply stored before stop reasons were kept), and how many were cut, blocked or empty
    "stop_reasons": pl.String,
    "turns_truncated": pl.Int32,
    "turns_blocked": pl.Int32,
    "turns_empty": pl.Int32,
    "planned_turns": pl.Int32,  # user turns the probe plays at most (adaptive: user.max_turns)
    "user_stop": pl.String,  # adaptive probes: why the simulated user ended (simulated_user.py)
}

# --------------------------------------------------------------------------------------------
# Values: the numbers analysis computes with, checked when a run's tables are opened


def _finite(column: str) -> pl.Expr:
    return pl.col(column).is_null() | pl.col(column).is_finite()


def _scale_bounds() -> pl.Expr:
    """True where `value` lies on its row's scale (binary and categorical 0/1; ordinal levels are
    whole numbers from -100 to 100, a judge's median may fall between two; continuous markers
    (reply length, questions) from 0 to 1e9)."""
    value, scale = pl.col("value"), pl.col("scale")
    return value.is_null() | pl.when(scale.is_in(["binary", "categorical"])).then(
        value.is_between(0, 1)
    ).when(scale == "ordinal").then(value.is_between(-100, 100)).when(scale == "continuous").then(
        value.is_between(0, 1e9)
    ).otherwise(False)


# (column, what a good value is, the expression true on every good row) per table. Nulls are
# allowed where the writers leave them (an unscored verdict has no value).
VALUE_RULES: dict[str, list[tuple[str, str, pl.Expr]]] = {
    "scores": [
        ("epoch", "a whole number >= 1", pl.col("epoch").is_not_null() & (pl.col("epoch") >= 1)),
        (
            "scale",
            "one of binary, ordinal, categorical, continuous",
            pl.col("scale").is_in(["binary", "ordinal", "categorical", "continuous"]),
        ),
        ("status", "scored or unscored", pl.col("status").is_in(["scored", "unscored"])),
        (
            "value",
            "a number on a scored row",
            (pl.col("status") != "scored") | pl.col("value").is_not_null(),
        ),
        ("value", "a finite number", _finite("value")),
        ("value", "a number on the dimension's scale", _scale_bounds()),
        (
            "spread",
            "a finite number from 0 to 200",
            pl.col("spread").is_null() | pl.col("spread").is_between(0, 200),
        ),
        ("turn", "a turn number >= 1", pl.col("turn").is_null() | (pl.col("turn") >= 1)),
        ("repeats", "a count >= 0", pl.col("repeats").is_null() | (pl.col("repeats") >= 0)),
        (
            "dimension",
            "one row per probe, epoch, rubric and dimension",
            ~pl.struct("suite", "probe_id", "epoch", "rubric", "dimension").is_duplicated(),
        ),
    ],
    "transcripts": [
        ("epoch", "a whole number >= 1", pl.col("epoch").is_not_null() & (pl.col("epoch") >= 1)),
        ("n_turns", "a count >= 0", pl.col("n_turns").is_null() | (pl.col("n_turns") >= 0)),
        (
            "planned_turns",
            "a count >= 0",
            pl.col("planned_turns").is_null() | (pl.col("planned_turns") >= 0),
        ),
        (
            "response_chars",
            "a finite number >= 0",
            pl.col("response_chars").is_null()
            | (pl.col("response_chars").is_finite() & (pl.col("response_chars") >= 0)),
        ),
    ],
}


def first_bad_value(table: pl.LazyFrame, rules: list[tuple[str, str, pl.Expr]]) -> dict | None:
    """The first row breaking one of `rules`, as {column, expected, value, probe_id, epoch}, or
    None. One pass over the rule columns (a 10k-transcript run: see bench/table_check.py); the
    offending row is looked up only when a rule fails."""
    passed = table.select(
        [rule.fill_null(False).all().alias(str(i)) for i, (_, _, rule) in enumerate(rules)]
    ).collect()
    for i, (column, expected, rule) in enumerate(rules):
        if passed[str(i)][0]:
            continue
        shown = list(dict.fromkeys(["probe_id", "epoch", column]))
        row = table.filter(~rule.fill_null(False)).select(shown).head(1)
        found = row.collect().row(0, named=True)
        return {
            "column": column,
            "expected": expected,
            "value": found[column],
            "probe_id": found["probe_id"],
            "epoch": found["epoch"],
        }
    return None
