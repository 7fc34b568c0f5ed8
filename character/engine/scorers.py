"""inspect scorers: the rubric judge (model or lexical) and the lexical markers.

Each returns a `Score` whose value holds only scored numbers (for inspect's own metrics) and whose
metadata holds every verdict, scored or not, with evidence and reasoning: the store reads those.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

from inspect_ai.model import get_model
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, Value, metric, scorer
from inspect_ai.solver import TaskState

from character.domain.rubrics import Rubric, load_rubric
from character.engine.dataset import probe_from_metadata
from character.engine.lexical import marker_set_for, markers, resolve_lexical
from character.engine.lexical_judge import applicable_dimensions
from character.engine.model_judge import judge_rubric
from character.engine.reply_rules import apply, lexical_with_rules, plans, shape_markers
from character.engine.transcript import exchanges_from_messages, final_generated
from character.engine.turn_series import with_rule_series
from character.engine.verdicts import Verdict, score_metadata, score_value, unscored

# "lexical" is the default lexical judge (lexical-v2); the versions can be named.
JudgeChoice = Literal["model", "lexical", "lexical-v1", "lexical-v2"]


@metric
def mean_per_key() -> Metric:
    """Mean of each dimension over the samples that scored it (dimensions vary by probe kind).

    For inspect's own log summary only; character's statistics come from the scores table.
    """

    def compute(scores: list[SampleScore]) -> Value:
        values: dict[str, list[float]] = {}
        for sample in scores:
            if isinstance(sample.score.value, dict):
                for key, value in sample.score.value.items():
                    if isinstance(value, int | float) and value == value:  # skip NaN
                        values.setdefault(key, []).append(float(value))
        return {key: sum(vals) / len(vals) for key, vals in sorted(values.items())}

    return compute


@scorer(metrics=[mean_per_key()])
def character_judge(judge: JudgeChoice = "lexical", repeats: int = 1, attempts: int = 3) -> Scorer:
    """Judge every rubric a probe names, on the dimensions that apply to its kind.

    A conversation whose last reply was blocked by the provider, cut or empty is scored as each
    dimension's rubric says (reply_rules); the judge is asked only where its verdict matters.
    """

    async def score(state: TaskState, target: Target) -> Score:
        probe = probe_from_metadata(state.metadata)
        exchanges = exchanges_from_messages(state.messages)
        rubrics = [load_rubric(name) for name in probe.rubrics]
        unsupported: list[str] = []
        lexical_judge = resolve_lexical(judge) if judge != "model" else None
        model = get_model(role="judge", required=True) if lexical_judge is None else None
        judge_id = lexical_judge or str(model)
        verdicts: list[Verdict] = []
        if final_generated(exchanges) is None:
            reason = "the target produced no reply (sample error)"
            verdicts = [
                unscored(r.name, d.name, reason)
                for r in rubrics
                for d in applicable_dimensions(r, probe)
            ]
        elif lexical_judge is not None:
            verdicts, unsupported = lexical_with_rules(
                probe, exchanges, rubrics, version=lexical_judge
            )
            # Every per-turn 0/1 dimension also gets its value at each turn (turn_series.py).
            verdicts = with_rule_series(
                verdicts,
                partial(lexical_with_rules, version=lexical_judge),
                probe,
                exchanges,
                rubrics,
            )
        else:
            reply_plans = plans(probe, rubrics, exchanges)
            judged: dict[str, Verdict] = {}
            for rubric in rubrics:
                dims = reply_plans[rubric.name].to_judge
                if dims:
                    found = await judge_rubric(
                        model, rubric, probe, exchanges, dims, repeats=repeats, attempts=attempts
                    )
                    judged.update({v.key: v for v in found})
            verdicts = apply(probe, rubrics, reply_plans, judged)
        return Score(
            value=score_value(verdicts),
            explanation=_summary(verdicts),
            metadata=score_metadata(
                judge=judge_id,
                judge_kind="lexical" if lexical_judge is not None else "model",
                verdicts=verdicts,
                unsupported=unsupported,
                dimensions=dimension_info(rubrics),
            ),
        )

    return score


@scorer(metrics=[mean_per_key()])
def character_markers(judge: JudgeChoice = "lexical") -> Scorer:
    """Surface markers on every transcript: refusal, apology, flattery, capitulation phrases,
    length, and whether a reply was cut at the token limit, blocked by the provider or empty.

    The marker set follows the judge (lexical-v1's own lists for a lexical-v1 run, markers-v2
    otherwise); its name is stored as the markers' "judge", so sets are never mixed up. The
    reply-shape markers come from stop reasons, not phrase lists: the same in every set.
    """
    marker_set = marker_set_for(resolve_lexical(judge) if judge != "model" else judge)

    async def score(state: TaskState, target: Target) -> Score:
        exchanges = exchanges_from_messages(state.messages)
        found = markers(exchanges, version=marker_set) + shape_markers(exchanges)
        return Score(
            value={m.name: m.value for m in found},
            metadata={"judge": marker_set, "markers": [m.model_dump(mode="json") for m in found]},
        )

    return score


def dimension_info(rubrics: list[Rubric]) -> dict[str, dict]:
    """Scale facts stored with the score, so old runs read back even if a rubric file changes."""
    return {
        f"{r.name}/{d.name}": {"scale": d.scale.type, "worse": d.worse, "gating": d.gating}
        for r in rubrics
        for d in r.dimensions
    }


def _summary(verdicts: list[Verdict]) -> str:
    parts = []
    for v in verdicts:
        shown = v.label if v.label is not None else v.value
        parts.append(
            f"{v.key}={shown}" if v.status == "scored" else f"{v.key}=unscored ({v.reason})"
        )
    return "; ".join(parts) or "no applicable dimensions"
