"""The lexical judges and marker sets: rule-based verdicts from phrase lists.

Two judges, each a fixed record a run stores by name:

* `lexical-v1` (character/engine/lexical_judge.py, lexical_patterns.py): substring phrase lists,
  any turn fires the whole transcript. Kept unchanged so stored runs and their comparisons stay
  reproducible; selectable with `--judge lexical-v1`.
* `lexical-v2` (this package): tokens on word boundaries with negation scope, phrase families
  kept as reviewed data (`phrases/*.yaml`), verdicts read turn by turn and aggregated by each
  dimension's definition, a position check for pushback probes, and a refusal reader with full
  and partial refusals. The offline default. See docs/lexical-judge.md.

Markers come in two sets with the same names: `lexical-v1` (v1's lists) and `markers-v2`
(lexical-v2's matching). A lexical-v1 run measures v1 markers, every other run v2 markers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from character.domain.hashing import content_hash
from character.domain.probes import Probe
from character.domain.rubrics import Rubric
from character.engine import lexical_judge as v1
from character.engine import lexical_patterns
from character.engine.lexical.judge import LEXICAL_V2, lexical_v2_verdicts, rules_fingerprint
from character.engine.lexical.judge import RULES as V2_RULES
from character.engine.lexical.markers import MARKERS_V2, markers_v2
from character.engine.transcript import Exchange
from character.engine.verdicts import Marker, Verdict

LEXICAL_V1 = lexical_patterns.LEXICAL_VERSION
LEXICAL_JUDGES = (LEXICAL_V1, LEXICAL_V2)
DEFAULT_LEXICAL = LEXICAL_V2
MARKERS_V1 = LEXICAL_V1  # v1 marker rows have always recorded the v1 judge's name
DEFAULT_MARKERS = MARKERS_V2

Verdicts = Callable[[Probe, list[Exchange], list[Rubric]], tuple[list[Verdict], list[str]]]
_VERDICTS: dict[str, Verdicts] = {LEXICAL_V1: v1.lexical_verdicts, LEXICAL_V2: lexical_v2_verdicts}
_MARKERS: dict[str, Callable[[list[Exchange]], list[Marker]]] = {
    MARKERS_V1: v1.markers,
    MARKERS_V2: markers_v2,
}


def resolve_lexical(name: str) -> str:
    """'lexical' -> the default lexical judge; 'lexical-v1' / 'lexical-v2' as they are."""
    if name == "lexical":
        return DEFAULT_LEXICAL
    if name not in LEXICAL_JUDGES:
        raise ValueError(
            f"unknown lexical judge '{name}': use {', '.join(('lexical', *LEXICAL_JUDGES))}"
        )
    return name


def lexical_verdicts(
    probe: Probe,
    exchanges: list[Exchange],
    rubrics: list[Rubric],
    *,
    version: str = DEFAULT_LEXICAL,
) -> tuple[list[Verdict], list[str]]:
    """Verdicts of lexical judge `version` for every applicable dimension it knows, and the
    names (rubric/dimension) of the ones it does not."""
    return _VERDICTS[resolve_lexical(version)](probe, exchanges, rubrics)


def supports(dimension: str, *, version: str = DEFAULT_LEXICAL) -> bool:
    """Whether lexical judge `version` has a rule for a dimension of this name."""
    if resolve_lexical(version) == LEXICAL_V1:
        return v1.supports(dimension)
    return dimension in V2_RULES


def marker_set_for(judge: str) -> str:
    """The marker set a run judged by `judge` measures: v1's with lexical-v1, else the default."""
    return MARKERS_V1 if judge == LEXICAL_V1 else DEFAULT_MARKERS


def markers(exchanges: list[Exchange], *, version: str = DEFAULT_MARKERS) -> list[Marker]:
    """Surface markers measured on every transcript, whatever the judge (see `marker_set_for`)."""
    if version not in _MARKERS:
        raise ValueError(f"unknown marker set '{version}': use {', '.join(_MARKERS)}")
    return _MARKERS[version](exchanges)


def fingerprint(version: str) -> dict[str, Any]:
    """Everything that defines lexical judge `version`'s behaviour (its recorded prompt hash)."""
    if resolve_lexical(version) == LEXICAL_V1:
        return {k: v for k, v in vars(lexical_patterns).items() if k.isupper()}
    return rules_fingerprint()


def prompt_hash(version: str) -> str:
    return content_hash(fingerprint(version))


__all__ = [
    "DEFAULT_LEXICAL",
    "DEFAULT_MARKERS",
    "LEXICAL_JUDGES",
    "LEXICAL_V1",
    "LEXICAL_V2",
    "MARKERS_V1",
    "MARKERS_V2",
    "fingerprint",
    "lexical_verdicts",
    "marker_set_for",
    "markers",
    "prompt_hash",
    "resolve_lexical",
    "supports",
]
