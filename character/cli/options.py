"""Click parameter types that check a value at the boundary, before any work starts.

`Bounded(values.EPOCHS)` parses an option as a number and checks it against the same range the
config key of that name has. A bad value is a CharacterError (one line naming the option, the value
and the fix, exit 2), not click's multi-line usage error; NaN and infinities are refused. `RunIdType`
does the same for ids that become folder names.
"""

from __future__ import annotations

from typing import Any

import click

from character.boundary.ids import LABELLER, RUN_ID
from character.boundary.values import Bounds
from character.errors import CharacterError


def _option_name(param: click.Parameter | None) -> str:
    if param is None:
        return "value"
    opts = getattr(param, "opts", None) or []
    return max(opts, key=len) if opts else (param.human_readable_name or str(param.name))


class Bounded(click.ParamType):
    """A whole or finite number within `bounds`."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self.name = "integer" if bounds.kind is int else "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        field = _option_name(param)
        number: Any = value
        if isinstance(value, str):
            try:
                number = int(value, 10) if self.bounds.kind is int else float(value)
            except ValueError:
                kind = "a whole number" if self.bounds.kind is int else "a number"
                raise CharacterError(
                    f"not {kind}",
                    field=field,
                    value=value,
                    remedy=f"use {kind} {self.bounds.describe()}",
                ) from None
        return self.bounds.check(number, field=field)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return f"{'INTEGER' if self.bounds.kind is int else 'NUMBER'} ({self.bounds.describe()})"


class RunIdType(click.ParamType):
    """An id that will name a folder in the store: matched whole, never '..'."""

    name = "run id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return RUN_ID.check(value, field=_option_name(param))


class LabelType(click.ParamType):
    """A human label (a target's --name): printable text on one line, no hidden characters."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return LABELLER.check(value, field=_option_name(param))
