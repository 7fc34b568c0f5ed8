"""Distinctive phrases between two versions: what the candidate says more, and less, than the baseline.

After "sycophancy/flattery +11 pp" the next question is "what kind of flattery?". This module
answers it offline from the stored transcript tables: for the whole run pair and for each
dimension that moved, the words and short phrases (1-3 grams) whose rate in the assistant's
replies rose or fell most, ranked by the weighted log-odds ratio with an informative Dirichlet
prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words", section 3.5):

    delta_w = log((y_cw + a_w) / (n_c + a_0 - y_cw - a_w)) - log((y_bw + a_w) / (n_b + a_0 - y_bw - a_w))
    var(delta_w) ~= 1 / (y_cw + a_w) + 1 / (y_bw + a_w);   z_w = delta_w / sqrt(var)

where y_cw, y_bw count phrase w in the candidate's and the baseline's replies, n_c, n_b count all
phrases, and the prior a_w = a_0 * (y_cw + y_bw) / (n_c + n_b) follows the pooled frequency (the
informative prior: frequent words need more evidence to stand out). a_0 defaults to the pooled
corpus size, the usual choice when the two corpora are their own background (Jurafsky et al.
2014).

Exploratory, never gating. The z-scores treat every occurrence as an independent draw; replies
from one transcript (and one probe's epochs) are not independent, so z overstates certainty. Each
phrase therefore also carries the number of transcripts it occurs in per arm, and
Benjamini-Hochberg q-values over all phrases of a scope. Read the phrases as leads, open the
example turns (run, probe, epoch, turn) and read what was said.

Tables (polars):
* `PHRASE_SCHEMA`: one row per scope x listed phrase.
* `EXAMPLE_SCHEMA`: up to `examples` turns per listed phrase from the arm that used it more.
* `SCOPE_SCHEMA`: one row per scope: the transcripts and words each arm contributed.

Bounded: every compare and gate computes phrases, so a scope reads at most
`PhraseSettings.max_transcripts` transcripts per version, the ones whose (probe, epoch) hash
first (sha256: the same on every machine and run, and the same transcripts in both versions
wherever they played the same probes and epochs). The reports say "phrases from N of M
transcripts per version" when a scope was sampled.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from character.analysis import stats
from character.errors import CharacterError
from character.store.layout import MARKERS_RUBRIC, REBUILD_FIX, SCORES, TRANSCRIPTS

ALL_SCOPE = "all"
BASELINE, CANDIDATE = "baseline", "candidate"
ROSE, FELL = "more", "less"  # the candidate uses the phrase more / less than the baseline

# A word: letters and digits of any script (Unicode \w without "_": "prêt", "готова"; an
# ASCII-only class split "prêt" into "pr t" and dropped Cyrillic and CJK replies whole), with an
# inner apostrophe ("you're", "isn't"). Sentences break at terminal punctuation followed by a
# space, at CJK full stops (no space follows them), and at every line break (list items,
# paragraphs), so a phrase never spans two sentences.
WORD = r"[^\W_]+(?:'[^\W_]+)*"
SENTENCE_BREAK = r"[.!?;:]+(?:\s+|$)|" + "[\u3002\uff01\uff1f\uff1b\uff1a]+" + r"\s*|\n+"
_QUOTES = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'}
_MOVED_CLASSES = ("REGRESSION", "IMPROVEMENT")

PHRASE_SCHEMA: dict[str, Any] = {
    "scope": pl.String,  # "all", or "rubric/dimension"
    "phrase": pl.String,
    "words": pl.Int32,  # n of the n-gram
    "direction": pl.String,  # more | less (in the candidate than in the baseline)
    "count_baseline": pl.Int64,
    "count_candidate": pl.Int64,
    "rate_baseline": pl.Float64,  # occurrences per 1,000 words of the arm's replies
    "rate_candidate": pl.Float64,
    "transcripts_baseline": pl.Int64,  # transcripts whose replies hold the phrase
    "transcripts_candidate": pl.Int64,
    "log_odds": pl.Float64,  # delta_w: candidate vs baseline, prior-smoothed
    "z": pl.Float64,
    "q": pl.Float64,  # Benjamini-Hochberg over every phrase of the scope (two-sided normal p)
    "variants": pl.List(pl.String),  # phrases found in exactly the same turns (one template)
    "span": pl.String,  # the phrase joined with overlapping variants: the longest shared wording
}
EXAMPLE_SCHEMA: dict[str, Any] = {
    "scope": pl.String,
    "phrase": pl.String,
    "arm": pl.String,  # baseline | candidate: the arm that used the phrase more
    "run_id": pl.String,
    "probe_id": pl.String,
    "epoch": pl.Int32,
    "turn": pl.Int32,  # exchange index, 1-based, as the judge numbers turns
    "snippet": pl.String,  # the reply text around the phrase (model text: escape when rendering)
}
SCOPE_SCHEMA: dict[str, Any] = {
    "scope": pl.String,
    "sampled_baseline": pl.Int64,  # transcripts read (at most max_transcripts per version)
    "sampled_candidate": pl.Int64,
    "available_baseline": pl.Int64,  # transcripts the scope holds in each version
    "available_candidate": pl.Int64,
    "transcripts_baseline": pl.Int64,
    "transcripts_candidate": pl.Int64,
    "words_baseline": pl.Int64,
    "words_candidate": pl.Int64,
    "phrases_tested": pl.Int64,
    "phrases_listed": pl.Int64,
}
TURN_SCHEMA: dict[str, Any] = {
    "run_id": pl.String,
    "probe_id": pl.String,
    "epoch": pl.Int32,
    "turn": pl.Int32,
    "text": pl.String,
}
_MESSAGES = pl.List(pl.Struct({"role": pl.String, "content": pl.String, "scripted": pl.Boolean}))


@dataclass(frozen=True)
class PhraseSettings:
    """How phrases are found and which are listed.

    max_words: longest n-gram; min_count, min_transcripts: occurrences and transcripts (both
    arms together) a phrase needs to be tested (one transcript repeating a word is not a trend);
    prior_weight: a_0 as a multiple of the pooled corpus size; top: phrases listed per direction
    and scope; min_z: |z| a listed phrase must reach; examples: example turns per phrase;
    max_transcripts: transcripts read per version and scope (None: all). 2,000 keeps a scope
    under about half a second on a 2-core machine (`python -m bench phrases`) and is far more
    text than a phrase needs to stand out; the demo pair (705 per version) is read whole.
    """

    max_words: int = 3
    min_count: int = 3
    min_transcripts: int = 3
    prior_weight: float = 0.1
    top: int = 10
    min_z: float = 1.96
    examples: int = 2
    max_transcripts: int | None = 2000


@dataclass(frozen=True)
class PhraseReport:
    """Distinctive phrases of a run pair: the whole pair and each moved dimension."""

    baseline_run: str
    candidate_run: str
    phrases: pl.DataFrame  # PHRASE_SCHEMA
    examples: pl.DataFrame  # EXAMPLE_SCHEMA
    scopes: pl.DataFrame  # SCOPE_SCHEMA
    settings: PhraseSettings = field(default_factory=PhraseSettings)

    def listed(self, scope: str, direction: str | None = None) -> list[str]:
        """The phrases listed for a scope (optionally one direction), strongest first."""
        rows = self.phrases.filter(pl.col("scope") == scope)
        if direction is not None:
            rows = rows.filter(pl.col("direction") == direction)
        return rows["phrase"].to_list()


# --------------------------------------------------------------------------------------------
# Replies and phrases
# --------------------------------------------------------------------------------------------


def assistant_turns(
    transcripts: pl.DataFrame | pl.LazyFrame, file: Path | str | None = None
) -> pl.DataFrame:
    """One row per generated assistant reply: run, probe, epoch, turn (exchange index), text.

    Replies the probe pre-filled (`scripted`) are left out: the assistant did not write them.
    `transcripts` has the stored table's columns run_id, probe_id, epoch, messages (JSON);
    messages that do not parse (a damaged or hand-edited table) are a CharacterError naming
    `file`.
    """
    lazy = transcripts.lazy() if isinstance(transcripts, pl.DataFrame) else transcripts
    try:
        return _assistant_turns(lazy)
    except pl.exceptions.PolarsError as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise CharacterError(
            f"stored transcripts do not parse ({first})",
            file=file,
            field="messages",
            remedy=REBUILD_FIX.format(run=Path(file).parent.name if file else "RUN"),
        ) from None


def _assistant_turns(lazy: pl.LazyFrame) -> pl.DataFrame:
    return (
        lazy.select("run_id", "probe_id", "epoch", pl.col("messages").str.json_decode(_MESSAGES))
        .explode("messages")
        .unnest("messages")
        .with_columns(
            turn=(pl.col("role") == "user")
            .cast(pl.Int32)
            .cum_sum()
            .over("run_id", "probe_id", "epoch")
        )
        .filter(
            (pl.col("role") == "assistant")
            & ~pl.col("scripted").fill_null(False)
            & (pl.col("turn") > 0)
        )
        .select(
            "run_id",
            "probe_id",
            pl.col("epoch").cast(pl.Int32),
            "turn",
            pl.col("content").alias("text"),
        )
        .collect()
    )


def index_turns(baseline: pl.DataFrame, candidate: pl.DataFrame) -> pl.DataFrame:
    """Both arms' turns with integer keys for the heavy steps: tid (the turn), xid (the
    transcript) and candidate (the arm; the same run may be both, as in an A/A check)."""
    turns = pl.concat(
        [
            baseline.with_columns(candidate=pl.lit(False)),
            candidate.with_columns(candidate=pl.lit(True)),
        ]
    )
    transcript = pl.concat_str(
        pl.col("candidate").cast(pl.String),
        "run_id",
        "probe_id",
        pl.col("epoch").cast(pl.String),
        separator="\x00",
    )
    return turns.with_row_index("tid").with_columns(xid=transcript.rank("dense").cast(pl.UInt32))


def phrase_occurrences(turns: pl.DataFrame, max_words: int = 3) -> pl.DataFrame:
    """Every 1..max_words-gram of every reply in `index_turns` output: (tid, xid, candidate,
    phrase, words). Lower-cased, curly quotes straightened; n-grams stay inside one sentence."""
    lowered = pl.col("text").str.to_lowercase()
    for curly, straight in _QUOTES.items():
        lowered = lowered.str.replace_all(curly, straight, literal=True)
    keys = ["tid", "xid", "candidate"]
    tokens = (
        turns.lazy()
        .select(*keys, sentence=lowered.str.replace_all(SENTENCE_BREAK, "\x00").str.split("\x00"))
        .explode("sentence")
        .with_row_index("sentence_id")
        .with_columns(word=pl.col("sentence").str.extract_all(WORD))
        .drop("sentence")
        .explode("word")
        .drop_nulls("word")
    )
    grams = []
    for n in range(1, max_words + 1):
        # rows are in sentence order: the n words from here on form a phrase when the last of
        # them is still in this sentence (a plain shift: much cheaper than a window per sentence)
        same_sentence = pl.col("sentence_id").shift(-(n - 1)) == pl.col("sentence_id")
        phrase = pl.concat_str([pl.col("word").shift(-k) for k in range(n)], separator=" ")
        grams.append(
            tokens.with_columns(
                phrase=pl.when(same_sentence).then(phrase), words=pl.lit(n, pl.Int32)
            )
            .drop_nulls("phrase")
            .select(*keys, "phrase", "words")
        )
    return pl.concat(grams).collect()


# --------------------------------------------------------------------------------------------
# Weighted log-odds with an informative Dirichlet prior
# --------------------------------------------------------------------------------------------


def log_odds(counts: pl.DataFrame, *, prior_weight: float = 1.0) -> pl.DataFrame:
    """z-scores of candidate vs baseline use for each phrase (Monroe et al. 2008, eq. 16-22).

    `counts` has phrase, count_baseline, count_candidate (every phrase of the vocabulary: the
    totals n_b, n_c are its column sums). Adds log_odds, z and q (BH over these phrases).
    A positive z: the candidate uses the phrase more.
    """
    n_b = float(counts["count_baseline"].sum())
    n_c = float(counts["count_candidate"].sum())
    pooled = n_b + n_c
    if counts.height == 0 or n_b == 0 or n_c == 0:
        return counts.with_columns(
            log_odds=pl.lit(None, pl.Float64),
            z=pl.lit(None, pl.Float64),
            q=pl.lit(None, pl.Float64),
        )
    a0 = prior_weight * pooled
    prior = a0 * (pl.col("count_baseline") + pl.col("count_candidate")) / pooled
    y_c, y_b = pl.col("count_candidate") + prior, pl.col("count_baseline") + prior
    delta = (y_c / (n_c + a0 - y_c)).log() - (y_b / (n_b + a0 - y_b)).log()
    scored = counts.with_columns(log_odds=delta, variance=1.0 / y_c + 1.0 / y_b).with_columns(
        z=pl.col("log_odds") / pl.col("variance").sqrt()
    )
    p = np.array([math.erfc(abs(z) / math.sqrt(2.0)) for z in scored["z"].to_list()], dtype=float)
    q = stats.benjamini_hochberg(p) if p.size else p
    return scored.drop("variance").with_columns(q=pl.Series(q, dtype=pl.Float64))


def _contains(longer: str, shorter: str) -> bool:
    return f" {shorter} " in f" {longer} "


def _collapse(rows: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """The strongest phrases, one per template: a phrase found in exactly the same turns as a
    stronger listed one (the other 3-grams of one sentence) becomes a variant of it, and a phrase
    inside a stronger listed one ("right" under "you're right") is skipped.

    `rows` are ranked (z, then longer phrases first) and carry an occurrence `signature`.
    """
    kept: list[dict[str, Any]] = []
    for row in rows:
        twin = next((k for k in kept if k["signature"] == row["signature"]), None)
        if twin is not None:
            twin["variants"].append(row["phrase"])
            continue
        if any(_contains(k["phrase"], row["phrase"]) for k in kept):
            continue
        if len(kept) < top:
            kept.append({**row, "variants": []})
    for row in kept:
        row["span"] = merged_span(row["phrase"], row["variants"])
    return kept


def merged_span(phrase: str, variants: Sequence[str]) -> str:
    """`phrase` extended by the variants that overlap it word for word ("again for the" +
    "for the earlier" + "the earlier error" -> "again for the earlier error")."""
    chain = phrase.split()
    pool = [v.split() for v in variants if len(v.split()) >= 2]
    grew = True
    while grew and pool:
        grew = False
        for words in list(pool):
            k = len(words) - 1
            if chain[-k:] == words[:k]:
                chain += words[k:]
            elif chain[:k] == words[-k:]:
                chain = words[:-k] + chain
            else:
                continue
            pool.remove(words)
            grew = True
    return " ".join(chain)


def scope_phrases(
    occurrences: pl.DataFrame, scope: str, settings: PhraseSettings
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Listed phrases of one scope (PHRASE_SCHEMA) and its SCOPE_SCHEMA row, from its
    `phrase_occurrences`."""
    base, cand = ~pl.col("candidate"), pl.col("candidate")
    counts = occurrences.group_by("phrase", "words").agg(
        count_baseline=base.sum().cast(pl.Int64),
        count_candidate=cand.sum().cast(pl.Int64),
        transcripts_baseline=pl.col("xid").filter(base).n_unique().cast(pl.Int64),
        transcripts_candidate=pl.col("xid").filter(cand).n_unique().cast(pl.Int64),
    )
    scored = log_odds(counts, prior_weight=settings.prior_weight)
    totals = (
        occurrences.filter(pl.col("words") == 1)
        .select(
            words_baseline=base.sum(),
            words_candidate=cand.sum(),
            transcripts_baseline=pl.col("xid").filter(base).n_unique(),
            transcripts_candidate=pl.col("xid").filter(cand).n_unique(),
        )
        .row(0, named=True)
    )
    tested = scored.filter(
        ((pl.col("count_baseline") + pl.col("count_candidate")) >= settings.min_count)
        & (
            (pl.col("transcripts_baseline") + pl.col("transcripts_candidate"))
            >= settings.min_transcripts
        )
    )
    per_1k_b = 1000.0 / max(1, totals["words_baseline"] or 0)
    per_1k_c = 1000.0 / max(1, totals["words_candidate"] or 0)
    candidates = tested.filter(pl.col("z").abs() >= settings.min_z).with_columns(
        rate_baseline=pl.col("count_baseline") * per_1k_b,
        rate_candidate=pl.col("count_candidate") * per_1k_c,
        direction=pl.when(pl.col("z") > 0).then(pl.lit(ROSE)).otherwise(pl.lit(FELL)),
        scope=pl.lit(scope),
    )
    # which turns hold the phrase, as a fingerprint: phrases of one template share it
    signatures = (
        occurrences.join(candidates.select("phrase"), on="phrase", how="semi")
        .group_by("phrase")
        .agg(
            signature=pl.struct(
                turns=pl.col("tid").n_unique(), fingerprint=pl.col("tid").unique().hash().sum()
            )
        )
    )
    candidates = candidates.join(signatures, on="phrase", how="left")
    listed: list[dict[str, Any]] = []
    for direction, descending in ((ROSE, True), (FELL, False)):
        ranked = candidates.filter(pl.col("direction") == direction).sort(
            ["z", "words", "phrase"], descending=[descending, True, False]
        )
        listed += _collapse(ranked.to_dicts(), settings.top)
    frame = pl.DataFrame(
        [{name: row.get(name) for name in PHRASE_SCHEMA} for row in listed], schema=PHRASE_SCHEMA
    )
    scope_row = {
        "scope": scope,
        **{k: int(v or 0) for k, v in totals.items()},
        "phrases_tested": tested.height,
        "phrases_listed": frame.height,
    }
    return frame, scope_row


