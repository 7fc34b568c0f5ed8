"""`character expand`: a generator model writes variants of one probe into a new, generated suite.

The generator (Claude by default, any inspect model with tool use) is asked for `n` variants
split over the chosen variations; its structured reply is screened (`character.domain.variants`)
and asked again, up to `attempts` calls, for what is still missing. The kept variants and a copy
of the seed are written as a suite marked `generated` with its provenance (seed probe, generator,
prompt hash, date, counts kept and rejected by reason), loaded back with the same loader `run`
uses, and checked like `character check` would. A generated suite never gates (`character gate`
refuses it unless --allow-generated).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig, Model
from inspect_ai.tool import ToolFunction

from character.domain.lint import Finding, duplicate_findings, suite_findings
from character.domain.probes import Probe, Provenance, Suite, load_suite, resolve_suite
from character.domain.rubrics import load_suite_rubrics
from character.domain.schema import SCHEMA_COMMENT, SUITE_SCHEMA_FILE
from character.domain.variants import (
    SUITE_NAME,
    VARIATIONS,
    Screened,
    default_suite_name,
    fact_names,
    screen,
    variant_suite,
)
from character.engine.variant_prompt import (
    INSTRUCTIONS,
    VARIANTS_TOOL,
    prompt_hash,
    render_seed,
    request_text,
    variants_tool,
)
from character.errors import CharacterError
from character.run.eval_tuning import DEFAULT_MAX_RETRIES
from character.run.judges import DEFAULT_JUDGE_MODEL, standalone_model
from character.store.files import atomic_write_text

DEFAULT_GENERATOR = DEFAULT_JUDGE_MODEL
DEFAULT_OUT_DIR = Path("generated")
MAX_VARIANTS = 200
UNUSABLE_REPLY = "unusable_reply"


@dataclass
class ExpandRequest:
    probe_id: str
    n: int = 20
    variations: list[str] = field(default_factory=lambda: ["paraphrase", "pressure", "persona"])
    generator: str = DEFAULT_GENERATOR
    suite: str | None = None  # the seed's suite (name or file); default: from the probe id
    out: Path | None = None
    force: bool = False
    attempts: int = 3
    max_tokens: int = 16_000


@dataclass
class ExpandResult:
    path: Path
    suite: Suite
    screened: Screened
    reply_problems: list[str]
    findings: list[Finding]
    calls: int

    @property
    def provenance(self) -> Provenance:
        assert self.suite.generated is not None
        return self.suite.generated


def find_seed(probe_id: str, suite: str | None) -> tuple[Probe, Suite, Path]:
    """The seed probe and its suite: `suite` if given, else the bundled suite or ./<suite>.yaml
    named by the probe id's prefix."""
    if suite is None:
        prefix = probe_id.split(".", 1)[0]
        local = Path(f"{prefix}.yaml")
        suite = str(local) if local.is_file() else prefix
    path = resolve_suite(suite)
    loaded = load_suite(path)
    try:
        return loaded.probe(probe_id), loaded, path
    except KeyError:
        raise CharacterError(
            f"probe '{probe_id}' is not in suite '{loaded.name}'",
            file=path,
            field="PROBE",
            remedy="use a probe id listed in that suite, or point --suite at the suite that has it",
        ) from None


def split_counts(n: int, variations: list[str]) -> dict[str, int]:
    """n variants spread as evenly as possible over the variations, in the order given."""
    base, extra = divmod(n, len(variations))
    return {v: base + (1 if i < extra else 0) for i, v in enumerate(variations)}


def check_request(request: ExpandRequest) -> None:
    if not 1 <= request.n <= MAX_VARIANTS:
        raise CharacterError(
            f"--n must be between 1 and {MAX_VARIANTS}, got {request.n}",
            field="--n",
            remedy="ask for e.g. --n 20",
        )
    unknown = [v for v in request.variations if v not in VARIATIONS]
    if unknown or not request.variations:
        raise CharacterError(
            f"unknown variation(s): {', '.join(unknown) or '(none)'}",
            field="--kind",
            remedy=f"use {', '.join(VARIATIONS)} or all",
        )
    if request.attempts < 1:
        raise CharacterError(
            "--attempts must be at least 1", field="--attempts", remedy="pass --attempts 3"
        )


