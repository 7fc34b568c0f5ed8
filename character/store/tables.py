"""Read a run's inspect logs into polars tables — the only module that knows the log schema.

scores: one row per run x probe x epoch x dimension (per-turn dimensions carry the turn), with
value, status scored/unscored and reason, evidence and reasoning, and the judge's identity.
Lexical markers are rows with rubric "markers".
transcripts: one row per run x probe x epoch with the conversation (JSON, each generated reply
with its stop reason) and searchable text, so the viewer can list transcripts from parquet and
open one body at a time; and how the target's replies ended (cut, blocked, empty).

Every secret configured in the environment is scrubbed from the tables before they are written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
from inspect_ai.log import EvalSample, read_eval_log_sample_summaries, read_eval_log_samples_by_id

from character.domain.probes import Probe
from character.domain.rubrics import load_rubric
from character.engine.adaptive_user import STATE_KEY as USER_STATE_KEY
from character.engine.adaptive_user import USER_ROLE
from character.engine.dataset import PROBE_KEY
from character.engine.lexical_judge import applicable_dimensions
from character.engine.reply_shapes import STOP_REASON_KEY, shape_of
from character.engine.scorers import dimension_info
from character.engine.transcript import SCRIPTED_KEY, SIMULATED_USER_KEY
from character.engine.verdicts import (
    Marker,
    UnscoredCause,
    Verdict,
    markers_from_metadata,
    unscored,
    verdicts_from_metadata,
)
from character.redact import scrub, scrub_frame
from character.store.files import atomic_write
from character.store.layout import LOGS, MARKERS_RUBRIC, SCORES, TRANSCRIPTS
from character.store.manifest import Counts
from character.store.table_schema import SCORE_SCHEMA, TRANSCRIPT_SCHEMA

JUDGE_SCORER = "character_judge"
MARKER_SCORER = "character_markers"


def latest_log(run_dir: Path) -> Path | None:
    """eval_set names logs by start time; after a resume the newest holds every sample."""
    logs = sorted((Path(run_dir) / LOGS).glob("*.eval"))
    return logs[-1] if logs else None


# Samples parsed per batch when reading a log back: one zip directory read per batch, and memory
# bounded by the batch (a sample of a character run is a few KB to a few hundred KB parsed).
READ_BATCH = 200


def iter_samples(log_file: Path) -> Iterator[EvalSample]:
    """Every sample the log holds, in batches (a killed run's log holds the finished ones).

    inspect's `read_eval_log_samples` opens the zip and re-reads its central directory for every
    sample, which grows with the run: reading a 1,000-sample log back took 13 s (35 s on a busy
    machine; a quarter of a simulated run's wall time). `read_eval_log_samples_by_id` shares one
    reader per batch: 3 s (BENCHMARKS.md, "Performance fixes").
    Fields are not excluded: inspect's field-excluding parser costs more CPU than it saves here.
    """
    keys = list(
        dict.fromkeys((s.id, s.epoch) for s in read_eval_log_sample_summaries(str(log_file)))
    )
    for start in range(0, len(keys), READ_BATCH):
        yield from read_eval_log_samples_by_id(
            str(log_file), keys[start : start + READ_BATCH], resolve_attachments=True
        )


def sample_rows(run_id: str, sample: EvalSample) -> tuple[list[dict], dict]:
    """Score rows and the transcript row for one sample."""
    probe = Probe.model_validate(sample.metadata[PROBE_KEY])
    base = {
        "run_id": run_id,
        "suite": sample.metadata.get("suite", probe.suite),
        "probe_id": probe.id,
        "kind": probe.kind,
        "category": probe.category,
        "epoch": sample.epoch,
    }
    messages = [
        {
            "role": m.role,
            "content": m.text,
            "scripted": bool((m.metadata or {}).get(SCRIPTED_KEY)),
            **(
                {"simulated": bool((m.metadata or {}).get(SIMULATED_USER_KEY))}
                if m.role == "user"
                else {}
            ),
            # a simulated user's turn cut at the user model's token limit (only then: rows of
            # complete turns are as they were)
            **(
                {"stop_reason": (m.metadata or {})[STOP_REASON_KEY]}
                if m.role == "user" and (m.metadata or {}).get(STOP_REASON_KEY)
                else {}
            ),
            **(
                {"stop_reason": (m.metadata or {}).get(STOP_REASON_KEY)}
                if m.role == "assistant"
                else {}
            ),
        }
        for m in sample.messages
    ]
    error = error_text(sample.error.message) if sample.error else None
    scores = sample.scores or {}
    failed = failed_party(sample) if sample.error else "sample"
    rows = list(_verdict_rows(base, probe, scores.get(JUDGE_SCORER), error, failed))
    rows += list(_marker_rows(base, probe, scores.get(MARKER_SCORER)))
    replies = [m["content"] for m in messages if m["role"] == "assistant" and not m["scripted"]]
    model_events = [e for e in sample.events or [] if e.event == "model"]
    transcript = {
        **base,
        "tags": ",".join(probe.tags),
        "n_turns": sum(1 for m in messages if m["role"] == "user"),
        "response_chars": sum(map(len, replies)) / len(replies) if replies else 0.0,
        "error": error,
        "model_calls": len(model_events),
        "retries": sum(e.retries or 0 for e in model_events),
        "failed_calls": sum(1 for e in model_events if e.error),
        "sample_retries": len(sample.error_retries or []),
        "messages": json.dumps(messages, ensure_ascii=False),
        "text": "\n".join(m["content"] for m in messages).lower(),
        **reply_columns(messages),
        "planned_turns": probe.planned_turns,
        "user_stop": (sample.metadata.get(USER_STATE_KEY) or {}).get("stop"),
    }
    return rows, transcript


def reply_columns(messages: list[dict]) -> dict:
    """The transcript row's stop-reason columns, from its messages ({role, content, scripted,
    stop_reason}); imports and runs alike. An imported reply has no stop reason: it is empty when
    it has no text."""
    generated = [m for m in messages if m["role"] == "assistant" and not m.get("scripted")]
    shapes = [shape_of(m.get("stop_reason"), m["content"]) for m in generated]
    return {
        "stop_reasons": ",".join(
            m.get("stop_reason") or ("empty" if not m["content"].strip() else "unrecorded")
            for m in generated
        ),
        "turns_truncated": shapes.count("truncated"),
        "turns_blocked": shapes.count("blocked"),
        "turns_empty": shapes.count("empty"),
    }


_RETRY_ERROR = re.compile(r"RetryError\(<Future at 0x[0-9a-f]+ state=finished raised (\w+)>\)")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def error_text(message: str) -> str:
    """A sample error as a stable, readable reason: tenacity's `RetryError(<Future at 0x7f..
    raised OverloadedError>)` becomes `OverloadedError (retries exhausted)`, and memory addresses
    go, so the same failure groups under one reason in the manifest."""
    message = _RETRY_ERROR.sub(r"\1 (retries exhausted)", message)
    return scrub(_ADDRESS.sub("", message).strip())


def _probe_columns(base: dict, probe: Probe) -> dict:
    return {**base, "pair": probe.pair, "hard_constraint": probe.hard_constraint}


# Who made a conversation fail: (cause, the reason's prefix), by the role of the failed call.
FAILURES: dict[str, tuple[UnscoredCause, str]] = {
    "target": ("target_error", "target error"),
    USER_ROLE: ("user_error", "user model error"),
    "judge": ("judge_error", "judge error"),
    "sample": ("sample_error", "sample error"),
}


def failed_party(sample: EvalSample) -> str:
    """Whose call failed in an errored sample: "target", "user" (the adaptive user's model),
    "judge", or "sample" when no model call failed (the error came from elsewhere).

    The last model call that recorded an error names it; the target's calls carry no role.
    """
    for event in reversed(sample.events or []):
        if event.event == "model" and event.error:
            role = getattr(event, "role", None)
            return role if role in FAILURES else "target"
    return "sample"


def _verdict_rows(
    base: dict, probe: Probe, score: Any, error: str | None, failed: str = "sample"
) -> Iterable[dict]:
    if score is None:
        # The sample never reached the judge: every applicable dimension is unscored, with who
        # failed (a target that could not answer is not a judge error).
        cause, who = FAILURES.get(failed, FAILURES["sample"])
        reason = f"{who}: {error}" if error else "sample was not scored"
        rubrics = [load_rubric(name) for name in probe.rubrics]
        verdicts = [
            unscored(rubric.name, dim.name, reason, cause if error else "sample_error")
            for rubric in rubrics
            for dim in applicable_dimensions(rubric, probe)
        ]
        judge, judge_kind = None, None
        info = dimension_info(rubrics)
    else:
        verdicts = verdicts_from_metadata(score.metadata)
        judge, judge_kind = score.metadata.get("judge"), score.metadata.get("judge_kind")
        info = score.metadata.get("dimensions", {})
    for v in verdicts:
        dim = info[v.key]
        yield verdict_row(
            _probe_columns(base, probe),
            v,
            scale=dim["scale"],
            worse=dim["worse"],
            gating=dim["gating"],
            judge=judge,
            judge_kind=judge_kind,
        )


def verdict_row(
    base: dict,
    verdict: Verdict,
    *,
    scale: str,
    worse: str,
    gating: bool,
    judge: str | None,
    judge_kind: str | None,
) -> dict:
    """One scores-table row for a verdict; also used by importers, so every writer agrees."""
    return {
        **base,
        "rubric": verdict.rubric,
        "dimension": verdict.dimension,
        "scale": scale,
        "worse": worse,
        "gating": gating,
        "status": verdict.status,
        "value": verdict.value,
        "label": verdict.label,
        "turn": verdict.turn,
        "by_turn": json.dumps([[t.turn, t.value] for t in verdict.by_turn])
        if verdict.by_turn
        else None,
        "reason": verdict.reason,
        "cause": verdict.cause,
        "judge": judge,
        "judge_kind": judge_kind,
        "evidence": json.dumps([e.model_dump() for e in verdict.evidence], ensure_ascii=False),
        "reasoning": verdict.reasoning,
        "flags": ",".join(verdict.flags),
        "repeats": verdict.repeats,
        "spread": verdict.spread,
    }


def _marker_rows(base: dict, probe: Probe, score: Any) -> Iterable[dict]:
    if score is None:
        return
    for marker in markers_from_metadata(score.metadata):
        yield marker_row(_probe_columns(base, probe), marker, judge=score.metadata.get("judge"))


def marker_row(base: dict, marker: Marker, *, judge: str | None) -> dict:
    """One scores-table row for a lexical marker (rubric "markers", never gating)."""
    continuous = marker.name in ("response_chars", "questions")
    return {
        **base,
        "rubric": MARKERS_RUBRIC,
        "dimension": marker.name,
        "scale": "continuous" if continuous else "binary",
        "worse": "higher",
        "gating": False,
        "status": "scored",
        "value": marker.value,
        "turn": marker.turn,
        "judge": judge,
        "judge_kind": "lexical",
        "evidence": json.dumps([{"quote": m} for m in marker.matches]),
        "reasoning": "",
        "flags": "",
        "repeats": 1,
    }


def build_tables(run_dir: Path, run_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    log_file = latest_log(run_dir)
    score_rows: list[dict] = []
    transcript_rows: list[dict] = []
    if log_file is not None:
        for sample in iter_samples(log_file):
            rows, transcript = sample_rows(run_id, sample)
            score_rows += rows
            transcript_rows.append(transcript)
    return frames(score_rows, transcript_rows)


def frames(
    score_rows: list[dict], transcript_rows: list[dict]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    scores = pl.DataFrame(score_rows, schema=SCORE_SCHEMA).sort(
        ["suite", "probe_id", "epoch", "rubric", "dimension"]
    )
    transcripts = pl.DataFrame(transcript_rows, schema=TRANSCRIPT_SCHEMA).sort(
        ["suite", "probe_id", "epoch"]
    )
    return scores, transcripts


def write_tables(run_dir: Path, scores: pl.DataFrame, transcripts: pl.DataFrame) -> None:
    scores, transcripts = scrub_frame(scores), scrub_frame(transcripts)
    atomic_write(run_dir / SCORES, lambda tmp: scores.write_parquet(tmp))
    atomic_write(run_dir / TRANSCRIPTS, lambda tmp: transcripts.write_parquet(tmp))


def count_verdicts(scores: pl.DataFrame, transcripts: pl.DataFrame) -> Counts:
    """The manifest's counts, from a run's tables (runs and imports alike)."""
    verdicts = scores.filter(pl.col("rubric") != MARKERS_RUBRIC)
    unscored = verdicts.filter(pl.col("status") == "unscored")
    reasons = unscored.group_by("reason").len().sort("len", "reason", descending=[True, False])

    def cause(name: str) -> int:
        return unscored.filter(pl.col("cause") == name).height

    def turns(column: str) -> int:
        return int(transcripts[column].sum() or 0) if column in transcripts.columns else 0

    return Counts(
        samples=transcripts.height,
        samples_errored=transcripts.filter(pl.col("error").is_not_null()).height,
        verdicts=verdicts.height,
        scored=verdicts.height - unscored.height,
        unscored=unscored.height,
        unscored_judge_error=cause("judge_error"),
        unscored_insufficient_evidence=cause("insufficient_evidence"),
        unscored_target_refused=cause("target_refused"),
        unscored_target_truncated=cause("target_truncated"),
        unscored_target_empty=cause("target_empty"),
        unscored_target_error=cause("target_error"),
        unscored_user_error=cause("user_error"),
        unscored_sample_error=cause("sample_error"),
        flagged_quotes=verdicts.filter(pl.col("flags").str.contains("quote")).height,
        unscored_reasons={str(r): int(n) for r, n in reasons.iter_rows()},
        target_turns=sum(
            len([r for r in (value or "").split(",") if r])
            for value in transcripts["stop_reasons"].to_list()
        )
        if "stop_reasons" in transcripts.columns
        else 0,
        turns_truncated=turns("turns_truncated"),
        turns_blocked=turns("turns_blocked"),
        turns_empty=turns("turns_empty"),
    )