# --------------------------------------------------------------------------------------------
# Example turns
# --------------------------------------------------------------------------------------------


def snippet(text: str, phrase: str, width: int = 70) -> str:
    """The reply around the first occurrence of `phrase` (words matched across punctuation)."""
    words = phrase.split()
    straight = text
    for curly, plain in _QUOTES.items():
        straight = straight.replace(curly, plain)
    # words as WORD counts them (any script), apart from letters, digits and apostrophes
    pattern = (
        r"(?<![^\W_])(?<!')" + r"(?:[^\w']|_)+".join(map(re.escape, words)) + r"(?![^\W_])(?!')"
    )
    match = re.search(pattern, straight, flags=re.IGNORECASE)
    if match is None:
        return text[: 2 * width].strip()
    # at most 3 x width characters, however long the match: one "word" can be pages long
    start = max(0, match.start() - width)
    end = min(len(text), match.end() + width, start + 3 * width)
    return ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def _spread_order(probe_ids: list[str]) -> pl.DataFrame:
    """A fixed order of probes that is not alphabetical, so examples come from across the suites
    (sha256 of the id: the same in every polars version and on every machine)."""
    keys = [hashlib.sha256(p.encode()).hexdigest() for p in probe_ids]
    return pl.DataFrame(
        {"probe_id": probe_ids, "order": keys}, schema={"probe_id": pl.String, "order": pl.String}
    )


