"""character.toml: named targets, the judge, and gate/nightly settings, strictly validated.

```toml
[judge]
model = "auto"            # auto | lexical (= lexical-v2) | lexical-v1 | lexical-v2 | provider/model
repeats = 1

[targets.support-bot]
model = "anthropic/claude-sonnet-4-5"
system_prompt = "prompts/support.md"
temperature = 1.0
max_tokens = 1024

[targets.local-bot]       # a GGUF model run in-process (README: local or open-weights models)
model = "local/smollm2"
n_threads = 1
n_ctx = 4096
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
)

from character.boundary import values
from character.boundary.errors import validation_error
from character.boundary.ids import Labeller, RunId
from character.boundary.reading import read_toml
from character.domain.rubrics import load_rubric
from character.domain.targets import ALLOWED_SETTINGS, Target, make_target
from character.errors import CharacterError

CONFIG_FILE = "character.toml"
# An http(s) address with no query, fragment, space, quote or bracket: it is pasted into Markdown
# links and HTML attributes of reports as it is.
VIEWER_URL = r"^https?://[^\s?#()<>\[\]\"'`|\\]+$"
LOCAL_PROVIDER = "local"
LOCAL_MODEL_ARGS = ("n_threads", "n_ctx")  # TargetConfig fields passed to the model as model args

# One range per quantity, shared with the CLI options of the same name (character.boundary.values).
Epochs = values.EPOCHS.pydantic()
Limit = values.LIMIT.pydantic()
JudgeRepeats = values.JUDGE_REPEATS.pydantic()
JudgeAttempts = values.JUDGE_ATTEMPTS.pydantic()
Temperature = values.TEMPERATURE.pydantic()
MaxTokens = values.MAX_TOKENS.pydantic()
TopP = values.TOP_P.pydantic()
TopK = values.TOP_K.pydantic()
Seed = values.SEED.pydantic()
ReasoningTokens = values.REASONING_TOKENS.pydantic()
NThreads = values.N_THREADS.pydantic()
NCtx = values.N_CTX.pydantic()
Resamples = values.RESAMPLES.pydantic()
Probability = values.PROBABILITY.pydantic()
Fraction = values.FRACTION.pydantic()
Positive = values.POSITIVE.pydantic()
NonNegative = values.NON_NEGATIVE.pydantic()
CusumK = values.CUSUM_K.pydantic()
CusumH = values.CUSUM_H.pydantic()
ShewhartZ = values.SHEWHART_Z.pydantic()
# pydantic's lax bool read `fail_on_warn = "yes"` and `= 1` as true: true or false only.
Flag = StrictBool


class Strict(BaseModel):
    # allow_inf_nan=False: a NaN passes every range check (it compares false with any bound)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class JudgeConfig(Strict):
    model: str = "auto"
    repeats: JudgeRepeats = 1
    attempts: JudgeAttempts = 3


class TargetConfig(Strict):
    model: str
    system_prompt: str | None = None  # path, relative to the config file
    temperature: Temperature | None = None
    max_tokens: MaxTokens | None = None
    top_p: TopP | None = None
    top_k: TopK | None = None
    seed: Seed | None = None
    stop_seqs: list[str] | None = None
    reasoning_tokens: ReasoningTokens | None = None
    # local/... models only (llama.cpp): CPU threads and context window in tokens
    n_threads: NThreads | None = None
    n_ctx: NCtx | None = None


# An equivalence margin in score units: rates as fractions (0.05 = 5 percentage points), scales
# in points. `check_margin_units` refuses a rate margin above 1 (percentage points typed as a number).
# `true` was read as 1 (+-100 pp: a WARN became PASS) and "0.05" as a number: numbers only.
Margin = values.POSITIVE.pydantic()


class GateConfig(Strict):
    alpha: Probability = 0.05
    max_unscored: Fraction = 0.02
    margins: dict[str, Margin] = Field(default_factory=dict)  # "rubric/dimension" -> margin
    # Which question a comparison answers (docs/methods.md "Two questions, two inference units"):
    # "probes" = probes like these, "suite" = these probes only; "auto" = "probes" unless a
    # dimension has too few probes for that test to reach alpha at all.
    population: Literal["auto", "probes", "suite"] = "auto"
    gating: list[str] | None = None  # "rubric/dimension"; None: the rubrics' own gating flags
    exploratory_q: Probability = 0.10
    epochs: Epochs = 5
    suites: list[str] = Field(default_factory=lambda: ["sycophancy", "pushback", "refusals"])
    # Hard-constraint probes must pass in every epoch (METHODS "Defaults"). `hard_constraints =
    # false` reports failures without failing the gate; the list adds probe ids to the ones the
    # suites flag with `hard_constraint: true`.
    hard_constraints: Flag = True
    hard_constraint_probes: list[str] = Field(default_factory=list)
    fail_on_warn: Flag = False  # exit 1 (not 0) when a gating dimension is INCONCLUSIVE
    resamples: Resamples = 9999  # permutation / bootstrap resamples
    seed: Seed = 0  # seed of every resampling procedure, so a report is reproducible
    top_movers: int = Field(default=5, ge=0, le=50)  # probes listed per dimension
    # The file these settings were read from (set by `load_config`), so errors found only when a
    # comparison meets the runs (a misspelt [gate.margins] key) name it.
    _file: Path | None = PrivateAttr(default=None)

    @property
    def file(self) -> Path | None:
        return self._file


class NightlyConfig(Strict):
    targets: list[str] = Field(default_factory=list)
    suites: list[str] = Field(default_factory=lambda: ["sycophancy", "pushback", "refusals"])
    epochs: Epochs = 3
    reference: dict[str, RunId] = Field(default_factory=dict)  # target name -> frozen reference run id
    # bounded (docs/methods.md "Nightly"): h = 1e6 or z = 1e6 would mean "never alarm"
    cusum_k: CusumK = 0.5
    cusum_h: CusumH = 5.0
    shewhart_z: ShewhartZ = 4.0  # one-night limit on |z|
    canary_run: Annotated[RunId | None, BeforeValidator(lambda v: v or None)] = None  # "" = none
    canary_size: int = Field(default=50, ge=1, le=100_000)
    batch: Flag = False
    limit: Limit | None = None  # only the first N probes (smoke tests)
    output: str = "reports/nightly"  # index.html and <date>/ pages; relative to this file


class PriceConfig(Strict):
    """US dollars per million tokens."""

    input: NonNegative
    output: NonNegative
    cache_write: NonNegative = 0.0
    cache_read: NonNegative = 0.0


class ViewerConfig(Strict):
    """Where the team's viewer is served; reports link each top mover and failure into it."""

    url: str | None = Field(default=None, pattern=VIEWER_URL)  # e.g. "http://localhost:8501"


