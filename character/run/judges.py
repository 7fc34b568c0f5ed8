"""Which judge scores a run: the Claude judge whenever a key is set, else the lexical baseline.

The lexical judges are `lexical-v1` and `lexical-v2` (the default for `lexical` and for `auto`
without a key); each is a fixed record, so a stored run keeps the judge it was scored with and a
comparison of runs judged by different versions is refused until one is re-judged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from character.domain.config import Config
from character.engine import lexical
from character.engine.local_runtime import same_model
from character.errors import CharacterError
from character.store.manifest import JudgeRecord

DEFAULT_JUDGE_MODEL = "anthropic/claude-sonnet-5-5"

# Environment variable each hosted provider needs; checked before any call is made.
PROVIDER_KEYS = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "google": "GOOGLE_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "grok": "XAI_API_KEY",
    "together": "TOGETHER_API_KEY",
    "groq": "GROQ_API_KEY",
}


LEXICAL_CHOICES = ("lexical", *lexical.LEXICAL_JUDGES)


@dataclass(frozen=True)
class JudgeSpec:
    kind: Literal["model", "lexical"]
    model: str | None = None  # the model id; for kind "lexical", the lexical judge's version
    repeats: int = 1
    attempts: int = 3
    temperature: float = 0.0
    max_tokens: int = 4096
    # where the choice was written, for errors about it: a CLI option, or a config key and file
    origin: str = field(default="--judge", compare=False)
    origin_file: str | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        if self.kind == "model" and self.model:
            return self.model
        return lexical.resolve_lexical(self.model or "lexical")

    @property
    def scorer_choice(self) -> str:
        """What the inspect scorer is told: 'model', or the lexical judge's version."""
        return "model" if self.kind == "model" else self.id

    def record(self, target_model: str) -> JudgeRecord:
        """How this judge is written into a run's manifest."""
        return JudgeRecord(
            kind=self.kind,
            id=self.id,
            prompt_hash=self.prompt_hash,
            temperature=self.temperature if self.kind == "model" else None,
            repeats=self.repeats,
            attempts=self.attempts if self.kind == "model" else 1,
            same_as_target=self.model is not None and same_model(self.model, target_model),
        )

    @property
    def prompt_hash(self) -> str:
        if self.kind == "model":
            # loaded here: the judge prompt needs inspect, which `check` and `suites` do not
            from character.engine.judge_prompt import judge_prompt_hash

            return judge_prompt_hash()
        return lexical.prompt_hash(self.id)


def judge_from(choice: str | None, config: Config, *, repeats: int | None = None) -> JudgeSpec:
    """The judge `--judge` names, else character.toml's `[judge] model`: an error about it names
    where it was written (the option, or the config key and file)."""
    judge = config.judge
    settings = {"repeats": repeats or judge.repeats, "attempts": judge.attempts}
    if choice:
        return resolve_judge(choice, **settings)
    return resolve_judge(judge.model, **settings, origin="[judge] model", origin_file=config.path)


def resolve_judge(
    choice: str = "auto",
    *,
    repeats: int = 1,
    attempts: int = 3,
    origin: str = "--judge",
    origin_file: str | Path | None = None,
) -> JudgeSpec:
    """`auto`: Claude when ANTHROPIC_API_KEY is set, else the default lexical judge. Or
    `lexical` (the default lexical judge, lexical-v2), `lexical-v1`, `lexical-v2`, or a model id.
    `origin` / `origin_file`: where `choice` was written, named by errors about it."""
    where = {"origin": origin, "origin_file": str(origin_file) if origin_file else None}
    said = "--judge " if origin == "--judge" else ""  # remedies name the option, or just the value
    if choice in LEXICAL_CHOICES:
        return JudgeSpec(kind="lexical", model=lexical.resolve_lexical(choice))
    if choice == "auto":
        if os.environ.get("ANTHROPIC_API_KEY"):
            return JudgeSpec(
                kind="model", model=DEFAULT_JUDGE_MODEL, repeats=repeats, attempts=attempts
            )
        return JudgeSpec(kind="lexical", model=lexical.DEFAULT_LEXICAL)
    if "/" not in choice:
        raise CharacterError(
            f"judge '{choice}' is not 'auto', one of {', '.join(LEXICAL_CHOICES)}, or a provider/model id",
            file=where["origin_file"],
            field=origin,
            remedy=f"e.g. {said}{DEFAULT_JUDGE_MODEL}, {said}lexical, or {said}lexical-v1",
        )
    provider, _, name = choice.partition("/")
    if not provider or not name.strip("/"):
        raise CharacterError(
            f"judge '{choice}' names no model",
            file=where["origin_file"],
            field=origin,
            remedy=f"give provider/model, e.g. {said}{DEFAULT_JUDGE_MODEL}",
        )
    if provider == "sim":  # simulated assistants and users reply in character; they never grade
        raise CharacterError(
            f"judge '{choice}' is a simulated persona, which cannot judge (every verdict would be unscored)",
            file=where["origin_file"],
            field=origin,
            remedy=f"use {said}lexical offline, or a model judge such as {said}{DEFAULT_JUDGE_MODEL}",
        )
    require_credentials(choice, field=origin, file=where["origin_file"])
    return JudgeSpec(kind="model", model=choice, repeats=repeats, attempts=attempts, **where)


def check_model_id(name: str, *, field: str, what: str, example: str) -> str:
    """`name` if it is a provider/model id whose API key is set; else a one-line CharacterError
    naming the option (`what`: "summariser", "generator")."""
    if "/" not in name:
        raise CharacterError(
            f"{what} '{name}' is not a provider/model id",
            field=field,
            remedy=f"e.g. {field} {example}",
        )
    require_credentials(name, field=field)
    return name


def standalone_model(name: str, config: Any, *, field: str, what: str, example: str) -> Any:
    """An inspect Model for calls made outside an eval (a change summary, probe variants):
    `name` checked as `check_model_id` does, then built fresh (not inspect's memoized model,
    whose HTTP client would belong to an event loop that `asyncio.run` has closed). `config`
    is an inspect GenerateConfig; an unknown provider is a one-line CharacterError."""
    from inspect_ai.model import get_model  # inspect only when a model is really asked for

    check_model_id(name, field=field, what=what, example=example)
    try:
        return get_model(name, config=config, memoize=False)
    except Exception as exc:  # inspect raises ValueError/PrerequisiteError for unknown providers
        raise CharacterError(
            f"cannot use model '{name}': {str(exc).splitlines()[0][:200]}",
            field=field,
            remedy="check the provider/model id (e.g. anthropic/claude-sonnet-4-5)",
        ) from None


def require_credentials(model: str, *, field: str, file: str | None = None) -> None:
    provider = model.split("/", 1)[0]
    variable = PROVIDER_KEYS.get(provider)
    if variable and not os.environ.get(variable):
        raise CharacterError(
            f"{variable} is not set, and {model} needs it",
            file=file,
            field=field,
            remedy=f"export {variable}=... (or use a sim/... target and --judge lexical offline)",
        )
