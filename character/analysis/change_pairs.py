"""The transcripts whose verdicts changed between two runs, and the prompt a summariser reads.

A changed pair is one probe and epoch played by both versions with at least one verdict (scored in
both runs) that differs. The summariser reads a sample of them: the pairs changed on a focus
dimension (the ones that moved) first, then the rest, each in a fixed hash order. Each pair is
shown with the changed verdicts, the judge's evidence, and both transcripts numbered as the judge
numbers turns (replies cut to REPLY_CHARS: a prefix, so a quote copied from it still verifies).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from character.engine.transcript import Exchange, render_transcript
from character.errors import CharacterError
from character.importers.store_writer import stored_exchanges
from character.store.layout import MARKERS_RUBRIC, REBUILD_FIX

REPLY_CHARS = 1500  # per assistant reply shown to the model (a prefix: quotes from it still verify)
PROMPT_CHARS = 240_000  # the whole prompt; pairs beyond it are not sent
VERSIONS = ("baseline", "candidate")


@dataclass(frozen=True)
class Pair:
    """One changed transcript pair: the same probe and epoch in both runs."""

    pair_id: str
    probe_id: str
    epoch: int
    exchanges: dict[str, list[Exchange]]  # version -> numbered exchanges


# --------------------------------------------------------------------------------------------
# Which transcripts changed
# --------------------------------------------------------------------------------------------


def changed_verdicts(baseline_scores: pl.DataFrame, candidate_scores: pl.DataFrame) -> pl.DataFrame:
    """Verdicts scored in both runs whose value or label differs, one row per probe x epoch x
    dimension, with both values, labels, evidence (JSON) and reasoning."""
    keep = [
        "probe_id",
        "epoch",
        "rubric",
        "dimension",
        "scale",
        "value",
        "label",
        "evidence",
        "reasoning",
    ]

    def scored(scores: pl.DataFrame, prefix: str) -> pl.DataFrame:
        return (
            scores.filter((pl.col("rubric") != MARKERS_RUBRIC) & (pl.col("status") == "scored"))
            .select(keep)
            .unique(["probe_id", "epoch", "rubric", "dimension"], keep="first")
            .rename({c: f"{prefix}_{c}" for c in ("value", "label", "evidence", "reasoning")})
        )

    joined = scored(baseline_scores, "baseline").join(
        scored(candidate_scores, "candidate").drop("scale"),
        on=["probe_id", "epoch", "rubric", "dimension"],
    )
    differs = pl.col("baseline_value").ne_missing(pl.col("candidate_value")) | pl.col(
        "baseline_label"
    ).ne_missing(pl.col("candidate_label"))
    return joined.filter(differs).sort("probe_id", "epoch", "rubric", "dimension")


def _order(probe_id: str, epoch: int, seed: int) -> str:
    return hashlib.sha256(f"{seed}|{probe_id}|{epoch}".encode()).hexdigest()


def sample_keys(
    changes: pl.DataFrame, size: int, focus: Sequence[str] = (), seed: int = 0
) -> list[tuple[str, int]]:
    """Up to `size` changed (probe, epoch) pairs: those changed on a `focus` dimension first
    ("rubric/dimension", e.g. the dimensions that moved), then the rest, each in a fixed
    hash order (spread over probes, the same every time)."""
    keys = (
        changes.select(
            "probe_id",
            "epoch",
            focused=pl.concat_str("rubric", pl.lit("/"), "dimension").is_in(list(focus)),
        )
        .group_by("probe_id", "epoch")
        .agg(pl.col("focused").any())
    )
    ranked = sorted(
        keys.iter_rows(),
        key=lambda row: (not row[2], _order(row[0], int(row[1]), seed)),
    )
    return [(probe, int(epoch)) for probe, epoch, _ in ranked[:size]]


def _exchanges(
    messages_json: str | None, file: Path | str, probe_id: str, epoch: int
) -> list[Exchange]:
    try:
        return stored_exchanges(messages_json)
    except (ValueError, RecursionError):
        raise CharacterError(
            f"stored transcript {probe_id} epoch {epoch} does not parse",
            file=file,
            field="messages",
            remedy=REBUILD_FIX.format(run=Path(file).parent.name),
        ) from None


def load_pairs(
    baseline_transcripts: pl.DataFrame,
    candidate_transcripts: pl.DataFrame,
    keys: Sequence[tuple[str, int]],
    files: Sequence[Path | str] = ("baseline", "candidate"),
) -> list[Pair]:
    """The pairs' conversations (keys absent from either run are skipped), ids P1, P2, ...

    `files`: the two transcript tables, named in the error when a stored transcript does not
    parse."""
    wanted = pl.DataFrame(
        list(keys), schema={"probe_id": pl.String, "epoch": pl.Int32}, orient="row"
    )
    bodies: dict[str, dict[tuple[str, int], str]] = {}
    for version, frame in zip(VERSIONS, (baseline_transcripts, candidate_transcripts), strict=True):
        rows = frame.select("probe_id", pl.col("epoch").cast(pl.Int32), "messages").join(
            wanted, on=["probe_id", "epoch"], how="semi"
        )
        bodies[version] = {(p, int(e)): m for p, e, m in rows.iter_rows()}
    pairs = []
    for probe_id, epoch in keys:
        if all((probe_id, epoch) in bodies[v] for v in VERSIONS):
            pairs.append(
                Pair(
                    pair_id=f"P{len(pairs) + 1}",
                    probe_id=probe_id,
                    epoch=epoch,
                    exchanges={
                        v: _exchanges(bodies[v][(probe_id, epoch)], file, probe_id, epoch)
                        for v, file in zip(VERSIONS, files, strict=True)
                    },
                )
            )
    return pairs


# --------------------------------------------------------------------------------------------
# The prompt
# --------------------------------------------------------------------------------------------


def _value(value: float | None, label: str | None) -> str:
    if label is not None:
        return label
    return "n/a" if value is None else f"{value:g}"


def _evidence(evidence_json: str | None, reasoning: str | None) -> str:
    try:
        items = json.loads(evidence_json or "[]")
    except (ValueError, RecursionError):
        items = []  # damaged evidence: the transcripts below still say what happened
    quotes = [
        f'turn {e.get("turn")}: "{e.get("quote")}"'
        for e in (items if isinstance(items, list) else [])
        if isinstance(e, dict) and e.get("quote")
    ]
    text = "; ".join(quotes[:3]) or "no quote"
    if reasoning:
        text += f"; reasoning: {' '.join(reasoning.split())[:400]}"
    return text


def _shown(exchanges: list[Exchange]) -> list[Exchange]:
    """Replies cut to REPLY_CHARS (a prefix, so a quote taken from it still verifies); every
    other field (scripted, replied, stop reason) as stored."""

    def cut(text: str) -> str:
        return text if len(text) <= REPLY_CHARS else text[:REPLY_CHARS] + " [...cut]"

    return [
        dataclasses.replace(ex, user=cut(ex.user), assistant=cut(ex.assistant)) for ex in exchanges
    ]


def pair_prompt(pair: Pair, changes: pl.DataFrame) -> str:
    rows = changes.filter((pl.col("probe_id") == pair.probe_id) & (pl.col("epoch") == pair.epoch))
    lines = [
        f"## Pair {pair.pair_id}: probe {pair.probe_id}, epoch {pair.epoch}",
        "Changed verdicts:",
    ]
    for row in rows.iter_rows(named=True):
        lines.append(
            f"- {row['rubric']}/{row['dimension']} ({row['scale']}): baseline "
            f"{_value(row['baseline_value'], row['baseline_label'])} -> candidate "
            f"{_value(row['candidate_value'], row['candidate_label'])}"
        )
        lines.append(
            f"  baseline evidence: {_evidence(row['baseline_evidence'], row['baseline_reasoning'])}"
        )
        lines.append(
            f"  candidate evidence: {_evidence(row['candidate_evidence'], row['candidate_reasoning'])}"
        )
    for version in VERSIONS:
        lines += [
            "",
            f"### {version.capitalize()} transcript",
            render_transcript(_shown(pair.exchanges[version])),
        ]
    return "\n".join(lines)


def build_prompt(
    pairs: Sequence[Pair], changes: pl.DataFrame, dimensions: pl.DataFrame
) -> tuple[str, list[Pair]]:
    """The user message and the pairs it holds (as many as fit in PROMPT_CHARS)."""
    scales = "\n".join(
        f"- {r}/{d}: {s}" + (f" (labels: {', '.join(labels)})" if labels else "")
        for r, d, s, labels in dimensions.iter_rows()
    )
    head = (
        f"The baseline is v1, the candidate is v2. Dimensions whose verdicts changed (with their "
        f"scale):\n{scales}\n\nThere are {len(pairs)} changed pairs below.\n"
    )
    parts, sent = [head], []
    size = len(head)
    for pair in pairs:
        block = pair_prompt(pair, changes)
        if sent and size + len(block) > PROMPT_CHARS:
            break
        parts.append(block)
        sent.append(pair)
        size += len(block)
    if len(sent) < len(pairs):
        parts[0] = parts[0].replace(
            f"There are {len(pairs)} changed", f"There are {len(sent)} changed"
        )
    return "\n\n".join(parts) + "\n", sent
