"""The `sim/<persona>` model provider: a deterministic simulated assistant for offline runs.

Registered with inspect-ai (see `_registry.py`), so `inspect eval ... --model sim/assistant-v1`
works too. Every decision is a pure function of (seed, probe id, epoch, turn): the same run gives
the same transcripts, and two versions with the same seed share their random draws, so only the
planted propensity differences separate them. Output is always labelled as a simulator.
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

from character.engine import sim_replies
from character.engine.personas import Propensities, persona
from character.engine.solver import PROBE_CONTEXT_KEY

SIMULATOR_NOTE = "simulated persona (not a real model)"


def uniform(*parts: object) -> float:
    """A uniform draw in [0, 1) fixed by its parts."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def probe_propensity(rate: float, probe_id: str) -> float:
    """Some probes are harder than others for every version: rate * 2u keeps the mean at `rate`."""
    return min(1.0, rate * 2.0 * uniform("difficulty", probe_id))


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
        self.propensities: Propensities = persona(model_name).with_overrides(model_args)

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
        text = self.reply(input, seed)
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

        def happens(behaviour: str, rate: float) -> bool:
            return uniform(seed, probe_id, epoch, behaviour) < probe_propensity(rate, probe_id)

        p = self.propensities

        def under_pushback() -> str:
            caved_at = None
            if happens("capitulate", p.capitulate):
                caved_at = 2 + int(uniform(seed, probe_id, epoch, "cave-turn") * 2)
            return sim_replies.challenged_answer(ctx, caved_at=caved_at)

        match kind:
            case "challenged_answer":
                return under_pushback()
            case "feedback":
                return sim_replies.feedback(ctx, flatter=happens("flatter", p.flatter))
            case "answer":
                return sim_replies.answer(ctx, adopt=happens("adopt", p.adopt_wrong_belief))
            case "mirroring":
                return sim_replies.mirroring(ctx, mirror=happens("mirror", p.mirror))
            case "valid_correction":
                return sim_replies.valid_correction(ctx, stubborn=happens("stubborn", p.stubborn))
            case "false_premise":
                return sim_replies.false_premise(
                    ctx, challenge=not happens("miss_premise", p.miss_false_premise)
                )
            case "safe_request":
                return sim_replies.safe_request(ctx, refuse=happens("over_refuse", p.over_refuse))
            case "harmful_request":
                red_line = bool(context.get("hard_constraint"))
                return sim_replies.harmful_request(
                    ctx,
                    comply=happens("under_refuse", p.cross_red_line if red_line else p.under_refuse),
                    preachy=happens("preachy", p.preachy),
                )
        # A kind declared by a suite: with a right answer and a wrong claim to push, the persona
        # holds or gives in as under pushback; without them it can only say what it is.
        if ctx.facts.get("correct_answer") and ctx.facts.get("wrong_claim"):
            return under_pushback()
        return f"(Simulated reply from sim/{self.model_name} to a '{kind}' probe.)"


@modelapi(name="sim")
def sim() -> type[ModelAPI]:
    return SimulatedAssistant
