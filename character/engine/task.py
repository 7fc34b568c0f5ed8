"""The inspect task: probe suites played by the scripted user, judged, with markers."""

from __future__ import annotations

from inspect_ai import Task, task

from character.domain.probes import load_suite, resolve_suite
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
) -> Task:
    """`inspect eval character/character -T suites=pushback --model sim/assistant-v1` works too."""
    names = [suites] if isinstance(suites, str) else list(suites)
    loaded = [load_suite(resolve_suite(name)) for name in names]
    return Task(
        dataset=suites_dataset(loaded, name="+".join(s.name for s in loaded)),
        solver=scripted_conversation(system_prompt=system_prompt),
        scorer=[
            character_judge(judge=judge, repeats=judge_repeats, attempts=judge_attempts),
            character_markers(judge=judge),
        ],
        name=TASK_NAME,
        metadata={"suites": {s.name: s.hash for s in loaded}},
    )
