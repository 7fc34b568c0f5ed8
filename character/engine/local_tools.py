"""Tool calls for local models as JSON constrained by a schema (llama.cpp grammar sampling).

Small GGUF models have no reliable native tool calling, and the bundled SmolLM2's chat template
has none. Instead the reply is forced to be one JSON object matching a schema built from the
tools, and the object becomes inspect `ToolCall`s:

| tool_choice             | the reply must be                                           |
|-------------------------|-------------------------------------------------------------|
| a named function        | that tool's arguments                                       |
| "any"                   | {"name": <one of the tools>, "arguments": {...}}            |
| "auto"                  | as "any", or {"reply": "<text>"} for a plain answer         |
| "none", or no tools     | free text (no constraint)                                   |

The constraint guarantees the shape, not the content: a small model can still fill a field with
nonsense. It also tends to loop inside a string or an array until max_tokens, so strings without
a `maxLength` are capped at 200 characters and arrays without a `maxItems` at 8 items (a judge's
quote is a sentence, its reasoning a paragraph). A reply that is still not valid JSON (cut off
at max_tokens) is returned as a tool call with `parse_error` set, so callers see why it is
unusable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from inspect_ai.tool import ToolCall, ToolChoice, ToolFunction, ToolInfo


@dataclass(frozen=True)
class ToolConstraint:
    schema: dict[str, Any]  # JSON schema the reply must match
    instructions: str  # added to the system prompt so the model knows what the JSON means
    forced: str | None  # the tool whose arguments the reply is, when one is named
    plain_reply_allowed: bool  # "auto": {"reply": ...} is a plain answer


def tool_constraint(tools: list[ToolInfo], tool_choice: ToolChoice | None) -> ToolConstraint | None:
    """The constraint for a generate call, or None when the reply is free text."""
    if not tools or tool_choice == "none":
        return None
    if isinstance(tool_choice, ToolFunction):
        tool = next((t for t in tools if t.name == tool_choice.name), None)
        if tool is None:
            raise ValueError(
                f"tool_choice names '{tool_choice.name}', which is not among the tools"
            )
        return ToolConstraint(
            schema=_parameters(tool),
            instructions=(
                f"Answer with one JSON object and nothing else: the arguments of the tool "
                f"`{tool.name}` ({tool.description.strip()}). It must match this JSON schema:\n"
                f"{json.dumps(_parameters(tool), separators=(',', ':'))}"
            ),
            forced=tool.name,
            plain_reply_allowed=False,
        )
    options = [
        {
            "type": "object",
            "properties": {"name": {"const": tool.name}, "arguments": _parameters(tool)},
            "required": ["name", "arguments"],
        }
        for tool in tools
    ]
    described = "\n".join(
        f"- {tool.name}: {tool.description.strip()} Arguments schema: "
        f"{json.dumps(_parameters(tool), separators=(',', ':'))}"
        for tool in tools
    )
    plain = tool_choice == "auto"
    if plain:
        options.append(
            {"type": "object", "properties": {"reply": {"type": "string"}}, "required": ["reply"]}
        )
    return ToolConstraint(
        schema={"anyOf": options} if len(options) > 1 else options[0],
        instructions=(
            "Answer with one JSON object and nothing else: "
            '{"name": <tool name>, "arguments": <its arguments>} to call one of these tools'
            + (', or {"reply": <text>} to answer without a tool' if plain else "")
            + f".\nTools:\n{described}"
        ),
        forced=None,
        plain_reply_allowed=plain,
    )


def parse_tool_reply(
    text: str, constraint: ToolConstraint, call_id: str
) -> tuple[str, list[ToolCall]]:
    """(plain text, tool calls) from a constrained reply."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        name = constraint.forced or "unknown"
        error = f"the reply is not complete JSON ({exc.msg} at character {exc.pos})"
        return "", [ToolCall(id=call_id, function=name, arguments={}, parse_error=error)]
    if constraint.forced is not None:
        arguments = value if isinstance(value, dict) else {}
        error = None if isinstance(value, dict) else "the reply is not a JSON object"
        return "", [
            ToolCall(id=call_id, function=constraint.forced, arguments=arguments, parse_error=error)
        ]
    if isinstance(value, dict) and "reply" in value and constraint.plain_reply_allowed:
        return str(value["reply"]), []
    if (
        isinstance(value, dict)
        and isinstance(value.get("name"), str)
        and isinstance(value.get("arguments"), dict)
    ):
        return "", [ToolCall(id=call_id, function=value["name"], arguments=value["arguments"])]
    return "", [
        ToolCall(
            id=call_id, function="unknown", arguments={}, parse_error="the reply names no tool"
        )
    ]


STRING_LIMIT = 200
ARRAY_LIMIT = 8


def _parameters(tool: ToolInfo) -> dict[str, Any]:
    return bounded(tool.parameters.model_dump(mode="json", exclude_none=True))


def bounded(schema: Any) -> Any:
    """`schema` with a length cap on every string and array that has none (see the docstring)."""
    if isinstance(schema, list):
        return [bounded(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: bounded(value) for key, value in schema.items()}
    if schema.get("type") == "string" and "enum" not in schema and "const" not in schema:
        result.setdefault("maxLength", STRING_LIMIT)
    if schema.get("type") == "array":
        result.setdefault("maxItems", ARRAY_LIMIT)
    return result
