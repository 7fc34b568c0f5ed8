"""Numbers from the command line, config files and imports: one range per quantity.

Each quantity (epochs, a temperature, a port...) has one `Bounds`, used by the CLI option
(`character.cli.options`), the config key (`character.domain.config`) and the import field alike,
so `--epochs 1000000000`, `[gate] epochs = 1000000000` and `"epoch": 3e9` in an import line are
refused with the same words before any work starts. Floats must be finite: NaN compares false
with every bound, so a range check alone would let it through.

The upper bounds are far above any real use and low enough that nothing runs for days or asks for
more memory than a machine has (`[gate] resamples = 1e9` asked numpy for 224 GiB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, Field, ValidationInfo, field_validator

from character.errors import CharacterError


@dataclass(frozen=True)
class Bounds:
    """An inclusive range (or exclusive at an `open` end) for an int or a finite float."""

    kind: type  # int or float
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    unit: str = ""  # shown after a bound in messages ("seconds")

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        low = None if self.low is None else f"{_num(self.low)}"
        high = None if self.high is None else f"{_num(self.high)}"
        if low is not None and high is not None:
            left = "above" if self.low_open else "from"
            right = "below" if self.high_open else "to"
            text = (
                f"{left} {low} {right} {high}"
                if (self.low_open or self.high_open)
                else f"{low} to {high}"
            )
            return text + unit
        if low is not None:
            return f"{'above' if self.low_open else 'at least'} {low}{unit}"
        if high is not None:
            return f"{'below' if self.high_open else 'at most'} {high}{unit}"
        return "any finite number"

    def problem(self, value: Any) -> str | None:
        """Why `value` is out of range (None if it is fine)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "not a number"
        if self.kind is int and not (isinstance(value, int) or float(value).is_integer()):
            return "not a whole number"
        if isinstance(value, float) and not math.isfinite(value):
            return "not a finite number"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return "too small"
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return "too large"
        return None

    def check(self, value: Any, *, field: str, file: object = None) -> Any:
        """`value`, unchanged, if in range; else a CharacterError naming the field and the value."""
        problem = self.problem(value)
        if problem is not None:
            raise CharacterError(
                f"{problem}: must be {self.describe()}",
                file=file,  # type: ignore[arg-type]
                field=field,
                value=value,
                remedy=f"use a {'whole number' if self.kind is int else 'number'} {self.describe()}",
            )
        return value

    def pydantic(self, **field_args: Any) -> Any:
        """An Annotated type for pydantic models with the same range (finite floats only)."""
        constraints: dict[str, Any] = {}
        if self.low is not None:
            constraints["gt" if self.low_open else "ge"] = self.low
        if self.high is not None:
            constraints["lt" if self.high_open else "le"] = self.high
        if self.kind is float:
            constraints["allow_inf_nan"] = False
        # Field first: its range then lands on the number's schema (JSON Schema minimum and
        # maximum); the BeforeValidator wraps it, so it still runs first
        return Annotated[
            self.kind, Field(**constraints, **field_args), BeforeValidator(_not_bool_or_text)
        ]


def _not_bool_or_text(value: Any) -> Any:
    """pydantic's lax mode reads `true` as 1 and "3" as 3; a number field takes numbers only."""
    if isinstance(value, bool | str):
        raise ValueError(f"{value!r} is not a number; fix: write a number without quotes")
    return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# Runs
