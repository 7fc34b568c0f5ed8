"""Which rubric dimensions a judge cannot score, known before anything is played.

A model judge scores any dimension from its question. The lexical judge has rules for the bundled
dimensions only (by name): any other dimension comes back unscored with `cause="unsupported"`.
`run` warns about these at start, `check` lists them, so a custom dimension never disappears
silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from character.domain.probes import Suite
from character.domain.rubrics import Rubric
from character.engine.lexical import DEFAULT_LEXICAL as LEXICAL_JUDGE
from character.engine.lexical import supports


@dataclass(frozen=True)
class Unscorable:
    rubric: str
    dimension: str
    probes: list[str]  # probe ids it applies to in the suites checked (empty: none given)

    @property
    def key(self) -> str:
        return f"{self.rubric}/{self.dimension}"


def unscorable(
    judge_kind: Literal["model", "lexical"],
    rubrics: list[Rubric],
    suites: list[Suite] | None = None,
) -> list[Unscorable]:
    """Dimensions of `rubrics` the judge cannot score; with `suites`, only those some probe uses."""
    if judge_kind != "lexical":
        return []
    found = []
    for rubric in rubrics:
        for dim in rubric.dimensions:
            if supports(dim.name):
                continue
            if suites is None:
                found.append(Unscorable(rubric.name, dim.name, []))
                continue
            probes = [
                probe.id
                for suite in suites
                for probe in suite.probes
                if rubric.name in probe.rubrics and dim.applies(probe.kind)
            ]
            if probes:
                found.append(Unscorable(rubric.name, dim.name, probes))
    return found


def judged_on_nothing(
    judge_kind: Literal["model", "lexical"], rubrics: dict[str, Rubric], suite: Suite
) -> list[str]:
    """Ids of probes every applicable dimension of which the judge cannot score."""
    if judge_kind != "lexical":
        return []
    ids = []
    for probe in suite.probes:
        dims = [
            dim
            for name in probe.rubrics
            if (rubric := rubrics.get(name))
            for dim in rubric.dimensions
            if dim.applies(probe.kind)
        ]
        if dims and not any(supports(dim.name) for dim in dims):
            ids.append(probe.id)
    return ids


def unscorable_message(item: Unscorable) -> str:
    """Which judge cannot score which dimension, on how many probes, and what follows."""
    used = f" ({len(item.probes)} probe(s), e.g. {item.probes[0]})" if item.probes else ""
    return (
        f"the lexical judge ({LEXICAL_JUDGE}) cannot score {item.key}{used}: it has rules only "
        "for the bundled dimensions, so these verdicts will be unscored"
    )


def unscorable_remedy(model_judge: str) -> str:
    """What it would take to score such a dimension."""
    return (
        f"judge with a model judge: --judge {model_judge} (with the provider's API key set), or "
        "re-judge a stored run with `character judge RUN --judge provider/model`"
    )
