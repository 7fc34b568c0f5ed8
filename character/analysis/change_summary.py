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
* the model's own count must not exceed what the pairs it read contain (with a small tolerance);
* every example quote is checked like a judge's quote (`quote_occurs`: verbatim, in that turn of
  that version's reply), and its pair must match the criterion; a finding left with no verified
  example is dropped.

A finding that fails any check is dropped and counted with its reason. The model call itself is
character.engine.summariser; `summarise_change(..., ask=)` takes any function with its signature
(tests script replies through the fake Anthropic API).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from character.analysis.transcript_links import TranscriptRef
from character.engine.transcript import (
    Exchange,
    exchanges_from_messages,
    normalise,
    quote_occurs,
    render_transcript,
)
from character.importers.store_writer import Message, chat_messages
from character.store.layout import MARKERS_RUBRIC, SCORES, TRANSCRIPTS

DEFAULT_SAMPLE = 40
REPLY_CHARS = 1500  # per assistant reply shown to the model (a prefix: quotes from it still verify)
PROMPT_CHARS = 240_000  # the whole prompt; pairs beyond it are not sent
COUNT_TOLERANCE = 0.25  # a claimed count may exceed the pairs read that match by this share (+1)
VERSIONS = ("baseline", "candidate")

# reasons a finding is dropped (keys of ChangeSummary.dropped)
MALFORMED = "malformed finding (no statement or criterion)"
UNKNOWN_DIMENSION = "criterion names a dimension these runs did not both score"
NO_LABEL = "categorical dimension without one of its labels"
BAD_PHRASE = "criterion phrase is empty or too long"
DIRECTION_MISMATCH = "statement and criterion disagree on the direction"
NOT_FOUND = "no changed transcript matches the criterion"
NOT_MORE_OFTEN = "the opposite is at least as common in the changed transcripts"
OVERSTATED = "claimed count exceeds the matching pairs the model read"
NO_EXAMPLE = "no example quote verified in the transcripts"
BEYOND_LIMIT = "more findings than asked for"

Ask = Callable[..., Any]
"""`(model_id, prompt, *, attempts) -> FindingsReply` (character.engine.summariser.request_findings)."""


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


@dataclass(frozen=True)
class Pair:
    """One changed transcript pair: the same probe and epoch in both runs."""

    pair_id: str
    probe_id: str
    epoch: int
    exchanges: dict[str, list[Exchange]]  # version -> numbered exchanges


# --------------------------------------------------------------------------------------------
# Which transcripts changed
# --------------------------------------------------------------------------------------------


def changed_verdicts(baseline_scores: pl.DataFrame, candidate_scores: pl.DataFrame) -> pl.DataFrame:
    """Verdicts scored in both runs whose value or label differs, one row per probe x epoch x
    dimension, with both values, labels, evidence (JSON) and reasoning."""
    keep = [
        "probe_id",
        "epoch",
        "rubric",
        "dimension",
        "scale",
        "value",
        "label",
        "evidence",
        "reasoning",
    ]

    def scored(scores: pl.DataFrame, prefix: str) -> pl.DataFrame:
        return (
            scores.filter((pl.col("rubric") != MARKERS_RUBRIC) & (pl.col("status") == "scored"))
            .select(keep)
            .unique(["probe_id", "epoch", "rubric", "dimension"], keep="first")
            .rename({c: f"{prefix}_{c}" for c in ("value", "label", "evidence", "reasoning")})
        )

    joined = scored(baseline_scores, "baseline").join(
        scored(candidate_scores, "candidate").drop("scale"),
        on=["probe_id", "epoch", "rubric", "dimension"],
    )
    differs = pl.col("baseline_value").ne_missing(pl.col("candidate_value")) | pl.col(
        "baseline_label"
    ).ne_missing(pl.col("candidate_label"))
    return joined.filter(differs).sort("probe_id", "epoch", "rubric", "dimension")


def _order(probe_id: str, epoch: int, seed: int) -> str:
    return hashlib.sha256(f"{seed}|{probe_id}|{epoch}".encode()).hexdigest()


def sample_keys(
    changes: pl.DataFrame, size: int, focus: Sequence[str] = (), seed: int = 0
) -> list[tuple[str, int]]:
    """Up to `size` changed (probe, epoch) pairs: those changed on a `focus` dimension first
    ("rubric/dimension", e.g. the dimensions that moved), then the rest, each in a fixed
    hash order (spread over probes, the same every time)."""
    keys = (
        changes.select(
            "probe_id",
            "epoch",
            focused=pl.concat_str("rubric", pl.lit("/"), "dimension").is_in(list(focus)),
        )
        .group_by("probe_id", "epoch")
        .agg(pl.col("focused").any())
    )
    ranked = sorted(
        keys.iter_rows(),
        key=lambda row: (not row[2], _order(row[0], int(row[1]), seed)),
    )
    return [(probe, int(epoch)) for probe, epoch, _ in ranked[:size]]


def stored_exchanges(messages_json: str) -> list[Exchange]:
    """A stored transcript's messages (transcripts.parquet JSON) as numbered exchanges."""
    messages = [
        Message(m["role"], m["content"], bool(m.get("scripted"))) for m in json.loads(messages_json)
    ]
    return exchanges_from_messages(chat_messages(messages))


