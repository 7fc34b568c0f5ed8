"""Paired statistics for comparing two versions of an assistant, and the gate decision.

Everything here follows the project's methods (docs/methods.md; the docstrings cite its
sections in quotes). This is the only module in the project that imports
scipy: callers convert polars columns to numpy arrays at the boundary and get small frozen
dataclasses back.

Conventions used throughout:

* ``baseline`` is version A, ``candidate`` is version B, and every difference is
  ``d_i = candidate_i - baseline_i`` ("Unit of analysis": compare by the paired difference,
  never by two separate confidence intervals).
* A one-sided p-value named ``p_higher`` tests H1 "candidate is higher than baseline";
  ``p_lower`` tests H1 "candidate is lower". Which of the two is the *worse* direction depends on
  the dimension (``worse="higher"`` for a sycophancy rate, ``worse="lower"`` for a helpfulness
  score).
* Every random procedure (sign-flip permutation, bootstrap) takes an integer ``seed`` so a report
  is reproducible to the last digit.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import numpy as np
from scipy import special, stats
from scipy.stats.contingency import crosstab

Scale = Literal["binary", "ordinal", "continuous"]
WorseDirection = Literal["higher", "lower"]
# "Two questions, two inference units": "probes" generalises to probes like these (the probe is
# the unit); "suite" is about these probes only (the probes are fixed, epochs are replicates).
Population = Literal["probes", "suite"]
KrippendorffLevel = Literal["nominal", "interval", "ordinal"]

# "Defaults": alpha 0.05, one-sided in the worse direction for gating dimensions.
ALPHA = 0.05
# "Defaults": Benjamini-Hochberg at q = 0.10 across exploratory findings. `benjamini_hochberg`
# returns adjusted p-values; callers compare them with this q.
# "Which test for which score": for binary rates the sign-flip test's CI is a bootstrap CI
# "below a few hundred probes"; at or above this many units the t interval is used instead.
BOOTSTRAP_CI_BELOW_N = 300
# "Which test for which score", clustered row: "sign-flip over clusters when >= 10".
MIN_CLUSTERS_FOR_SIGN_FLIP = 10
# Resamples for permutation tests and bootstrap CIs in a real report. With fewer than
# log2(DEFAULT_RESAMPLES) units scipy enumerates all sign flips and the test is exact.
DEFAULT_RESAMPLES = 9999
# "Nightly": CUSUM reference value and decision threshold, in units of the night's SE.
CUSUM_K = 0.5
CUSUM_H = 5.0
# An infinite z (a shift measured with zero SE, see `cusum_z`) is capped here so the CUSUM sums
# stay finite; any z above h + k raises the alarm the same night, so the cap changes no decision.
_CUSUM_Z_CAP = 1e6

TEST_MCNEMAR = "exact McNemar"
TEST_SIGN_FLIP = "sign-flip permutation"
TEST_PAIRED_T = "paired t"
TEST_WILCOXON = "Wilcoxon signed-rank (Pratt)"
TEST_STRATIFIED_EXACT = "stratified exact (Cochran-Mantel-Haenszel, conditional)"
TEST_STRATIFIED_PERMUTATION = "stratified permutation"
CI_T = "t"
CI_BOOTSTRAP = "bootstrap BCa"
CI_DEGENERATE = "degenerate (no spread)"
CI_WITHIN = "normal, within-probe SE"
CI_FLOORED = "normal, floored at the within-probe SE"
CI_NOT_ESTIMABLE = "not estimable (no spread within or between probes)"
# "Nightly": the one-night (Shewhart) limit beside the CUSUM: |z| above it alarms that night, and
# the CUSUM adds z winsorised at it, so one wild night cannot keep a series alarming for weeks.
SHEWHART_Z = 4.0


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedResult:
    """One baseline-vs-candidate comparison on one dimension.

    All figures are on the analysis units: probes, or cluster means when clusters were given
    (then ``n`` counts clusters and ``n_probes`` the probes behind them).
    """

    scale: Scale
    epochs: int
    worse: WorseDirection
    n: int
    n_probes: int
    clustered: bool
    mean_baseline: float
    mean_candidate: float
    diff: float
    """candidate - baseline (mean of the d_i)."""
    se: float
    """Paired SE: sqrt(sum((d_i - mean d)^2) / ((n - 1) n)) ("Standard errors")."""
    sd_diff: float
    """Sample SD of the d_i (ddof 1); the input to the MDE."""
    ci95: tuple[float, float]
    """Two-sided 95% CI for diff ("always print two-sided 95% CIs")."""
    ci90: tuple[float, float]
    """Two-sided 90% CI for diff, for the equivalence test (TOST)."""
    ci_method: str
    p_two_sided: float
    p_worse_one_sided: float
    """One-sided p in the worse direction (the gating p, before Holm)."""
    p_better_one_sided: float
    """One-sided p in the good direction (for IMPROVEMENT, informational)."""
    test_name: str
    check_test_name: str | None
    check_p: float | None
    """Two-sided p of the check test (Wilcoxon for ordinal/continuous scores), else None."""
    correlation: float | None
    """Pearson correlation of the two arms' per-unit values; None when undefined."""
    n01: int | None
    """Binary K = 1 only: probes failing (0) in baseline and passing (1) in candidate."""
    n10: int | None
    """Binary K = 1 only: probes 1 in baseline and 0 in candidate."""
    population: Population = "probes"
    """Which question the test answers: "probes" (probes like these) or "suite" (these probes)."""
    se_within: float | None = None
    """SE of ``diff`` from the epochs' sampling alone (`within_probe_se`); the SE floor."""
    p_floor: float | None = None
    """Smallest one-sided p this design can give at all (`probe_level_floor`, `fixed_suite_floor`)."""

    @property
    def se_effective(self) -> float:
        """The SE the CI and MDE rest on: the larger of ``se`` and the within-probe floor."""
        return max(self.se, self.se_within or 0.0)


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test on the discordant pairs of two paired binary arrays."""

    n: int
    n01: int
    n10: int
    p_two_sided: float
    p_higher: float
    p_lower: float


@dataclass(frozen=True)
class SignFlipResult:
    """Sign-flip permutation test of "the mean paired difference is 0"."""

    n: int
    mean: float
    p_two_sided: float
    p_higher: float
    p_lower: float


@dataclass(frozen=True)
class LengthRatioResult:
    """Change in response length: Wilcoxon on the per-probe log length ratio."""

    n: int
    median_ratio: float
    """exp(median of log(candidate / baseline)): 1.25 means a typical probe got 25% longer."""
    geometric_mean_ratio: float
    p_two_sided: float
    test_name: str


class DriftClass(StrEnum):
    """The four outcomes of "Gate decision, per dimension"."""

    REGRESSION = "REGRESSION"
    IMPROVEMENT = "IMPROVEMENT"
    NO_DRIFT = "NO DRIFT BEYOND MARGIN"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class Classification:
    """Gate outcome for one dimension, with what a report needs to word it."""

    drift: DriftClass
    material: bool
    """REGRESSION only: the 95% CI bound nearer 0 is also beyond the margin."""
    mde: float
    """Minimum detectable effect of this run (two-sided alpha, 80% power), in score units."""
    margin: float
    alpha: float
    p_adjusted_worse: float
    p_adjusted_better: float


@dataclass(frozen=True)
class CusumResult:
    """Two-sided CUSUM over a series of nightly z-scores ("Nightly")."""

    s_plus: np.ndarray
    s_minus: np.ndarray
    alarm: np.ndarray
    """Per night: True when S+ or S- exceeds h."""
    first_alarm: int | None
    """Index of the first alarming night, or None."""
    direction: Literal["up", "down"] | None
    """Which sum raised the first alarm: "up" = candidate drifted higher than the reference."""
    k: float
    h: float
    limit: float | None = None
    """The one-night limit, when one was used."""
    shewhart: np.ndarray | None = None
    """Per night: True when |z| alone exceeded the one-night limit."""
    directions: np.ndarray | None = None
    """Per night: "up", "down" or None: which side alarmed that night."""


# --------------------------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------------------------


def _as_1d_float(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError(
            f"{name} contains NaN at positions {np.flatnonzero(np.isnan(array))[:10].tolist()}"
        )
    if np.isinf(array).any():
        raise ValueError(f"{name} contains infinite values")
    return array


def _paired_arrays(baseline: Any, candidate: Any) -> tuple[np.ndarray, np.ndarray]:
    base = _as_1d_float(baseline, "baseline")
    cand = _as_1d_float(candidate, "candidate")
    if base.shape != cand.shape:
        raise ValueError(
            f"baseline and candidate must be aligned by probe: lengths differ ({base.size} vs {cand.size})"
        )
    return base, cand


def _check_probability(p: float, name: str) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a p-value in [0, 1], got {p}")
    return p


def _p_values(pvalues: Any) -> np.ndarray:
    array = np.asarray(pvalues, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"p-values must be one-dimensional, got shape {array.shape}")
    if np.isnan(array).any() or (array < 0).any() or (array > 1).any():
        raise ValueError("p-values must all lie in [0, 1] (no NaN)")
    return array


# --------------------------------------------------------------------------------------------
# Building blocks: the tests named in "Which test for which score"
# --------------------------------------------------------------------------------------------


def mcnemar(baseline: np.ndarray, candidate: np.ndarray) -> McNemarResult:
    """Exact McNemar test for two paired binary arrays (0/1 or bool).

    Why: "binary, K = 1 -> exact McNemar: binomtest(n01, n01+n10, 0.5) on discordant pairs".
    Only the discordant pairs carry information about a change; under H0 each one is equally
    likely to go either way. Also used for lexical marker presence ("Beyond judge scores").
    With no discordant pair there is no evidence of change and every p is 1.
    """
    base, cand = _paired_arrays(baseline, candidate)
    if not (np.isin(base, (0.0, 1.0)).all() and np.isin(cand, (0.0, 1.0)).all()):
        raise ValueError("McNemar needs binary values (0/1) in both arms")
    n01 = int(np.sum((base == 0) & (cand == 1)))
    n10 = int(np.sum((base == 1) & (cand == 0)))
    discordant = n01 + n10
    if discordant == 0:
        return McNemarResult(base.size, n01, n10, 1.0, 1.0, 1.0)
    return McNemarResult(
        n=base.size,
        n01=n01,
        n10=n10,
        p_two_sided=float(stats.binomtest(n01, discordant, 0.5).pvalue),
        p_higher=float(stats.binomtest(n01, discordant, 0.5, alternative="greater").pvalue),
        p_lower=float(stats.binomtest(n01, discordant, 0.5, alternative="less").pvalue),
    )


def _mean_along_axis(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """np.mean with an explicit axis so scipy's resampling runs vectorised."""
    return np.mean(x, axis=axis)


