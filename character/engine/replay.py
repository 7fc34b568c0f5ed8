"""Judge conversations that were not played by character (imports) with inspect's machinery.

An imported run has no inspect log: its transcripts came from a file. To judge them with a model
judge, each stored conversation becomes a `Sample` whose metadata carries the probe and the
messages of every epoch; the `replayed_conversation` solver puts those messages in the state
(no model is called for the target), and the usual `character_judge` and `character_markers`
scorers judge them. The resulting log has the same shape as a run's, so the tables, counts and
costs are read from it exactly as for a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, solver

from character.domain.probes import Probe
from character.engine.dataset import PROBE_KEY
from character.engine.reply_shapes import STOP_REASON_KEY
from character.engine.scorers import JudgeChoice, character_judge, character_markers
from character.engine.transcript import SCRIPTED_KEY, SIMULATED_USER_KEY

REPLAY_KEY = (
    "replay"  # sample metadata: {"<epoch>": [{"role", "content", "scripted", "simulated"}, ...]}
)
REPLAY_TASK = "character_replay"


@dataclass(frozen=True)
class StoredConversation:
    probe: Probe
    suite: str
    suite_hash: str | None
    epochs: dict[int, list[dict]]  # epoch -> messages as stored ({role, content, scripted})


def chat_messages(messages: list[dict]) -> list[ChatMessage]:
    built: list[ChatMessage] = []
    for message in messages:
        if message["role"] == "system":
            built.append(ChatMessageSystem(content=message["content"]))
        elif message["role"] == "user":
            simulated = {SIMULATED_USER_KEY: "imported"} if message.get("simulated") else None
            built.append(ChatMessageUser(content=message["content"], metadata=simulated))
        else:
            metadata = {SCRIPTED_KEY: True} if message.get("scripted") else {}
            if message.get("stop_reason"):  # how the reply ended, when it was recorded
                metadata[STOP_REASON_KEY] = message["stop_reason"]
            built.append(ChatMessageAssistant(content=message["content"], metadata=metadata or None))
    return built


@solver
def replayed_conversation() -> Solver:
    """Put the stored conversation of this epoch in the state; nothing is generated."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.messages = chat_messages(state.metadata[REPLAY_KEY][str(state.epoch)])
        return state

    return solve


def replay_sample(conversation: StoredConversation) -> Sample:
    first_user = next(
        (
            m["content"]
            for m in conversation.epochs[min(conversation.epochs)]
            if m["role"] == "user"
        ),
        conversation.probe.user_turns[0],
    )
    return Sample(
        id=conversation.probe.id,
        input=first_user,
        metadata={
            PROBE_KEY: conversation.probe.model_dump(mode="json"),
            "suite": conversation.suite,
            "suite_hash": conversation.suite_hash,
            REPLAY_KEY: {str(epoch): messages for epoch, messages in conversation.epochs.items()},
        },
    )


def replay_task(
    conversations: list[StoredConversation],
    *,
    judge: JudgeChoice,
    judge_repeats: int = 1,
    judge_attempts: int = 3,
) -> Task:
    """A task that judges stored conversations; run it with `epochs` = their epoch count."""
    return Task(
        dataset=MemoryDataset([replay_sample(c) for c in conversations], name="replay"),
        solver=replayed_conversation(),
        scorer=[
            character_judge(judge=judge, repeats=judge_repeats, attempts=judge_attempts),
            character_markers(judge=judge),
        ],
        name=REPLAY_TASK,
    )