class Config(Strict):
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    targets: dict[Labeller, TargetConfig] = Field(default_factory=dict)  # printed: no hidden characters
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
        model_args = {
            key: value for key in LOCAL_MODEL_ARGS if (value := getattr(spec, key)) is not None
        }
        if model_args and not spec.model.startswith(f"{LOCAL_PROVIDER}/"):
            raise CharacterError(
                f"{', '.join(model_args)} only apply to local/... models, not '{spec.model}'",
                file=self.path,
                field=f"targets.{name}",
                remedy="remove them, or use a local/... model",
            )
        prompt = spec.system_prompt
        if prompt is not None and self.path is not None and not Path(prompt).is_absolute():
            prompt = str(self.path.parent / prompt)
        return make_target(
            spec.model, system_prompt_file=prompt, settings=settings, name=name,
            model_args=model_args, origin=f"targets.{name}", origin_file=self.path,
        )


def load_config(path: Path | None) -> Config:
    """The given file, else ./character.toml if present, else defaults."""
    if path is None:
        default = Path(CONFIG_FILE)
        if not default.exists():
            return Config()
        path = default
    data = read_toml(Path(path))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, file=Path(path)) from None
    check_margin_units(config.gate, Path(path))
    config.gate._file = Path(path)
    return config.model_copy(update={"path": Path(path)})


def suggest_rate_margin(margin: float) -> str:
    """The fraction a rate margin typed in percentage points meant (5 -> 0.05), else 0.05."""
    return f"{margin / 100:g}" if margin <= 100 else "0.05"


def check_margin_units(gate: GateConfig, path: Path | None) -> None:
    """Refuse margins in the wrong unit for the installed rubric's scale (`check_margin`).

    Keys of rubrics that are not installed are checked again when a comparison meets the runs'
    scales (compare.py calls `check_margin` with the scale the runs recorded).
    """
    for key, margin in gate.margins.items():
        rubric_name, _, rest = key.partition("/")
        dimension, _, label = rest.partition("=")
        try:
            dim = load_rubric(rubric_name).dimension(dimension)
        except (CharacterError, KeyError):
            continue
        rate = dim.scale.type != "ordinal" or bool(label)
        check_margin(key, margin, rate=rate, low=dim.scale.low, high=dim.scale.high, file=path)


def check_margin(key: str, margin: float, *, rate: bool, low: float | None = None,
                 high: float | None = None, file: Path | None = None) -> None:
    """Refuse a margin no drift could ever exceed, naming `file` and `[gate.margins] key`.

    A margin is in score units: 5 on a rate is +-500 pp and would pass any drift, so a rate
    margin above 1 is an error suggesting the fraction (5 -> 0.05), and so is 1 (+-100 pp, the
    whole rate scale; also how "1 pp" is typed by mistake). On an ordinal scale of `low`-`high`
    a margin as wide as the whole scale (4 on 1-5) can never be exceeded either.
    """
    field = f'gate.margins."{key}"'
    if rate and margin >= 1:
        raise CharacterError(
            (f"margin {margin:g} is above 1, but" if margin > 1 else
             "margin 1 is +-100 pp, so no drift could ever exceed it:")
            + f" '{key}' is a rate and rate margins are fractions (0.05 = 5 percentage points)",
            file=file, field=field, remedy=f"write {suggest_rate_margin(margin)}",
        )
    if not rate and low is not None and high is not None and margin >= high - low:
        raise CharacterError(
            f"margin {margin:g} spans the whole {low:g}-{high:g} scale of "
            f"'{key}', so no drift could ever exceed it",
            file=file, field=field, remedy="use scale points, e.g. 0.5",
        )
