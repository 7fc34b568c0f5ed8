"""Warnings about probe suites and rubrics that a run would not give (`character check`).

A suite that loads can still test nothing: a probe without the facts its kind needs is judged on
nothing, a rubric that names a fact the probe lacks asks the judge to guess, two probes that are
the same conversation twice count one test double, and a probe that tells the model it is being
tested measures test behaviour. These checks read domain objects only; what `run` rejects is left
to the loaders (`load_suite`, `load_suite_rubrics`, `load_rubric_file`, `load_config`).

Each finding is a `Finding`: level, a stable code, the message, and the file, field and remedy in
the same shape as a `CharacterError`, so the CLI prints both the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from character.domain.probes import BUILTIN_KINDS, FACT_NAMES, KIND_FACTS, Probe, Suite
from character.domain.rubrics import Dimension, Rubric
from character.domain.similarity import NEAR_DUPLICATE, near_duplicates, words
from character.errors import CharacterError

Level = Literal["error", "warning"]

# Kinds whose `safe` fact is the kind itself (the loader rejects a contradicting facts.safe).
_SAFE_IMPLIED = {"safe_request", "harmful_request"}

# Wording that tells the model it is being tested. Models behave differently when they notice an
# evaluation, so such a probe measures test behaviour, not the behaviour users meet. None of the
# bundled suites' 2,000 probes matches.
AWARENESS_PATTERNS: tuple[str, ...] = (
    r"\bthis is (?:only |just |merely )?(?:a|an) (?:test|evaluation|eval|experiment|simulation|benchmark)\b",
    r"\b(?:as|for) (?:a|an|this|the|our|my) (?:evaluation|eval|experiment|benchmark|safety test|red[- ]?team(?:ing)? exercise)\b",
    r"\byou(?:'re| are) (?:being|now being|currently being) (?:tested|evaluated|assessed|graded|benchmarked|red[- ]?teamed|monitored)\b",
    r"\b(?:i am|i'm|we are|we're) (?:testing|evaluating|assessing|grading|benchmarking|red[- ]?teaming) (?:you|your|the (?:model|assistant|ai))\b",
    r"\b(?:a|this|the) test (?:of|for) (?:your|the (?:model|assistant|ai))\b",
    r"\bfor (?:evaluation|testing|benchmark(?:ing)?) purposes\b",
    r"\b(?:sycophancy|pushback|refusal|jailbreak|safety|alignment) (?:test|probe|benchmark|eval|evaluation)\b",
    r"\bsee (?:if|whether) you(?:'ll| will)? (?:cave|give in|fold|hold (?:your ground|firm)|stick to your answer)\b",
    r"\b(?:test|evaluation) (?:prompt|scenario|case)\b",
)
_AWARENESS = [re.compile(pattern, re.IGNORECASE) for pattern in AWARENESS_PATTERNS]
_FACT_REFERENCE = re.compile(r"\bfacts\.([a-z_]+)")


@dataclass(frozen=True)
class Finding:
    level: Level
    code: str  # stable identifier, e.g. "missing_facts" (for --format json and tests)
    message: str
    file: str | None = None
    field: str | None = None
    remedy: str | None = None

    def one_line(self) -> str:
        where = ": ".join(
            part for part in (self.file, self.field and f"field '{self.field}'") if part
        )
        text = (
            f"{where}: {self.level}: {self.message}" if where else f"{self.level}: {self.message}"
        )
        return f"{text} (fix: {self.remedy})" if self.remedy else text

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_error(cls, exc: CharacterError) -> Finding:
        return cls("error", "invalid", exc.message, exc.file, exc.field, exc.remedy)


def awareness_phrase(text: str) -> str | None:
    """The first phrase in `text` that tells the model it is being tested, if any."""
    for pattern in _AWARENESS:
        match = pattern.search(text)
        if match:
            return match.group(0)
    return None


def fact_references(dimension: Dimension) -> list[str]:
    """Fact names a dimension's question or guidance refers to as `facts.<name>`."""
    text = f"{dimension.question} {dimension.guidance or ''}"
    return list(dict.fromkeys(_FACT_REFERENCE.findall(text)))


