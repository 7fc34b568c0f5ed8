"""A model's summary of what changed between two runs, shown only after it is checked.

A model (Claude by default) reads a sample of the transcript pairs whose verdicts changed (the same
probe and epoch played by the baseline and the candidate, with both verdicts and the judge's
evidence) and writes 3-5 findings such as "v2 more often agrees the work is ready". Nothing it
says is shown on trust. Each finding must carry a machine-checkable criterion, and is checked
against the stored tables:

* the criterion is a dimension (+ label for categorical ones) and a direction, or a phrase and a
  direction; it is counted in code over every changed transcript pair, and the shown count is
  that number ("12 of 40 changed transcripts"), never the model's;
* the finding must hold: more pairs go the stated way than the opposite way, and the statement's
  "more often" / "less often" must agree with the criterion's direction;
* the model's own count must not exceed what the pairs it read contain (with a small tolerance),
  nor be negative, and the statement may not carry a count of its own ("48 of 48", "100%"): the
  report shows the recomputed count beside it, and a second, unchecked number would contradict it;
* every example quote is checked like a judge's quote (`quote_occurs`: verbatim, in that turn of
  that version's reply), its pair must match the criterion, and the other version must not say
  it in the same turn (a sentence both versions wrote shows no change); a finding left with no
  verified example is dropped.

A finding that fails any check is dropped and counted with its reason. The model call itself is
character.engine.summariser; `summarise_change(..., ask=)` takes any function with its signature
(tests script replies through the fake Anthropic API).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from character.analysis.change_pairs import (
    VERSIONS,
    Pair,
    build_prompt,
    changed_verdicts,
    load_pairs,
    sample_keys,
)
from character.analysis.transcript_links import TranscriptRef
from character.engine.transcript import (
    Exchange,
    normalise,
    quote_occurs,
)
from character.store.layout import SCORES, TRANSCRIPTS

DEFAULT_SAMPLE = 40
COUNT_TOLERANCE = 0.25  # a claimed count may exceed the pairs read that match by this share (+1)
STATEMENT_CHARS = 300  # a finding is one sentence ("v2 more often ..."), not an essay

# reasons a finding is dropped (keys of ChangeSummary.dropped)
MALFORMED = "malformed finding (no statement or criterion)"
LONG_STATEMENT = f"statement longer than {STATEMENT_CHARS} characters"
UNKNOWN_DIMENSION = "criterion names a dimension these runs did not both score"
NO_LABEL = "categorical dimension without one of its labels"
BAD_PHRASE = "criterion phrase is empty or too long"
DIRECTION_MISMATCH = "statement and criterion disagree on the direction"
NOT_FOUND = "no changed transcript matches the criterion"
NOT_MORE_OFTEN = "the opposite is at least as common in the changed transcripts"
OVERSTATED = "claimed count exceeds the matching pairs the model read"
NEGATIVE_COUNT = "claimed count is negative"
STATED_COUNT = "statement carries its own count (the count shown is recomputed)"
NO_EXAMPLE = "no example quote verified in the transcripts"
BEYOND_LIMIT = "more findings than asked for"

Ask = Callable[..., Any]
"""`(model_id, prompt, *, attempts) -> FindingsReply` (`request_findings` below)."""


@dataclass(frozen=True)
class Example:
    ref: TranscriptRef
    version: str  # baseline | candidate
    quote: str  # model-chosen text, verified verbatim in that reply (escape when rendering)


@dataclass(frozen=True)
class Finding:
    statement: str  # the model's words (untrusted: escape when rendering)
    criterion: dict[str, Any]
    count: int  # changed transcript pairs going the stated way, counted in code
    opposite: int  # changed transcript pairs going the other way
    total: int  # changed transcript pairs
    claimed: int | None  # the model's count over the pairs it read
    in_sample: int  # pairs the model read going the stated way
    examples: list[Example]


@dataclass
class ChangeSummary:
    model: str
    baseline_run: str
    candidate_run: str
    changed_transcripts: int
    pairs_read: int
    findings: list[Finding] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    examples_dropped: int = 0
    problem: str | None = None  # the model gave no usable findings at all
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


# --------------------------------------------------------------------------------------------
# Checking findings
# --------------------------------------------------------------------------------------------


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _replies(exchanges: list[Exchange]) -> str:
    return normalise(" \n ".join(ex.assistant for ex in exchanges if not ex.scripted))


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w'])" + re.escape(normalise(phrase)) + r"(?![\w'])")


@dataclass(frozen=True)
class Criterion:
    """A parsed criterion: `sign(key)` is +1 when a changed pair goes the stated way, -1 when it
    goes the opposite way, 0 otherwise."""

    description: dict[str, Any]
    signs: dict[tuple[str, int], int]

    def sign(self, key: tuple[str, int]) -> int:
        return self.signs.get(key, 0)


def parse_criterion(
    raw: Any, changes: pl.DataFrame, replies: dict[tuple[str, int], dict[str, str]]
) -> Criterion:
    """Check a model's criterion and evaluate it on every changed pair (Rejected if unusable)."""
    if not isinstance(raw, dict) or raw.get("direction") not in ("more", "less"):
        raise Rejected(MALFORMED)
    direction = 1 if raw["direction"] == "more" else -1
    if raw.get("kind") == "dimension":
        name = str(raw.get("dimension") or "")
        rubric, _, dimension = name.partition("/")
        rows = changes.filter((pl.col("rubric") == rubric) & (pl.col("dimension") == dimension))
        if rows.height == 0:
            raise Rejected(UNKNOWN_DIMENSION)
        if rows["scale"][0] == "categorical":
            label = raw.get("label")
            if not isinstance(label, str):
                raise Rejected(NO_LABEL)
            labels = set(rows["baseline_label"].drop_nulls()) | set(
                rows["candidate_label"].drop_nulls()
            )
            if label not in labels:
                raise Rejected(NO_LABEL)
            moved = rows.select(
                "probe_id",
                "epoch",
                sign=(pl.col("candidate_label") == label).cast(pl.Int8)
                - (pl.col("baseline_label") == label).cast(pl.Int8),
            )
            description = {
                "kind": "dimension",
                "dimension": name,
                "label": label,
                "direction": raw["direction"],
            }
        else:
            moved = rows.select(
                "probe_id",
                "epoch",
                sign=(pl.col("candidate_value") - pl.col("baseline_value")).sign(),
            )
            description = {"kind": "dimension", "dimension": name, "direction": raw["direction"]}
        signs = {(p, int(e)): int(s) * direction for p, e, s in moved.iter_rows() if s}
        return Criterion(description, signs)
    if raw.get("kind") == "phrase":
        phrase = normalise(str(raw.get("phrase") or ""))
        if not phrase or len(phrase) > 80:
            raise Rejected(BAD_PHRASE)
        pattern = _phrase_pattern(phrase)
        signs = {}
        for key, texts in replies.items():
            sign = bool(pattern.search(texts["candidate"])) - bool(
                pattern.search(texts["baseline"])
            )
            if sign:
                signs[key] = sign * direction
        return Criterion({"kind": "phrase", "phrase": phrase, "direction": raw["direction"]}, signs)
    raise Rejected(MALFORMED)


