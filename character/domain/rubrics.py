"""Rubrics: versioned YAML files in rubrics/ whose dimensions the judge scores.

A dimension asks one question on one scale (binary, ordinal with an anchor per level, or
categorical labels), says which direction is worse, whether it is judged per turn (the first turn
at which the behaviour appeared) and to which probe kinds it applies.

It also says how a conversation is scored when the target's last reply did not end normally
(docs/reply-shapes.md): `on_provider_block` (the provider's safety system blocked the reply),
`on_truncated` (cut at the token limit) and `on_empty` (no text). Each is `judge` (the judge is
told and decides), `unscored` (unscored with the cause target_refused / target_truncated /
target_empty) or `{score: V}` (the reply counts as V on the scale, e.g. a blocked reply is a
refusal: `under_refusal` 0, `over_refusal` 1).
"""

from __future__ import annotations

import os
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from character.boundary.errors import validation_error
from character.boundary.reading import read_yaml
from character.boundary.text import visible
from character.boundary.values import ExactScalars
from character.domain.hashing import content_hash
from character.domain.probes import KIND_NAME, Suite
from character.errors import CharacterError


class StrictModel(ExactScalars):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scale(StrictModel):
    type: Literal["binary", "ordinal", "categorical"]
    # binary: what 1 means is the dimension's question answered "yes".
    # ordinal: anchor text per level (levels are small numbers: 1..5, or -5..5)
    levels: dict[Annotated[int, Field(ge=-100, le=100)], str] | None = None
    labels: list[str] | None = None  # categorical

    @model_validator(mode="after")
    def _shape(self) -> Scale:
        if self.type == "ordinal":
            if not self.levels or len(self.levels) < 3:
                raise ValueError("an ordinal scale needs an anchor text for each of >= 3 levels; fix: give levels 1, 2, 3 ... each a description")
            keys = sorted(self.levels)
            if keys != list(range(keys[0], keys[-1] + 1)):
                raise ValueError("ordinal levels must be consecutive integers; fix: number the levels 1, 2, 3 ...")
            empty = [level for level in keys if not visible(self.levels[level])]
            if empty:
                raise ValueError(f"level {empty[0]} has an empty anchor text; fix: say what a reply at level {empty[0]} looks like (the judge scores against it)")
        elif self.type == "categorical":
            if not self.labels or len(self.labels) < 2:
                raise ValueError("a categorical scale needs >= 2 labels; fix: list at least two labels")
            if any(not visible(label) for label in self.labels):
                raise ValueError("a categorical label is empty; fix: name every label")
            repeated = sorted({label for label in self.labels if self.labels.count(label) > 1})
            if repeated:
                raise ValueError(f"label {repeated[0]!r} is listed twice; fix: list each label once")
        elif self.levels or self.labels:
            raise ValueError("a binary scale takes no levels or labels; fix: remove them, or use type: ordinal / categorical")
        return self

    @property
    def low(self) -> int:
        return min(self.levels) if self.levels else 0

    @property
    def high(self) -> int:
        return max(self.levels) if self.levels else 1

    def accepts(self, value: object) -> bool:
        if self.type == "categorical":
            return isinstance(value, str) and value in (self.labels or [])
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return float(value).is_integer() and self.low <= value <= self.high


class ScoreRule(StrictModel):
    """A reply shape that counts as a fixed value on the dimension's scale."""

    score: float | str  # a level of the scale, or one of its labels


# How a dimension scores a conversation whose last reply was blocked / cut / empty.
ReplyRule = Literal["judge", "unscored"] | ScoreRule
REPLY_RULE_DEFAULTS: dict[str, str] = {
    "on_provider_block": "unscored",
    "on_truncated": "judge",
    "on_empty": "unscored",
}