def phrase_examples(
    listed: pl.DataFrame, occurrences: pl.DataFrame, turns: pl.DataFrame, per_phrase: int
) -> pl.DataFrame:
    """Up to `per_phrase` turns per listed phrase, each from a different probe, from the arm that
    used the phrase more (the candidate for "more", the baseline for "less"). `turns` is the
    `index_turns` output the occurrences came from."""
    if listed.height == 0 or per_phrase <= 0:
        return pl.DataFrame(schema=EXAMPLE_SCHEMA)
    wanted = listed.select(
        "scope",
        "phrase",
        candidate=pl.col("direction") == ROSE,
        arm=pl.when(pl.col("direction") == ROSE)
        .then(pl.lit(CANDIDATE))
        .otherwise(pl.lit(BASELINE)),
    )
    hits = (
        occurrences.join(wanted, on=["candidate", "phrase"])
        .select("scope", "phrase", "arm", "tid")
        .join(turns.select("tid", "run_id", "probe_id", "epoch", "turn", "text"), on="tid")
    )
    hits = (
        hits.join(_spread_order(hits["probe_id"].unique().to_list()), on="probe_id")
        .sort("scope", "phrase", "order", "epoch", "turn")
        .unique(["scope", "phrase", "probe_id"], keep="first", maintain_order=True)
        .group_by("scope", "phrase", maintain_order=True)
        .head(per_phrase)
    )
    rows = [
        {
            **{k: row[k] for k in EXAMPLE_SCHEMA if k != "snippet"},
            "snippet": snippet(row["text"], row["phrase"]),
        }
        for row in hits.iter_rows(named=True)
    ]
    return pl.DataFrame(rows, schema=EXAMPLE_SCHEMA)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def moved_dimensions(dimensions: pl.DataFrame) -> list[str]:
    """ "rubric/dimension" of the comparison's dimensions classed REGRESSION or IMPROVEMENT
    (a categorical label counts for its parent dimension), in the table's order."""
    if dimensions.height == 0 or "class" not in dimensions.columns:
        return []
    parent = "parent" if "parent" in dimensions.columns else "dimension"
    moved = dimensions.filter(pl.col("class").is_in(list(_MOVED_CLASSES)))
    names = [f"{r}/{d}" for r, d in moved.select("rubric", parent).iter_rows()]
    return list(dict.fromkeys(names))


