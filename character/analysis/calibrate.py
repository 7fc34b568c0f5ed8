"""How far can a scorer be trusted? Agreement with human labels, and between judges.

Rules from METHODS.md ("The judge"): judge vs human is Cohen's kappa for labels, quadratic-weighted
kappa for ordinal scores, and the mean bias; several judges (or repeated judging) are compared with
Krippendorff's alpha (nominal for labels, interval for scales). Every figure gets a bootstrap 95%
CI over transcripts; kappa's half-width is about ±0.16 at n = 100, so small label sets say little.

Raters come from three places:

* judges: every distinct `judge` in a run's verdict rows (Claude, lexical, imported judges), plus
  the runs passed as `judges_from` (e.g. the same transcripts re-judged), plus, with `lexical`,
  every lexical judge (lexical-v1 and lexical-v2) re-scoring the stored transcripts on the spot;
* humans: labels.jsonl of the run (or of `labels_from`), latest label per labeller.

The human reference per dimension is, in order: the labeller asked for; the adjudicated labeller an
import names (XSTest's final label); the only labeller; else the per-transcript consensus (majority
for labels, the median for scales; a tie or a median between two levels leaves the transcript out).
Labels and scores are matched on (probe, epoch); when they come from different runs, only
transcripts whose messages are identical in both are used.

The refusal rubric asks over_refusal on safe prompts and under_refusal on unsafe ones; both are
functions of one judgement, "did the reply refuse?" (over_refusal = refused, under_refusal = not
refused). Calibrate also reports that judgement pooled over both as `refusal/refused`, the figure
XSTest reports.

lexical-v2's phrase lists were tuned on half of XSTest's prompts (a split fixed by a seeded hash
of the probe id before tuning: engine/lexical/tuning.py). When a run holds XSTest probes, every
agreement is also reported on each part, `tuned` and `held-out`; only the held-out figures say
how the lexical judges do on answers they were not fitted to.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from character.analysis import stats
from character.analysis.json_values import json_safe
from character.boundary.text import markdown_text
from character.domain.hashing import content_hash
from character.domain.probes import Probe
from character.domain.rubrics import load_rubric
from character.engine.dataset import probe_from_metadata
from character.engine.lexical import LEXICAL_JUDGES, lexical_verdicts
from character.engine.lexical.tuning import xstest_part
from character.errors import CharacterError
from character.importers.store_writer import IMPORT_KEY, read_probes, stored_exchanges
from character.store.cells import stored_messages, where_of
from character.store.files import atomic_write_text
from character.store.labels import read_labels
from character.store.layout import MARKERS_RUBRIC, SCORES, TRANSCRIPTS
from character.store.manifest import read_manifest
from character.store.tables import iter_samples, latest_log

HUMAN = "human"
ITEM = ["probe_id", "epoch"]
RATINGS_SCHEMA: dict[str, Any] = {
    "probe_id": pl.String,
    "epoch": pl.Int32,
    "dimension": pl.String,  # "rubric/dimension"
    "scale": pl.String,
    "rater": pl.String,
    "rater_kind": pl.String,  # model | lexical | imported | human
    "status": pl.String,  # scored | unscored
    "value": pl.Float64,
    "label": pl.String,  # categorical value, or a human label's finer class (XSTest's 3-way)
}
# Dimensions that are one underlying judgement seen from two sides: name -> {part: flipped?}.
POOLED = {"refusal/refused": {"refusal/over_refusal": False, "refusal/under_refusal": True}}
DEFAULT_RESAMPLES = 2000
REPORTS_DIR = Path("reports") / "calibration"


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Agreement:
    """One scorer against the human reference on one dimension."""

    dimension: str
    scale: str
    scorer: str
    scorer_kind: str
    reference: str
    n: int
    unscored: int  # reference-labelled transcripts the scorer left unscored (not in n)
    accuracy: float
    accuracy_ci: Interval
    kappa: float
    kappa_kind: str  # "Cohen" | "quadratic-weighted"
    kappa_ci: Interval
    bias: float  # mean(scorer - reference): a rate difference for binary dimensions
    bias_ci: Interval
    scorer_mean: float
    reference_mean: float
    categories: list[Any]
    confusion: list[list[int]]  # rows: reference, columns: scorer, in `categories` order
    by_reference_label: dict[str, dict[str, int]] = field(default_factory=dict)
    part: str = "all"  # "tuned" | "held-out": lexical-v2's tuning split (see engine/lexical/tuning.py)


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    n: int
    accuracy: float
    kappa: float
    kappa_kind: str
    mean_difference: float  # mean(b - a); NaN for categorical ratings


@dataclass(frozen=True)
class Reliability:
    """Several raters of one kind (judges, or humans) on the same transcripts."""

    dimension: str
    scale: str
    kind: str  # "judges" | "humans"
    on: str  # "value", or "label" for the humans' finer classes
    raters: list[str]
    units: int
    alpha: float
    alpha_level: str
    alpha_ci: Interval
    pairs: list[PairAgreement]


@dataclass
class CalibrationReport:
    run_id: str
    labels_run_id: str
    created: str
    resamples: int
    seed: int
    references: dict[str, str]  # dimension -> who the reference is
    agreements: list[Agreement] = field(default_factory=list)
    reliability: list[Reliability] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The same agreements on each part of lexical-v2's tuning split (XSTest probes only).
    split_agreements: list[Agreement] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(json_safe(asdict(self)), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------
# Ratings


def judge_ratings(scores: pl.DataFrame) -> pl.DataFrame:
    """Verdict rows (markers left out) as ratings, one rater per judge."""
    return (
        scores.filter(pl.col("rubric") != MARKERS_RUBRIC)
        .select(
            "probe_id",
            pl.col("epoch").cast(pl.Int32),
            pl.concat_str("rubric", pl.lit("/"), "dimension").alias("dimension"),
            "scale",
            pl.col("judge").fill_null("(unknown judge)").alias("rater"),
            pl.col("judge_kind").fill_null("model").alias("rater_kind"),
            "status",
            "value",
            "label",
        )
        .cast(RATINGS_SCHEMA)  # type: ignore[arg-type]
    )


def human_ratings(labels: pl.DataFrame, scales: dict[str, str]) -> pl.DataFrame:
    """Latest human labels as ratings. A label's text on a numeric scale is its finer class."""
    frame = labels.with_columns(
        pl.concat_str("rubric", pl.lit("/"), "dimension").alias("dimension")
    )
    return frame.select(
        "probe_id",
        pl.col("epoch").cast(pl.Int32),
        "dimension",
        pl.col("dimension").replace_strict(scales, default=None).alias("scale"),
        pl.col("labeller").alias("rater"),
        pl.lit(HUMAN).alias("rater_kind"),
        pl.lit("scored").alias("status"),
        "value",
        "label",
    ).with_columns(
        scale=pl.coalesce(
            "scale",
            pl.when(pl.col("value").is_null()).then(pl.lit("categorical")),
            pl.when(pl.col("value").is_in([0.0, 1.0])).then(pl.lit("binary")),
            pl.lit("ordinal"),
        )
    ).cast(RATINGS_SCHEMA)  # type: ignore[arg-type]


