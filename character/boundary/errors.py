"""pydantic validation errors as CharacterErrors: the file, the field path, the value and the fix."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from character.errors import CharacterError

# What to write instead, by pydantic error type (the message already says what is wrong).
_REMEDIES = {
    "list_type": "write a list, e.g. [a, b]",
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number",
    "float_parsing": "write a number",
    "finite_number": "write a finite number",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "string_type": "write text (quote it if it looks like a number or a date)",
    "dict_type": "write a mapping (key: value lines)",
    "model_type": "write a mapping (key: value lines)",
    "model_attributes_type": "write a mapping (key: value lines)",
    "greater_than_equal": "use a larger value",
    "greater_than": "use a larger value",
    "less_than_equal": "use a smaller value",
    "less_than": "use a smaller value",
    "string_pattern_mismatch": "use lower-case letters, digits and underscores",
    "string_too_long": "shorten it",
}
_SCALARS = (int, float, str, bool)


def validation_error(
    exc: ValidationError, *, file: Path | str | None, item: str | None = None, prefix: str = ""
) -> CharacterError:
    """First pydantic error as a CharacterError naming the field path (and the value, if simple)."""
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or None
    message, remedy = describe_error(first)
    if item:
        message = f"{item}: {message}"
    value = first.get("input")
    shown = {"value": value} if isinstance(value, _SCALARS) and first["type"] != "missing" else {}
    return CharacterError(message, file=file, field=field, remedy=remedy, **shown)


def describe_error(error: ErrorDetails) -> tuple[str, str]:
    """(what is wrong, what to do) for one pydantic error, in the words character uses everywhere."""
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        return "unknown field", "remove it or check its spelling"
    if error["type"] == "missing":
        return "required field is missing", "add it"
    message = message.removeprefix("Value error, ")
    remedy = _REMEDIES.get(error["type"], "correct the value")
    # a validator says what to do after "; fix: " in its message
    message, _sep, told = message.partition("; fix: ")
    remedy = told or remedy
    context = error.get("ctx") or {}
    if error["type"] == "too_short" and "min_length" in context:
        remedy = f"give at least {context['min_length']} item(s)"
    elif error["type"] == "too_long" and "max_length" in context:
        remedy = f"give at most {context['max_length']} item(s)"
    elif error["type"] == "literal_error" and "expected" in context:
        remedy = f"use one of: {context['expected']}"
    return message, remedy
