"""The scripted user: plays a probe's turns in order and keeps every assistant reply.

An adaptive probe (`user:`) continues after its scripted turns with a model playing the user
(adaptive_user.py).
"""

from __future__ import annotations

from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, solver

from character.engine.adaptive_user import play_adaptive_user
from character.engine.dataset import probe_from_metadata
from character.engine.transcript import SCRIPTED_KEY

# The first user message carries the probe's identity and facts. Real providers never send message
# metadata; the simulated provider reads it to answer deterministically and in context.
PROBE_CONTEXT_KEY = "character_probe"


@solver
def scripted_conversation(system_prompt: str | None = None) -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        probe = probe_from_metadata(state.metadata)
        state.messages = [ChatMessageSystem(content=system_prompt)] if system_prompt else []
        context = {
            "id": probe.id,
            "kind": probe.kind,
            "facts": probe.facts.model_dump(mode="json"),
            "hard_constraint": probe.hard_constraint,
            "epoch": state.epoch,
            "turns": probe.planned_turns,
        }
        for index, turn in enumerate(probe.turns):
            if turn.role == "assistant":
                state.messages.append(
                    ChatMessageAssistant(content=turn.text, metadata={SCRIPTED_KEY: True})
                )
                continue
            metadata = {PROBE_CONTEXT_KEY: context} if index == 0 else None
            state.messages.append(ChatMessageUser(content=turn.text, metadata=metadata))
            next_is_scripted = index + 1 < len(probe.turns) and probe.turns[index + 1].role == "assistant"
            if not next_is_scripted:
                state = await generate(state, tool_calls="none")
                if state.output.error or state.completed:
                    break
        if probe.user is not None and not (state.output.error or state.completed):
            state = await play_adaptive_user(state, generate, probe)
        return state

    return solve
