"""The inspect task: probe suites played by the scripted user, judged, with markers."""

from __future__ import annotations

from inspect_ai import Task, task

from character.domain.probes import load_suite, resolve_suite
from character.engine.adaptive_user import USER_ROLE, user_model_for
from character.engine.dataset import suites_dataset
from character.engine.scorers import JudgeChoice, character_judge, character_markers
from character.engine.solver import scripted_conversation

TASK_NAME = "character"


@task
def character(
    suites: str | list[str] = "pushback",
    judge: JudgeChoice = "lexical",
    system_prompt: str | None = None,
    judge_repeats: int = 1,
    judge_attempts: int = 3,
    user_model: str | None = None,
    bind_user: bool = True,
) -> Task:
    """`inspect eval character/character -T suites=pushback --model sim/assistant-v1` works too.

    Adaptive probes play their user with the `user` role: bound here to `user_model`, else to the
    model the probes name (`--model-role user=...` on the inspect command line overrides it).
    `bind_user=False` binds none: `character run` passes it when its --limit or probe subset
    plays no adaptive probe, so no user model is built (or needs a key) for nothing.
    """
    names = [suites] if isinstance(suites, str) else list(suites)
    loaded = [load_suite(resolve_suite(name)) for name in names]
    user = user_model_for(loaded, user_model) if bind_user else None
    return Task(
        dataset=suites_dataset(loaded, name="+".join(s.name for s in loaded)),
        solver=scripted_conversation(system_prompt=system_prompt),
        scorer=[
            character_judge(judge=judge, repeats=judge_repeats, attempts=judge_attempts),
            character_markers(judge=judge),
        ],
        name=TASK_NAME,
        model_roles={USER_ROLE: user} if user else None,
        metadata={"suites": {s.name: s.hash for s in loaded}},
    )
