"""character.toml: named targets, the judge, and gate/nightly settings, strictly validated.

```toml
[judge]
model = "auto"            # auto | lexical | provider/model
repeats = 1

[targets.support-bot]
model = "anthropic/claude-sonnet-4-5"
system_prompt = "prompts/support.md"
temperature = 1.0
max_tokens = 1024
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from character.domain.targets import ALLOWED_SETTINGS, Target, make_target
from character.domain.yaml_loading import read_user_text, validation_error
from character.errors import CharacterError

CONFIG_FILE = "character.toml"
# An http(s) address with no query, fragment, space, quote or bracket: it is pasted into Markdown
# links and HTML attributes of reports as it is.
VIEWER_URL = r"^https?://[^\s?#()<>\[\]\"'`|\\]+$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgeConfig(Strict):
    model: str = "auto"
    repeats: int = Field(default=1, ge=1, le=15)
    attempts: int = Field(default=3, ge=1, le=10)


class TargetConfig(Strict):
    model: str
    system_prompt: str | None = None  # path, relative to the config file
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop_seqs: list[str] | None = None
    reasoning_tokens: int | None = None


class GateConfig(Strict):
    alpha: float = Field(default=0.05, gt=0, lt=1)
    max_unscored: float = Field(default=0.02, ge=0, le=1)
    margins: dict[str, float] = Field(default_factory=dict)  # "rubric/dimension" -> margin
    gating: list[str] | None = None  # "rubric/dimension"; None: the rubrics' own gating flags
    exploratory_q: float = Field(default=0.10, gt=0, lt=1)
    epochs: int = Field(default=5, ge=1)
    suites: list[str] = Field(default_factory=lambda: ["sycophancy", "pushback", "refusals"])
    # Hard-constraint probes must pass in every epoch (METHODS "Defaults"). `hard_constraints =
    # false` reports failures without failing the gate; the list adds probe ids to the ones the
    # suites flag with `hard_constraint: true`.
    hard_constraints: bool = True
    hard_constraint_probes: list[str] = Field(default_factory=list)
    fail_on_warn: bool = False  # exit 1 (not 0) when a gating dimension is INCONCLUSIVE
    resamples: int = Field(default=9999, ge=99)  # permutation / bootstrap resamples
    seed: int = 0  # seed of every resampling procedure, so a report is reproducible
    top_movers: int = Field(default=5, ge=0, le=50)  # probes listed per dimension


class NightlyConfig(Strict):
    targets: list[str] = Field(default_factory=list)
    suites: list[str] = Field(default_factory=lambda: ["sycophancy", "pushback", "refusals"])
    epochs: int = Field(default=3, ge=1)
    reference: dict[str, str] = Field(default_factory=dict)  # target name -> frozen reference run id
    cusum_k: float = Field(default=0.5, gt=0)
    cusum_h: float = Field(default=5.0, gt=0)
    canary_run: str | None = None
    canary_size: int = Field(default=50, ge=1)
    batch: bool = False
    limit: int | None = Field(default=None, ge=1)  # only the first N probes (smoke tests)
    output: str = "reports/nightly"  # index.html and <date>/ pages; relative to this file


class PriceConfig(Strict):
    """US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(default=0.0, ge=0)
    cache_read: float = Field(default=0.0, ge=0)


class ViewerConfig(Strict):
    """Where the team's viewer is served; reports link each top mover and failure into it."""

    url: str | None = Field(default=None, pattern=VIEWER_URL)  # e.g. "http://localhost:8501"


class Config(Strict):
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    targets: dict[str, TargetConfig] = Field(default_factory=dict)
    gate: GateConfig = Field(default_factory=GateConfig)
    nightly: NightlyConfig = Field(default_factory=NightlyConfig)
    prices: dict[str, PriceConfig] = Field(default_factory=dict)  # model name -> price
    viewer: ViewerConfig = Field(default_factory=ViewerConfig)
    store: str | None = None
    path: Path | None = Field(default=None, exclude=True)

    def target(self, name: str) -> Target:
        if name not in self.targets:
            raise CharacterError(
                f"no target named '{name}'",
                file=self.path,
                field="targets",
                remedy=f"add [targets.{name}] or use one of: {', '.join(self.targets) or '(none)'}",
            )
        spec = self.targets[name]
        settings: dict[str, Any] = {
            key: value
            for key, value in spec.model_dump().items()
            if key in ALLOWED_SETTINGS and value is not None
        }
        prompt = spec.system_prompt
        if prompt is not None and self.path is not None and not Path(prompt).is_absolute():
            prompt = str(self.path.parent / prompt)
        return make_target(
            spec.model, system_prompt_file=prompt, settings=settings, name=name,
            origin=f"targets.{name}", origin_file=self.path,
        )


def load_config(path: Path | None) -> Config:
    """The given file, else ./character.toml if present, else defaults."""
    if path is None:
        default = Path(CONFIG_FILE)
        if not default.exists():
            return Config()
        path = default
    text = read_user_text(Path(path), what="config file", remedy="check --config")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CharacterError(f"malformed TOML: {exc}", file=path, remedy="fix the TOML syntax") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, file=Path(path)) from None
    return config.model_copy(update={"path": Path(path)})
