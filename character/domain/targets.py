"""Targets: what is being tested — a model id, a system prompt and generation settings.

A target's version label is a content hash of all three, so editing one word of the system prompt
or changing the temperature makes a new version.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from character.boundary.reading import read_text
from character.boundary.values import GENERATION_SETTINGS
from character.domain.hashing import content_hash
from character.errors import CharacterError

SIMULATOR_PROVIDER = "sim"

# Generation settings a target may set; they map onto inspect-ai's GenerateConfig fields.
ALLOWED_SETTINGS = frozenset(
    {"temperature", "max_tokens", "top_p", "top_k", "seed", "stop_seqs", "reasoning_tokens"}
)


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    system_prompt: str | None = None
    system_prompt_file: str | None = None  # where the prompt came from (display only, not hashed)
    settings: dict[str, Any] = Field(default_factory=dict)
    # Provider arguments that change how the model runs, not what it is (local/...: n_threads,
    # n_ctx), so they are not part of the version hash; a run's id still includes them.
    model_args: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None  # a human label; the hash is the version identity
    # where the target was defined, for error messages (not hashed, not stored)
    origin: str = Field(default="--target", exclude=True)  # a CLI option or a config key
    origin_file: str | None = Field(default=None, exclude=True)  # the config file, if any

    @property
    def model_field(self) -> str:
        """The option or config key that names the model (for error messages)."""
        return f"{self.origin}.model" if self.origin_file else self.origin

    @cached_property
    def hash(self) -> str:
        return content_hash(
            {"model": self.model, "system_prompt": self.system_prompt, "settings": self.settings}
        )

    @property
    def system_prompt_hash(self) -> str | None:
        return content_hash(self.system_prompt) if self.system_prompt is not None else None

    @property
    def label(self) -> str:
        base = self.name or self.model.split("/", 1)[-1]
        return f"{base}@{self.hash[:8]}"

    @property
    def simulated(self) -> bool:
        return self.provider == SIMULATOR_PROVIDER

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]


def make_target(
    model: str,
    *,
    system_prompt_file: str | Path | None = None,
    settings: dict[str, Any] | None = None,
    name: str | None = None,
    model_args: dict[str, Any] | None = None,
    origin: str = "--target",
    origin_file: str | Path | None = None,
) -> Target:
    """Build a target, reading the system prompt file and checking the settings."""
    if "/" not in model:
        raise CharacterError(
            f"model '{model}' has no provider prefix",
            file=origin_file,
            field=f"{origin}.model" if origin_file else origin,
            remedy="write it as provider/model, e.g. anthropic/claude-sonnet-4-5 or sim/assistant-v1",
        )
    settings = dict(settings or {})
    unknown = sorted(set(settings) - ALLOWED_SETTINGS)
    if unknown:
        raise CharacterError(
            f"unknown generation setting(s): {', '.join(unknown)}",
            file=origin_file,
            field=origin,
            remedy=f"use only {', '.join(sorted(ALLOWED_SETTINGS))}",
        )
    for key, value in settings.items():
        bounds = GENERATION_SETTINGS.get(key)
        if bounds is not None:
            where = f"{origin}.{key}" if origin_file else f"--{key.replace('_', '-')}"
            settings[key] = bounds.check(value, field=where, file=origin_file)
    prompt_text = None
    if system_prompt_file is not None:
        path = Path(system_prompt_file)
        prompt_text = read_text(path, what="system prompt", remedy="check the --system-prompt path")
    return Target(
        model=model,
        system_prompt=prompt_text,
        system_prompt_file=str(system_prompt_file) if system_prompt_file else None,
        settings=settings,
        model_args=dict(model_args or {}),
        name=name,
        origin=origin,
        origin_file=str(origin_file) if origin_file is not None else None,
    )
