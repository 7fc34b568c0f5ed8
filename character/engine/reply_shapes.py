"""How an assistant turn ended: one provider-neutral vocabulary, its labels and its shapes.

Every generated assistant turn is stored with a stop reason (message metadata
`character_stop_reason`, the transcripts table's `stop_reasons`, `character show`, the viewer):

| stop reason      | meaning                                                              | shape     |
|------------------|----------------------------------------------------------------------|-----------|
| `end_turn`       | the reply finished normally                                          | complete  |
| `tool_use`       | the reply ended asking for a tool (character offers none)            | complete  |
| `max_tokens`     | cut at the token limit (`max_tokens`)                                | truncated |
| `model_length`   | cut because the model's context window was full                      | truncated |
| `pause_turn`     | the API paused the turn and it was never continued                   | truncated |
| `refusal`        | the provider's safety system blocked the reply (Anthropic)           | blocked   |
| `content_filter` | the same, from another provider's content filter                     | blocked   |
| `empty`          | the turn ended with no text: nothing, or only a thinking block       | empty     |
| `unknown`        | the provider gave no usable stop reason                              | complete  |

Whatever the stop reason, a reply with no text that is not blocked or truncated is `empty`.
The names follow the Anthropic Messages API; other providers' endings arrive through inspect's
provider-neutral `ModelOutput.stop_reason` and are mapped by `stop_reason_from_inspect`.

This module imports nothing heavy: the CLI's `show` and the viewer read it too.
"""

from __future__ import annotations

from typing import Literal

Shape = Literal["complete", "truncated", "blocked", "empty"]
TargetCause = Literal["target_refused", "target_truncated", "target_empty"]

# message metadata key holding a generated turn's stop reason
STOP_REASON_KEY = "character_stop_reason"

STOP_REASONS = (
    "end_turn",
    "tool_use",
    "max_tokens",
    "model_length",
    "pause_turn",
    "refusal",
    "content_filter",
    "empty",
    "unknown",
)
TRUNCATING = frozenset({"max_tokens", "model_length", "pause_turn"})
BLOCKING = frozenset({"refusal", "content_filter"})


def user_turn_note(stop_reason: str | None) -> str | None:
    """What a reader (and the judge) is told about a simulated user's turn that the user model's
    token limit cut (None for a turn that ended normally or has no stop reason stored)."""
    if stop_reason in TRUNCATING:
        return "simulated user's turn cut at the token limit"
    return None


# What a reader (and the judge) is told about a turn that did not end normally.
STOP_NOTES: dict[str, str] = {
    "max_tokens": "reply cut at the token limit",
    "model_length": "reply cut: the model's context window was full",
    "pause_turn": "reply paused by the API and never continued",
    "refusal": "blocked by the provider's safety system",
    "content_filter": "blocked by the provider's safety system",
    "empty": "empty reply",
}
SHAPE_NOTES: dict[str, str] = {
    "truncated": "reply cut at the token limit",
    "blocked": "blocked by the provider's safety system",
    "empty": "empty reply",
}
CAUSE_OF_SHAPE: dict[str, TargetCause] = {
    "blocked": "target_refused",
    "truncated": "target_truncated",
    "empty": "target_empty",
}
TARGET_CAUSES: tuple[TargetCause, ...] = ("target_refused", "target_truncated", "target_empty")
# lexical-marker rows per transcript: did any generated reply have the shape (1/0); a comparison
# tests them with the other exploratory findings
SHAPE_MARKERS: dict[str, str] = {
    "truncated": "reply_truncated",
    "blocked": "reply_blocked",
    "empty": "reply_empty",
}

# inspect's provider-neutral StopReason -> character's stop reason
_FROM_INSPECT = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "max_tokens": "max_tokens",
    "model_length": "model_length",
    "content_filter": "content_filter",
    "unknown": "unknown",
}


def stop_reason_from_inspect(stop_reason: str | None, text: str, provider: str = "") -> str:
    """character's stop reason for a reply, from inspect's `ModelOutput.stop_reason`.

    inspect maps Anthropic's `refusal` to its generic `content_filter`; for an `anthropic/`
    model it is named `refusal` again. A reply that finished without text is `empty`.
    A local provider that reports "length" reaches inspect as `max_tokens` and stays so.
    """
    reason = _FROM_INSPECT.get(stop_reason or "unknown", "unknown")
    if reason == "content_filter" and provider == "anthropic":
        return "refusal"
    if reason in ("end_turn", "unknown") and not text.strip():
        return "empty"
    return reason


def shape_of(stop_reason: str | None, text: str) -> Shape:
    """The shape of a generated reply: blocked, truncated, empty or complete.

    `stop_reason` may be None (a transcript stored before stop reasons were recorded, or
    imported): such a reply is empty when it has no text, else complete.
    """
    if stop_reason in BLOCKING:
        return "blocked"
    if stop_reason in TRUNCATING:
        return "truncated"
    if stop_reason == "empty" or not text.strip():
        return "empty"
    return "complete"


def stop_note(stop_reason: str | None, text: str = "x") -> str | None:
    """The note shown after a turn that did not end normally (None for a normal ending)."""
    if stop_reason in STOP_NOTES:
        return STOP_NOTES[stop_reason]
    if not text.strip():
        return STOP_NOTES["empty"]
    return None