SIGN_FLIP_CHUNK = 1024  # resamples per matrix product: bounds memory at CHUNK x n int8


def sign_flip_test(
    differences: np.ndarray, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> SignFlipResult:
    """Sign-flip permutation test on paired differences d_i.

    Why: "binary rate, K >= 2 -> sign-flip permutation test on per-probe d" and "sign-flip over
    clusters when >= 10". Under H0 (no version effect) each d_i is symmetric about 0, so flipping
    signs at random gives the null distribution of the mean without assuming normality; this
    matters for rates near 0 or 1 where d is lumpy. All 2^k sign patterns of the k non-zero d_i
    are enumerated (an exact test) when that is no more than ``n_resamples``.

    Not scipy's ``permutation_test``: it materialises the resamples in Python-level batches and
    was 95% of a 10k-probe comparison (bench/scale: 11.4 s, 1.5 GB). Here one null distribution is
    drawn as int8 sign matrices in chunks and reduced with a matrix product (20-30x faster), with
    scipy's conventions kept: p = (count + 1) / (resamples + 1), ties within a relative 1e-14,
    two-sided p = min(1, 2 * min(p_higher, p_lower)). Zero differences are the same under either
    sign, so only the non-zero ones are flipped.
    """
    d = _as_1d_float(differences, "differences")
    if d.size < 2:
        raise ValueError("need at least 2 paired probes")
    observed = float(d.mean())
    nonzero = d[d != 0]
    if nonzero.size == 0:
        p_higher = p_lower = 1.0
    else:
        tolerance = 1e-14 * max(abs(observed), 1.0)
        if 2**nonzero.size <= n_resamples:
            bits = np.arange(2**nonzero.size)[:, None] >> np.arange(nonzero.size)
            null = ((bits & 1) * 2 - 1) @ nonzero / d.size
            p_higher = float(np.mean(null >= observed - tolerance))
            p_lower = float(np.mean(null <= observed + tolerance))
        else:
            rng = np.random.default_rng(seed)
            above = below = 0
            for start in range(0, n_resamples, SIGN_FLIP_CHUNK):
                rows = min(SIGN_FLIP_CHUNK, n_resamples - start)
                signs = rng.integers(0, 2, size=(rows, nonzero.size), dtype=np.int8) * 2 - 1
                null = signs @ nonzero / d.size
                above += int(np.count_nonzero(null >= observed - tolerance))
                below += int(np.count_nonzero(null <= observed + tolerance))
            p_higher = (above + 1) / (n_resamples + 1)
            p_lower = (below + 1) / (n_resamples + 1)
    return SignFlipResult(
        n=d.size,
        mean=observed,
        p_two_sided=min(1.0, 2.0 * min(p_higher, p_lower)),
        p_higher=p_higher,
        p_lower=p_lower,
    )


def _t_interval(d: np.ndarray, confidence: float) -> tuple[float, float]:
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(confidence_level=confidence)
    return float(ci.low), float(ci.high)


def _pearson_or_none(x: np.ndarray, y: np.ndarray) -> float | None:
    """Correlation between arms ("report the correlation between arms too"); None if undefined."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(stats.pearsonr(x, y).statistic)


def _cluster_means(
    base: np.ndarray, cand: np.ndarray, clusters: Any
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Aggregate both arms to cluster means ("Variants of one scenario are a cluster").

    Returns the arrays unchanged (and False) when every cluster holds a single probe.
    """
    ids = np.asarray(clusters)
    if ids.ndim != 1 or ids.size != base.size:
        raise ValueError(
            f"clusters must give one cluster id per probe: {ids.size} ids for {base.size} probes"
        )
    if ids.dtype.kind == "f" and np.isnan(ids).any():
        raise ValueError("clusters contains NaN ids")
    _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    if counts.size == base.size:
        return base, cand, False
    base_means = np.bincount(inverse, weights=base) / counts
    cand_means = np.bincount(inverse, weights=cand) / counts
    return base_means, cand_means, True


# --------------------------------------------------------------------------------------------
# The paired comparison
# --------------------------------------------------------------------------------------------


def paired_difference(
    baseline: np.ndarray,
    candidate: np.ndarray,
    *,
    scale: Scale,
    epochs: int,
    worse: WorseDirection,
    clusters: np.ndarray | None = None,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    within_se: float | None = None,
    span: float | None = None,
) -> PairedResult:
    """Compare candidate with baseline on one dimension, paired by probe ("probes like these").

    Inputs are per-probe values already averaged over epochs and judge repeats ("Unit of
    analysis"), aligned by probe. The test follows the table in "Which test for which score":

    * binary, ``epochs == 1``: exact McNemar on the discordant pairs.
    * binary, ``epochs >= 2``: sign-flip permutation test on the d_i.
    * ordinal / continuous: paired t on the per-probe means, with Wilcoxon signed-rank
      (``zero_method='pratt'``, zero differences kept in the ranking) reported as a check.
    * clustered (``clusters`` given and some cluster holds more than one probe): the same
      analysis on cluster means, with the sign-flip test over clusters when there are >= 10.
      Below 10 clusters, ordinal/continuous use paired t on cluster means and binary scores use
      the sign-flip test (exact at that size); McNemar does not apply because a cluster mean of
      0/1 values is no longer 0/1.

    Confidence intervals: the t interval for the paired t test; for McNemar and sign-flip a
    bootstrap (BCa) interval of the mean d below ``BOOTSTRAP_CI_BELOW_N`` units ("bootstrap CI
    below a few hundred probes"), the t interval above. The same rule is used for binary K = 1,
    because METHODS names no separate CI for McNemar.

    Degenerate data: if every d_i is 0 the result is diff 0 and p = 1. If every d_i equals the
    same non-zero value the t statistic is undefined (zero SE), so the exact sign-flip test is
    used instead. Either way the spread of the d_i is 0 and the interval would collapse to a
    point; but the epochs were sampled, so when ``within_se`` (the SE of the difference from
    the epochs' sampling alone, `within_probe_se`) is given, any interval narrower than the
    normal interval with that SE is replaced by it (``ci_method`` says so): Var(mean d) =
    (between-probe variance + E[sigma_i^2]/K) / n is never below its within-probe part
    ("Standard errors"). Without ``within_se`` such an interval stays degenerate; with a
    ``within_se`` of 0 on an unbounded scale (no ``span``) it is NaN, ``CI_NOT_ESTIMABLE``:
    too few distinct values say nothing about the spread. A widened interval is clipped to the possible differences, +-``span`` (the scale's high - low; 1 for
    rates).

    Raises ValueError for misaligned lengths, NaN, values outside [0, 1] on a binary scale,
    non-binary values for binary K = 1, or fewer than 2 units.
    """
    if scale not in ("binary", "ordinal", "continuous"):
        raise ValueError(f"scale must be 'binary', 'ordinal' or 'continuous', got {scale!r}")
    if worse not in ("higher", "lower"):
        raise ValueError(f"worse must be 'higher' or 'lower', got {worse!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    base, cand = _paired_arrays(baseline, candidate)
    if scale == "binary":
        if ((base < 0) | (base > 1) | (cand < 0) | (cand > 1)).any():
            raise ValueError("binary scores must be rates in [0, 1]")
        if epochs == 1 and not (
            np.isin(base, (0.0, 1.0)).all() and np.isin(cand, (0.0, 1.0)).all()
        ):
            raise ValueError("binary scores with epochs == 1 must be exactly 0 or 1 per probe")
    n_probes = base.size
    clustered = False
    if clusters is not None:
        base, cand, clustered = _cluster_means(base, cand, clusters)
    n = base.size
    if n < 2:
        where = f" (counted as clusters: {n} cluster from {n_probes} probes)" if clustered else ""
        raise ValueError(f"need at least 2 paired probes{where}")

    d = cand - base
    mean_d = float(d.mean())
    sd_diff = float(np.std(d, ddof=1))
    se = float(stats.sem(d))  # sqrt(sum((d - mean)^2) / ((n - 1) n)), "Standard errors"

    if clustered:
        use_sign_flip = n >= MIN_CLUSTERS_FOR_SIGN_FLIP or scale == "binary"
        test_name = TEST_SIGN_FLIP if use_sign_flip else TEST_PAIRED_T
    elif scale == "binary":
        test_name = TEST_MCNEMAR if epochs == 1 else TEST_SIGN_FLIP
    else:
        test_name = TEST_PAIRED_T
    check_name = TEST_WILCOXON if scale != "binary" else None

    common: dict[str, Any] = {
        "scale": scale,
        "epochs": int(epochs),
        "worse": worse,
        "n": n,
        "n_probes": n_probes,
        "clustered": clustered,
        "mean_baseline": float(base.mean()),
        "mean_candidate": float(cand.mean()),
        "diff": mean_d,
        "se": se,
        "sd_diff": sd_diff,
        "check_test_name": check_name,
        "correlation": _pearson_or_none(base, cand),
        "n01": None,
        "n10": None,
    }
    if test_name == TEST_MCNEMAR:
        common["n01"] = int(np.sum(d > 0))
        common["n10"] = int(np.sum(d < 0))

    common["se_within"] = within_se
    common["p_floor"] = probe_level_floor(n)
    bound = 1.0 if scale == "binary" else span
    if not d.any():  # every d_i is 0: nothing moved, report exactly that
        return _floor_interval(
            PairedResult(
                **{**common, "diff": 0.0},
                ci95=(0.0, 0.0),
                ci90=(0.0, 0.0),
                ci_method=CI_DEGENERATE,
                p_two_sided=1.0,
                p_worse_one_sided=1.0,
                p_better_one_sided=1.0,
                test_name=test_name,
                check_p=1.0 if check_name else None,
            ),
            bound,
        )

    if sd_diff == 0.0 and test_name == TEST_PAIRED_T:
        test_name = TEST_SIGN_FLIP  # constant non-zero shift: t undefined, sign-flip is exact

    if test_name == TEST_MCNEMAR:
        mc = mcnemar(base, cand)
        p_two, p_higher, p_lower = mc.p_two_sided, mc.p_higher, mc.p_lower
    elif test_name == TEST_SIGN_FLIP:
        sf = sign_flip_test(d, n_resamples=n_resamples, seed=seed)
        p_two, p_higher, p_lower = sf.p_two_sided, sf.p_higher, sf.p_lower
    else:
        p_two = float(stats.ttest_1samp(d, 0.0).pvalue)
        p_higher = float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)
        p_lower = float(stats.ttest_1samp(d, 0.0, alternative="less").pvalue)

    if sd_diff == 0.0:
        ci_method = CI_DEGENERATE
        ci95 = ci90 = (mean_d, mean_d)
    elif test_name == TEST_PAIRED_T or n >= BOOTSTRAP_CI_BELOW_N:
        ci_method = CI_T
        ci95, ci90 = _t_interval(d, 0.95), _t_interval(d, 0.90)
    else:
        ci_method = CI_BOOTSTRAP
        ci95, ci90 = _bootstrap_intervals(
            _mean_along_axis, (d,), confidences=(0.95, 0.90), n_resamples=n_resamples, seed=seed
        )
        if not all(math.isfinite(v) for v in (*ci95, *ci90)):
            ci_method = CI_T  # the bootstrap could not form an interval; say so via ci_method
            ci95, ci90 = _t_interval(d, 0.95), _t_interval(d, 0.90)

    check_p = float(stats.wilcoxon(d, zero_method="pratt").pvalue) if check_name else None

    # A paired t on 3 probes can print p = 0.005 while the design says probes like these cannot
    # go below 2^-n = 0.125: the gate then said FAIL and CANNOT FAIL about the same dimension.
    p_higher, p_lower = _at_least(p_higher, common["p_floor"]), _at_least(p_lower, common["p_floor"])
    p_two = min(1.0, max(p_two, 2 * common["p_floor"]))
    p_worse, p_better = (p_higher, p_lower) if worse == "higher" else (p_lower, p_higher)
    return _floor_interval(
        PairedResult(
            **common,
            ci95=ci95,
            ci90=ci90,
            ci_method=ci_method,
            p_two_sided=p_two,
            p_worse_one_sided=p_worse,
            p_better_one_sided=p_better,
            test_name=test_name,
            check_p=check_p,
        ),
        bound,
    )


def _at_least(p: float, floor: float) -> float:
    """`p`, raised to the smallest p the design can give (`probe_level_floor`, `fixed_suite_floor`)."""
    return min(1.0, max(p, floor))


def _normal_interval(
    centre: float, se: float, confidence: float, bound: float | None = None
) -> tuple[float, float]:
    """centre +- z * se, clipped to [-bound, bound] (the differences the scale allows)."""
    half = float(stats.norm.ppf(0.5 + confidence / 2)) * se
    lo, hi = centre - half, centre + half
    if bound is not None and bound > 0:
        lo, hi = max(lo, -bound), min(hi, bound)
    return lo, hi


def _floor_interval(result: PairedResult, bound: float | None) -> PairedResult:
    """Widen a probe-level interval that is narrower than the epochs' sampling alone allows.

    With a floor asked for (``se_within`` given) but 0 (an unbounded scale whose probes all
    moved by the same amount and whose epochs all agree: reply lengths of a deterministic model),
    a zero-width interval is not estimable (NaN, `CI_NOT_ESTIMABLE`), never "+4.00 to +4.00".
    """
    floor = result.se_within
    if not floor or not floor > 0:
        return _not_a_point(result, bound)
    return _widen(result, floor, bound)


def _not_a_point(result: PairedResult, bound: float | None) -> PairedResult:
    """A zero-width interval on an unbounded scale from sampled data: say it is not estimable.

    On a bounded scale the Agresti-Coull pseudo-degree of freedom (`within_probe_se`) always
    gives a floor; an unbounded one (response length in characters) has no scale to put one
    on, so too few distinct values leave the spread unknown rather than zero.
    """
    lo, hi = result.ci95
    if bound is not None or result.se_within is None or lo != hi:
        return result  # without a within-probe SE asked for, a caller's degenerate interval stays
    nan = (math.nan, math.nan)
    return dataclasses.replace(result, ci95=nan, ci90=nan, ci_method=CI_NOT_ESTIMABLE)


def _widen(result: PairedResult, floor: float, bound: float | None) -> PairedResult:
    lo, hi = result.ci95
    floor95 = _normal_interval(result.diff, floor, 0.95, bound)
    if math.isfinite(lo) and math.isfinite(hi) and hi - lo >= floor95[1] - floor95[0]:
        return result
    return dataclasses.replace(
        result,
        ci95=floor95,
        ci90=_normal_interval(result.diff, floor, 0.90, bound),
        ci_method=CI_FLOORED,
    )


# --------------------------------------------------------------------------------------------
# The fixed-suite comparison ("Two questions, two inference units": these probes)
# --------------------------------------------------------------------------------------------


def probe_level_floor(n_units: int) -> float:
    """Smallest one-sided p a test with probes as the unit can give: 2^-n.

    Why: "With n probes a sign-flip test cannot reach p below 2^-n (2 probes: 0.25), whatever K
    is." The same bound holds for exact McNemar (all n pairs discordant the same way); it is
    also used as the probe-level resolution for scales, where a paired t on 2 or 3 probes rests
    on a normality it cannot check.
    """
    if n_units < 1:
        return 1.0
    return 0.5**n_units


def fixed_suite_floor(k_baseline: Sequence[int], k_candidate: Sequence[int]) -> float:
    """Smallest one-sided p the fixed-suite test can give: prod_i 1 / C(K_A,i + K_B,i, K_B,i).

    Within each probe the version labels of its K_A + K_B epochs are permuted; the most extreme
    arrangement (every candidate epoch above every baseline epoch, in every probe) has
    probability 1 / C(K_A + K_B, K_B) per probe. 2 probes x 1 epoch: (1/2)^2 = 0.25; 2 probes x
    10 epochs: about 3e-11. Computed in logs; a tiny floor underflows to 0.0.
    """
    if len(k_baseline) != len(k_candidate):
        raise ValueError("k_baseline and k_candidate must give one count per probe")
    if not len(k_baseline):
        return 1.0
    if len(k_baseline) <= 64:  # exact (1/8 prints as 0.125, not 0.12500000000000003)
        arrangements = math.prod(
            math.comb(int(a) + int(b), int(b)) for a, b in zip(k_baseline, k_candidate, strict=True)
        )
        return 1.0 / arrangements if arrangements < 10**300 else 0.0
    log_p = -sum(
        math.lgamma(a + b + 1) - math.lgamma(a + 1) - math.lgamma(b + 1)
        for a, b in zip(k_baseline, k_candidate, strict=True)
    )
    return math.exp(log_p)


def _epoch_lists(values: Sequence[Any], name: str) -> list[np.ndarray]:
    arrays = [_as_1d_float(v, f"{name} epochs of probe {i}") for i, v in enumerate(values)]
    if any(a.size == 0 for a in arrays):
        raise ValueError(f"every probe needs at least one {name} epoch")
    return arrays


def _arm_prior(values: np.ndarray) -> float:
    """Variance of one draw at the arm's Agresti-Coull level, on a 0-1 scale.

    The arm's values plus two pseudo-values at each end of the scale: for 0/1 scores
    p~(1 - p~) with p~ = (sum x + 2) / (N + 4).
    """
    level = (values.sum() + 2.0) / (values.size + 4.0)
    return float(
        (np.sum((values - level) ** 2) + 2 * level**2 + 2 * (1 - level) ** 2) / (values.size + 4.0)
    )


def _pooled_variance(squares: float, freedom: int, prior: float | None) -> float:
    """Within mean square, with one pseudo-degree of freedom at `prior` when there is one."""
    if prior is None:
        return squares / freedom if freedom else 0.0
    return (squares + prior) / (freedom + 1)


def _flat_epochs(values: Sequence[Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(all epoch values concatenated, epochs per probe), checked once for the whole arm."""
    sizes = np.fromiter((np.size(v) for v in values), dtype=np.int64, count=len(values))
    if (sizes == 0).any():
        raise ValueError(f"every probe needs at least one {name} epoch")
    flat = _as_1d_float(
        np.concatenate([np.ravel(v) for v in values]) if len(values) else [], f"{name} epochs"
    )
    return flat, sizes


def _within_squares(values: np.ndarray, sizes: np.ndarray) -> float:
    """Sum of squares of values about their own probe's mean (probes = consecutive runs of `sizes`)."""
    probe = np.repeat(np.arange(sizes.size), sizes)
    means = np.bincount(probe, weights=values, minlength=sizes.size) / sizes
    return float(np.sum((values - means[probe]) ** 2))


def within_probe_se(
    baseline: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    *,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """SE of the mean per-probe difference from the epochs' sampling alone (probes fixed).

    SE^2 = (1/n^2) sum_i (s2_A / K_A,i + s2_B / K_B,i): the variance of the difference of two
    independent arm means per probe. s2_A (s2_B) is that arm's pooled within-probe variance:
    the sum of squares of its epochs about their own probe's mean over the degrees of freedom
    sum(K_i - 1) (one-way ANOVA's within mean square; unbiased for the mean of the probes' own
    variances, whatever each probe's rate).

    The epochs of two versions are exchangeable: epoch 3 of the baseline has nothing to do with
    epoch 3 of the candidate, so nothing here depends on epoch numbers. (Pairing epochs by their
    number, as an earlier version did, let an import whose epochs are listed by outcome, 1s
    first in both arms, cancel most of the variance: 6 probes at 3 of 10 -> 3 of 10 gave a 95%
    CI of +-2.2 pp instead of +-17.3.) Permuting the epochs of a probe within an arm leaves
    the SE unchanged.

    On a bounded scale (``low``/``high`` given: 0/1 for rates, the rubric's levels for ordinal
    scales) each arm's s2 gets one pseudo-degree of freedom at the variance of a draw at that
    arm's Agresti-Coull level (`_arm_prior`), so it is never 0: a suite whose epochs all agree,
    or a run of one epoch per probe, still carries sampling error. Unbounded scores use the
    within mean squares alone (0 when no probe's epochs differ: the SE cannot be estimated,
    and callers say so rather than print a zero-width interval). Simulated coverage of diff
    +- 1.96 SE for the mean of the per-probe true differences is in BENCHMARKS.md (bench
    decisions).
    """
    base, base_k = _flat_epochs(baseline, "baseline")
    cand, cand_k = _flat_epochs(candidate, "candidate")
    if base_k.size != cand_k.size:
        raise ValueError(
            f"baseline and candidate must list the same probes ({base_k.size} vs {cand_k.size})"
        )
    if not base_k.size:
        raise ValueError("need at least 1 probe")
    bounded = low is not None and high is not None and high > low
    span = (high - low) if bounded else 1.0  # type: ignore[operator]
    if bounded:
        base, cand = (base - low) / span, (cand - low) / span  # type: ignore[operator]
    total = 0.0
    for values, sizes in ((base, base_k), (cand, cand_k)):
        prior = _arm_prior(values) if bounded else None
        variance = _pooled_variance(_within_squares(values, sizes), int(np.sum(sizes - 1)), prior)
        total += variance * float(np.sum(1.0 / sizes))
    return math.sqrt(total) * span / base_k.size


def _stratified_exact_binary(base: list[np.ndarray], cand: list[np.ndarray]) -> tuple[float, float]:
    """Exact conditional test of "no version effect within any probe" for 0/1 epochs.

    Given probe i's total of 1s t_i over its M_i = K_A + K_B epochs, the candidate's count S_i is
    hypergeometric(M_i, t_i, K_B) under H0; S = sum S_i (the Cochran-Mantel-Haenszel statistic)
    has the convolution of those distributions, computed exactly. Returns (p_higher, p_lower).
    With one epoch per arm this is exact McNemar on the discordant probes.
    """
    distribution = np.array([1.0])
    offset = observed = 0
    for a, b in zip(base, cand, strict=True):
        m, k, t = a.size + b.size, b.size, int(round(a.sum() + b.sum()))
        lo, hi = max(0, k - (m - t)), min(t, k)
        distribution = np.convolve(distribution, _hypergeometric_pmf(m, t, k, lo, hi))
        offset += lo
        observed += int(round(b.sum()))
    index = observed - offset
    p_higher = float(min(1.0, distribution[index:].sum()))
    p_lower = float(min(1.0, distribution[: index + 1].sum()))
    return p_higher, p_lower


def _log_choose(n: np.ndarray | float, r: np.ndarray | float) -> np.ndarray:
    return (
        special.gammaln(np.add(n, 1))
        - special.gammaln(np.add(r, 1))
        - special.gammaln(np.subtract(n, r) + 1)
    )


def _hypergeometric_pmf(m: int, t: int, k: int, lo: int, hi: int) -> np.ndarray:
    """P(S = s) for s = lo..hi, S the 1s among k draws from m items holding t ones.

    The same numbers as ``scipy.stats.hypergeom.pmf`` from log-binomials, without building a
    distribution object per probe (that overhead was most of a small-suite comparison).
    """
    s = np.arange(lo, hi + 1)
    return np.exp(_log_choose(t, s) + _log_choose(m - t, k - s) - _log_choose(m, k))


PERMUTATION_CHUNK_CELLS = 2_000_000  # resamples x epochs per chunk: bounds memory


def _stratified_permutation(
    base: list[np.ndarray], cand: list[np.ndarray], *, n_resamples: int, seed: int
) -> tuple[float, float]:
    """Permute the version labels of each probe's epochs; the statistic is the mean difference.

    T = (1/n) sum_i (S_i (1/K_B + 1/K_A) - tot_i / K_A), S_i = the sum of the epochs labelled
    candidate. All arrangements are enumerated (an exact test) when there are no more than
    ``n_resamples``; otherwise a seeded Monte Carlo sample, with p = (count + 1) / (R + 1).
    Returns (p_higher, p_lower).
    """
    n = len(base)
    pooled = [np.concatenate([a, b]) for a, b in zip(base, cand, strict=True)]
    k_cand = np.array([b.size for b in cand])
    weights = (1.0 / k_cand + 1.0 / np.array([a.size for a in base])) / n
    constant = -sum(float(p.sum()) / a.size for p, a in zip(pooled, base, strict=True)) / n
    observed = float(sum(w * b.sum() for w, b in zip(weights, cand, strict=True)) + constant)
    tolerance = 1e-12 * max(abs(observed), 1.0)
    arrangements = math.prod(math.comb(p.size, int(k)) for p, k in zip(pooled, k_cand, strict=True))
    if arrangements <= n_resamples:
        sums_per_probe = [
            np.array([p[list(idx)].sum() for idx in itertools.combinations(range(p.size), int(k))])
            for p, k in zip(pooled, k_cand, strict=True)
        ]
        null = np.array([constant]) if n else np.array([0.0])
        for w, sums in zip(weights, sums_per_probe, strict=True):
            null = (null[:, None] + w * sums[None, :]).ravel()
        return (
            float(np.mean(null >= observed - tolerance)),
            float(np.mean(null <= observed + tolerance)),
        )
    rng = np.random.default_rng(seed)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (p, k) in enumerate(zip(pooled, k_cand, strict=True)):
        groups.setdefault((p.size, int(k)), []).append(i)
    cells = sum(p.size for p in pooled)
    chunk = max(1, min(n_resamples, PERMUTATION_CHUNK_CELLS // max(cells, 1)))
    above = below = 0
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        null = np.full(rows, constant)
        for (_size, k), members in groups.items():
            values = np.stack([pooled[i] for i in members])  # (probes in group, epochs)
            shuffled = rng.permuted(np.broadcast_to(values, (rows, *values.shape)), axis=2)
            null += shuffled[:, :, :k].sum(axis=2) @ weights[members]
        above += int(np.count_nonzero(null >= observed - tolerance))
        below += int(np.count_nonzero(null <= observed + tolerance))
    return (above + 1) / (n_resamples + 1), (below + 1) / (n_resamples + 1)


def fixed_suite_difference(
    baseline: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    *,
    scale: Scale,
    worse: WorseDirection,
    low: float | None = None,
    high: float | None = None,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> PairedResult:
    """Did the assistant drift on these probes? Probes fixed, epochs as replicates.

    Inputs: per probe (aligned), the epoch values of each arm (judge repeats already
    averaged); the arms may have different epoch counts. The estimate is the same as the
    probe-level one, the mean over probes of (candidate mean - baseline mean), but the question
    differs ("Two questions, two inference units"): H0 is that within every probe the epochs
    of the two versions are exchangeable, so a result generalises to these probes, not to
    probes like them.

    * 0/1 scores: `_stratified_exact_binary` (exact conditional CMH; K = 1 reduces to McNemar).
    * other scores: `_stratified_permutation` of the version labels within each probe.
    * CI: diff +- z * `within_probe_se` (normal); it carries the within-probe variance and is
      never of zero width on a bounded scale. ``low``/``high`` are the scale's ends.
    * ``p_floor``: `fixed_suite_floor` of the epoch counts.

    Raises ValueError for misaligned probes, a probe with no epochs in an arm, NaN, or rates
    outside [0, 1].
    """
    if scale not in ("binary", "ordinal", "continuous"):
        raise ValueError(f"scale must be 'binary', 'ordinal' or 'continuous', got {scale!r}")
    if worse not in ("higher", "lower"):
        raise ValueError(f"worse must be 'higher' or 'lower', got {worse!r}")
    # Epoch numbers carry no information (the epochs of a version are exchangeable): each arm's
    # epochs are put in one canonical order, so even the seeded Monte Carlo permutation test
    # gives the same p however an import numbered them.
    base = [np.sort(a) for a in _epoch_lists(baseline, "baseline")]
    cand = [np.sort(b) for b in _epoch_lists(candidate, "candidate")]
    if len(base) != len(cand):
        raise ValueError(
            f"baseline and candidate must list the same probes ({len(base)} vs {len(cand)})"
        )
    if not base:
        raise ValueError("need at least 1 probe")
    if scale == "binary":
        low, high = 0.0, 1.0
        if any(((a < 0) | (a > 1)).any() for a in base + cand):
            raise ValueError("binary scores must be rates in [0, 1]")
    n = len(base)
    base_means = np.array([a.mean() for a in base])
    cand_means = np.array([b.mean() for b in cand])
    d = cand_means - base_means
    diff = float(d.mean())
    se = within_probe_se(base, cand, low=low, high=high)
    binary_epochs = scale == "binary" and all(np.isin(x, (0.0, 1.0)).all() for x in base + cand)
    test_name = TEST_STRATIFIED_EXACT if binary_epochs else TEST_STRATIFIED_PERMUTATION
    if not any(np.ptp(np.concatenate([a, b])) > 0 for a, b in zip(base, cand, strict=True)):
        p_higher = p_lower = 1.0  # every probe's epochs are all alike: no arrangement differs
    elif binary_epochs:
        p_higher, p_lower = _stratified_exact_binary(base, cand)
    else:
        p_higher, p_lower = _stratified_permutation(base, cand, n_resamples=n_resamples, seed=seed)
    if se > 0:
        bound = high - low if low is not None and high is not None else None
        ci95, ci90 = (
            _normal_interval(diff, se, 0.95, bound),
            _normal_interval(diff, se, 0.90, bound),
        )
        ci_method = CI_WITHIN
    else:  # an unbounded scale with no within-probe spread: the SE cannot be estimated
        ci95 = ci90 = (math.nan, math.nan)
        ci_method = CI_NOT_ESTIMABLE
    # The exact floor is computed in integers; the p from summed log-pmfs can land a hair below
    # it (1 probe x 3 epochs: 0.04999999999999996 < alpha 0.05 = the floor), which made the gate
    # FAIL a dimension it also called CANNOT FAIL. No p goes below the floor.
    p_floor = fixed_suite_floor([a.size for a in base], [b.size for b in cand])
    p_higher, p_lower = _at_least(p_higher, p_floor), _at_least(p_lower, p_floor)
    p_worse, p_better = (p_higher, p_lower) if worse == "higher" else (p_lower, p_higher)
    return PairedResult(
        scale=scale,
        epochs=int(max(x.size for x in base + cand)),
        worse=worse,
        n=n,
        n_probes=n,
        clustered=False,
        mean_baseline=float(base_means.mean()),
        mean_candidate=float(cand_means.mean()),
        diff=diff,
        se=se,
        sd_diff=float(np.std(d, ddof=1)) if n > 1 else 0.0,
        ci95=ci95,
        ci90=ci90,
        ci_method=ci_method,
        p_two_sided=min(1.0, 2.0 * min(p_higher, p_lower)),
        p_worse_one_sided=p_worse,
        p_better_one_sided=p_better,
        test_name=test_name,
        check_test_name=None,
        check_p=None,
        correlation=_pearson_or_none(base_means, cand_means),
        n01=None,
        n10=None,
        population="suite",
        se_within=se,
        p_floor=p_floor,
    )


# --------------------------------------------------------------------------------------------
# Multiplicity, equivalence, power
# --------------------------------------------------------------------------------------------


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values, in the input order.

    Why: "Holm across the gating dimensions" controls the chance of any false REGRESSION across a
    gate's dimensions without assuming independence. scipy has no Holm, so: sort ascending,
    multiply the i-th smallest (0-based) by (m - i), carry the running maximum forward so the
    adjusted values stay monotone, cap at 1. Reject where adjusted p < alpha.
    """
    p = _p_values(pvalues)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    stepped = p[order] * (m - np.arange(m))
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(stepped))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (scipy's ``false_discovery_control``).

    Why: "Benjamini-Hochberg (q = 0.10) across exploratory findings (markers, per-category
    cuts)": many markers are screened, a few false leads are tolerable. A finding is a discovery
    when its adjusted p <= q; the project default q is `gate.exploratory_q` (0.10).
    """
    p = _p_values(pvalues)
    if p.size == 0:
        return p.copy()
    return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=float)


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion: `successes` of `n` units.

    Why: a failure rate on a handful of probes (e.g. 3 of 18 generated variants) needs an
    interval that stays inside [0, 1] and is not zero-width at 0 or n, which the normal (Wald)
    interval is ("Nightly", robustness: "use e.g. an Agresti-Coull / Wilson SE"). `successes` may
    be fractional: units whose value is a share in [0, 1] (e.g. the failed share of a probe's
    epochs) have a variance no larger than a Bernoulli unit's, so the interval is conservative
    for them. Source: Wilson (1927); Brown, Cai & DasGupta (2001). n = 0 gives (nan, nan).
    """
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n], got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def equivalent(ci90: tuple[float, float], margin: float) -> bool:
    """True when the 90% CI lies strictly inside (-margin, margin).

    Why: "Equivalence = the 90% CI lies inside the margin (TOST)". Two one-sided tests at 5%
    each are passed exactly when the two-sided 90% interval excludes both margins. A NaN bound
    is never equivalent.
    """
    if not margin > 0:
        raise ValueError(f"equivalence margin must be positive, got {margin}")
    lo, hi = ci90
    return bool(-margin < lo and hi < margin)


def _z_sum(alpha: float, power: float, one_sided: bool) -> float:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must lie in (0, 1), got alpha={alpha}, power={power}")
    z_alpha = stats.norm.ppf(1 - alpha) if one_sided else stats.norm.ppf(1 - alpha / 2)
    return float(z_alpha + stats.norm.ppf(power))


def minimum_detectable_effect(
    sd_diff: float,
    n: int,
    *,
    alpha: float = ALPHA,
    power: float = 0.80,
    one_sided: bool = False,
) -> float:
    """Smallest true mean difference the run would detect with the given power.

    MDE = (z_{1-alpha/2} + z_{power}) * SD_d / sqrt(n)  (z_{1-alpha} when ``one_sided``).

    Why: "Show the MDE in every report so a reader knows what the run could have seen"; an
    INCONCLUSIVE result is read against it. The default is two-sided alpha 0.05, because that
    is how METHODS' planning numbers are computed ("Power": alpha 0.05 two-sided, 80% power):
    with SD_d 1.7 and 150 probes, (1.960 + 0.842) * 1.7 / sqrt(150) = 0.389 ~ "0.39 points";
    the one-sided version would give 0.345. It uses normal quantiles; the t correction changes
    the figure by under 1% at 150 probes. An SD of 0 gives an MDE of 0: the run saw no spread.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not sd_diff >= 0:
        raise ValueError(f"sd_diff must be a non-negative number, got {sd_diff}")
    return _z_sum(alpha, power, one_sided) * sd_diff / math.sqrt(n)


def result_mde(result: PairedResult, *, alpha: float = ALPHA, power: float = 0.80) -> float:
    """The MDE of one comparison: (z_{1-alpha/2} + z_power) * its effective SE.

    The effective SE is the larger of the probe-level SE and the within-probe floor
    (`PairedResult.se_effective`), so sampled data never gives an MDE of 0: n probes whose d_i
    happen to agree still had their epochs drawn at random.
    """
    return _z_sum(alpha, power, False) * result.se_effective


def probes_needed(
    effect: float,
    sd_diff: float,
    *,
    alpha: float = ALPHA,
    power: float = 0.80,
    one_sided: bool = False,
) -> int:
    """Paired units needed to detect ``effect`` given the SD of the paired difference.

    Why: planning ("Power"): "A 0.5-point shift on a 1-10 scale with SD of the paired difference
    2.0: ~128 probes". Solves n = ((t_{1-alpha/2, n-1} + t_{power, n-1}) * SD_d / effect)^2 by
    fixed-point iteration from the normal-quantile answer; the t quantiles are what turn the
    normal answer (126) into METHODS' 128.
    """
    if not effect > 0 or not sd_diff > 0:
        raise ValueError("effect and sd_diff must be positive")
    n = max(2, math.ceil((_z_sum(alpha, power, one_sided) * sd_diff / effect) ** 2))
    for _ in range(100):
        df = n - 1
        t_alpha = stats.t.ppf(1 - alpha, df) if one_sided else stats.t.ppf(1 - alpha / 2, df)
        updated = max(2, math.ceil(((t_alpha + stats.t.ppf(power, df)) * sd_diff / effect) ** 2))
        if updated == n:
            break
        n = updated
    return n


# --------------------------------------------------------------------------------------------
# Gate decision
# --------------------------------------------------------------------------------------------


def classify(
    result: PairedResult,
    *,
    p_adjusted_worse: float,
    margin: float,
    p_adjusted_better: float | None = None,
    alpha: float = ALPHA,
) -> Classification:
    """Apply "Gate decision, per dimension (first that applies)".

    1. REGRESSION: Holm-adjusted one-sided p in the worse direction < alpha. ``material`` when
       the 95% CI bound nearer 0 is also beyond the margin on the worse side (the shift is
       credibly larger than the margin, not just non-zero).
    2. IMPROVEMENT: adjusted one-sided p in the good direction < alpha (informational). Pass
       the Holm-adjusted p for the good direction as ``p_adjusted_better``; if it is omitted the
       unadjusted ``result.p_better_one_sided`` is used.
    3. NO DRIFT BEYOND MARGIN: the 90% CI lies inside (-margin, margin).
    4. INCONCLUSIVE: anything else. The MDE is attached to every classification so the report
       can print it ("Never print 'no regression' for a merely non-significant result").
    """
    p_worse = _check_probability(p_adjusted_worse, "p_adjusted_worse")
    p_better = _check_probability(
        result.p_better_one_sided if p_adjusted_better is None else p_adjusted_better,
        "p_adjusted_better",
    )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    mde = result_mde(result, alpha=alpha)

    material = False
    if p_worse < alpha:
        drift = DriftClass.REGRESSION
        lo, hi = result.ci95
        material = bool(lo > margin) if result.worse == "higher" else bool(hi < -margin)
    elif p_better < alpha:
        drift = DriftClass.IMPROVEMENT
    elif equivalent(result.ci90, margin):
        drift = DriftClass.NO_DRIFT
    else:
        drift = DriftClass.INCONCLUSIVE
    return Classification(
        drift=drift,
        material=material,
        mde=mde,
        margin=margin,
        alpha=alpha,
        p_adjusted_worse=p_worse,
        p_adjusted_better=p_better,
    )


# --------------------------------------------------------------------------------------------
# Nightly CUSUM
# --------------------------------------------------------------------------------------------


def cusum_z(delta: np.ndarray | float, se: np.ndarray | float) -> np.ndarray:
    """Nightly z_t = delta_t / SE_t against the frozen reference run ("Nightly").

    Guards SE = 0: with no difference at all (delta 0) z is 0; a non-zero delta measured with
    zero SE (every probe moved by exactly the same amount) is an infinitely strong signal, ±inf,
    which `cusum` turns into an immediate alarm. Negative or NaN SEs and NaN deltas are errors.
    """
    delta_arr = np.atleast_1d(np.asarray(delta, dtype=float))
    se_arr = np.atleast_1d(np.asarray(se, dtype=float))
    if delta_arr.shape != se_arr.shape:
        raise ValueError(
            f"delta and se must have the same length ({delta_arr.size} vs {se_arr.size})"
        )
    if np.isnan(delta_arr).any() or np.isnan(se_arr).any():
        raise ValueError("delta and se must not contain NaN")
    if (se_arr < 0).any():
        raise ValueError("standard errors must be non-negative")
    zero_se = se_arr == 0
    safe_se = np.where(zero_se, 1.0, se_arr)
    return np.where(
        zero_se, np.where(delta_arr == 0, 0.0, np.copysign(np.inf, delta_arr)), delta_arr / safe_se
    )


def cusum(
    z: np.ndarray, k: float = CUSUM_K, h: float = CUSUM_H, *, limit: float | None = None
) -> CusumResult:
    """Two-sided CUSUM: S+_t = max(0, S+_{t-1} + z_t - k), S-_t = max(0, S-_{t-1} - z_t - k).

    Why: "A fresh test every night raises false alarms"; CUSUM accumulates small persistent
    shifts and alarms when S+ or S- exceeds h. With k = 0.5 and h = 5 the in-control average
    run length is about 465 nights and a 1-SE shift is caught in about 10 (checked by simulation
    in the tests). The sums are not reset after an alarm: the alarm stays on while the drift
    lasts, and restarting (an acknowledged alarm, a new reference) is the caller's decision.

    With ``limit`` (the one-night limit L, `SHEWHART_Z`) this is the combined Shewhart-CUSUM of
    Lucas & Crosier: |z_t| > L alarms the same night, and the sums add z winsorised at +-L, so
    a single night moves a sum by at most L - k. A 4.8-SE jump alarms at once; a judge glitch of
    three nights leaves S+ at most 3 (L - k) = 10.5 (about 2 h), from which the sum falls by k
    per quiet night instead of staying at 10^6. P(|z| > 4) is 6e-5 a night, so the in-control
    run length stays about 450 nights.
    """
    z_arr = np.asarray(z, dtype=float)
    if z_arr.ndim != 1:
        raise ValueError(f"z must be one-dimensional, got shape {z_arr.shape}")
    if np.isnan(z_arr).any():
        raise ValueError(
            f"z contains NaN at nights {np.flatnonzero(np.isnan(z_arr))[:10].tolist()}"
        )
    if not (math.isfinite(k) and k >= 0) or not (math.isfinite(h) and h > 0):
        raise ValueError(f"need finite k >= 0 and h > 0, got k={k}, h={h}")
    if limit is not None and not (math.isfinite(limit) and limit > 0):
        raise ValueError(f"the one-night limit must be a finite positive number, got {limit}")
    cap = limit if limit is not None else _CUSUM_Z_CAP
    shewhart_up = z_arr > cap if limit is not None else np.zeros(z_arr.shape, dtype=bool)
    shewhart_down = z_arr < -cap if limit is not None else np.zeros(z_arr.shape, dtype=bool)
    z_arr = np.clip(z_arr, -cap, cap)
    s_plus = np.empty_like(z_arr)
    s_minus = np.empty_like(z_arr)
    up = down = 0.0
    for t, z_t in enumerate(z_arr.tolist()):
        up = max(0.0, up + z_t - k)
        down = max(0.0, down - z_t - k)
        s_plus[t], s_minus[t] = up, down
    alarm_up = (s_plus > h) | shewhart_up
    alarm_down = (s_minus > h) | shewhart_down
    alarm = alarm_up | alarm_down
    # A night on which both sides signal takes tonight's own one-night signal if there is one (a
    # sharp move the other way after a run-up is news about tonight), else the sum further past h.
    up_wins = np.where(shewhart_up | shewhart_down, shewhart_up, s_plus >= s_minus)
    directions = np.where(
        alarm_up & (~alarm_down | up_wins), "up", np.where(alarm_down, "down", None)
    )
    first_alarm: int | None = None
    direction: Literal["up", "down"] | None = None
    if alarm.any():
        first_alarm = int(np.argmax(alarm))
        direction = directions[first_alarm]
    return CusumResult(
        s_plus,
        s_minus,
        alarm,
        first_alarm,
        direction,
        float(k),
        float(h),
        limit=limit,
        shewhart=shewhart_up | shewhart_down,
        directions=directions,
    )


def rejudge_se(differences: np.ndarray, span: float) -> float:
    """SE of the mean change when the same items are judged again (the judge canaries), never 0.

    The paired SE of the differences, pooled with one pseudo-item that moved by half the scale
    (``span`` = high - low): var = (sum (d_i - mean d)^2 + span^2 / 2) / n, SE = sqrt(var / n).
    A deterministic judge that repeats itself has SE sqrt(0.5) / n instead of 0 (so z stays
    finite when every canary flips at once), one flipped canary of 50 is z = 0.8 and five are
    z = 2.2, close to the plain paired SE.
    """
    d = _as_1d_float(differences, "differences")
    if d.size < 1:
        raise ValueError("need at least 1 re-judged item")
    if not (math.isfinite(span) and span > 0):
        raise ValueError(f"span must be a positive number, got {span}")
    variance = (float(np.sum((d - d.mean()) ** 2)) + span**2 / 2) / d.size
    return math.sqrt(variance / d.size)


# --------------------------------------------------------------------------------------------
# Judge reliability ("The judge": agreement figures)
# --------------------------------------------------------------------------------------------


def _labels_for(a: np.ndarray, b: np.ndarray, labels: Sequence[Any] | None) -> list[Any]:
    if labels is None:
        return np.unique(np.concatenate([a, b])).tolist()
    label_list = list(labels)
    if len(set(label_list)) != len(label_list):
        raise ValueError("labels must be distinct")
    unknown = sorted(map(str, set(np.concatenate([a, b]).tolist()) - set(label_list)))
    if unknown:
        raise ValueError(f"ratings contain values not in labels: {unknown[:10]}")
    return label_list


def _two_raters(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.ndim != 1 or a_arr.shape != b_arr.shape:
        raise ValueError(
            f"the two raters must rate the same units: lengths {a_arr.size} and {b_arr.size}"
        )
    if a_arr.size == 0:
        raise ValueError("no units rated")
    return a_arr, b_arr


def confusion_matrix(a: np.ndarray, b: np.ndarray, labels: Sequence[Any]) -> np.ndarray:
    """Counts of (a label, b label): rows are rater ``a``, columns rater ``b``, in ``labels`` order.

    Built on ``scipy.stats.contingency.crosstab``; a value outside ``labels`` is an error rather
    than being silently dropped.
    """
    a_arr, b_arr = _two_raters(a, b)
    label_list = _labels_for(a_arr, b_arr, labels)
    return np.asarray(crosstab(a_arr, b_arr, levels=(label_list, label_list)).count)


def cohen_kappa(a: np.ndarray, b: np.ndarray, labels: Sequence[Any] | None = None) -> float:
    """Cohen's kappa: chance-corrected agreement of two raters on nominal labels.

    Why: "Judge vs human: Cohen's kappa for labels". kappa = (p_o - p_e) / (1 - p_e), with p_e
    from the two raters' marginals. NaN when p_e = 1 (both raters used one and the same label):
    agreement beyond chance is then undefined.
    """
    a_arr, b_arr = _two_raters(a, b)
    table = confusion_matrix(a_arr, b_arr, _labels_for(a_arr, b_arr, labels)).astype(float)
    n = table.sum()
    p_observed = np.trace(table) / n
    p_expected = float(table.sum(axis=1) @ table.sum(axis=0)) / n**2
    if math.isclose(p_expected, 1.0):
        return math.nan
    return float((p_observed - p_expected) / (1.0 - p_expected))


def weighted_kappa(
    a: np.ndarray,
    b: np.ndarray,
    *,
    weights: Literal["quadratic", "linear"] = "quadratic",
    categories: Sequence[Any] | None = None,
) -> float:
    """Weighted kappa for ordinal scores: 1 - sum(w * observed) / sum(w * expected).

    Why: "quadratic-weighted kappa for ordinal scores" (judge vs human): a 4-vs-5 disagreement
    should cost less than a 1-vs-5. Disagreement weights are ((x_i - x_j) / (x_max - x_min))^2
    (or the absolute value for "linear") on the category positions x. Numeric categories are
    placed at their values, so pass the full scale (e.g. ``range(1, 6)``) to keep unused points
    in the expected-agreement marginals; non-numeric categories are placed at their rank in
    ``categories``. NaN when expected disagreement is 0.
    """
    if weights not in ("quadratic", "linear"):
        raise ValueError(f"weights must be 'quadratic' or 'linear', got {weights!r}")
    a_arr, b_arr = _two_raters(a, b)
    cats = _labels_for(a_arr, b_arr, categories)
    if len(cats) < 2:
        return math.nan
    try:
        positions = np.asarray(cats, dtype=float)
    except (TypeError, ValueError):
        positions = np.arange(len(cats), dtype=float)
    distance = np.abs(positions[:, None] - positions[None, :]) / np.ptp(positions)
    w = distance**2 if weights == "quadratic" else distance
    table = confusion_matrix(a_arr, b_arr, cats).astype(float)
    observed = table / table.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    expected_disagreement = float(np.sum(w * expected))
    if expected_disagreement == 0.0:
        return math.nan
    return float(1.0 - np.sum(w * observed) / expected_disagreement)


def krippendorff_alpha(data: np.ndarray, level: KrippendorffLevel) -> float:
    """Krippendorff's alpha for ``data`` shaped (raters x units), NaN = missing.

    Why: "Judge reliability: re-judge ~100 transcripts 3 times; Krippendorff's alpha (interval
    for scales, nominal for labels): >= 0.80 good, 0.667-0.80 tentative". Alpha handles any
    number of raters and missing ratings. Computed from the coincidence matrix (Krippendorff
    2011, "Computing Krippendorff's Alpha-Reliability"): units with fewer than 2 ratings are not
    pairable and drop out; alpha = 1 - (n - 1) * sum(o_ck d_ck) / sum(n_c n_k d_ck) with the
    squared difference d_ck of the chosen level. Labels must be coded as numbers for this
    array interface. NaN when there is no pairable unit or no variation to disagree about.
    """
    if level not in ("nominal", "interval", "ordinal"):
        raise ValueError(f"level must be 'nominal', 'interval' or 'ordinal', got {level!r}")
    ratings = np.asarray(data, dtype=float)
    if ratings.ndim != 2:
        raise ValueError(f"data must be raters x units (2-D), got shape {ratings.shape}")
    pairable = np.sum(~np.isnan(ratings), axis=0) >= 2
    ratings = ratings[:, pairable]
    if ratings.size == 0:
        return math.nan
    values = np.unique(ratings[~np.isnan(ratings)])
    if values.size < 2:
        return math.nan
    # counts[u, c]: how many raters gave value c to unit u.
    present = ~np.isnan(ratings)
    units = np.broadcast_to(np.arange(ratings.shape[1]), ratings.shape)[present]
    codes = np.searchsorted(values, ratings[present])
    counts = np.zeros((ratings.shape[1], values.size))
    np.add.at(counts, (units, codes), 1.0)  # one scatter-add for all units (was a loop per unit)
    m_u = counts.sum(axis=1)
    # Coincidence matrix: o_ck = sum_u (n_uc n_uk - [c == k] n_uc) / (m_u - 1).
    per_unit = counts[:, :, None] * counts[:, None, :]
    per_unit[:, np.arange(values.size), np.arange(values.size)] -= counts
    coincidences = np.sum(per_unit / (m_u - 1)[:, None, None], axis=0)
    n_c = coincidences.sum(axis=1)
    n_total = n_c.sum()

    if level == "nominal":
        delta = 1.0 - np.eye(values.size)
    elif level == "interval":
        delta = (values[:, None] - values[None, :]) ** 2
    else:  # ordinal: squared rank distance built from the marginal counts n_g
        cumulative = np.cumsum(n_c) - n_c / 2.0  # sum_{g <= c} n_g - n_c / 2
        delta = (cumulative[:, None] - cumulative[None, :]) ** 2
    expected = float(np.sum(np.outer(n_c, n_c) * delta))
    if expected == 0.0:
        return math.nan
    return float(1.0 - (n_total - 1.0) * np.sum(coincidences * delta) / expected)


def _bootstrap_intervals(
    statistic: Callable[..., Any],
    data: tuple[np.ndarray, ...],
    *,
    confidences: Sequence[float],
    n_resamples: int,
    seed: int,
) -> list[tuple[float, float]]:
    """Bootstrap intervals at several confidence levels from one set of resamples.

    The resamples are drawn once and reused for the further levels (scipy's
    ``bootstrap_result``), so e.g. the 95% and 90% CIs of one comparison come from the same
    bootstrap distribution. BCa first, percentile if BCa cannot form finite bounds, else NaN.
    """
    for method in ("BCa", "percentile"):
        intervals: list[tuple[float, float]] = []
        first: Any = None
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # degenerate-data warnings are handled below
            for confidence in confidences:
                result = stats.bootstrap(
                    data,
                    statistic,
                    paired=True,
                    n_resamples=n_resamples if first is None else 0,
                    bootstrap_result=first,
                    confidence_level=confidence,
                    method=method,
                    random_state=np.random.default_rng(seed),
                )
                first = first if first is not None else result
                ci = result.confidence_interval
                intervals.append((float(ci.low), float(ci.high)))
        if all(math.isfinite(bound) for interval in intervals for bound in interval):
            return intervals
    return [(math.nan, math.nan)] * len(confidences)


def bootstrap_ci(
    statistic: Callable[..., Any],
    *arrays: np.ndarray,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap CI of ``statistic(*arrays)``, resampling units (rows shared across arrays).

    Why: agreement figures need an interval ("kappa's 95% half-width is about ±0.16 at n = 100")
    and so does the mean d of a binary rate below a few hundred probes. Uses
    ``scipy.stats.bootstrap(paired=True)`` with BCa; if BCa cannot form an interval (all
    resampled statistics equal, or the jackknife is degenerate) it falls back to the percentile
    interval, and if that is not finite either (e.g. the statistic is undefined on some
    resample) it returns (nan, nan) instead of raising. Fewer than 2 units also give (nan, nan).
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    data = tuple(np.asarray(array) for array in arrays)
    n = data[0].shape[0] if data[0].ndim else 0
    if any(array.ndim != 1 or array.shape[0] != n for array in data):
        raise ValueError(
            "bootstrap_ci arrays must be one-dimensional and of equal length (one row per unit)"
        )
    if n < 2:
        return (math.nan, math.nan)
    return _bootstrap_intervals(
        statistic, data, confidences=(confidence,), n_resamples=n_resamples, seed=seed
    )[0]


# --------------------------------------------------------------------------------------------
# Beyond judge scores
# --------------------------------------------------------------------------------------------


def length_ratio_test(
    baseline_lengths: np.ndarray, candidate_lengths: np.ndarray
) -> LengthRatioResult:
    """Did responses get longer or shorter? Wilcoxon on the per-probe log length ratio.

    Why: "length with Wilcoxon on the log ratio" ("Beyond judge scores"), reported next to every
    drift because judges favour verbosity. The log ratio makes a doubling and a halving
    symmetric; it is taken as log((candidate + 1) / (baseline + 1)) so an empty response stays
    finite (the +1 is immaterial at normal lengths). Zero ratios are kept in the ranking
    (``zero_method='pratt'``); if no probe changed length, p = 1.
    """
    base, cand = _paired_arrays(baseline_lengths, candidate_lengths)
    if (base < 0).any() or (cand < 0).any():
        raise ValueError("lengths must be non-negative")
    if base.size < 2:
        raise ValueError("need at least 2 paired probes")
    log_ratio = np.log1p(cand) - np.log1p(base)
    p = 1.0 if not log_ratio.any() else float(stats.wilcoxon(log_ratio, zero_method="pratt").pvalue)
    return LengthRatioResult(
        n=base.size,
        median_ratio=float(np.exp(np.median(log_ratio))),
        geometric_mean_ratio=float(np.exp(np.mean(log_ratio))),
        p_two_sided=p,
        test_name=TEST_WILCOXON,
    )