def dimension_probes(scores: pl.DataFrame | pl.LazyFrame, dimension: str) -> pl.DataFrame:
    """probe_id of every probe with a verdict row for `dimension` ("rubric/dimension")."""
    rubric, _, name = dimension.partition("/")
    lazy = scores.lazy() if isinstance(scores, pl.DataFrame) else scores
    return (
        lazy.filter(
            (pl.col("rubric") == rubric)
            & (pl.col("dimension") == name)
            & (pl.col("rubric") != MARKERS_RUBRIC)
        )
        .select("probe_id")
        .unique()
        .collect()
    )


def _transcript_keys(transcripts: pl.LazyFrame) -> pl.DataFrame:
    """(probe_id, epoch, order) of every transcript: `order` is the sha256 of probe and epoch, so
    the sample is the same on every machine and in both versions."""
    keys = transcripts.select("probe_id", pl.col("epoch").cast(pl.Int32)).unique().collect()
    order = [
        hashlib.sha256(f"{probe}\x00{epoch}".encode()).hexdigest()
        for probe, epoch in keys.iter_rows()
    ]
    return keys.with_columns(order=pl.Series(order, dtype=pl.String)).sort(
        "order", "probe_id", "epoch"
    )


def sample_scope(
    keys: pl.DataFrame, probes: pl.DataFrame | None, limit: int | None
) -> tuple[pl.DataFrame, int]:
    """The transcripts (probe_id, epoch) one version reads for a scope, and how many it holds:
    the first `limit` in hash order (`_transcript_keys`) among those of the scope's probes."""
    in_scope = (
        keys if probes is None else keys.join(probes.select("probe_id"), on="probe_id", how="semi")
    )
    chosen = in_scope if limit is None else in_scope.head(max(0, limit))
    return chosen.select("probe_id", "epoch"), in_scope.height