# "48 of 48", "12/40", "100%", "30 percent", "12 transcripts": a count or share in the statement
_COUNT_CLAIM = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:%|percent\b|per\s?cent\b)"
    r"|\b\d+\s*(?:of|out\s+of|in|/)\s*\d+"
    r"|\b\d+\s+(?:changed\s+)?(?:transcripts?|pairs?|cases?|times|conversations?|replies|samples?)\b",
    re.IGNORECASE,
)
_MORE = re.compile(r"\bmore (often|frequently|likely|regularly)\b")
_LESS = re.compile(r"\b(less (often|frequently|likely|regularly)|more rarely|rarely)\b")


def _statement_direction(statement: str) -> int | None:
    """+1 for "v2 more often ...", -1 for "v2 less often ...", None if it says neither or both."""
    more, less = bool(_MORE.search(statement.lower())), bool(_LESS.search(statement.lower()))
    if more != less:
        return 1 if more else -1
    return None


def check_finding(
    raw: dict[str, Any],
    *,
    changes: pl.DataFrame,
    replies: dict[tuple[str, int], dict[str, str]],
    read: dict[str, Pair],
    runs: dict[str, str],
) -> tuple[Finding, int]:
    """A verified Finding and the number of its examples that failed, or Rejected(reason)."""
    statement = raw.get("statement")
    if not isinstance(statement, str) or not statement.strip():
        raise Rejected(MALFORMED)
    if len(statement) > STATEMENT_CHARS:
        raise Rejected(LONG_STATEMENT)
    if _COUNT_CLAIM.search(statement):
        raise Rejected(STATED_COUNT)
    criterion = parse_criterion(raw.get("criterion"), changes, replies)
    stated = _statement_direction(statement)
    if stated is not None and stated != (1 if criterion.description["direction"] == "more" else -1):
        raise Rejected(DIRECTION_MISMATCH)
    count = sum(1 for s in criterion.signs.values() if s > 0)
    opposite = sum(1 for s in criterion.signs.values() if s < 0)
    if count == 0:
        raise Rejected(NOT_FOUND)
    if opposite >= count:
        raise Rejected(NOT_MORE_OFTEN)
    in_sample = sum(1 for p in read.values() if criterion.sign((p.probe_id, p.epoch)) > 0)
    claimed = raw.get("count")
    claimed = claimed if isinstance(claimed, int) and not isinstance(claimed, bool) else None
    if claimed is not None and claimed < 0:
        raise Rejected(NEGATIVE_COUNT)
    if claimed is not None and claimed > math.ceil(in_sample * (1 + COUNT_TOLERANCE)) + 1:
        raise Rejected(OVERSTATED)
    examples, failed = [], 0
    for item in raw.get("examples") if isinstance(raw.get("examples"), list) else []:
        example = _verified_example(item, criterion, read, runs)
        if example is None:
            failed += 1
        elif example not in examples:
            examples.append(example)
    if not examples:
        raise Rejected(NO_EXAMPLE)
    finding = Finding(
        statement=" ".join(statement.split()),
        criterion=criterion.description,
        count=count,
        opposite=opposite,
        total=len(replies),
        claimed=claimed,
        in_sample=in_sample,
        examples=examples[:3],
    )
    return finding, failed


