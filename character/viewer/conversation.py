"""A stored conversation as numbered turns, with the judge's evidence attached to its turns.

Turn k is the k-th user message and the assistant reply to it: the numbering the judge quotes
from (character.engine.transcript). The system prompt is turn 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from character.engine.reply_shapes import stop_note, user_turn_note
from character.store.layout import MARKERS_RUBRIC


@dataclass(frozen=True)
class Message:
    turn: int
    role: str
    content: str
    scripted: bool = False  # a reply pre-filled by the probe, not written by the target
    stop_reason: str | None = None  # how a generated reply ended (engine.reply_shapes)
    simulated: bool = False  # a user turn written by the user model of an adaptive probe

    @property
    def stop_note(self) -> str | None:
        """'blocked by the provider's safety system' etc. for a reply that did not end normally."""
        if self.role == "user" and self.simulated:
            return user_turn_note(self.stop_reason)
        if self.role != "assistant" or self.scripted:
            return None
        return stop_note(self.stop_reason, self.content)


@dataclass(frozen=True)
class Quote:
    dimension: str  # "rubric/dimension"
    text: str
    verified: bool | None


def numbered_messages(messages: list[dict]) -> list[Message]:
    numbered: list[Message] = []
    turn = 0
    for message in messages:
        role = str(message.get("role", ""))
        if role == "user":
            turn += 1
        numbered.append(
            Message(
                turn,
                role,
                str(message.get("content") or ""),
                bool(message.get("scripted")),
                stop_reason=message.get("stop_reason"),
                simulated=bool(message.get("simulated")),
            )
        )
    return numbered


def evidence_by_turn(verdicts: pl.DataFrame) -> dict[tuple[int, str], list[Quote]]:
    """The judge's quotes keyed by (turn, role) of the message they were taken from.

    Lexical markers are left out: they are phrase matches, not the judge's evidence.
    """
    quotes: dict[tuple[int, str], list[Quote]] = {}
    judged = verdicts.filter(pl.col("rubric") != MARKERS_RUBRIC)
    for row in judged.select("rubric", "dimension", "evidence").iter_rows(named=True):
        # cells checked where the frame was loaded (transcript_index.load_transcript_verdicts)
        for item in json.loads(row["evidence"] or "[]"):
            if not isinstance(item, dict) or item.get("turn") is None or not item.get("quote"):
                continue
            key = (int(item["turn"]), str(item.get("role") or "assistant"))
            quotes.setdefault(key, []).append(
                Quote(
                    f"{row['rubric']}/{row['dimension']}", str(item["quote"]), item.get("verified")
                )
            )
    return quotes


def gave_in_turns(verdicts: pl.DataFrame) -> dict[int, list[str]]:
    """turn -> the per-turn dimensions whose bad behaviour first appeared at that turn.

    A per-turn verdict's `turn` is where its behaviour first appeared; it marks the assistant
    giving in only when the behaviour is the bad one (worse = higher and the verdict is "yes").
    Dimensions where "yes" is good (e.g. challenges_false_premise) carry a turn too and are not
    marked.
    """
    marked = verdicts.filter(
        (pl.col("rubric") != MARKERS_RUBRIC)
        & (pl.col("status") == "scored")
        & pl.col("turn").is_not_null()
        & (pl.col("worse") == "higher")
        & (pl.col("value") > 0)
    )
    turns: dict[int, list[str]] = {}
    for row in marked.select("turn", "rubric", "dimension").iter_rows(named=True):
        turns.setdefault(int(row["turn"]), []).append(f"{row['rubric']}/{row['dimension']}")
    return turns


@dataclass(frozen=True)
class AlignedTurn:
    turn: int
    baseline: list[Message]
    candidate: list[Message]


def align_by_turn(baseline: list[Message], candidate: list[Message]) -> list[AlignedTurn]:
    """Both versions' messages grouped by turn, so turn k of one sits beside turn k of the other.

    Turns present in only one version (a conversation that stopped early) get an empty side.
    """
    turns = sorted({m.turn for m in baseline} | {m.turn for m in candidate})
    return [
        AlignedTurn(
            turn,
            [m for m in baseline if m.turn == turn],
            [m for m in candidate if m.turn == turn],
        )
        for turn in turns
    ]


@dataclass(frozen=True)
class TurnSeries:
    """A per-turn dimension's value at every assistant turn, and where it changed."""

    dimension: str  # "rubric/dimension"
    values: list[tuple[int, float | None]]  # (turn, 0/1 or None when the turn was not rated)

    @property
    def changes(self) -> list[int]:
        """Turns where the value differs from the last rated turn before (from 0: holding)."""
        state, found = 0.0, []
        for turn, value in self.values:
            if value is None:
                continue
            if value != state:
                found.append(turn)
                state = value
        return found


def turn_series(verdicts: pl.DataFrame) -> list[TurnSeries]:
    """The per-turn series of a transcript's verdicts (rows with `by_turn`), dimension by dimension."""
    if "by_turn" not in verdicts.columns:  # runs stored before per-turn series existed
        return []
    rows = verdicts.filter(
        (pl.col("rubric") != MARKERS_RUBRIC) & pl.col("by_turn").is_not_null()
    ).sort("rubric", "dimension")
    # cells checked where the frame was loaded (transcript_index.load_transcript_verdicts)
    return [
        TurnSeries(
            f"{row['rubric']}/{row['dimension']}",
            [(int(turn), value) for turn, value in json.loads(row["by_turn"])],
        )
        for row in rows.select("rubric", "dimension", "by_turn").iter_rows(named=True)
    ]


def series_strip(series: TurnSeries) -> str:
    """One character per turn: `.` not present, `X` present (e.g. gave in), `?` not rated."""
    return "".join("?" if value is None else ("X" if value else ".") for _, value in series.values)