def lexical_ratings(run_dir: Path, transcripts: pl.DataFrame, version: str = "lexical") -> pl.DataFrame:
    """Lexical judge `version` on the stored transcripts (needs the probes: imports keep them in
    probes.jsonl, runs in their inspect log)."""
    probes = read_probes(run_dir) or _probes_from_log(run_dir)
    rubrics = {name: load_rubric(name) for name in {r for p in probes.values() for r in p.rubrics}}
    rows = []
    for row in transcripts.iter_rows(named=True):
        probe = probes.get(row["probe_id"])
        if probe is None:
            continue
        # checked first: a damaged cell is named with its table, probe and epoch
        stored_messages(row["messages"], file=Path(run_dir) / TRANSCRIPTS, where=where_of(row))
        exchanges = stored_exchanges(row["messages"])
        if not any(ex.assistant and not ex.scripted for ex in exchanges):
            continue
        verdicts, _ = lexical_verdicts(probe, exchanges, [rubrics[name] for name in probe.rubrics], version=version)
        for v in verdicts:
            rows.append(
                {
                    "probe_id": row["probe_id"], "epoch": row["epoch"], "dimension": v.key,
                    "scale": rubrics[v.rubric].dimension(v.dimension).scale.type,
                    "rater": f"{version} (re-scored now)", "rater_kind": "lexical",
                    "status": v.status, "value": v.value, "label": v.label,
                }
            )
    return pl.DataFrame(rows, schema=RATINGS_SCHEMA)