def _verified_example(
    item: Any, criterion: Criterion, read: dict[str, Pair], runs: dict[str, str]
) -> Example | None:
    if not isinstance(item, dict):
        return None
    pair = read.get(str(item.get("pair")))
    version, turn, quote = item.get("version"), item.get("turn"), item.get("quote")
    if (
        pair is None
        or version not in VERSIONS
        or not isinstance(turn, int)
        or isinstance(turn, bool)
        or not isinstance(quote, str)
    ):
        return None
    if criterion.sign((pair.probe_id, pair.epoch)) <= 0:
        return None  # the example's pair does not show the finding
    if not quote_occurs(quote, pair.exchanges[version], turn, "assistant"):
        return None
    other = "baseline" if version == "candidate" else "candidate"
    if quote_occurs(quote, pair.exchanges[other], turn, "assistant"):
        return None  # both versions said it at that turn: it shows no change
    ref = TranscriptRef(runs[version], pair.probe_id, pair.epoch, turn)
    return Example(ref=ref, version=version, quote=" ".join(quote.split()))


def verify_findings(
    raw_findings: Sequence[Any],
    *,
    changes: pl.DataFrame,
    replies: dict[tuple[str, int], dict[str, str]],
    read: Sequence[Pair],
    runs: dict[str, str],
    limit: int = 5,
) -> tuple[list[Finding], dict[str, int], int]:
    """(findings shown, dropped findings by reason, example quotes dropped)."""
    by_id = {p.pair_id: p for p in read}
    findings: list[Finding] = []
    dropped: Counter[str] = Counter()
    examples_dropped = 0
    for position, raw in enumerate(raw_findings):
        if position >= limit:
            dropped[BEYOND_LIMIT] += 1
            continue
        try:
            finding, failed = check_finding(
                raw if isinstance(raw, dict) else {},
                changes=changes,
                replies=replies,
                read=by_id,
                runs=runs,
            )
        except Rejected as rejected:
            dropped[rejected.reason] += 1
            continue
        examples_dropped += failed
        findings.append(finding)
    return findings, dict(dropped), examples_dropped


# --------------------------------------------------------------------------------------------
# The model call and the entry point
# --------------------------------------------------------------------------------------------