EPOCHS = Bounds(int, 1, 1000)
LIMIT = Bounds(int, 1, 1_000_000)  # probes
JUDGE_REPEATS = Bounds(int, 1, 15)
JUDGE_ATTEMPTS = Bounds(int, 1, 10)
MAX_CONNECTIONS = Bounds(int, 1, 1000)
MAX_RETRIES = Bounds(int, 0, 100)
TIMEOUT = Bounds(int, 1, 86_400, unit="seconds")
# Generation settings (the widest any provider accepts)
TEMPERATURE = Bounds(float, 0, 2)
MAX_TOKENS = Bounds(int, 1, 1_000_000)
TOP_P = Bounds(float, 0, 1, low_open=True)
TOP_K = Bounds(int, 1, 1_000_000)
REASONING_TOKENS = Bounds(int, 1, 1_000_000)
SEED = Bounds(int, 0, 2**63 - 1)
N_THREADS = Bounds(int, 1, 1024)  # local (llama.cpp) models: CPU threads
N_CTX = Bounds(int, 256, 1_048_576)  # local models: context window in tokens
# Statistics
RESAMPLES = Bounds(int, 99, 100_000)
PROBABILITY = Bounds(float, 0, 1, low_open=True, high_open=True)  # alpha, q
FRACTION = Bounds(float, 0, 1)
POSITIVE = Bounds(float, 0, 1_000_000, low_open=True)
NON_NEGATIVE = Bounds(float, 0, 1_000_000)
# Nightly CUSUM, in SE units (docs/methods.md "Nightly"): outside these ranges a detector either
# alarms on noise most weeks or can never alarm (h = 1e6 was accepted and meant "never").
CUSUM_K = Bounds(float, 0, 2, low_open=True)  # half the shift the sums are tuned to; 2: a 4-SE shift
CUSUM_H = Bounds(float, 1, 20)  # h = 20 with k = 0.5 takes about 40 nights to see a 1-SE shift
SHEWHART_Z = Bounds(float, 2, 10)  # |z| > 2 on one night happens 1 night in 22 by chance
COUNT = Bounds(int, 0, 1_000_000)
# Interfaces and imports
PORT = Bounds(int, 1, 65_535)
EPOCH = Bounds(int, 1, 1000)  # an epoch number in an import or a label
VARIANTS = Bounds(int, 1, 200)  # probes `character expand` writes from one seed
TURN = Bounds(int, 1, 1000)  # a user-turn number
SUMMARY_SAMPLE = Bounds(int, 1, 200)  # changed transcript pairs a change summariser reads

# Generation settings of a target, by key (CLI option or config key of the same name).
GENERATION_SETTINGS: dict[str, Bounds] = {
    "temperature": TEMPERATURE,
    "max_tokens": MAX_TOKENS,
    "top_p": TOP_P,
    "top_k": TOP_K,
    "seed": SEED,
    "reasoning_tokens": REASONING_TOKENS,
    "n_threads": N_THREADS,
    "n_ctx": N_CTX,
}


# --------------------------------------------------------------------------------------------
# Scalars as written: no coercion between true/false, numbers and text


def _scalar_kinds(annotation: Any) -> set[type]:
    """bool, int, float and str found in a field's annotation (through Optional, unions and
    Annotated; lists and mappings are not looked into)."""
    if annotation in (bool, int, float, str):
        return {annotation}
    origin = get_origin(annotation)
    if origin is Annotated:
        return _scalar_kinds(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return set().union(*(_scalar_kinds(arg) for arg in get_args(annotation)))
    return set()


class ExactScalars(BaseModel):
    """A base for models read from user files: a field takes the scalar type it names.

    pydantic's lax mode read `version: true` as 1, `hard_constraint: 'yes'` (quoted) as true and
    a label's `value: true` as 1: a typo became a value. Here true/false is refused where a
    number is wanted, and text where true/false or a number is wanted (unless the field also
    takes text); NaN and infinities are "not a finite number" (pydantic said "should be less than
    or equal to 2"). Whole floats for int fields (`epoch: 2.0`) and ints for floats stay fine.
    """

    @field_validator("*", mode="before")
    @classmethod
    def _exact_scalar(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        kinds = _scalar_kinds(field.annotation) if field is not None else set()
        if isinstance(value, float) and not math.isfinite(value) and kinds & {int, float}:
            # before pydantic's range check, which names a bound NaN cannot be compared with
            raise ValueError("not a finite number; fix: write a finite number")
        if isinstance(value, bool) and bool not in kinds and kinds & {int, float}:
            _not_bool_or_text(value)  # the words number options use
        if isinstance(value, str) and str not in kinds:
            if bool in kinds:
                raise ValueError(f"{value!r} is text; fix: write true or false without quotes")
            if kinds & {int, float} and _numeric(value):  # other text: pydantic's own words
                _not_bool_or_text(value)
        return value


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
