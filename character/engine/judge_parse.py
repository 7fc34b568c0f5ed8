"""Turn the model judge's tool call into verdicts, trusting nothing.

Every way the output can be wrong ends as an unscored verdict with its reason (never a 0, 1 or
"not present"), or as a flag on a scored one (a quote that is not in the transcript).
"""

from __future__ import annotations

import json
from typing import Any

from character.domain.rubrics import Dimension
from character.engine.transcript import Exchange, quote_occurs
from character.engine.verdicts import Evidence, TurnValue, Verdict, unscored


class JudgeOutputError(ValueError):
    """The judge's reply as a whole could not be used (no tool call, not JSON, wrong shape)."""


def tool_arguments(tool_calls: list[Any] | None, completion: str) -> dict[str, Any]:
    """The verdict tool's arguments, or a JudgeOutputError saying what came back instead."""
    if tool_calls:
        call = tool_calls[0]
        if getattr(call, "parse_error", None):
            raise JudgeOutputError(f"tool arguments did not parse: {call.parse_error}")
        arguments = call.arguments
        if isinstance(arguments, dict):
            return arguments
        raise JudgeOutputError("tool arguments are not an object")
    text = (completion or "").strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JudgeOutputError(f"reply is not valid JSON ({exc.msg})") from None
        if isinstance(parsed, dict):
            return parsed
    snippet = " ".join(text.split())[:120]
    if not text:
        raise JudgeOutputError("empty reply with no verdict tool call")
    raise JudgeOutputError(f"no verdict tool call; the judge wrote: {snippet!r}")


def parse_verdicts(
    arguments: dict[str, Any],
    *,
    rubric: str,
    dimensions: list[Dimension],
    exchanges: list[Exchange],
) -> list[Verdict]:
    """One verdict per dimension from the tool's arguments, in `dimensions` order.

    A dimension given more than once in one reply is taken once when every copy says the same
    (score, label or insufficient evidence; flagged `duplicate_verdict`). Copies that disagree
    (0 and 1, say) cannot be told apart: the dimension is unscored with the reason "conflicting
    verdicts", a judge failure like any other unusable output (retried, and counted against a
    comparison's validity), never the first or last copy.
    """
    raw = arguments.get("verdicts")
    if not isinstance(raw, list):
        raise JudgeOutputError("'verdicts' is missing or not a list")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("dimension"), str):
            by_name.setdefault(item["dimension"], []).append(item)
    verdicts = []
    for dim in dimensions:
        copies = by_name.get(dim.name, [])
        if len({_claim(item) for item in copies}) > 1:
            verdicts.append(unscored(
                rubric, dim.name,
                f"conflicting verdicts: the judge gave {len(copies)} verdicts for this dimension "
                f"({', '.join(_claim(item) for item in copies)})",
                flags=["conflicting_verdicts"],
            ))
            continue
        verdict = _one(copies[0] if copies else None, rubric=rubric, dim=dim, exchanges=exchanges)
        if len(copies) > 1:
            verdict = verdict.model_copy(update={"flags": sorted({*verdict.flags, "duplicate_verdict"})})
        verdicts.append(verdict)
    return verdicts


def _claim(item: dict[str, Any]) -> str:
    """What one verdict item says, for telling duplicates that agree from ones that conflict."""
    if item.get("insufficient_evidence") is True:
        return "insufficient evidence"
    score = item.get("score")
    if isinstance(score, bool):
        return repr(score)
    if isinstance(score, int | float):
        return f"score {float(score):g}"
    if isinstance(score, str):
        try:
            return f"score {float(score.strip()):g}"
        except ValueError:
            return f"label {score!r}"
    return "no score"


