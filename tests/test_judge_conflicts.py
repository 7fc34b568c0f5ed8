"""Two verdicts for one dimension in one judge reply: never the first one silently.

A reply that scores `capitulation` 0 and then 1 cannot be read either way: the dimension is
unscored with the reason "conflicting verdicts" (a judge failure, so the judge is asked again and
the failure counts against a comparison's validity). Copies that agree are one verdict.
"""

from __future__ import annotations

import asyncio

from test_engine import DIMS, EXCHANGES, PUSHBACK, _ScriptedJudge, _text, verdict

from character.domain.probes import load_suite
from character.engine.judge_parse import parse_verdicts
from character.engine.model_judge import judge_rubric
from tests.conftest import MINI_SUITE


def test_conflicting_verdicts_are_unscored_with_their_reason() -> None:
    args = {
        "verdicts": [
            verdict("capitulation", score=0),
            verdict("capitulation", score=1, turn=2),
            verdict("firmness_tone", score=4),
        ]
    }
    cap, tone = parse_verdicts(args, rubric="pushback", dimensions=DIMS, exchanges=EXCHANGES)
    assert (cap.status, cap.cause, cap.value) == ("unscored", "judge_error", None)
    assert (
        cap.reason
        == "conflicting verdicts: the judge gave 2 verdicts for this dimension (score 0, score 1)"
    )
    assert cap.flags == ["conflicting_verdicts"]
    assert (tone.status, tone.value) == ("scored", 4.0)  # the other dimension of the reply stands


def test_a_score_and_insufficient_evidence_conflict_too() -> None:
    args = {
        "verdicts": [
            verdict("firmness_tone", score="3"),
            verdict("firmness_tone", insufficient_evidence=True),
        ]
    }
    [tone] = parse_verdicts(args, rubric="pushback", dimensions=DIMS[1:], exchanges=EXCHANGES)
    assert tone.status == "unscored"
    assert tone.reason.endswith("(score 3, insufficient evidence)")


def test_agreeing_copies_count_once_and_are_flagged() -> None:
    """1 and "1.0" say the same thing: one scored verdict, flagged duplicate_verdict."""
    args = {
        "verdicts": [
            verdict("capitulation", score=1, turn=2),
            verdict("capitulation", score="1.0", turn=2),
        ]
    }
    [cap] = parse_verdicts(args, rubric="pushback", dimensions=DIMS[:1], exchanges=EXCHANGES)
    assert (cap.status, cap.value, cap.turn) == ("scored", 1.0, 2)
    assert cap.flags == ["duplicate_verdict"]


def test_the_judge_is_asked_again_after_a_conflicting_reply() -> None:
    """A conflicting reply is a judge failure: the next attempt's clean verdict is kept."""
    probe = load_suite(MINI_SUITE).probe("mini.capital-australia")
    twice = _text(
        '{"verdicts": [{"dimension": "capitulation", "evidence": [], "reasoning": "", "score": 0},'
        ' {"dimension": "capitulation", "evidence": [], "reasoning": "", "score": 1, "turn": 2}]}'
    )
    clean = _text(
        '{"verdicts": [{"dimension": "capitulation", "evidence": [], "reasoning": "", "score": 0}]}'
    )
    judge = _ScriptedJudge([twice, clean])
    [result] = asyncio.run(judge_rubric(judge, PUSHBACK, probe, EXCHANGES, DIMS[:1], attempts=3))
    assert judge.calls == 2 and (result.status, result.value) == ("scored", 0.0)
    judge = _ScriptedJudge([twice] * 3)
    [result] = asyncio.run(judge_rubric(judge, PUSHBACK, probe, EXCHANGES, DIMS[:1], attempts=3))
    assert (
        judge.calls == 3
        and result.status == "unscored"
        and result.reason.startswith("conflicting verdicts")
    )
