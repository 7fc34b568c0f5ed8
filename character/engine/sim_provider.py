"""The `sim/<persona>` model provider: a deterministic simulated assistant for offline runs.

Registered with inspect-ai (see `_registry.py`), so `inspect eval ... --model sim/assistant-v1`
works too. Every decision is a pure function of (seed, probe id, epoch, turn): the same run gives
the same transcripts, and two versions with the same seed share their random draws, so only the
planted propensity differences separate them. Output is always labelled as a simulator.

`sim/user` plays the person of an adaptive probe instead of an assistant (sim_user.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from character.engine import sim_boundaries, sim_replies, sim_user
from character.engine.adaptive_user import USER_CONTEXT_KEY
from character.engine.personas import Propensities, persona
from character.engine.solver import PROBE_CONTEXT_KEY

SIMULATOR_NOTE = "simulated persona (not a real model)"
SIMULATED_USER = "user"  # sim/user: the simulated person of adaptive probes
# Probes longer than this (bundled scripted probes end by turn 5) spread the turn of giving in over
# the whole conversation; after giving in, the persona takes it back with chance RECOVER per turn
# and gives in again with chance RECAVE, so long conversations have flips to count.
LONG_CONVERSATION = 5
RECOVER = 0.25
RECAVE = 0.5


def uniform(*parts: object) -> float:
    """A uniform draw in [0, 1) fixed by its parts."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def probe_propensity(rate: float, probe_id: str) -> float:
    """Some probes are harder than others for every version: rate * 2u keeps the mean at `rate`."""
    return min(1.0, rate * 2.0 * uniform("difficulty", probe_id))


def happens(seed: int, probe_id: str, epoch: int, behaviour: str, rate: float) -> bool:
    """Whether a persona with propensity `rate` shows `behaviour` on this probe and epoch.

    The draw depends on the behaviour, not the rate, so two versions with the same seed differ
    only where their rates do (common random numbers). `sim_expected` reuses it.
    """
    return uniform(seed, probe_id, epoch, behaviour) < probe_propensity(rate, probe_id)


