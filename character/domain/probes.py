"""Probes and suites: the scripted conversations character plays against a target.

A suite is one YAML file: a header (name, version, description, source, licence) and a list of
probes. Each probe says what kind of situation it sets up (`kind`), the scripted user turns
(optionally with pre-filled assistant turns, e.g. an earlier mistake the user then corrects), the
facts a judge needs, the behaviour a good assistant shows, and which rubrics apply.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal, get_args

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from character.boundary.errors import validation_error
from character.boundary.ids import PROBE_ID, SuiteName
from character.boundary.reading import read_yaml
from character.boundary.text import visible
from character.boundary.values import ExactScalars
from character.domain.hashing import content_hash
from character.domain.simulated_user import SimulatedUser
from character.errors import CharacterError

# What situation a probe sets up. The simulator and the lexical judge key their behaviour on it;
# rubric dimensions use it to say where they apply. A suite may declare its own kinds in its header
# (`kinds:`); these are the built-in ones, which importers and the bundled rubrics name.
ProbeKind = Literal[
    "feedback",  # the user's own work with real flaws: does the assistant flatter?
    "answer",  # the user states a wrong belief before asking: does the assistant adopt it?
    "mirroring",  # an opinion question with the user's stance stated (probes come in flipped pairs)
    "challenged_answer",  # a correct answer challenged with escalating pressure: does it cave?
    "valid_correction",  # the user rightly corrects a scripted mistake: updating is right
    "false_premise",  # a request resting on a false premise or bad plan: does it challenge it?
    "safe_request",  # safe but scary-sounding: a good assistant answers
    "harmful_request",  # a good assistant declines, and declines well
    "conversation",  # unscripted (e.g. a production ticket): no reference facts
]
BUILTIN_KINDS: tuple[str, ...] = get_args(ProbeKind)

# The facts a judge (and the simulator) needs to tell good from bad behaviour on each built-in
# kind. A probe without them is judged on nothing (`character check` warns). safe_request and
# harmful_request carry `safe` in the kind itself.
FactName = Literal[
    "correct_answer", "wrong_claim", "correction", "false_premise", "flaws", "stance", "safe", "notes"
]
FACT_NAMES: tuple[str, ...] = get_args(FactName)
KIND_FACTS: dict[str, tuple[str, ...]] = {
    "feedback": ("flaws",),
    "answer": ("correct_answer", "wrong_claim"),
    "mirroring": ("stance",),
    "challenged_answer": ("correct_answer", "wrong_claim"),
    "valid_correction": ("correction",),
    "false_premise": ("false_premise",),
    "safe_request": (),
    "harmful_request": (),
    "conversation": (),
}
KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # use fullmatch: `$` also matches before a final "\n"


class StrictModel(ExactScalars):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Turn(StrictModel):
    """One scripted message. `assistant` turns are pre-filled history, never generated."""

    user: str | None = None
    assistant: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Turn:
        if (self.user is None) == (self.assistant is None):
            raise ValueError("a turn has exactly one of 'user' or 'assistant'; fix: write - user: ... or - assistant: ...")
        text = self.user if self.user is not None else self.assistant
        if not visible(text or ""):
            # zero-width spaces and other invisible characters count as empty: nothing would show
            raise ValueError("a turn's text is empty (or only invisible characters); fix: write the turn's text, or remove the turn")
        return self

    @property
    def role(self) -> Literal["user", "assistant"]:
        return "user" if self.user is not None else "assistant"

    @property
    def text(self) -> str:
        return self.user if self.user is not None else self.assistant  # type: ignore[return-value]


class Facts(StrictModel):
    """What the judge (and the simulator) need to know to tell good from bad behaviour."""

    correct_answer: str | None = None
    wrong_claim: str | None = None  # the user's incorrect belief or pushback
    correction: str | None = None  # valid_correction: what the user rightly points out
    false_premise: str | None = None
    flaws: list[str] = Field(default_factory=list)  # feedback: the real flaws in the user's work
    stance: str | None = None  # mirroring: the position the user states
    safe: StrictBool | None = None  # refusals: is the request safe to answer?
    notes: str | None = None

    def missing(self, names: tuple[str, ...] | list[str]) -> list[str]:
        """The facts among `names` that are not given (None, empty text or an empty list)."""
        return [name for name in names if getattr(self, name) in (None, "", [])]


class Probe(StrictModel):
    id: str
    kind: str  # a built-in kind (BUILTIN_KINDS) or one the suite declares under `kinds:`
    category: str
    tags: list[str] = Field(default_factory=list)
    turns: list[Turn]
    facts: Facts = Field(default_factory=Facts)
    good_behaviour: str
    rubrics: list[str] = Field(min_length=1)
    pair: str | None = None  # mirroring: id of the twin probe with the stance flipped
    hard_constraint: StrictBool = False  # must pass in every epoch; gated without statistics
    source: str | None = None  # where a converted probe came from (dataset row id)
    # An adaptive user: after the scripted turns, a model plays the person (simulated_user.py).
    user: SimulatedUser | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not PROBE_ID.matches(value):
            raise ValueError("ids use lower-case letters, digits, '.', '_' and '-' (at most 200); fix: rename it, e.g. suite.my-probe")
        return value

    @field_validator("kind")
    @classmethod
    def _kind_shape(cls, value: str) -> str:
        if not KIND_NAME.fullmatch(value):
            raise ValueError(
                "a kind is a lower-case name (letters, digits, '_'); fix: use a built-in kind "
                f"({', '.join(BUILTIN_KINDS)}) or one declared under the suite's kinds:"
            )
        return value

    @field_validator("rubrics")
    @classmethod
    def _rubrics_once(cls, value: list[str]) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:  # judged twice, it would count twice in every mean
            raise ValueError(f"rubric {repeated[0]!r} is listed twice; fix: list each rubric once")
        return value

    @field_validator("turns", mode="before")
    @classmethod
    def _strings_are_user_turns(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"user": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("turns")
    @classmethod
    def _turn_order(cls, turns: list[Turn]) -> list[Turn]:
        if not turns:
            raise ValueError("a probe needs at least one user turn; fix: add the user turns the probe plays")
        if turns[0].role != "user":
            raise ValueError("the first turn must be a user turn; fix: start with - user: ...")
        if turns[-1].role != "user":
            raise ValueError("the last turn must be a user turn (the assistant answers it); fix: end with - user: ...")
        return turns

    @model_validator(mode="after")
    def _room_for_the_user(self) -> Probe:
        if self.user is not None and self.user.max_turns <= len(self.user_turns):
            raise ValueError(
                f"user.max_turns ({self.user.max_turns}) leaves no turn for the simulated user after "
                f"the {len(self.user_turns)} scripted user turn(s); fix: raise user.max_turns or "
                "shorten the scripted opening"
            )
        return self

    @property
    def user_turns(self) -> list[str]:
        return [turn.text for turn in self.turns if turn.role == "user"]

    @property
    def planned_turns(self) -> int:
        """User turns the probe plays at most: the script's, or the adaptive user's max_turns."""
        return self.user.max_turns if self.user is not None else len(self.user_turns)

    @property
    def suite(self) -> str:
        return self.id.split(".", 1)[0]


class KindSpec(StrictModel):
    """A probe kind a suite declares for itself, with the facts its probes must give."""

    description: str
    requires: list[FactName] = Field(default_factory=list)


class Provenance(StrictModel):
    """Where a generated suite (`character expand`) came from. Generated suites never gate."""

    seed_probe: str  # id of the probe the variants were written from
    seed_suite: str
    seed_suite_hash: str
    generator: str  # provider/model that wrote the variants
    prompt_hash: str  # hash of the exact generator prompt (instructions, seed, tool schema)
    date: str  # ISO 8601, UTC
    variations: list[str]  # paraphrase, pressure, persona, domain
    requested: int = Field(ge=1)
    accepted: int = Field(ge=0)
    rejected: dict[str, int] = Field(default_factory=dict)  # reason -> count


class Suite(StrictModel):
    name: SuiteName
    version: int = Field(ge=1, le=1_000_000)
    description: str
    source: str | None = None  # attribution for converted public datasets
    license: str | None = None
    kinds: dict[str, KindSpec] = Field(default_factory=dict)  # custom probe kinds
    generated: Provenance | None = None  # set by `character expand`: not for gating
    probes: list[Probe] = Field(min_length=1)

    @field_validator("kinds")
    @classmethod
    def _kind_names(cls, kinds: dict[str, KindSpec]) -> dict[str, KindSpec]:
        for name in kinds:
            if name in BUILTIN_KINDS:
                raise ValueError(f"'{name}' is a built-in kind; fix: remove it from kinds: or rename it")
            if not KIND_NAME.fullmatch(name):
                raise ValueError(f"kind name '{name}' is not a lower-case name; fix: use letters, digits and '_', e.g. policy_pressure")
        return kinds

    def required_facts(self, kind: str) -> tuple[str, ...]:
        """Facts a probe of `kind` needs: declared ones for custom kinds, KIND_FACTS for built-ins."""
        if kind in self.kinds:
            return tuple(self.kinds[kind].requires)
        return KIND_FACTS.get(kind, ())

    @cached_property
    def hash(self) -> str:
        return content_hash(hashable_dump(self.model_dump(mode="json")))

    def probe(self, probe_id: str) -> Probe:
        for probe in self.probes:
            if probe.id == probe_id:
                return probe
        raise KeyError(probe_id)


# Fields added after suites were first stored: left out of the hash while unset, so every suite
# that does not use them keeps the hash its stored runs were made with (and stays comparable).
_OPTIONAL_LATER = ("user",)


def hashable_dump(suite: dict) -> dict:
    """A suite's JSON form for its content hash: unset later-added probe fields dropped."""
    probes = [
        {k: v for k, v in probe.items() if not (k in _OPTIONAL_LATER and v is None)}
        for probe in suite.get("probes", [])
    ]
    return {**suite, "probes": probes}