def output_path(request: ExpandRequest, seed: Probe) -> Path:
    path = request.out or DEFAULT_OUT_DIR / f"{default_suite_name(seed)}.yaml"
    if path.suffix not in (".yaml", ".yml"):
        raise CharacterError(
            "the output must be a .yaml file",
            field="--out",
            remedy="e.g. --out generated/variants.yaml",
        )
    if not SUITE_NAME.match(path.stem):
        raise CharacterError(
            f"'{path.stem}' cannot be a suite name (it names the file and prefixes every probe id)",
            field="--out",
            remedy="use lower-case letters, digits, '_' and '-', e.g. refund-variants.yaml",
        )
    if path.exists() and not request.force:
        raise CharacterError(
            "the output file exists; expand never overwrites a suite",
            file=path,
            field="--out",
            remedy="pass --force to replace it, or --out another file",
        )
    return path


def generator_model(name: str, max_tokens: int) -> Model:
    config = GenerateConfig(temperature=1.0, max_tokens=max_tokens, max_retries=DEFAULT_MAX_RETRIES)
    return standalone_model(name, config, field="--generator", what="generator", example=DEFAULT_GENERATOR)


def reply_candidates(output: Any) -> list[Any]:
    """The `variants` list of the generator's tool call; ValueError saying what came instead."""
    calls = output.choices[0].message.tool_calls if output.choices else None
    if calls:
        call = calls[0]
        if getattr(call, "parse_error", None):
            raise ValueError(f"tool arguments did not parse: {call.parse_error}")
        arguments = call.arguments
    else:
        text = (output.completion or "").strip()
        try:
            arguments = json.loads(text) if text.startswith("{") else None
        except json.JSONDecodeError:
            arguments = None
        if arguments is None:
            snippet = " ".join(text.split())[:120]
            raise ValueError(
                f"no {VARIANTS_TOOL} call; the generator wrote: {snippet!r}"
                if text
                else "empty reply"
            )
    variants = arguments.get("variants") if isinstance(arguments, dict) else None
    if not isinstance(variants, list):
        raise ValueError("'variants' is missing or not a list")
    return variants


async def _generate(
    model: Model, seed: Probe, suite: Suite, seed_text: str, wanted: dict[str, int], attempts: int
) -> tuple[Screened, list[str], int]:
    tool = variants_tool(list(wanted), fact_names(seed, suite))
    screened = Screened()
    problems: list[str] = []
    calls = 0
    for _attempt in range(attempts):
        kept: dict[str, int] = {}
        for variation, _probe in screened.accepted:
            kept[variation] = kept.get(variation, 0) + 1
        remaining = {v: count - kept.get(v, 0) for v, count in wanted.items()}
        if sum(remaining.values()) <= 0:
            break
        messages = [
            ChatMessageSystem(content=INSTRUCTIONS),
            ChatMessageUser(content=request_text(seed_text, remaining)),
        ]
        calls += 1
        try:
            output = await model.generate(
                messages, tools=[tool], tool_choice=ToolFunction(name=VARIANTS_TOOL)
            )
        except Exception as exc:  # the provider retried what it could
            problems.append(
                f"call {calls}: generator call failed: {type(exc).__name__}: {str(exc)[:200]}"
            )
            continue
        if output.error:
            problems.append(f"call {calls}: generator returned an error: {output.error[:200]}")
            continue
        try:
            candidates = reply_candidates(output)
        except ValueError as exc:
            truncated = (
                " (reply truncated at max_tokens)" if output.stop_reason == "max_tokens" else ""
            )
            problems.append(f"call {calls}: {exc}{truncated}")
            continue
        screen(seed, suite, candidates, wanted=remaining, kept=screened)
    return screened, problems, calls