class SimulatedAssistant(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(
            model_name=model_name, base_url=base_url, api_key=api_key, config=config or GenerateConfig()
        )
        seed = model_args.pop("seed", None)
        self.default_seed = int(seed) if seed is not None else 0
        self.plays_user = model_name == SIMULATED_USER
        self.propensities: Propensities = (
            Propensities() if self.plays_user else persona(model_name).with_overrides(model_args)
        )

    def max_connections(self) -> int:
        return 32

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        seed = config.seed if config.seed is not None else self.default_seed
        text = self.user_turn(input, seed) if self.plays_user else self.reply(input, seed)
        output = ModelOutput.from_content(model=f"sim/{self.model_name}", content=text)
        # inspect would otherwise count tokens with tiktoken, which downloads an encoding.
        prompt_chars = sum(len(message.text) for message in input)
        output.usage = ModelUsage(
            input_tokens=prompt_chars // 4 + 1,
            output_tokens=len(text) // 4 + 1,
            total_tokens=prompt_chars // 4 + len(text) // 4 + 2,
        )
        output.metadata = {"simulator": SIMULATOR_NOTE}
        return output

    def user_turn(self, messages: list[ChatMessage], seed: int) -> str:
        context = next(
            (m.metadata[USER_CONTEXT_KEY] for m in messages if m.metadata and USER_CONTEXT_KEY in m.metadata),
            None,
        )
        if context is None:
            return "(Simulated user sim/user: no persona card was given.)"
        return sim_user.next_user_turn(context, seed)

    def reply(self, messages: list[ChatMessage], seed: int) -> str:
        users = [m for m in messages if m.role == "user"]
        context = next(
            (m.metadata[PROBE_CONTEXT_KEY] for m in users if m.metadata and PROBE_CONTEXT_KEY in m.metadata),
            None,
        )
        if context is None or not users:
            return f"(Simulated reply from sim/{self.model_name}; no probe context was given.)"
        probe_id, epoch, kind = context["id"], context["epoch"], context["kind"]
        turn = len(users)
        ctx = sim_replies.ReplyContext(
            kind=kind,
            facts=context["facts"],
            turn=turn,
            user_text=users[-1].text,
            pick=uniform(seed, probe_id, epoch, turn, "phrasing"),
        )

        def shows(behaviour: str, rate: float) -> bool:
            return happens(seed, probe_id, epoch, behaviour, rate)

        p = self.propensities

        planned = int(context.get("turns") or 0)
        long_conversation = planned > LONG_CONVERSATION

        def under_pushback() -> str:
            caved_at = None
            if shows("capitulate", p.capitulate):
                # Short probes give in at turn 2 or 3; long ones anywhere in the conversation
                # (erosion), and may take it back and give in again (flips).
                span = planned - 1 if long_conversation else 2
                caved_at = 2 + int(uniform(seed, probe_id, epoch, "cave-turn") * span)
            if caved_at is None or not long_conversation or turn <= caved_at:
                return sim_replies.challenged_answer(ctx, caved_at=caved_at)
            holding = [False]  # the position at caved_at, then at each later turn
            for later in range(caved_at + 1, turn + 1):
                draw = uniform(seed, probe_id, epoch, later, "flip")
                holding.append(draw < RECOVER if not holding[-1] else draw >= RECAVE)
            return sim_replies.after_giving_in(ctx, holding=holding[-1], was_holding=holding[-2])

        match kind:
            case "challenged_answer":
                return under_pushback()
            case "feedback":
                return sim_replies.feedback(ctx, flatter=shows("flatter", p.flatter))
            case "answer":
                return sim_replies.answer(ctx, adopt=shows("adopt", p.adopt_wrong_belief))
            case "mirroring":
                return sim_replies.mirroring(ctx, mirror=shows("mirror", p.mirror))
            case "valid_correction":
                return sim_replies.valid_correction(ctx, stubborn=shows("stubborn", p.stubborn))
            case "false_premise":
                return sim_replies.false_premise(
                    ctx, challenge=not shows("miss_premise", p.miss_false_premise)
                )
            case "safe_request":
                return sim_replies.safe_request(ctx, refuse=shows("over_refuse", p.over_refuse))
            case "harmful_request":
                red_line = bool(context.get("hard_constraint"))
                return sim_replies.harmful_request(
                    ctx,
                    comply=shows("under_refuse", p.cross_red_line if red_line else p.under_refuse),
                    preachy=shows("preachy", p.preachy),
                )
        if kind in sim_boundaries.BOUNDARY_KINDS:
            return self.boundary_reply(ctx, kind, shows, under_pushback_turn=lambda: 2 + int(
                uniform(seed, probe_id, epoch, "cave-turn") * 2
            ))
        # A kind declared by a suite: with a right answer and a wrong claim to push, the persona
        # holds or gives in as under pushback; without them it can only say what it is.
        if ctx.facts.get("correct_answer") and ctx.facts.get("wrong_claim"):
            return under_pushback()
        return f"(Simulated reply from sim/{self.model_name} to a '{kind}' probe.)"


    def boundary_reply(self, ctx, kind, happens, under_pushback_turn) -> str:  # type: ignore[no-untyped-def]
        """The boundaries suite's kinds (declared there): give in from turn 2 or 3, or hold."""
        p = self.propensities
        if kind == "disagreement":
            caved_at = under_pushback_turn() if happens("capitulate", p.capitulate) else None
            return sim_boundaries.disagreement(ctx, caved_at=caved_at)
        rate = {
            "identity_pressure": p.claim_inner_life,
            "emotional_reliance": p.foster_dependence,
            "roleplay_drift": p.drift_in_roleplay,
        }[kind]
        gives_in_at = under_pushback_turn() if happens(kind, rate) else None
        went = gives_in_at is not None and ctx.turn >= gives_in_at
        if kind == "identity_pressure":
            return sim_boundaries.identity_pressure(ctx, gives_in=went)
        if kind == "emotional_reliance":
            return sim_boundaries.emotional_reliance(ctx, fosters=went)
        return sim_boundaries.roleplay_drift(ctx, drifts=went)


@modelapi(name="sim")
def sim() -> type[ModelAPI]:
    return SimulatedAssistant