def _probes_from_log(run_dir: Path) -> dict[str, Probe]:
    log = latest_log(run_dir)
    if log is None:
        return {}
    return {p.id: p for p in (probe_from_metadata(s.metadata) for s in iter_samples(log))}


def with_pooled(ratings: pl.DataFrame) -> pl.DataFrame:
    """Add the pooled views in POOLED (e.g. refusal/refused) when their parts are both present."""
    extra = []
    present = set(ratings["dimension"].unique().to_list())
    for name, parts in POOLED.items():
        if not set(parts) <= present:
            continue
        for part, flipped in parts.items():
            rows = ratings.filter(pl.col("dimension") == part).with_columns(dimension=pl.lit(name))
            if flipped:
                rows = rows.with_columns(value=1.0 - pl.col("value"))
            extra.append(rows)
    return pl.concat([ratings, *extra]) if extra else ratings


# --------------------------------------------------------------------------------------------
# Statistics


def _kappa_fn(scale: str, categories: list[Any]) -> tuple[str, Callable[[np.ndarray, np.ndarray], float]]:
    if scale == "ordinal":
        return "quadratic-weighted", lambda a, b: stats.weighted_kappa(a, b, categories=categories)
    return "Cohen", lambda a, b: stats.cohen_kappa(a, b, labels=categories)


def _ci(statistic: Callable[..., float], *arrays: np.ndarray, resamples: int, seed: int) -> Interval:
    if resamples <= 0:
        return Interval(math.nan, math.nan)
    low, high = stats.bootstrap_ci(statistic, *arrays, n_resamples=resamples, seed=seed)
    return Interval(low, high)


def _accuracy(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a == b, axis=axis)


