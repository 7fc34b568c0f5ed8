"""The scripted user: plays a probe's turns in order and keeps every assistant reply.

Each generated reply keeps how it ended (its stop reason, `reply_shapes`) in its message
metadata. The conversation stops at a reply that the provider blocked or that holds no text
(empty, only thinking, or cut before any text): the user turns that follow presuppose an answer
the assistant never gave, and Anthropic's guidance is not to send a refused turn back unchanged.
A reply cut at the token limit still has text, so the conversation goes on, as it would for a
real user.

An adaptive probe (`user:`) continues after its scripted turns with a model playing the user
(adaptive_user.py).
"""

from __future__ import annotations

from functools import partial

from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from character.engine.adaptive_user import play_adaptive_user
from character.engine.api_errors import check_no_rejection, raise_if_rejected
from character.engine.dataset import probe_from_metadata
from character.engine.reply_shapes import STOP_REASON_KEY, shape_of, stop_reason_from_inspect
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
        stopped = False  # the target failed, was blocked or wrote nothing: no more user turns
        for index, turn in enumerate(probe.turns):
            if turn.role == "assistant":
                state.messages.append(
                    ChatMessageAssistant(content=turn.text, metadata={SCRIPTED_KEY: True})
                )
                continue
            metadata = {PROBE_CONTEXT_KEY: context} if index == 0 else None
            state.messages.append(ChatMessageUser(content=turn.text, metadata=metadata))
            next_is_scripted = (
                index + 1 < len(probe.turns) and probe.turns[index + 1].role == "assistant"
            )
            if not next_is_scripted:
                state, stopped = await _target_turn(state, generate)
                if stopped:
                    break
        if probe.user is not None and not stopped:
            state = await play_adaptive_user(state, partial(_target_turn, generate=generate), probe)
        return state

    return solve


async def _target_turn(state: TaskState, generate: Generate) -> tuple[TaskState, bool]:
    """The target answers the last user turn; True when the conversation cannot go on."""
    state = await _generate(state, generate)
    return state, bool(_record_stop_reason(state) or state.output.error or state.completed)


async def _generate(state: TaskState, generate: Generate) -> TaskState:
    """One target call; a rejected API key ends the run instead of this conversation only."""
    await check_no_rejection()
    try:
        return await generate(state, tool_calls="none")
    except Exception as exc:
        await raise_if_rejected(exc, get_model())
        raise


def _record_stop_reason(state: TaskState) -> bool:
    """Store how the reply just generated ended on its message. True when the conversation
    cannot go on: the reply was blocked or holds no text (e.g. cut while still thinking)."""
    reply = state.messages[-1] if state.messages else None
    if not isinstance(reply, ChatMessageAssistant):
        return False
    provider = str(get_model()).split("/", 1)[0]
    if state.output.error and state.output.stop_reason == "content_filter":
        # inspect answers a request the provider refused outright (HTTP 400 "content filtering")
        # with a placeholder text of its own: the assistant wrote nothing
        reply.content = ""
    stop_reason = stop_reason_from_inspect(state.output.stop_reason, reply.text, provider)
    reply.metadata = {**(reply.metadata or {}), STOP_REASON_KEY: stop_reason}
    return shape_of(stop_reason, reply.text) == "blocked" or not reply.text.strip()