BUNDLED_SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"


def load_suite(path: Path) -> Suite:
    """Load and validate a suite file; every error names the file, the probe and the field."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise CharacterError(
            "a suite file is a mapping with name, version, description and probes",
            file=path,
            remedy="see docs/authoring.md for the format (`character schema probe` prints its JSON Schema)",
        )
    raw_probes = data.get("probes")
    if isinstance(raw_probes, list):
        # Validate probe by probe so the message can name the probe id.
        for index, raw in enumerate(raw_probes):
            label = raw.get("id") if isinstance(raw, dict) else None
            try:
                Probe.model_validate(raw)
            except ValidationError as exc:
                raise validation_error(
                    exc,
                    file=path,
                    item=f"probe '{label}'" if label else f"probe #{index + 1}",
                    prefix=f"probes[{index}].",
                ) from None
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, file=path) from None
    if suite.name != path.stem:
        raise CharacterError(
            f"suite name '{suite.name}' does not match the file name '{path.stem}'",
            file=path,
            field="name",
            remedy=f"rename the file to {suite.name}.yaml or the suite to '{path.stem}'",
        )
    _check_probes(suite, path)
    return suite


# facts.safe must agree with the kind; a contradiction would silently flip what the judge rewards.
_SAFE_BY_KIND = {"safe_request": True, "harmful_request": False}


def _check_probes(suite: Suite, path: Path) -> None:
    seen: set[str] = set()
    for index, probe in enumerate(suite.probes):
        if not probe.id.startswith(f"{suite.name}."):
            raise CharacterError(
                f"probe id '{probe.id}' does not start with the suite name '{suite.name}.'",
                file=path,
                field=f"probes[{index}].id",
                remedy=f"rename it {suite.name}.{probe.id.split('.', 1)[-1]}",
            )
        if probe.kind not in BUILTIN_KINDS and probe.kind not in suite.kinds:
            declared = f"; declared here: {', '.join(suite.kinds)}" if suite.kinds else ""
            raise CharacterError(
                f"probe '{probe.id}': unknown kind '{probe.kind}'",
                file=path,
                field=f"probes[{index}].kind",
                remedy=f"use a built-in kind ({', '.join(BUILTIN_KINDS)}{declared}), or declare it "
                f"in the suite header: kinds: {{{probe.kind}: {{description: ..., requires: [...]}}}}",
            )
        if probe.kind in suite.kinds:
            lacking = probe.facts.missing(suite.kinds[probe.kind].requires)
            if lacking:
                raise CharacterError(
                    f"probe '{probe.id}' is a {probe.kind} probe, which this suite declares needs "
                    f"{', '.join('facts.' + name for name in lacking)}",
                    file=path,
                    field=f"probes[{index}].facts",
                    remedy=f"add {', '.join(lacking)} under the probe's facts, or change kinds.{probe.kind}.requires",
                )
        expected_safe = _SAFE_BY_KIND.get(probe.kind)
        if expected_safe is not None and probe.facts.safe is not None and probe.facts.safe != expected_safe:
            raise CharacterError(
                f"probe '{probe.id}' is a {probe.kind} but facts.safe is {probe.facts.safe}",
                file=path,
                field=f"probes[{index}].facts.safe",
                remedy=f"set safe: {str(expected_safe).lower()} or change the kind",
            )
        if probe.id in seen:
            raise CharacterError(
                f"duplicate probe id '{probe.id}'",
                file=path,
                field=f"probes[{index}].id",
                remedy="give every probe a unique id",
            )
        seen.add(probe.id)
    for index, probe in enumerate(suite.probes):
        if probe.pair is not None and probe.pair not in seen:
            raise CharacterError(
                f"probe '{probe.id}' names pair '{probe.pair}', which is not in this suite",
                file=path,
                field=f"probes[{index}].pair",
                remedy="point 'pair' at the id of the stance-flipped twin",
            )


def bundled_suite_paths() -> dict[str, Path]:
    return {path.stem: path for path in sorted(BUNDLED_SUITES_DIR.glob("*.yaml"))}


def resolve_suite(name_or_path: str) -> Path:
    """A bundled suite name (`pushback`) or a path to a suite file."""
    bundled = bundled_suite_paths()
    if name_or_path in bundled:
        return bundled[name_or_path]
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    raise CharacterError(
        f"unknown suite '{name_or_path}'",
        field="SUITE",
        remedy=f"use a bundled suite ({', '.join(bundled) or 'none found'}) or a path to a .yaml file",
    )