def suite_findings(suite: Suite, path: Path | str, rubrics: dict[str, Rubric]) -> list[Finding]:
    """Warnings about one suite that loaded (and whose rubrics loaded) cleanly."""
    file = str(path)
    findings: list[Finding] = _generated_findings(suite, file) if suite.generated else []
    for index, probe in enumerate(suite.probes):
        where = f"probes[{index}]"
        findings += _missing_facts(suite, probe, file, where)
        findings += _facts_the_rubrics_ask_for(probe, rubrics, file, where)
        findings += _kind_coverage(probe, rubrics, file, where)
        for turn_index, turn in enumerate(probe.turns):
            phrase = awareness_phrase(turn.text) if turn.role == "user" else None
            if phrase:
                findings.append(
                    Finding(
                        "warning",
                        "tells_model_tested",
                        f"probe '{probe.id}' tells the model it is being tested (\"{phrase}\"): "
                        "models behave differently when they notice a test, so this measures "
                        "test behaviour",
                        file,
                        f"{where}.turns[{turn_index}]",
                        "write the turn as a real user would, without mentioning a test or evaluation",
                    )
                )
    return findings


def _generated_findings(suite: Suite, file: str) -> list[Finding]:
    """A generated suite (`character expand`) must still hold its seed's copy, and variants that
    keep the seed's situation must keep its facts (the file may have been edited since)."""
    # imported here: variants screens generated wording with this module's awareness_phrase
    from character.domain.variants import KEEPS_FACTS, SEED_TAG, fact_names, variation_of

    seeds = [p for p in suite.probes if SEED_TAG in p.tags and variation_of(p) is None]
    if not seeds:
        return [
            Finding(
                "warning",
                "generated_without_seed",
                "this generated suite has no copy of its seed probe (tag 'seed'), so a run of it "
                "cannot show the seed's failure rate beside the variants'",
                file,
                "probes",
                "re-create it with `character expand`",
            )
        ]
    seed = seeds[0]
    findings = []
    for index, probe in enumerate(suite.probes):
        variation = variation_of(probe)
        if variation not in KEEPS_FACTS:
            continue
        changed = [
            name
            for name in fact_names(seed, suite)
            if getattr(probe.facts, name) != getattr(seed.facts, name)
        ]
        if changed:
            findings.append(
                Finding(
                    "warning",
                    "changes_facts",
                    f"probe '{probe.id}' is a {variation} variant but its "
                    f"{', '.join('facts.' + n for n in changed)} differ from the seed's: a "
                    f"{variation} must keep the seed's facts",
                    file,
                    f"probes[{index}].facts",
                    "restore the seed's facts, or tag it variation:domain if it is another subject",
                )
            )
    return findings


def _missing_facts(suite: Suite, probe: Probe, file: str, where: str) -> list[Finding]:
    if probe.kind in suite.kinds:
        return []  # declared requirements are enforced by the loader
    lacking = probe.facts.missing(KIND_FACTS.get(probe.kind, ()))
    if not lacking:
        return []
    names = ", ".join(f"facts.{name}" for name in lacking)
    return [
        Finding(
            "warning",
            "missing_facts",
            f"probe '{probe.id}' is a {probe.kind} probe without {names}: the judge cannot tell "
            "a good answer from a bad one, and the lexical judge and the simulator fall back to "
            "placeholders",
            file,
            f"{where}.facts",
            f"add {', '.join(lacking)} under the probe's facts",
        )
    ]


def _facts_the_rubrics_ask_for(
    probe: Probe, rubrics: dict[str, Rubric], file: str, where: str
) -> list[Finding]:
    findings = []
    for name in probe.rubrics:
        rubric = rubrics.get(name)
        for dim in rubric.dimensions if rubric else []:
            if not dim.applies(probe.kind):
                continue
            wanted = [f for f in fact_references(dim) if f in FACT_NAMES]
            if probe.kind in _SAFE_IMPLIED:
                wanted = [f for f in wanted if f != "safe"]
            lacking = probe.facts.missing(wanted)
            if lacking:
                findings.append(
                    Finding(
                        "warning",
                        "fact_not_given",
                        f"probe '{probe.id}': {name}/{dim.name} asks the judge about "
                        f"{', '.join('facts.' + f for f in lacking)}, which this probe does not give",
                        file,
                        f"{where}.facts",
                        f"add {', '.join(lacking)} under the probe's facts",
                    )
                )
    return findings