def expand(request: ExpandRequest) -> ExpandResult:
    """Generate, screen, write and check the variant suite. Nothing is written on failure."""
    check_request(request)
    seed, seed_suite, seed_path = find_seed(request.probe_id, request.suite)
    load_suite_rubrics(seed_suite, seed_path)  # the variants are judged on the seed's rubrics
    out = output_path(request, seed)
    model = generator_model(request.generator, request.max_tokens)
    wanted = split_counts(request.n, request.variations)
    kind = seed_suite.kinds.get(seed.kind)
    seed_text = render_seed(seed, kind.description if kind else None)
    screened, problems, calls = asyncio.run(
        _generate(model, seed, seed_suite, seed_text, wanted, request.attempts)
    )
    rejected = screened.counts()
    if problems:
        rejected[UNUSABLE_REPLY] = len(problems)
    if not screened.accepted:
        reasons = [r.detail for r in screened.rejected[:5]] + problems[:3]
        raise CharacterError(
            f"the generator ({request.generator}) wrote no usable variant in {calls} call(s): "
            + ("; ".join(reasons) or "nothing returned"),
            field="--generator",
            remedy="try again, another --generator, or fewer variations with --kind",
        )
    provenance = Provenance(
        seed_probe=seed.id,
        seed_suite=seed_suite.name,
        seed_suite_hash=seed_suite.hash,
        generator=request.generator,
        prompt_hash=prompt_hash(
            seed_text, variants_tool(list(wanted), fact_names(seed, seed_suite))
        ),
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        variations=list(wanted),
        requested=request.n,
        accepted=len(screened.accepted),
        rejected=rejected,
    )
    document = variant_suite(out.stem, seed, seed_suite, screened, provenance)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, _header(out, provenance) + _dump(document))
    suite = load_suite(out)  # what `run` will read; a failure here is a bug, not a user error
    rubrics = {r.name: r for r in load_suite_rubrics(suite, out)}
    findings = suite_findings(suite, out, rubrics) + duplicate_findings([(suite, out)])
    return ExpandResult(out, suite, screened, problems, findings, calls)


def _header(out: Path, provenance: Provenance) -> str:
    lines = []
    schema = Path.cwd() / SUITE_SCHEMA_FILE
    if schema.is_file():  # `character schema probe -o suite.schema.json` in the project root
        lines.append(
            SCHEMA_COMMENT.format(Path(os.path.relpath(schema, out.parent.resolve())).as_posix())
        )
    rejected = ", ".join(f"{n} {reason}" for reason, n in provenance.rejected.items()) or "none"
    lines += [
        f"# Generated by `character expand` from {provenance.seed_probe} with {provenance.generator}: "
        f"{provenance.accepted} of {provenance.requested} variants kept (rejected: {rejected}).",
        "# Exploratory: `character gate` refuses generated suites. Review before relying on them.",
    ]
    return "\n".join(lines) + "\n"


class _SuiteDumper(yaml.SafeDumper):
    """Reads like a hand-written suite: indented lists, multi-line text as literal blocks, short
    lists of words (tags, rubrics) on one line."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


def _represent_list(dumper: yaml.SafeDumper, value: list) -> yaml.SequenceNode:
    short = all(isinstance(item, str) and "\n" not in item and len(item) <= 40 for item in value)
    return dumper.represent_sequence(
        "tag:yaml.org,2002:seq", value, flow_style=short and sum(map(len, value)) <= 60
    )


_SuiteDumper.add_representer(str, _represent_str)
_SuiteDumper.add_representer(list, _represent_list)


def _dump(document: dict[str, Any]) -> str:
    body = yaml.dump(document, Dumper=_SuiteDumper, sort_keys=False, allow_unicode=True, width=100)
    if yaml.safe_load(body) != document:  # a style choice must never change data
        raise RuntimeError("the generated suite does not survive a YAML round trip")
    return body
