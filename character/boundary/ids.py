"""Identifiers from files and the command line, matched whole.

Every pattern is applied with `fullmatch` (the same as anchoring it with `\\A...\\Z`): with `re.match`
and `^...$`, an id ending in a newline passed (`--run-id $'evil\\n'` made a folder with a newline in
its name, and two probe ids that differ by a trailing newline printed the same). Run ids become
folder names, so they are also kept free of `..` and capped in length. Names people read (a
labeller, a model, a target's --name) may hold any text but no hidden character.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from character.boundary.text import mark_hidden
from character.errors import CharacterError


@dataclass(frozen=True)
class IdKind:
    what: str  # "run id", "probe id", ...
    pattern: re.Pattern[str]
    rule: str  # what the id may hold, for the remedy
    example: str
    path_part: bool = False  # becomes a folder name: '..' is refused too
    printable: bool = False  # any text, but no control, line-breaking or invisible character

    def matches(self, value: object) -> bool:
        return (
            isinstance(value, str)
            and self.pattern.fullmatch(value) is not None
            and not (self.path_part and ".." in value)
            and not (self.printable and mark_hidden(value, keep="") != value)
        )

    @property
    def schema_pattern(self) -> str:
        """The pattern for a JSON Schema (ECMA-262 regex: anchored with ^ and $)."""
        return f"^{self.pattern.pattern}$"

    def check(
        self,
        value: object,
        *,
        field: str | None = None,
        file: object = None,
        remedy: str | None = None,
    ) -> str:
        """`value` if it is such an id, else a CharacterError naming the field and showing the value."""
        if not self.matches(value):
            raise CharacterError(
                f"invalid {self.what}",
                file=file,  # type: ignore[arg-type]
                field=field,
                value=value,
                remedy=remedy or f"use {self.rule}, e.g. {self.example}",
            )
        return value  # type: ignore[return-value]

    def validator(self, value: str) -> str:
        """For pydantic fields: a ValueError whose '; fix:' part becomes the remedy."""
        if not self.matches(value):
            raise ValueError(
                f"invalid {self.what} {value!r}; fix: use {self.rule}, e.g. {self.example}"
            )
        return value


RUN_ID = IdKind(
    "run id",
    re.compile(r"[A-Za-z0-9][A-Za-z0-9._+\-]{0,159}"),
    "letters, digits, '.', '_', '+' and '-' (at most 160, starting with a letter or digit)",
    "baseline-v1",
    path_part=True,
)
PROBE_ID = IdKind(
    "probe id",
    re.compile(r"[a-z0-9][a-z0-9_.\-]{0,199}"),
    "lower-case letters, digits, '.', '_' and '-'",
    "suite.my-probe",
)
NAME = IdKind(
    "name",
    re.compile(r"[a-z][a-z0-9_]{0,63}"),
    "lower-case letters, digits and underscores, starting with a letter",
    "candour",
)
SUITE_NAME = IdKind(
    "suite name",
    re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}"),
    "lower-case letters, digits, '_' and '-'",
    "my_suite",
)
# A person or model named in labels and imports: printable text, one line, no hidden characters.
LABELLER = IdKind(
    "name",
    re.compile(r".{1,200}", re.DOTALL),
    "1 to 200 printable characters on one line",
    "alice",
    printable=True,
)

RunId = Annotated[str, AfterValidator(RUN_ID.validator)]
ProbeId = Annotated[str, AfterValidator(PROBE_ID.validator)]
Name = Annotated[str, AfterValidator(NAME.validator)]
SuiteName = Annotated[str, AfterValidator(SUITE_NAME.validator)]
Labeller = Annotated[str, AfterValidator(LABELLER.validator)]


DISTINCT_TAG = 10  # hex digits of SHA-256: 40 bits, so 100k lossy ids collide with p ~ 5e-3


def distinct_slug(original: str, slug: str, *, kept: str, limit: int) -> str:
    """`slug` (an id made from `original`) if it lost nothing but what `kept` already drops (e.g.
    upper case: pass `original.lower()`), else `slug` cut short and tagged with a hash of
    `original`.

    Slugs keep only a few characters: '日本' and '한국' both became 'conversation' (two tickets,
    one probe) and two --name values in another script one run folder. The tag keeps distinct
    inputs distinct, stably (the same input gives the same id on every import or run), while an
    id that is already valid stays exactly as it was, so stored runs keep resuming.
    """
    if slug == kept and len(slug) <= limit:
        return slug
    tag = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:DISTINCT_TAG]
    head = slug[: limit - DISTINCT_TAG - 1].rstrip("-.")
    return f"{head}-{tag}" if head else tag