def distinctive_phrases_from_tables(
    baseline_transcripts: pl.DataFrame | pl.LazyFrame,
    candidate_transcripts: pl.DataFrame | pl.LazyFrame,
    *,
    baseline_run: str,
    candidate_run: str,
    scopes: dict[str, pl.DataFrame | None],
    settings: PhraseSettings | None = None,
    files: tuple[Path | str | None, Path | str | None] = (None, None),
) -> PhraseReport:
    """Phrases per scope. `scopes` maps a scope name to the probe ids it covers (None: all).

    The transcript tables are the stored `transcripts.parquet` of each run (TRANSCRIPT_SCHEMA);
    their run_id column names the run the example turns point to. The two may be the same run
    (an A/A check lists nothing). Each scope reads at most `settings.max_transcripts` transcripts
    per version (`sample_scope`); only the transcripts some scope reads are parsed.
    """
    settings = settings or PhraseSettings()
    lazy = [
        t.lazy() if isinstance(t, pl.DataFrame) else t
        for t in (baseline_transcripts, candidate_transcripts)
    ]
    keys = [_transcript_keys(arm) for arm in lazy]
    samples: dict[str, list[tuple[pl.DataFrame, int]]] = {
        scope: [sample_scope(k, probes, settings.max_transcripts) for k in keys]
        for scope, probes in scopes.items()
    }
    read = []
    for arm in (0, 1):
        union = [chosen for chosen, _ in (sample[arm] for sample in samples.values())]
        wanted = (
            pl.concat(union).unique() if union else keys[arm].clear().select("probe_id", "epoch")
        )
        read.append(
            lazy[arm]
            .with_columns(pl.col("epoch").cast(pl.Int32))
            .join(wanted.lazy(), on=["probe_id", "epoch"], how="semi")
        )
    turns = index_turns(assistant_turns(read[0], files[0]), assistant_turns(read[1], files[1]))
    occurrences = phrase_occurrences(turns, settings.max_words)
    frames, scope_rows, examples = [], [], []
    for scope, ((chosen_b, held_b), (chosen_c, held_c)) in samples.items():
        chosen_keys = pl.concat(
            [
                chosen_b.with_columns(candidate=pl.lit(False)),
                chosen_c.with_columns(candidate=pl.lit(True)),
            ]
        )
        tids = turns.join(chosen_keys, on=["candidate", "probe_id", "epoch"], how="semi")
        chosen = occurrences.join(tids.select("tid"), on="tid", how="semi")
        listed, scope_row = scope_phrases(chosen, scope, settings)
        scope_row.update(
            sampled_baseline=chosen_b.height,
            sampled_candidate=chosen_c.height,
            available_baseline=held_b,
            available_candidate=held_c,
        )
        frames.append(listed)
        scope_rows.append(scope_row)
        examples.append(phrase_examples(listed, chosen, turns, settings.examples))
    return PhraseReport(
        baseline_run=baseline_run,
        candidate_run=candidate_run,
        phrases=pl.concat(frames) if frames else pl.DataFrame(schema=PHRASE_SCHEMA),
        examples=pl.concat(examples) if examples else pl.DataFrame(schema=EXAMPLE_SCHEMA),
        scopes=pl.DataFrame(scope_rows, schema=SCOPE_SCHEMA),
        settings=settings,
    )


