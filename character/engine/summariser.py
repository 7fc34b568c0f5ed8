"""The change summariser's model call: instructions, the findings tool, bounded attempts.

The model reads pairs of transcripts (the same probe and epoch, baseline and candidate) whose
verdicts changed, with the judge's evidence, and submits 3-5 findings through a tool. Each finding
carries a machine-checkable criterion and example quotes; what it says is checked in
character.analysis.change_summary before anything is shown. This module only asks and parses the
reply's shape; it trusts nothing the model says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inspect_ai.model import (
    ChatMessageSystem,
    ChatMessageUser,
    ContentText,
    Model,
)
from inspect_ai.tool import ToolFunction, ToolInfo, ToolParam, ToolParams

from character.engine.judge_parse import JudgeOutputError, tool_arguments

FINDINGS_TOOL = "submit_findings"
MIN_FINDINGS, MAX_FINDINGS = 3, 5

INSTRUCTIONS = f"""\
You compare two versions of an AI assistant: the BASELINE (v1) and the CANDIDATE (v2). You will
read pairs of conversations: the same scripted user turns played against both versions, where an
evaluator's verdict changed between the versions. For each pair you see the verdicts that changed,
the evaluator's evidence, and both transcripts with numbered turns.

Write {MIN_FINDINGS} to {MAX_FINDINGS} findings that say what the candidate does differently, in
the form "v2 more often ..." or "v2 less often ...". Each finding must be checkable:
- criterion: how a program can count the pairs the finding is about. Either
  kind "dimension" with the dimension's name exactly as shown (and, for a categorical dimension,
  the label), direction "more" if v2 scores higher (or has the label where v1 did not), "less" if
  lower; or kind "phrase" with a short phrase (2-6 words) copied from the replies, direction "more"
  if it appears in v2's replies and not v1's, "less" for the reverse.
- count: how many of the pairs you read match the criterion.
- examples: 1-3 quotes that show the finding, each copied word for word from one assistant reply,
  with the pair id, the version ("baseline" or "candidate") and the turn number.
Only claim what the pairs show. Submit with the
{FINDINGS_TOOL} tool.
"""


def findings_tool() -> ToolInfo:
    criterion = ToolParam(
        type="object",
        properties={
            "kind": ToolParam(type="string", enum=["dimension", "phrase"]),
            "dimension": ToolParam(
                type="string", description="rubric/dimension, for kind dimension."
            ),
            "label": ToolParam(
                type="string", description="The label, for a categorical dimension."
            ),
            "phrase": ToolParam(
                type="string", description="Words copied from replies, for kind phrase."
            ),
            "direction": ToolParam(type="string", enum=["more", "less"]),
        },
        required=["kind", "direction"],
    )
    example = ToolParam(
        type="object",
        properties={
            "pair": ToolParam(type="string", description="The pair id, e.g. P3."),
            "version": ToolParam(type="string", enum=["baseline", "candidate"]),
            "turn": ToolParam(type="integer"),
            "quote": ToolParam(type="string", description="Exact words from that assistant reply."),
        },
        required=["pair", "version", "turn", "quote"],
    )
    finding = ToolParam(
        type="object",
        properties={
            "statement": ToolParam(
                type="string", description='"v2 more often ..." or "v2 less often ...".'
            ),
            "criterion": criterion,
            "count": ToolParam(
                type="integer", description="Pairs you read that match the criterion."
            ),
            "examples": ToolParam(type="array", items=example),
        },
        required=["statement", "criterion", "count", "examples"],
    )
    return ToolInfo(
        name=FINDINGS_TOOL,
        description=f"Submit {MIN_FINDINGS}-{MAX_FINDINGS} checkable findings about what changed.",
        parameters=ToolParams(
            properties={"findings": ToolParam(type="array", items=finding)}, required=["findings"]
        ),
    )


@dataclass
class FindingsReply:
    """The raw findings (unchecked), or why there are none; tokens used."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


async def ask_for_findings(model: Model, prompt: str, *, attempts: int = 3) -> FindingsReply:
    """One tool call for findings, retried (`attempts` calls in all) while the reply is unusable."""
    messages = [
        ChatMessageSystem(content=[ContentText(text=INSTRUCTIONS, cache_breakpoint=True)]),
        ChatMessageUser(content=prompt),
    ]
    reply = FindingsReply(problem="no attempt made")
    for attempt in range(1, max(1, attempts) + 1):
        reply.attempts = attempt
        try:
            output = await model.generate(
                messages, tools=[findings_tool()], tool_choice=ToolFunction(name=FINDINGS_TOOL)
            )
        except Exception as exc:  # the provider already retried what it could
            reply.problem = f"summariser call failed: {type(exc).__name__}: {str(exc)[:200]}"
            continue
        if output.usage is not None:
            reply.input_tokens += (
                (output.usage.input_tokens or 0)
                + (output.usage.input_tokens_cache_read or 0)
                + (output.usage.input_tokens_cache_write or 0)
            )
            reply.output_tokens += output.usage.output_tokens or 0
        if output.error:
            reply.problem = f"summariser returned an error: {output.error[:200]}"
            continue
        try:
            tool_calls = output.choices[0].message.tool_calls if output.choices else None
            arguments = tool_arguments(tool_calls, output.completion)
        except JudgeOutputError as exc:
            reply.problem = str(exc).replace("verdict tool", "findings tool")
            continue
        raw = arguments.get("findings")
        if not isinstance(raw, list):
            reply.problem = "'findings' is missing or not a list"
            continue
        reply.findings = [item for item in raw if isinstance(item, dict)]
        reply.problem = None
        return reply
    return reply