def load_pairs(
    baseline_transcripts: pl.DataFrame,
    candidate_transcripts: pl.DataFrame,
    keys: Sequence[tuple[str, int]],
) -> list[Pair]:
    """The pairs' conversations (keys absent from either run are skipped), ids P1, P2, ..."""
    wanted = pl.DataFrame(
        list(keys), schema={"probe_id": pl.String, "epoch": pl.Int32}, orient="row"
    )
    bodies: dict[str, dict[tuple[str, int], str]] = {}
    for version, frame in zip(VERSIONS, (baseline_transcripts, candidate_transcripts), strict=True):
        rows = frame.select("probe_id", pl.col("epoch").cast(pl.Int32), "messages").join(
            wanted, on=["probe_id", "epoch"], how="semi"
        )
        bodies[version] = {(p, int(e)): m for p, e, m in rows.iter_rows()}
    pairs = []
    for probe_id, epoch in keys:
        if all((probe_id, epoch) in bodies[v] for v in VERSIONS):
            pairs.append(
                Pair(
                    pair_id=f"P{len(pairs) + 1}",
                    probe_id=probe_id,
                    epoch=epoch,
                    exchanges={v: stored_exchanges(bodies[v][(probe_id, epoch)]) for v in VERSIONS},
                )
            )
    return pairs


# --------------------------------------------------------------------------------------------
# The prompt
# --------------------------------------------------------------------------------------------


def _value(value: float | None, label: str | None) -> str:
    if label is not None:
        return label
    return "n/a" if value is None else f"{value:g}"


def _evidence(evidence_json: str | None, reasoning: str | None) -> str:
    quotes = [
        f'turn {e.get("turn")}: "{e.get("quote")}"'
        for e in json.loads(evidence_json or "[]")
        if isinstance(e, dict) and e.get("quote")
    ]
    text = "; ".join(quotes[:3]) or "no quote"
    if reasoning:
        text += f"; reasoning: {' '.join(reasoning.split())[:400]}"
    return text


def _shown(exchanges: list[Exchange]) -> list[Exchange]:
    """Replies cut to REPLY_CHARS (a prefix, so a quote taken from it still verifies); every
    other field (scripted, replied, stop reason) as stored."""

    def cut(text: str) -> str:
        return text if len(text) <= REPLY_CHARS else text[:REPLY_CHARS] + " [...cut]"

    return [
        dataclasses.replace(ex, user=cut(ex.user), assistant=cut(ex.assistant)) for ex in exchanges
    ]


def pair_prompt(pair: Pair, changes: pl.DataFrame) -> str:
    rows = changes.filter((pl.col("probe_id") == pair.probe_id) & (pl.col("epoch") == pair.epoch))
    lines = [
        f"## Pair {pair.pair_id}: probe {pair.probe_id}, epoch {pair.epoch}",
        "Changed verdicts:",
    ]
    for row in rows.iter_rows(named=True):
        lines.append(
            f"- {row['rubric']}/{row['dimension']} ({row['scale']}): baseline "
            f"{_value(row['baseline_value'], row['baseline_label'])} -> candidate "
            f"{_value(row['candidate_value'], row['candidate_label'])}"
        )
        lines.append(
            f"  baseline evidence: {_evidence(row['baseline_evidence'], row['baseline_reasoning'])}"
        )
        lines.append(
            f"  candidate evidence: {_evidence(row['candidate_evidence'], row['candidate_reasoning'])}"
        )
    for version in VERSIONS:
        lines += [
            "",
            f"### {version.capitalize()} transcript",
            render_transcript(_shown(pair.exchanges[version])),
        ]
    return "\n".join(lines)


def build_prompt(
    pairs: Sequence[Pair], changes: pl.DataFrame, dimensions: pl.DataFrame
) -> tuple[str, list[Pair]]:
    """The user message and the pairs it holds (as many as fit in PROMPT_CHARS)."""
    scales = "\n".join(
        f"- {r}/{d}: {s}" + (f" (labels: {', '.join(labels)})" if labels else "")
        for r, d, s, labels in dimensions.iter_rows()
    )
    head = (
        f"The baseline is v1, the candidate is v2. Dimensions whose verdicts changed (with their "
        f"scale):\n{scales}\n\nThere are {len(pairs)} changed pairs below.\n"
    )
    parts, sent = [head], []
    size = len(head)
    for pair in pairs:
        block = pair_prompt(pair, changes)
        if sent and size + len(block) > PROMPT_CHARS:
            break
        parts.append(block)
        sent.append(pair)
        size += len(block)
    if len(sent) < len(pairs):
        parts[0] = parts[0].replace(
            f"There are {len(pairs)} changed", f"There are {len(sent)} changed"
        )
    return "\n\n".join(parts) + "\n", sent


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
        or not isinstance(quote, str)
    ):
        return None
    if criterion.sign((pair.probe_id, pair.epoch)) <= 0:
        return None  # the example's pair does not show the finding
    if not quote_occurs(quote, pair.exchanges[version], turn, "assistant"):
        return None
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
# Entry point
# --------------------------------------------------------------------------------------------


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
    chosen = load_pairs(
        transcripts["baseline"], transcripts["candidate"], sample_keys(changes, sample, focus, seed)
    )
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
    if ask is None:
        from functools import partial

        from character.engine.summariser import request_findings
        from character.run.eval_tuning import DEFAULT_MAX_RETRIES

        ask = partial(request_findings, max_retries=DEFAULT_MAX_RETRIES)
    reply = ask(model, prompt, attempts=attempts)
    summary.input_tokens, summary.output_tokens = reply.input_tokens, reply.output_tokens
    if reply.problem:
        summary.problem = f"no findings: {reply.problem}"
        return summary
    summary.findings, summary.dropped, summary.examples_dropped = verify_findings(
        reply.findings, changes=changes, replies=replies, read=read, runs=runs
    )
    return summary