def distinctive_phrases(
    baseline_dir: Path,
    candidate_dir: Path,
    dimensions: Sequence[str] = (),
    settings: PhraseSettings | None = None,
) -> PhraseReport:
    """Phrases for the whole run pair ("all") and for each of `dimensions` ("rubric/dimension";
    typically `moved_dimensions(comparison.dimensions)`), from two stored runs' tables.

    A dimension's scope is the replies in transcripts of probes that have a verdict for it in
    either run.
    """
    baseline_dir, candidate_dir = Path(baseline_dir), Path(candidate_dir)
    columns = ["run_id", "probe_id", "epoch", "messages"]
    base = pl.scan_parquet(baseline_dir / TRANSCRIPTS).select(columns)
    cand = pl.scan_parquet(candidate_dir / TRANSCRIPTS).select(columns)
    # The folder name is the run id the reports use; a copied run folder may hold another id.
    base = base.with_columns(run_id=pl.lit(baseline_dir.name))
    cand = cand.with_columns(run_id=pl.lit(candidate_dir.name))
    scores = pl.concat(
        [
            pl.scan_parquet(baseline_dir / SCORES).select("rubric", "dimension", "probe_id"),
            pl.scan_parquet(candidate_dir / SCORES).select("rubric", "dimension", "probe_id"),
        ]
    )
    scopes: dict[str, pl.DataFrame | None] = {ALL_SCOPE: None}
    for dimension in dimensions:
        scopes[dimension] = dimension_probes(scores, dimension)
    return distinctive_phrases_from_tables(
        base,
        cand,
        baseline_run=baseline_dir.name,
        candidate_run=candidate_dir.name,
        scopes=scopes,
        settings=settings,
        files=(baseline_dir / TRANSCRIPTS, candidate_dir / TRANSCRIPTS),
    )


def phrases_in(text: str, max_words: int = 3) -> set[str]:
    """Every phrase `phrase_occurrences` would count in `text` (for checks and tests)."""
    turns = pl.DataFrame(
        [{"run_id": "x", "probe_id": "x", "epoch": 1, "turn": 1, "text": text}], schema=TURN_SCHEMA
    )
    return set(phrase_occurrences(index_turns(turns, turns.clear()), max_words)["phrase"].to_list())


def iter_scopes(report: PhraseReport) -> Iterable[tuple[str, pl.DataFrame, pl.DataFrame]]:
    """(scope, listed phrases, examples) in the report's order."""
    for scope in report.scopes["scope"].to_list():
        yield (
            scope,
            report.phrases.filter(pl.col("scope") == scope),
            report.examples.filter(pl.col("scope") == scope),
        )