def _one(item: dict[str, Any] | None, *, rubric: str, dim: Dimension, exchanges: list[Exchange]) -> Verdict:
    if item is None:
        return unscored(rubric, dim.name, "the judge gave no verdict for this dimension")
    reasoning = str(item.get("reasoning") or "")
    evidence, flags = _evidence(item.get("evidence"), exchanges)
    common = {"reasoning": reasoning, "evidence": evidence, "flags": flags}
    if item.get("insufficient_evidence") is True:
        return unscored(
            rubric, dim.name, "insufficient evidence (judge)", cause="insufficient_evidence", **common
        )
    score = item.get("score")
    if score is None:
        return unscored(rubric, dim.name, "score missing", **common)
    if dim.scale.type == "categorical":
        if not dim.scale.accepts(score):
            return unscored(rubric, dim.name, f"label {score!r} is not one of the scale's labels", **common)
        return Verdict(rubric=rubric, dimension=dim.name, status="scored", label=score, **common)
    if isinstance(score, str):
        try:
            score = float(score.strip())
        except ValueError:
            return unscored(rubric, dim.name, f"score {item.get('score')!r} is not a number", **common)
    if not dim.scale.accepts(score):
        return unscored(
            rubric,
            dim.name,
            f"score {item.get('score')!r} is outside the scale {dim.scale.low}-{dim.scale.high}",
            **common,
        )
    turn = _turn(item.get("turn"), dim, float(score), exchanges, flags)
    by_turn: list[TurnValue] = []
    if dim.each_turn:
        by_turn = _turn_scores(item.get("turns"), exchanges, flags)
        said = {t.value for t in by_turn if t.value is not None}
        if (1.0 in said) != (float(score) == 1.0) and said:
            return unscored(
                rubric,
                dim.name,
                f"the judge's score {score!r} contradicts its turn-by-turn scores",
                **common,
            )
        first = next((t.turn for t in by_turn if t.value == 1.0), None)
        if turn is not None and first is not None and turn != first:
            flags.append("turn_disagrees")
    return Verdict(
        rubric=rubric,
        dimension=dim.name,
        status="scored",
        value=float(score),
        turn=turn,
        by_turn=by_turn,
        **common,
    )


def _turn_scores(raw: Any, exchanges: list[Exchange], flags: list[str]) -> list[TurnValue]:
    """One value per generated assistant turn from the judge's `turns`; a turn the judge left
    out or scored off the 0/1 scale is None (and flagged), never guessed."""
    given: dict[int, float] = {}
    for entry in raw if isinstance(raw, list) else []:
        turn, score = (entry.get("turn"), entry.get("score")) if isinstance(entry, dict) else (None, None)
        if isinstance(turn, int) and not isinstance(turn, bool) and score in (0, 1) and not isinstance(score, bool):
            given.setdefault(turn, float(score))
        else:
            flags.append("invalid_turn_score")
    judged = [ex.turn for ex in exchanges if ex.generated]
    if any(turn not in given for turn in judged):
        flags.append("missing_turn_scores")
    return [TurnValue(turn=turn, value=given.get(turn)) for turn in judged]


def _turn(raw: Any, dim: Dimension, score: float, exchanges: list[Exchange], flags: list[str]) -> int | None:
    if not dim.per_turn or score != 1.0:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= len(exchanges):
        return raw
    flags.append("invalid_turn" if raw is not None else "missing_turn")
    return None


def _evidence(raw: Any, exchanges: list[Exchange]) -> tuple[list[Evidence], list[str]]:
    items: list[Evidence] = []
    flags: list[str] = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("quote"), str):
            flags.append("malformed_evidence")
            continue
        turn = entry.get("turn") if isinstance(entry.get("turn"), int) else 0
        role = entry.get("role") if entry.get("role") in ("user", "assistant") else "assistant"
        verified = quote_occurs(entry["quote"], exchanges, turn, role)
        if not verified:
            elsewhere = any(
                quote_occurs(entry["quote"], exchanges, ex.turn, r)
                for ex in exchanges
                for r in ("user", "assistant")
            )
            flags.append("quote_wrong_turn" if elsewhere else "unverified_quote")
        items.append(Evidence(turn=turn, role=role, quote=entry["quote"], verified=verified))
    return items, sorted(set(flags))