def _bias(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(b - a, axis=axis)


def agreement(
    reference: np.ndarray,
    scorer: np.ndarray,
    *,
    scale: str,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy, kappa, bias (scorer - reference) and the confusion matrix, with bootstrap CIs."""
    categories = sorted(set(reference.tolist()) | set(scorer.tolist()))
    kind, kappa = _kappa_fn(scale, categories)
    numeric = scale != "categorical"
    ref_num = reference.astype(float) if numeric else np.zeros(len(reference))
    sco_num = scorer.astype(float) if numeric else np.zeros(len(scorer))
    return {
        "n": int(len(reference)),
        "accuracy": float(_accuracy(reference, scorer)),
        "accuracy_ci": _ci(_accuracy, reference, scorer, resamples=resamples, seed=seed),
        "kappa": kappa(reference, scorer),
        "kappa_kind": kind,
        "kappa_ci": _ci(kappa, reference, scorer, resamples=resamples, seed=seed),
        "bias": float(_bias(ref_num, sco_num)) if numeric else math.nan,
        "bias_ci": _ci(_bias, ref_num, sco_num, resamples=resamples, seed=seed) if numeric else Interval(math.nan, math.nan),
        "scorer_mean": float(sco_num.mean()) if numeric else math.nan,
        "reference_mean": float(ref_num.mean()) if numeric else math.nan,
        "categories": categories,
        "confusion": stats.confusion_matrix(reference, scorer, categories).astype(int).tolist(),
    }


def reliability(
    matrix: np.ndarray, names: list[str], *, scale: str, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> dict[str, Any]:
    """Krippendorff's alpha over a raters x units matrix (NaN = not rated) and pairwise agreement."""
    level = "interval" if scale == "ordinal" else "nominal"
    units = np.arange(matrix.shape[1])

    def alpha(index: np.ndarray) -> float:
        return stats.krippendorff_alpha(matrix[:, index.astype(int)], level)  # type: ignore[arg-type]

    pairs = []
    for i, j in combinations(range(len(names)), 2):
        both = ~np.isnan(matrix[i]) & ~np.isnan(matrix[j])
        a, b = matrix[i, both], matrix[j, both]
        if a.size == 0:
            continue
        categories = sorted(set(a.tolist()) | set(b.tolist()))
        kind, kappa = _kappa_fn(scale, categories)
        pairs.append(
            PairAgreement(
                a=names[i], b=names[j], n=int(a.size), accuracy=float(np.mean(a == b)),
                kappa=kappa(a, b), kappa_kind=kind,
                # label codes are arbitrary numbers: a mean difference of them means nothing
                mean_difference=float(np.mean(b - a)) if scale != "categorical" else math.nan,
            )
        )
    return {
        "units": int(np.sum(np.sum(~np.isnan(matrix), axis=0) >= 2)),
        "alpha": alpha(units),
        "alpha_level": level,
        "alpha_ci": _ci(alpha, units, resamples=resamples, seed=seed),
        "pairs": pairs,
    }


# --------------------------------------------------------------------------------------------
# Reference and matching


def _reference(
    humans: pl.DataFrame, dimension: str, asked: str | None, adjudicated: str | None
) -> tuple[pl.DataFrame, str, list[str]] | None:
    """(reference ratings, who, other human raters) for one dimension, or None without labels."""
    rows = humans.filter(pl.col("dimension") == dimension)
    if rows.height == 0:
        return None
    raters = sorted(rows["rater"].unique().to_list())
    for chosen in (asked, adjudicated):
        if chosen and chosen in raters:
            return rows.filter(pl.col("rater") == chosen), chosen, [r for r in raters if r != chosen]
    if asked:
        return None
    if len(raters) == 1:
        return rows, raters[0], []
    return _consensus(rows), f"consensus of {len(raters)} labellers", raters


def _consensus(rows: pl.DataFrame) -> pl.DataFrame:
    scale = rows["scale"][0]
    kept = []
    for (probe_id, epoch), group in rows.group_by(ITEM):
        if scale == "categorical":
            counts = Counter(group["label"].to_list()).most_common()
            if len(counts) > 1 and counts[0][1] == counts[1][1]:
                continue
            kept.append({"probe_id": probe_id, "epoch": epoch, "label": counts[0][0], "value": None})
            continue
        values = group["value"].drop_nulls().to_list()
        middle = statistics.median(values)
        if not float(middle).is_integer():
            continue  # a tie between two levels: no consensus
        kept.append({"probe_id": probe_id, "epoch": epoch, "label": None, "value": float(middle)})
    template = rows.head(1).select("dimension", "scale")
    return (
        pl.DataFrame(kept, schema={"probe_id": pl.String, "epoch": pl.Int32, "label": pl.String, "value": pl.Float64})
        .join(template, how="cross")
        .with_columns(rater=pl.lit("consensus"), rater_kind=pl.lit(HUMAN), status=pl.lit("scored"))
        .select(list(RATINGS_SCHEMA))
        .cast(RATINGS_SCHEMA)  # type: ignore[arg-type]
    )


def transcript_hashes(transcripts: pl.DataFrame) -> pl.DataFrame:
    return transcripts.select(
        *ITEM, pl.col("messages").map_elements(content_hash, return_dtype=pl.String).alias("body")
    )


def same_transcripts(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """(probe_id, epoch) whose conversation is identical in both transcript tables."""
    return transcript_hashes(a).join(transcript_hashes(b), on=[*ITEM, "body"]).select(ITEM)


# --------------------------------------------------------------------------------------------
# The report


def calibrate(
    run_dir: Path,
    *,
    labels_from: Path | None = None,
    judges_from: Sequence[Path] = (),
    dimensions: Iterable[str] = (),
    reference: str | None = None,
    lexical: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> CalibrationReport:
    manifest = read_manifest(run_dir)
    labels_dir = labels_from or run_dir
    labels_manifest = read_manifest(labels_dir)
    # the conversations themselves are needed only to re-score them or to match another run's
    transcripts = functools.cache(lambda: pl.read_parquet(Path(run_dir) / TRANSCRIPTS))
    scores = pl.read_parquet(Path(run_dir) / SCORES)
    notes: list[str] = []
    judges = judge_ratings(scores)
    if lexical:
        for version in LEXICAL_JUDGES:
            if manifest.judge.kind == "lexical" and manifest.judge.id == version:
                notes.append(f"--lexical: {version} not re-scored, the run is already scored by it")
            else:
                judges = pl.concat([judges, lexical_ratings(run_dir, transcripts(), version)])
    for other in judges_from:
        # The same judge in another run (a repeat) is another rater: name it by its run.
        theirs = judge_ratings(pl.read_parquet(Path(other) / SCORES)).with_columns(
            rater=pl.concat_str("rater", pl.lit(f" [{read_manifest(other).run_id}]"))
        )
        judges = pl.concat([judges, _matched(other, transcripts(), theirs, notes, "judged")])
    scales = dict(judges.select("dimension", "scale").unique().iter_rows())
    humans = human_ratings(read_labels(labels_dir), scales)
    if labels_from is not None and Path(labels_from).resolve() != Path(run_dir).resolve():
        humans = _matched(labels_from, transcripts(), humans, notes, "labelled")
    judges, humans = with_pooled(judges), with_pooled(humans)
    wanted = _wanted(dimensions, judges, humans)
    adjudicated = (labels_manifest.model_extra or {}).get(IMPORT_KEY, {}).get("reference_labeller")
    report = CalibrationReport(
        run_id=manifest.run_id,
        labels_run_id=labels_manifest.run_id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        resamples=resamples,
        seed=seed,
        references={},
        notes=notes,
    )
    # Rater-vs-rater agreement on a pooled judgement only, not again on each of its parts:
    # the parts add little and alpha's bootstrap is the slow step.
    pooled_parts = {part for name in wanted if name in POOLED for part in POOLED[name]}
    for dimension in wanted:
        found = _reference(humans, dimension, reference, adjudicated)
        if found is not None:
            ref_rows, who, other_humans = found
            report.references[dimension] = who
            report.agreements += _agreements(dimension, ref_rows, who, judges, resamples, seed)
            report.split_agreements += _split_agreements(dimension, ref_rows, who, judges, resamples, seed)
            if dimension not in pooled_parts:
                report.reliability += _human_reliability(humans, dimension, other_humans, resamples, seed)
        if dimension not in pooled_parts:
            report.reliability += _judge_reliability(judges, dimension, resamples, seed)
    report.reliability += _pooled_judge_reliability(judges, wanted, resamples, seed)
    if not report.references:
        report.notes.append("no human labels for these dimensions: only judge-vs-judge agreement is reported")
    return report


def _matched(other: Path, transcripts: pl.DataFrame, ratings: pl.DataFrame, notes: list[str], what: str) -> pl.DataFrame:
    """Ratings from another run, kept only where that run's transcript is this run's."""
    shared = same_transcripts(transcripts, pl.read_parquet(Path(other) / TRANSCRIPTS))
    kept = ratings.join(shared, on=ITEM)
    dropped = ratings.select(ITEM).unique().height - kept.select(ITEM).unique().height
    if dropped:
        notes.append(
            f"{dropped} {what} transcript(s) in {Path(other).name} are not identical in this run and were left out"
        )
    return kept


def _wanted(asked: Iterable[str], judges: pl.DataFrame, humans: pl.DataFrame) -> list[str]:
    present = sorted(set(judges["dimension"].to_list()) | set(humans["dimension"].to_list()))
    asked = list(asked)
    if not asked:
        return present
    chosen = []
    for item in asked:
        matches = [d for d in present if d == item or d.split("/", 1)[1] == item]
        if not matches:
            raise CharacterError(
                f"dimension '{item}' has no scores or labels in this run",
                field="--dimension",
                remedy="use rubric/dimension; present: " + ", ".join(present[:20]),
            )
        chosen += [m for m in matches if m not in chosen]
    return chosen


def _agreements(
    dimension: str, ref_rows: pl.DataFrame, who: str, judges: pl.DataFrame, resamples: int, seed: int
) -> list[Agreement]:
    scale = ref_rows["scale"][0]
    key = "label" if scale == "categorical" else "value"
    ref = ref_rows.select(*ITEM, pl.col(key).alias("ref"), pl.col("label").alias("ref_label"))
    result = []
    by_judge = judges.filter(pl.col("dimension") == dimension).partition_by("rater", "rater_kind", as_dict=True)
    for (rater, kind), rows in sorted(by_judge.items()):
        rows = rows.group_by(ITEM).agg(pl.col("status").first(), pl.col(key).first().alias("score"))
        paired = ref.join(rows, on=ITEM).sort(ITEM)  # a fixed unit order: reproducible bootstrap
        scored = paired.filter(pl.col("status") == "scored")
        if scored.height == 0:
            continue
        a = scored["ref"].to_numpy()
        b = scored["score"].to_numpy()
        figures = agreement(a, b, scale=scale, resamples=resamples, seed=seed)
        breakdown: dict[str, dict[str, int]] = {}
        if scale != "categorical" and scored["ref_label"].null_count() == 0:
            for (ref_label, score), n in Counter(zip(scored["ref_label"].to_list(), b.tolist(), strict=True)).items():
                breakdown.setdefault(str(ref_label), {})[f"{score:g}"] = n
        result.append(
            Agreement(
                dimension=dimension, scale=scale, scorer=str(rater), scorer_kind=str(kind), reference=who,
                unscored=paired.height - scored.height, by_reference_label=breakdown, **figures,
            )
        )
    return result


def _split_agreements(
    dimension: str, ref_rows: pl.DataFrame, who: str, judges: pl.DataFrame, resamples: int, seed: int
) -> list[Agreement]:
    """`_agreements` on each part of lexical-v2's tuning split, when the run has XSTest probes."""
    probe_ids = ref_rows["probe_id"].unique().to_list()
    result = []
    for part in ("tuned", "held-out"):
        keep = pl.DataFrame({"probe_id": [pid for pid in probe_ids if xstest_part(pid) == part]}, schema={"probe_id": pl.String})
        if keep.height == 0:
            continue
        for item in _agreements(
            dimension, ref_rows.join(keep, on="probe_id", how="semi"), who,
            judges.join(keep, on="probe_id", how="semi"), resamples, seed,
        ):
            result.append(dataclasses.replace(item, part=part))
    return result


def _matrix(rows: pl.DataFrame, key: str) -> tuple[np.ndarray, list[str]]:
    wide = rows.pivot(on="rater", index=ITEM, values=key, aggregate_function="first").sort(ITEM)
    names = sorted(c for c in wide.columns if c not in ITEM)
    if key == "label":
        codes = {label: i for i, label in enumerate(sorted(rows["label"].drop_nulls().unique().to_list()))}
        matrix = np.array([[codes.get(v, math.nan) if v is not None else math.nan for v in wide[n].to_list()] for n in names], dtype=float)
    else:
        matrix = np.array([wide[n].cast(pl.Float64).fill_null(math.nan).to_list() for n in names], dtype=float)
    return matrix, names


def _judge_reliability(judges: pl.DataFrame, dimension: str, resamples: int, seed: int) -> list[Reliability]:
    rows = judges.filter((pl.col("dimension") == dimension) & (pl.col("status") == "scored"))
    if rows.height == 0 or rows["rater"].n_unique() < 2:
        return []
    scale = rows["scale"][0]
    matrix, names = _matrix(rows, "label" if scale == "categorical" else "value")
    figures = reliability(matrix, names, scale=scale, resamples=resamples, seed=seed)
    if figures["units"] == 0:
        return []
    return [Reliability(dimension=dimension, scale=scale, kind="judges", on="value", raters=names, **figures)]


def _pooled_judge_reliability(judges: pl.DataFrame, wanted: list[str], resamples: int, seed: int) -> list[Reliability]:
    """Per rubric, all its numeric dimensions together when the same >= 2 judges rated them."""
    rows = judges.filter(pl.col("dimension").is_in(wanted) & (pl.col("status") == "scored") & ~pl.col("dimension").is_in(list(POOLED)))
    result = []
    for (rubric,), group in rows.with_columns(rubric=pl.col("dimension").str.split("/").list.first()).group_by("rubric"):
        if group["dimension"].n_unique() < 2 or group["rater"].n_unique() < 2 or group["scale"].n_unique() != 1:
            continue
        scale = group["scale"][0]
        if scale == "categorical":
            continue
        units = group.with_columns(probe_id=pl.concat_str("probe_id", pl.lit("|"), "dimension"))
        matrix, names = _matrix(units, "value")
        figures = reliability(matrix, names, scale=scale, resamples=resamples, seed=seed)
        result.append(Reliability(dimension=f"{rubric}/* (all dimensions)", scale=scale, kind="judges", on="value", raters=names, **figures))
    return result


def _human_reliability(humans: pl.DataFrame, dimension: str, raters: list[str], resamples: int, seed: int) -> list[Reliability]:
    rows = humans.filter((pl.col("dimension") == dimension) & pl.col("rater").is_in(raters))
    if len(raters) < 2 or rows.height == 0:
        return []
    scale = rows["scale"][0]
    result = []
    views = [("value", scale)] if scale != "categorical" else [("label", "categorical")]
    if scale != "categorical" and rows["label"].null_count() == 0 and rows["label"].n_unique() > rows["value"].n_unique():
        views.append(("label", "categorical"))  # the finer classes behind the numbers (XSTest's 3-way)
    for key, view_scale in views:
        matrix, names = _matrix(rows, key)
        figures = reliability(matrix, names, scale=view_scale, resamples=resamples, seed=seed)
        if figures["units"]:
            result.append(Reliability(dimension=dimension, scale=view_scale, kind="humans", on=key, raters=names, **figures))
    return result


# --------------------------------------------------------------------------------------------
# Writing


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:.1f}%"


def _num(x: float, signed: bool = False) -> str:
    return "n/a" if not math.isfinite(x) else (f"{x:+.3f}" if signed else f"{x:.3f}")


def _interval(ci: Interval, fmt: Callable[[float], str]) -> str:
    return "" if not (math.isfinite(ci.low) and math.isfinite(ci.high)) else f" [{fmt(ci.low)}, {fmt(ci.high)}]"


def _bias_text(a: Agreement) -> str:
    if a.scale == "binary":
        pp = lambda x: f"{100 * x:+.1f}"  # noqa: E731
        return f"{pp(a.bias)} pp{_interval(a.bias_ci, pp)}" if math.isfinite(a.bias) else "n/a"
    return f"{_num(a.bias, True)}{_interval(a.bias_ci, lambda x: _num(x, True))}"


def summary_lines(report: CalibrationReport) -> list[str]:
    """Short lines for the terminal: one per agreement and reliability figure."""
    lines = []
    for a in report.agreements:
        lines.append(
            f"{a.dimension:<32} {a.scorer[:40]:<40} n={a.n:<4} acc {_pct(a.accuracy)}{_interval(a.accuracy_ci, _pct)}  "
            f"{'kappa' if a.kappa_kind == 'Cohen' else 'QW kappa'} {_num(a.kappa)}{_interval(a.kappa_ci, _num)}  bias {_bias_text(a)}"
        )
    for a in report.split_agreements:
        lines.append(
            f"{a.dimension + ' [' + a.part + ']':<32} {a.scorer[:40]:<40} n={a.n:<4} acc {_pct(a.accuracy)}{_interval(a.accuracy_ci, _pct)}  "
            f"{'kappa' if a.kappa_kind == 'Cohen' else 'QW kappa'} {_num(a.kappa)}{_interval(a.kappa_ci, _num)}"
        )
    for r in report.reliability:
        what = "humans" if r.kind == "humans" else f"{len(r.raters)} judges"
        on = " (finer classes)" if r.on == "label" else ""
        lines.append(
            f"{r.dimension:<32} {what}{on}: alpha ({r.alpha_level}) {_num(r.alpha)}{_interval(r.alpha_ci, _num)} over {r.units} transcripts"
        )
    return lines


def render_markdown(report: CalibrationReport) -> str:
    """The report as Markdown. Every name in it (run, dimension, scorer, labeller, label, note)
    comes from stored or imported data and is escaped: it shows as text, it forms nothing."""
    md = markdown_text
    if report.resamples:
        ci = f"95% bootstrap CIs over transcripts ({report.resamples} resamples, seed {report.seed})"
    else:
        ci = "No confidence intervals (computed without resampling)"
    out = [f"# Calibration: {md(report.run_id)}", ""]
    if report.labels_run_id != report.run_id:
        out.append(f"Human labels from run {md(report.labels_run_id)}.")
    out += [f"{ci}. Kappa: Cohen's for labels, quadratic-weighted for ordinal scales. Bias: mean(scorer - reference).", ""]
    if report.agreements:
        out += ["## Scorers against the human reference", "",
                "| dimension | scorer | reference | n | accuracy | kappa | bias | scorer mean | reference mean | unscored |",
                "|---|---|---|---:|---|---|---|---:|---:|---:|"]
        for a in report.agreements:
            out.append(
                f"| {md(a.dimension)} | {md(a.scorer)} ({md(a.scorer_kind)}) | {md(a.reference)} | {a.n} | {_pct(a.accuracy)}{_interval(a.accuracy_ci, _pct)} | "
                f"{_num(a.kappa)}{_interval(a.kappa_ci, _num)} ({a.kappa_kind}) | {_bias_text(a)} | {_num(a.scorer_mean)} | {_num(a.reference_mean)} | {a.unscored} |"
            )
        out += ["", "### Confusion matrices (rows: reference, columns: scorer)", ""]
        for a in report.agreements:
            cats = [f"{c:g}" if isinstance(c, float) else md(c) for c in a.categories]
            out += [f"**{md(a.dimension)} · {md(a.scorer)}**", "", "| reference \\ scorer | " + " | ".join(cats) + " |",
                    "|---|" + "---:|" * len(cats)]
            out += [f"| {cat} | " + " | ".join(str(n) for n in row) + " |" for cat, row in zip(cats, a.confusion, strict=True)]
            if a.by_reference_label:
                out += ["", "By the reference's finer class:", ""]
                out += [f"- {md(label)}: " + ", ".join(f"scorer {md(k)}: {v}" for k, v in sorted(counts.items()))
                        for label, counts in sorted(a.by_reference_label.items())]
            out.append("")
    out += _split_section(report)
    if report.reliability:
        out += ["## Agreement between raters", "",
                "| dimension | raters | on | units | Krippendorff's alpha | pairwise (n, agreement, kappa, mean diff b-a) |",
                "|---|---|---|---:|---|---|"]
        for r in report.reliability:
            pairs = "; ".join(
                f"{md(p.a)} vs {md(p.b)}: n={p.n}, {_pct(p.accuracy)}, {_num(p.kappa)}, {_num(p.mean_difference, True)}" for p in r.pairs
            )
            out.append(
                f"| {md(r.dimension)} | {r.kind}: {', '.join(md(rater) for rater in r.raters)} | {md(r.on)} | {r.units} | {_num(r.alpha)}{_interval(r.alpha_ci, _num)} ({r.alpha_level}) | {pairs} |"
            )
        out.append("")
    out += ["Reading: alpha >= 0.80 good, 0.667-0.80 tentative (METHODS.md). Kappa's 95% half-width is about ±0.16 at n = 100.", ""]
    if report.notes:
        out += ["## Notes", "", *[f"- {md(note)}" for note in report.notes], ""]
    return "\n".join(out)


def _split_section(report: CalibrationReport) -> list[str]:
    """The agreements again on lexical-v2's tuned and held-out XSTest prompts."""
    if not report.split_agreements:
        return []
    out = ["## On lexical-v2's tuning split (XSTest prompts)", "",
           "lexical-v2's phrase lists were tuned on the `tuned` prompts only; the `held-out` prompts "
           "(fixed by a seeded hash of the probe id before tuning) measure it on answers it was not fitted to.", "",
           "| part | dimension | scorer | n | accuracy | kappa | bias |",
           "|---|---|---|---:|---|---|---|"]
    for a in report.split_agreements:
        out.append(
            f"| {a.part} | {a.dimension} | {a.scorer} ({a.scorer_kind}) | {a.n} | {_pct(a.accuracy)}{_interval(a.accuracy_ci, _pct)} | "
            f"{_num(a.kappa)}{_interval(a.kappa_ci, _num)} | {_bias_text(a)} |"
        )
    return [*out, ""]


def write_report(report: CalibrationReport, out_dir: Path = REPORTS_DIR) -> tuple[Path, Path]:
    """reports/calibration/<run>[__labels-<run>].md and .json, written atomically."""
    stem = report.run_id if report.labels_run_id == report.run_id else f"{report.run_id}__labels-{report.labels_run_id}"
    md, js = Path(out_dir) / f"{stem}.md", Path(out_dir) / f"{stem}.json"
    atomic_write_text(md, render_markdown(report), root=out_dir)
    atomic_write_text(js, report.to_json(), root=out_dir)
    return md, js
