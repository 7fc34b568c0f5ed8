"""The judge's verdict on one dimension, and how verdicts travel inside an inspect `Score`.

Both judges (Claude and lexical) produce `Verdict`s; the store reads them back from the log. This
module is the one contract between them: a scored verdict has a value, an unscored one has a reason
and never a value.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Status = Literal["scored", "unscored"]
# Why a verdict is unscored: the judge failed (counts against a comparison's validity); the
# transcript held nothing to rate (a legitimate answer, reported but not a failure); this judge
# cannot score the dimension at all (e.g. a custom dimension under the lexical judge: judge it
# with a model judge); or the target's own last reply was blocked by the provider, cut at the
# token limit, or empty (engine/reply_rules.py: what the target did, never a judge failure).
# A conversation that failed before the judge saw it is unscored with who failed: the target
# (`target_error`), the model playing the user (`user_error`), or something else in the sample
# (`sample_error`); none of these is a judge failure (store/tables.py).
UnscoredCause = Literal[
    "judge_error",
    "insufficient_evidence",
    "unsupported",
    "target_refused",
    "target_truncated",
    "target_empty",
    "target_error",
    "user_error",
    "sample_error",
]
JudgeKind = Literal["model", "lexical", "imported", "human"]


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turn: int  # 1-based exchange index: user turn k and the assistant reply to it
    role: Literal["user", "assistant"] = "assistant"
    quote: str
    verified: bool | None = None  # True when the quote occurs in that turn's text


class TurnValue(BaseModel):
    """A per-turn dimension's value at one assistant turn (the series behind survival by turn)."""

    model_config = ConfigDict(extra="forbid")

    turn: int  # 1-based exchange index
    value: float | None  # 0/1; None: the turn could not be rated (e.g. no pushback yet)


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rubric: str
    dimension: str
    status: Status
    value: float | None = None  # binary 0/1, ordinal level; None when unscored or categorical
    label: str | None = None  # categorical label
    turn: int | None = None  # per-turn dimensions: first turn at which the behaviour appeared
    by_turn: list[TurnValue] = Field(
        default_factory=list
    )  # per-turn dimensions: every turn's value
    reason: str | None = None  # why unscored
    cause: UnscoredCause | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    reasoning: str = ""
    repeats: int = 1
    spread: float | None = None  # range of values across judge repeats
    flags: list[str] = Field(default_factory=list)  # e.g. "unverified_quote"

    @model_validator(mode="after")
    def _unscored_has_no_value(self) -> Verdict:
        if self.status == "unscored":
            if self.value is not None or self.label is not None:
                raise ValueError("an unscored verdict carries no value")
            if not self.reason or self.cause is None:
                raise ValueError("an unscored verdict needs a reason and a cause")
        elif self.value is None and self.label is None:
            raise ValueError("a scored verdict needs a value or a label")
        return self

    @property
    def key(self) -> str:
        return f"{self.rubric}/{self.dimension}"


def unscored(
    rubric: str,
    dimension: str,
    reason: str,
    cause: UnscoredCause = "judge_error",
    **extra: Any,
) -> Verdict:
    return Verdict(
        rubric=rubric, dimension=dimension, status="unscored", reason=reason, cause=cause, **extra
    )


class Marker(BaseModel):
    """One lexical marker measurement for a transcript (refusal phrase present, length...)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    value: float
    turn: int | None = None  # first turn where a phrase marker appeared
    matches: list[str] = Field(default_factory=list)


def score_metadata(
    *, judge: str, judge_kind: JudgeKind, verdicts: list[Verdict], **extra: Any
) -> dict[str, Any]:
    return {
        "judge": judge,
        "judge_kind": judge_kind,
        "verdicts": [v.model_dump(mode="json") for v in verdicts],
        **extra,
    }


def score_value(verdicts: list[Verdict]) -> dict[str, float]:
    """Numbers for inspect's own metrics: NaN marks an unscored dimension (inspect's convention,
    and every epoch must report the same keys). character reads the verdicts, never these."""
    return {
        v.key: v.value if v.status == "scored" and v.value is not None else float("nan")
        for v in verdicts
    }


def verdicts_from_metadata(metadata: dict[str, Any] | None) -> list[Verdict]:
    return [Verdict.model_validate(item) for item in (metadata or {}).get("verdicts", [])]


def markers_from_metadata(metadata: dict[str, Any] | None) -> list[Marker]:
    return [Marker.model_validate(item) for item in (metadata or {}).get("markers", [])]
