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
