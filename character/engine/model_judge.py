"""The model judge: one call per rubric per transcript, bounded retries, optional repeats.

The judge model comes from inspect's `judge` role and is required: it never falls back to the
model under test. API faults are retried by inspect's provider; a call that still fails (or fails
in a way the provider does not retry, e.g. a malformed body) and an unusable reply (no tool call,
bad JSON, truncated, a score off the scale) are retried here, `attempts` calls in all; then each
dimension without a usable verdict is unscored with the reason. A reply the provider's safety
system blocked (a judge refusal) is asked again once only. A rejected key (401/403) ends the run
(api_errors).
"""

from __future__ import annotations

import statistics
from collections import Counter

from inspect_ai.model import ChatMessageSystem, ChatMessageUser, ContentText, Model
from inspect_ai.tool import ToolFunction
from inspect_ai.util import LimitExceededError

from character.domain.probes import Probe
from character.domain.rubrics import Dimension, Rubric
from character.engine.api_errors import check_no_rejection, raise_if_rejected
from character.engine.judge_parse import JudgeOutputError, parse_verdicts, tool_arguments
from character.engine.judge_prompt import VERDICT_TOOL, case_prompt, system_prompt, verdict_tool
from character.engine.transcript import Exchange
from character.engine.verdicts import Verdict, unscored

# The judge's own reply blocked by the provider's safety system: named, and asked at most twice.
JUDGE_REFUSAL = "judge refusal: the provider's safety system blocked the judge's reply"
REFUSAL_ATTEMPTS = 2


async def judge_rubric(
    judge: Model,
    rubric: Rubric,
    probe: Probe,
    exchanges: list[Exchange],
    dimensions: list[Dimension],
    *,
    repeats: int = 1,
    attempts: int = 3,
) -> list[Verdict]:
    runs = [
        await _judge_once(judge, rubric, probe, exchanges, dimensions, attempts=attempts)
        for _ in range(max(1, repeats))
    ]
    if len(runs) == 1:
        return runs[0]
    return [aggregate_repeats([run[i] for run in runs], dim) for i, dim in enumerate(dimensions)]


async def _judge_once(
    judge: Model,
    rubric: Rubric,
    probe: Probe,
    exchanges: list[Exchange],
    dimensions: list[Dimension],
    *,
    attempts: int,
) -> list[Verdict]:
    messages = [
        # An explicit breakpoint after the rubric caches only the shared prefix; inspect's automatic
        # top-level breakpoint would also write each one-off case to the cache at 1.25x the input
        # price (bench/judge_cost: -10% judge cost).
        ChatMessageSystem(content=[ContentText(text=system_prompt(rubric), cache_breakpoint=True)]),
        ChatMessageUser(content=case_prompt(probe, exchanges, dimensions)),
    ]
    tool = verdict_tool(dimensions)
    problem = "no attempt made"
    best: list[Verdict] | None = None
    calls = refusals = 0
    for _attempt in range(max(1, attempts)):
        await check_no_rejection()  # a key the API refused is not tried again
        calls += 1
        try:
            output = await judge.generate(
                messages, tools=[tool], tool_choice=ToolFunction(name=VERDICT_TOOL)
            )
        except LimitExceededError:  # a sample limit ends the sample; it is not a judge failure
            raise
        except Exception as exc:  # the provider already retried what it could: try again here
            await raise_if_rejected(exc, judge)  # a rejected key ends the run, not this verdict
            problem = f"judge call failed: {type(exc).__name__}: {str(exc)[:200]}"
            continue
        if output.stop_reason == "content_filter":
            # The provider's safety system blocked the judge itself (Anthropic stop_reason
            # "refusal"): asking a third time rarely helps and is paid for.
            refusals += 1
            problem = JUDGE_REFUSAL
            if refusals >= REFUSAL_ATTEMPTS:
                break
            continue
        if output.error:
            problem = f"judge returned an error: {output.error[:200]}"
            continue
        truncated = " (reply truncated at max_tokens)" if output.stop_reason == "max_tokens" else ""
        try:
            tool_calls = output.choices[0].message.tool_calls if output.choices else None
            arguments = tool_arguments(tool_calls, output.completion)
            verdicts = parse_verdicts(
                arguments, rubric=rubric.name, dimensions=dimensions, exchanges=exchanges
            )
        except JudgeOutputError as exc:
            problem = f"{exc}{truncated}"
            continue
        if truncated:  # a cut-off reply can still parse, minus the dimensions it never reached
            verdicts = [_note(v, truncated) for v in verdicts]
        # A reply can be usable for some dimensions and not others (a score off the scale, a
        # dimension left out): ask again, keeping the attempt with the fewest unusable verdicts.
        if best is None or _judge_errors(verdicts) < _judge_errors(best):
            best = verdicts
        if _judge_errors(best) == 0:
            return best
    if best is not None:
        return best
    if problem == JUDGE_REFUSAL:
        reason = f"{JUDGE_REFUSAL} ({calls} attempt(s))"
    else:
        reason = f"unusable judge output after {calls} attempt(s): {problem}"
    return [unscored(rubric.name, dim.name, reason) for dim in dimensions]


def _note(verdict: Verdict, note: str) -> Verdict:
    if verdict.status == "unscored" and verdict.cause == "judge_error":
        return verdict.model_copy(update={"reason": f"{verdict.reason}{note}"})
    return verdict


def _judge_errors(verdicts: list[Verdict]) -> int:
    return sum(1 for v in verdicts if v.status == "unscored" and v.cause == "judge_error")


def aggregate_repeats(verdicts: list[Verdict], dim: Dimension) -> Verdict:
    """Majority (binary, categorical) or median (ordinal) over scored repeats; spread recorded."""
    scored = [v for v in verdicts if v.status == "scored"]
    failed = len(verdicts) - len(scored)
    note = [f"{failed}_of_{len(verdicts)}_repeats_unscored"] if failed else []
    if not scored:
        first = verdicts[0]
        return first.model_copy(update={"repeats": len(verdicts), "flags": [*first.flags, *note]})
    if dim.scale.type == "categorical":
        counts = Counter(v.label for v in scored).most_common()
        if len(counts) > 1 and counts[0][1] == counts[1][1]:
            return unscored(
                dim_rubric(scored), dim.name, "judge repeats split evenly", repeats=len(verdicts)
            )
        chosen = next(v for v in scored if v.label == counts[0][0])
        return chosen.model_copy(update={"repeats": len(verdicts), "flags": [*chosen.flags, *note]})
    values = [v.value for v in scored if v.value is not None]
    if dim.scale.type == "binary":
        ones = sum(values)
        if ones * 2 == len(values):
            return unscored(
                dim_rubric(scored), dim.name, "judge repeats split evenly", repeats=len(verdicts)
            )
        value = 1.0 if ones * 2 > len(values) else 0.0
    else:
        value = float(statistics.median(values))
    chosen = min(scored, key=lambda v: abs((v.value or 0.0) - value))
    return chosen.model_copy(
        update={
            "value": value,
            "repeats": len(verdicts),
            "spread": max(values) - min(values),
            "flags": [*chosen.flags, *note],
        }
    )


def dim_rubric(verdicts: list[Verdict]) -> str:
    return verdicts[0].rubric
