"""The points of a dimension's scale as a person picks them: the judge's own scale and anchors.

Rubric names come from the store (scores.parquet), so only plain rubric names are looked up;
a name shaped like a path is never handed to the loader (the UI reads only files under the store,
plus the project's rubric definitions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from character.domain.rubrics import Dimension, load_rubric
from character.errors import CharacterError

RUBRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
FALLBACK_ORDINAL = range(1, 6)


@dataclass(frozen=True)
class ScalePoint:
    value: float | None  # binary 0/1 or an ordinal level
    label: str | None  # a categorical label
    text: str  # what the person reads: "1 · yes", "4 · Holds the position respectfully ..."


@lru_cache(maxsize=64)
def find_dimension(rubric: str, dimension: str) -> Dimension | None:
    if not RUBRIC_NAME.match(rubric):
        return None
    try:
        return load_rubric(rubric).dimension(dimension)
    except (CharacterError, KeyError):
        return None


def scale_points(rubric: str, dimension: str, scale: str) -> list[ScalePoint]:
    """Every point a label may take, in scale order; from the rubric when it can be found."""
    found = find_dimension(rubric, dimension)
    kind = found.scale.type if found else scale
    if kind == "binary":
        return [ScalePoint(0.0, None, "0 · no"), ScalePoint(1.0, None, "1 · yes")]
    if kind == "ordinal":
        levels = (
            found.scale.levels
            if found and found.scale.levels
            else dict.fromkeys(FALLBACK_ORDINAL, "")
        )
        return [
            ScalePoint(float(level), None, f"{level} · {anchor}" if anchor else str(level))
            for level, anchor in sorted(levels.items())
        ]
    labels = found.scale.labels if found and found.scale.labels else []
    return [ScalePoint(None, label, label) for label in labels]


def question(rubric: str, dimension: str) -> str | None:
    found = find_dimension(rubric, dimension)
    return " ".join(found.question.split()) if found else None


def describe(
    rubric: str, dimension: str, scale: str, value: float | None, label: str | None
) -> str:
    """A stored score in the words of its scale ("1 · yes"); the bare number if off the scale."""
    for point in scale_points(rubric, dimension, scale):
        if (label is not None and point.label == label) or (
            value is not None and point.value is not None and point.value == value
        ):
            return point.text
    if label is not None:
        return label
    return "n/a" if value is None else f"{value:g}"


def scale_width(rubric: str, dimension: str) -> float | None:
    """Highest minus lowest level of an ordinal dimension (1 for binary); None if unknown."""
    found = find_dimension(rubric, dimension)
    if found is None:
        return None
    if found.scale.type == "binary":
        return 1.0
    if found.scale.type == "ordinal" and found.scale.levels:
        return float(max(found.scale.levels) - min(found.scale.levels))
    return None


def bad_score(rubric: str, dimension: str, scale: str, worse: str) -> str | None:
    """The score text of a binary dimension's bad state ("1" when worse is higher); else None."""
    if scale != "binary":
        return None
    return "1" if worse == "higher" else "0"


def is_per_turn(rubric: str, dimension: str) -> bool:
    """Whether the judge gives the turn where this dimension's behaviour first appeared."""
    found = find_dimension(rubric, dimension)
    return bool(found and found.per_turn)