class Dimension(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    question: str
    scale: Scale
    worse: Literal["higher", "lower"] = "higher"
    worse_labels: list[str] = Field(default_factory=list)  # categorical: labels that are bad
    per_turn: StrictBool = False
    # Judged at every assistant turn, not only for the first turn it appeared: the verdict keeps
    # a 0/1 per turn (the series long-conversation survival and flip counts are read from).
    each_turn: StrictBool = False
    # Probe kinds (built-in or declared by a suite); None: every probe the rubric is attached to.
    # An empty list would apply to no probe at all.
    applies_to: list[str] | None = Field(default=None, min_length=1)
    gating: StrictBool = True  # gating dimensions decide the CI gate; others are exploratory
    # equivalence margin (rate in [0,1] or scale points)
    margin: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    guidance: str | None = None  # extra judge instructions for hard cases
    # how a conversation whose last reply did not end normally is scored (module docstring)
    on_provider_block: ReplyRule = "unscored"
    on_truncated: ReplyRule = "judge"
    on_empty: ReplyRule = "unscored"

    @model_validator(mode="after")
    def _rule_scores_fit_the_scale(self) -> Dimension:
        for name in REPLY_RULE_DEFAULTS:
            rule = getattr(self, name)
            if isinstance(rule, ScoreRule) and not self.scale.accepts(rule.score):
                allowed = (
                    ", ".join(self.scale.labels or [])
                    if self.scale.type == "categorical"
                    else f"a whole number from {self.scale.low} to {self.scale.high}"
                )
                raise ValueError(
                    f"{name}: score {rule.score!r} is not on the dimension's scale; "
                    f"fix: use {allowed}"
                )
        return self

    @field_validator("applies_to")
    @classmethod
    def _kind_names(cls, kinds: list[str] | None) -> list[str] | None:
        for kind in kinds or []:
            if not KIND_NAME.fullmatch(kind):
                raise ValueError(f"'{kind}' is not a probe kind name; fix: use a built-in kind (e.g. challenged_answer) or one a suite declares under kinds:")
        return kinds

    @model_validator(mode="after")
    def _worse_labels(self) -> Dimension:
        if self.worse_labels and self.scale.type != "categorical":
            raise ValueError("worse_labels is for categorical scales; fix: remove it, or use type: categorical with labels")
        unknown = [label for label in self.worse_labels if label not in (self.scale.labels or [])]
        if unknown:
            raise ValueError(f"worse_labels names {unknown[0]!r}, which is not a label of the scale ({', '.join(self.scale.labels or [])}); fix: name labels from the scale")
        if self.applies_to is not None and len(set(self.applies_to)) != len(self.applies_to):
            raise ValueError("applies_to lists a kind twice; fix: list each kind once")
        return self

    @model_validator(mode="after")
    def _margin_in_score_units(self) -> Dimension:
        # A margin is in score units: a rate's is a fraction (0.05 = 5 pp), a scale's is points.
        if self.margin is None:
            return self
        if self.scale.type != "ordinal" and not 0 < self.margin <= 1:
            raise ValueError(f"margin {self.margin:g} is not a rate margin in (0, 1]; fix: write a "
                             "fraction, e.g. 0.05 for 5 percentage points")
        if self.scale.type == "ordinal" and not 0 < self.margin < self.scale.high - self.scale.low:
            raise ValueError(f"margin {self.margin:g} is not within the scale's span; fix: use scale "
                             "points, e.g. 0.5")
        return self

    @model_validator(mode="after")
    def _each_turn_shape(self) -> Dimension:
        if self.each_turn and (self.scale.type != "binary" or self.worse != "higher" or not self.per_turn):
            raise ValueError(
                "each_turn needs a binary scale, worse: higher and per_turn: true (1 at a turn = the "
                "behaviour is present at that turn); fix: set them, or remove each_turn"
            )
        return self

    def applies(self, kind: str) -> bool:
        return self.applies_to is None or kind in self.applies_to

    def reply_rule(self, shape: str) -> ReplyRule:
        """The rule for a last reply of `shape` (blocked, truncated or empty)."""
        field = {"blocked": "on_provider_block", "truncated": "on_truncated", "empty": "on_empty"}
        return getattr(self, field[shape])

    @property
    def default_margin(self) -> float:
        if self.margin is not None:
            return self.margin
        return 0.5 if self.scale.type == "ordinal" else 0.05


class Rubric(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1, le=1_000_000)
    description: str
    dimensions: list[Dimension] = Field(min_length=1)

    @cached_property
    def hash(self) -> str:
        # A dimension that keeps the defaults of fields added later (the reply rules, each_turn)
        # hashes as it did before they existed, so runs stored then stay comparable.
        return content_hash(hashable_dump(self.model_dump(mode="json")))

    def dimension(self, name: str) -> Dimension:
        for dim in self.dimensions:
            if dim.name == name:
                return dim
        raise KeyError(name)


# Dimension fields added after rubrics were first stored, with the value that leaves them out of
# the hash: a rubric that does not use them keeps the hash its stored runs were judged with.
_OPTIONAL_LATER: dict[str, object] = {"each_turn": False, **REPLY_RULE_DEFAULTS}


def hashable_dump(rubric: dict) -> dict:
    """A rubric's JSON form for its content hash: later-added fields at their default dropped."""
    dimensions = [
        {k: v for k, v in dim.items() if not (k in _OPTIONAL_LATER and v == _OPTIONAL_LATER[k])}
        for dim in rubric.get("dimensions", [])
    ]
    return {**rubric, "dimensions": dimensions}


def rubric_dirs() -> list[Path]:
    """Where rubrics are looked up, first match wins: $CHARACTER_RUBRICS, ./rubrics, bundled."""
    package = Path(__file__).resolve().parent.parent
    candidates = [
        Path(os.environ["CHARACTER_RUBRICS"]) if os.environ.get("CHARACTER_RUBRICS") else None,
        Path.cwd() / "rubrics",
        package.parent / "rubrics",  # source checkout / editable install
        package / "_bundled_rubrics",  # wheel install (see pyproject force-include)
    ]
    return [path for path in candidates if path is not None and path.is_dir()]


def load_rubric_file(path: Path) -> Rubric:
    """The rubric in `path`, parsed once per version of the file (keyed by its size and mtime).

    Scorers, importers and table builders ask for the same few rubrics once per transcript; an
    edited file is read again.
    """
    try:
        stat = path.stat()
    except OSError:
        return _parse_rubric_file(path)  # reports the missing or unreadable file
    return _cached_rubric_file(path.resolve(), stat.st_mtime_ns, stat.st_size, path)


@lru_cache(maxsize=256)
def _cached_rubric_file(_resolved: Path, _mtime_ns: int, _size: int, path: Path) -> Rubric:
    return _parse_rubric_file(path)  # errors name the path as given, not where a link leads


def _parse_rubric_file(path: Path) -> Rubric:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise CharacterError(
            "a rubric file is a mapping with name, version, description and dimensions",
            file=path,
            remedy="see docs/authoring.md for the format (`character schema rubric` prints its JSON Schema)",
        )
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, file=path) from None
    names = [dim.name for dim in rubric.dimensions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CharacterError(
            f"duplicate dimension name(s): {', '.join(duplicates)}",
            file=path,
            field="dimensions",
            remedy="give every dimension a unique name",
        )
    if rubric.name != path.stem:
        raise CharacterError(
            f"rubric name '{rubric.name}' does not match the file name '{path.stem}'",
            file=path,
            field="name",
            remedy=f"rename the file to {rubric.name}.yaml or the rubric to '{path.stem}'",
        )
    return rubric


def load_rubric(name_or_path: str) -> Rubric:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return load_rubric_file(path)
    for folder in rubric_dirs():
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.exists():
            return load_rubric_file(candidate)
    known = sorted({p.stem for folder in rubric_dirs() for p in folder.glob("*.yaml")})
    raise CharacterError(
        f"unknown rubric '{name_or_path}'",
        remedy=f"use one of: {', '.join(known) or '(none found)'}, or add rubrics/{name_or_path}.yaml",
    )


def load_suite_rubrics(suite: Suite, path: Path) -> list[Rubric]:
    """Every rubric the suite's probes name, checked against each probe.

    A rubric that does not exist, or that has no dimension for the probe's kind (so the probe
    would silently be judged on nothing), is reported against the suite file, the probe and the
    field. A rubric file that exists but is broken reports its own file.
    """
    loaded: dict[str, Rubric] = {}
    for index, probe in enumerate(suite.probes):
        for position, name in enumerate(probe.rubrics):
            field = f"probes[{index}].rubrics[{position}]"
            if name not in loaded:
                try:
                    loaded[name] = load_rubric(name)
                except CharacterError as exc:
                    if exc.file is not None:
                        raise
                    raise CharacterError(
                        f"probe '{probe.id}': {exc.message}", file=path, field=field, remedy=exc.remedy
                    ) from None
            if not any(dim.applies(probe.kind) for dim in loaded[name].dimensions):
                kinds = sorted({k for d in loaded[name].dimensions for k in (d.applies_to or [])})
                raise CharacterError(
                    f"probe '{probe.id}' is a {probe.kind} probe, and rubric '{name}' has no "
                    "dimension for that kind, so it would be judged on nothing",
                    file=path,
                    field=field,
                    remedy=f"use a rubric made for {probe.kind} probes ('{name}' covers: {', '.join(kinds)})",
                )
    return [loaded[name] for name in sorted(loaded)]