def _kind_coverage(
    probe: Probe, rubrics: dict[str, Rubric], file: str, where: str
) -> list[Finding]:
    """A probe whose rubrics have no dimension written for its kind, only general ones."""
    applicable = [
        (rubric.name, dim)
        for name in probe.rubrics
        if (rubric := rubrics.get(name))
        for dim in rubric.dimensions
        if dim.applies(probe.kind)
    ]
    if not applicable or any(dim.applies_to for _name, dim in applicable):
        return []
    general = ", ".join(f"{name}/{dim.name}" for name, dim in applicable)
    return [
        Finding(
            "warning",
            "no_rubric_for_kind",
            f"probe '{probe.id}' ({probe.kind}) is judged only on general dimensions ({general}): "
            f"no dimension of its rubrics ({', '.join(probe.rubrics)}) is written for {probe.kind} probes",
            file,
            f"{where}.rubrics",
            f"add a rubric with a dimension whose applies_to lists {probe.kind}",
        )
    ]


def rubric_findings(
    rubric: Rubric, path: Path | str, declared_kinds: set[str] | None
) -> list[Finding]:
    """Typos a rubric loader cannot see: unknown fact names, kinds no checked suite declares.

    `declared_kinds`: kinds declared by the suites checked alongside (None: no suite was checked,
    so custom kinds cannot be verified and are not reported).
    """
    file = str(path)
    findings: list[Finding] = []
    for index, dim in enumerate(rubric.dimensions):
        for fact in fact_references(dim):
            if fact not in FACT_NAMES:
                findings.append(
                    Finding(
                        "warning",
                        "unknown_fact",
                        f"{rubric.name}/{dim.name} refers to facts.{fact}, which no probe can give",
                        file,
                        f"dimensions[{index}].question",
                        f"use one of: {', '.join('facts.' + f for f in FACT_NAMES)}",
                    )
                )
        if declared_kinds is None:
            continue
        for kind in dim.applies_to or []:
            if kind not in BUILTIN_KINDS and kind not in declared_kinds:
                findings.append(
                    Finding(
                        "warning",
                        "unknown_kind",
                        f"{rubric.name}/{dim.name} applies to '{kind}', which is not a built-in "
                        "kind and no checked suite declares it, so it applies to no probe",
                        file,
                        f"dimensions[{index}].applies_to",
                        f"check the spelling; built-in kinds: {', '.join(BUILTIN_KINDS)}",
                    )
                )
    return findings


def _id_key(probe_id: str) -> str:
    return re.sub(r"[^a-z0-9]", "", probe_id.lower())


def duplicate_findings(suites: Sequence[tuple[Suite, Path | str]]) -> list[Finding]:
    """Ids that differ only by case or punctuation, and near-duplicate wordings, across suites."""
    located = [
        (probe, str(path), index)
        for suite, path in suites
        for index, probe in enumerate(suite.probes)
    ]
    findings: list[Finding] = []
    by_key: dict[str, tuple[Probe, str, int]] = {}
    for probe, file, index in located:
        key = _id_key(probe.id)
        first = by_key.setdefault(key, (probe, file, index))
        if first[0].id != probe.id:
            findings.append(
                Finding(
                    "warning",
                    "similar_ids",
                    f"probe ids '{first[0].id}' and '{probe.id}' differ only by case or "
                    "punctuation: reports and filters will confuse them",
                    file,
                    f"probes[{index}].id",
                    "give the probes clearly different ids",
                )
            )
    where = {probe.id: (file, index) for probe, file, index in located}
    twins = {frozenset((p.id, p.pair)) for p, _file, _index in located if p.pair}
    # a generated suite's copy of its seed is the seed again, on purpose
    twins |= {
        frozenset((f"{suite.name}.seed", suite.generated.seed_probe))
        for suite, _path in suites
        if suite.generated is not None
    }
    items = [(probe.id, words(" ".join(probe.user_turns))) for probe, _file, _index in located]
    for first_id, second_id, score in near_duplicates(items, threshold=NEAR_DUPLICATE, skip=twins):
        file, index = where[second_id]  # type: ignore[index]
        findings.append(
            Finding(
                "warning",
                "near_duplicate",
                f"probes '{first_id}' and '{second_id}' have nearly the same user turns "
                f"(similarity {score:.2f}): one conversation counted twice inflates the probe "
                "count without adding a test",
                file,
                f"probes[{index}].turns",
                "remove one, or make them differ in what they test",
            )
        )
    return findings


def count(findings: Iterable[Finding], level: Level) -> int:
    return sum(1 for finding in findings if finding.level == level)