def request_findings(model_id: str, prompt: str, *, attempts: int = 3) -> Any:
    """Ask `model_id` (any inspect model id) for findings in one call, outside an eval
    (character.engine.summariser.ask_for_findings); provider retries are bounded so an outage
    ends the call instead of hanging. Returns its FindingsReply."""
    import asyncio

    from inspect_ai.model import GenerateConfig

    from character.engine.summariser import ask_for_findings
    from character.run.eval_tuning import DEFAULT_MAX_RETRIES
    from character.run.judges import DEFAULT_JUDGE_MODEL, standalone_model

    config = GenerateConfig(max_tokens=4096, max_retries=DEFAULT_MAX_RETRIES)
    model = standalone_model(
        model_id, config, field="--summariser", what="summariser", example=DEFAULT_JUDGE_MODEL
    )
    return asyncio.run(ask_for_findings(model, prompt, attempts=attempts))


def summarise_change(
    baseline_dir: Path,
    candidate_dir: Path,
    *,
    model: str,
    ask: Ask | None = None,
    sample: int = DEFAULT_SAMPLE,
    focus: Sequence[str] = (),
    seed: int = 0,
    attempts: int = 3,
) -> ChangeSummary:
    """Ask `model` for findings about the changed transcripts of two stored runs; keep the ones
    that check out. `focus`: "rubric/dimension"s sampled first (e.g. the dimensions that moved).

    Makes one model call (retried up to `attempts` while the reply is unusable) and none when no
    verdict changed.
    """
    baseline_dir, candidate_dir = Path(baseline_dir), Path(candidate_dir)
    runs = {"baseline": baseline_dir.name, "candidate": candidate_dir.name}
    changes = changed_verdicts(
        pl.read_parquet(baseline_dir / SCORES), pl.read_parquet(candidate_dir / SCORES)
    )
    keys = changes.select("probe_id", "epoch").unique().sort("probe_id", "epoch")
    columns = ["probe_id", "epoch", "messages"]
    transcripts = {
        version: pl.scan_parquet(folder / TRANSCRIPTS)
        .select(columns)
        .join(
            keys.lazy().with_columns(pl.col("epoch").cast(pl.Int32)),
            on=["probe_id", "epoch"],
            how="semi",
        )
        .collect()
        for version, folder in (("baseline", baseline_dir), ("candidate", candidate_dir))
    }
    every = load_pairs(
        transcripts["baseline"],
        transcripts["candidate"],
        [(p, int(e)) for p, e in keys.iter_rows()],
        files=(baseline_dir / TRANSCRIPTS, candidate_dir / TRANSCRIPTS),
    )
    replies = {
        (p.probe_id, p.epoch): {v: _replies(p.exchanges[v]) for v in VERSIONS} for p in every
    }
    summary = ChangeSummary(
        model=model,
        baseline_run=runs["baseline"],
        candidate_run=runs["candidate"],
        changed_transcripts=len(every),
        pairs_read=0,
    )
    if not every:
        summary.problem = "no verdict changed between the runs: nothing to summarise"
        return summary
    by_key = {(p.probe_id, p.epoch): p for p in every}
    sampled = [k for k in sample_keys(changes, sample, focus, seed) if k in by_key]
    chosen = [
        dataclasses.replace(by_key[key], pair_id=f"P{number}")
        for number, key in enumerate(sampled, start=1)
    ]
    dims = (
        changes.group_by("rubric", "dimension", "scale")
        .agg(
            pl.concat_list("baseline_label", "candidate_label")
            .explode()
            .drop_nulls()
            .unique()
            .sort()
            .alias("labels")
        )
        .sort("rubric", "dimension")
    )
    prompt, read = build_prompt(chosen, changes, dims)
    summary.pairs_read = len(read)
    ask = ask or request_findings
    reply = ask(model, prompt, attempts=attempts)
    summary.input_tokens, summary.output_tokens = reply.input_tokens, reply.output_tokens
    if reply.problem:
        summary.problem = f"no findings: {reply.problem}"
        return summary
    summary.findings, summary.dropped, summary.examples_dropped = verify_findings(
        reply.findings, changes=changes, replies=replies, read=read, runs=runs
    )
    return summary
