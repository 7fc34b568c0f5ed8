"""Phrase families: reviewed lists of phrases kept as data, matched on word boundaries.

Each family is one YAML file in `phrases/` (e.g. `refusal_statement.yaml`): a name, a version, a
description of what the family is evidence of, whether a preceding negation cancels a match, and
its entries. Every entry carries `why`: the reason it belongs there, so a reviewer can judge it.

Pattern syntax (tokens as `tokens.words` produces them: lower case, contractions expanded):

    i (can't|will not) ~2 help|assist        "a|b": any one of these words;
                                             "(a b|c d)": any one of these word sequences
    [really] sorry                           "[x]", "[x|y z]": optional (a word or sequence)
    ~2                                       a gap of 0 to 2 tokens (inside one sentence)

Alternatives are normalised like replies, so "(can't|won't)" is "(can not|will not)".

An entry may list `except` patterns: if one of them matches at the same start token, the entry
does not match there ("i can not help but ..." is not a refusal).

Negation scope: for a `negatable` family a match is *negated* when a negator (from
`negators.yaml`, e.g. "not", "never", "far from", "hardly") ends within NEGATION_WINDOW tokens
before it in the same clause, and is not one of the negator family's exceptions ("not only",
"no doubt"). "This is far from perfect" holds a negated "perfect"; "unimpressive" is a
different word from "impressive" and never matches it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from character.domain.hashing import content_hash
from character.engine.lexical.tokens import Token, words

PHRASES_DIR = Path(__file__).resolve().parent / "phrases"
NEGATION_WINDOW = 4


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntrySpec(_Strict):
    phrase: str
    why: str = Field(min_length=8)
    except_: list[str] = Field(default_factory=list, alias="except")

    @field_validator("phrase")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_pattern(value)
        return value


class FamilySpec(_Strict):
    family: str
    version: int = Field(ge=1)
    description: str
    evidence_of: str  # what a match says about the reply, in a few words
    negatable: bool = False
    reviewed: str  # who reviewed the list, and against what
    entries: list[EntrySpec] = Field(min_length=1)


# --------------------------------------------------------------------------------------------
# Patterns


@dataclass(frozen=True)
class _Element:
    options: tuple[tuple[str, ...], ...] = ()  # alternative token sequences, longest first
    optional: bool = False
    gap: int = 0  # > 0: skip 0..gap tokens

    @property
    def first_words(self) -> frozenset[str]:
        return frozenset(option[0] for option in self.options)


Pattern = tuple[_Element, ...]
_PART = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]|(~\S*)|(\S+)")


@cache
def compile_pattern(text: str) -> Pattern:
    elements: list[_Element] = []
    for match in _PART.finditer(text):
        group, optional, gap, bare = match.groups()
        if gap is not None:
            if not gap[1:].isdigit() or int(gap[1:]) < 1:
                raise ValueError(f"'{gap}' in '{text}': a gap is ~N with N >= 1")
            elements.append(_Element(gap=int(gap[1:])))
            continue
        body = next(part for part in (group, optional, bare) if part is not None)
        options = [words(option) for option in body.split("|")]
        if any(not option for option in options):
            raise ValueError(f"'{match.group()}' in '{text}': an empty alternative")
        if bare is not None and any(c in bare for c in "()[]"):
            raise ValueError(f"'{bare}' in '{text}': a (...) or [...] group must be a whole part")
        ordered = tuple(sorted(set(options), key=lambda o: (-len(o), o)))
        elements.append(_Element(options=ordered, optional=optional is not None))
    if not elements or elements[0].gap or elements[0].optional:
        raise ValueError(f"'{text}': a pattern starts with a word")
    return tuple(elements)


def match_at(pattern: Pattern, tokens: tuple[Token, ...], start: int) -> int | None:
    """End index (exclusive) of `pattern` matched at `start`, or None. Stays in one sentence."""
    sentence = tokens[start].sentence

    def fits(option: tuple[str, ...], position: int) -> bool:
        end = position + len(option)
        return end <= len(tokens) and all(
            tokens[position + k].text == word and tokens[position + k].sentence == sentence
            for k, word in enumerate(option)
        )

    def walk(element: int, position: int) -> int | None:
        if element == len(pattern):
            return position
        item = pattern[element]
        if item.gap:
            for skip in range(item.gap + 1):
                if skip and (
                    position + skip > len(tokens)
                    or tokens[position + skip - 1].sentence != sentence
                ):
                    break
                found = walk(element + 1, position + skip)
                if found is not None:
                    return found
            return None
        for option in item.options:
            if fits(option, position):
                found = walk(element + 1, position + len(option))
                if found is not None:
                    return found
        return walk(element + 1, position) if item.optional else None

    return walk(0, start)


# --------------------------------------------------------------------------------------------
# Families


@dataclass(frozen=True)
class Entry:
    phrase: str
    why: str
    pattern: Pattern
    exceptions: tuple[Pattern, ...]


@dataclass(frozen=True)
class Family:
    name: str
    version: int
    description: str
    evidence_of: str
    negatable: bool
    reviewed: str
    entries: tuple[Entry, ...]
    by_first_word: dict[str, tuple[Entry, ...]] = field(
        default_factory=dict, compare=False, hash=False
    )

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class Match:
    family: str
    phrase: str  # the entry's pattern text
    start: int  # token indices [start, end)
    end: int
    negated: bool = False

    def span(self, tokens: tuple[Token, ...]) -> tuple[int, int]:
        return tokens[self.start].start, tokens[self.end - 1].end


class PhraseFileError(ValueError):
    """A bundled phrase file is malformed (a packaging or review mistake, not user input)."""


@cache
def family(name: str) -> Family:
    path = PHRASES_DIR / f"{name}.yaml"
    try:
        spec = FamilySpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise PhraseFileError(f"{path}: {exc}") from exc
    if spec.family != name:
        raise PhraseFileError(f"{path}: family '{spec.family}' does not match the file name")
    entries = tuple(
        Entry(
            e.phrase, e.why, compile_pattern(e.phrase), tuple(compile_pattern(x) for x in e.except_)
        )
        for e in spec.entries
    )
    index: dict[str, list[Entry]] = {}
    for entry in entries:
        for word in entry.pattern[0].first_words:
            index.setdefault(word, []).append(entry)
    return Family(
        spec.family,
        spec.version,
        spec.description,
        spec.evidence_of,
        spec.negatable,
        spec.reviewed,
        entries,
        {word: tuple(found) for word, found in index.items()},
    )


@cache
def _names() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in PHRASES_DIR.glob("*.yaml")))


def family_names() -> list[str]:
    """Every bundled phrase family (one YAML file each)."""
    return list(_names())


def phrases_hash() -> str:
    """Content hash of every family file as parsed (formatting and comments do not count)."""
    return content_hash(
        {
            name: yaml.safe_load((PHRASES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
            for name in family_names()
        }
    )


# --------------------------------------------------------------------------------------------
# Matching


def _negated(tokens: tuple[Token, ...], start: int) -> bool:
    """Does a negator end within NEGATION_WINDOW tokens before `start`, in the same clause?"""
    clause = tokens[start].clause
    low = max(0, start - NEGATION_WINDOW - 2)  # a two-word negator may begin a little further back
    negators = family("negators")
    for begin in range(low, start):
        if tokens[begin].clause != clause:
            continue
        for entry in negators.by_first_word.get(tokens[begin].text, ()):
            end = match_at(entry.pattern, tokens, begin)
            if end is None or end > start or start - end >= NEGATION_WINDOW:
                continue
            if tokens[end - 1].clause != clause:
                continue
            if any(match_at(x, tokens, begin) is not None for x in entry.exceptions):
                continue
            return True
    return False


def negated_at(tokens: tuple[Token, ...], start: int) -> bool:
    return _negated(tokens, start)


def find(
    name: str, tokens: tuple[Token, ...], *, start: int = 0, stop: int | None = None
) -> list[Match]:
    """Every match of family `name` that starts in tokens[start:stop], leftmost-longest per start."""
    fam = family(name)
    stop = len(tokens) if stop is None else min(stop, len(tokens))
    found: list[Match] = []
    for begin in range(start, stop):
        best: tuple[int, Entry] | None = None
        for entry in fam.by_first_word.get(tokens[begin].text, ()):
            end = match_at(entry.pattern, tokens, begin)
            if end is None or any(match_at(x, tokens, begin) is not None for x in entry.exceptions):
                continue
            if best is None or end > best[0]:
                best = (end, entry)
        if best is not None:
            end, entry = best
            negated = fam.negatable and _negated(tokens, begin)
            found.append(Match(fam.name, entry.phrase, begin, end, negated))
    return _drop_nested(found)


def _drop_nested(matches: list[Match]) -> list[Match]:
    """A match inside an earlier, longer match of the same family is the same evidence."""
    kept: list[Match] = []
    for match in matches:
        if kept and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept


def affirmed(matches: list[Match]) -> list[Match]:
    return [m for m in matches if not m.negated]
