"""Tests for character.analysis.stats: known answers worked by hand, and seeded simulations.

Hand calculations are written out in comments next to each check so a reviewer can redo them.
The simulations (marked `slow`) check the properties METHODS.md relies on: the gate's false-alarm
rate under no change, its power, the meaning of the MDE, and the CUSUM run lengths.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from character.analysis.stats import (
    TEST_MCNEMAR,
    TEST_PAIRED_T,
    TEST_SIGN_FLIP,
    TEST_WILCOXON,
    Classification,
    DriftClass,
    PairedResult,
    benjamini_hochberg,
    bootstrap_ci,
    classify,
    cohen_kappa,
    confusion_matrix,
    cusum,
    cusum_z,
    equivalent,
    holm,
    krippendorff_alpha,
    length_ratio_test,
    mcnemar,
    minimum_detectable_effect,
    paired_difference,
    probes_needed,
    sign_flip_test,
    weighted_kappa,
)

# Any warning (scipy's degenerate-data or small-sample notes) is a failure: the module is meant
# to handle those cases itself.
# numpy/scipy warnings in the statistics are errors; a socket left by another test in the same
# worker, reported when the garbage collector runs during one of these, is not about them
pytestmark = [
    pytest.mark.filterwarnings("error"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _mcnemar_arms(n01: int, n10: int, n00: int, n11: int) -> tuple[np.ndarray, np.ndarray]:
    baseline = np.r_[np.zeros(n01), np.ones(n10), np.zeros(n00), np.ones(n11)]
    candidate = np.r_[np.ones(n01), np.zeros(n10), np.zeros(n00), np.ones(n11)]
    return baseline, candidate


def _binary_arms(
    rng: np.random.Generator, n_probes: int, shift: float, epochs: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Per-probe pass rates over `epochs`, probes heterogeneous (Beta(0.8, 3.2): mean 0.20, SD 0.18).

    That heterogeneity reproduces METHODS' planning numbers: SD_d ~ 0.245 at K = 5, hence an MDE
    of ~5.6 pp at 150 probes.
    """
    rates = rng.beta(0.8, 3.2, n_probes)
    baseline = rng.binomial(epochs, rates) / epochs
    candidate = rng.binomial(epochs, np.clip(rates + shift, 0.0, 1.0)) / epochs
    return baseline, candidate


def _result(**overrides: object) -> PairedResult:
    """A PairedResult with neutral values, for exercising `classify` directly."""
    base = {
        "scale": "binary",
        "epochs": 5,
        "worse": "higher",
        "n": 150,
        "n_probes": 150,
        "clustered": False,
        "mean_baseline": 0.20,
        "mean_candidate": 0.20,
        "diff": 0.0,
        "se": 0.02,
        "sd_diff": 0.245,
        "ci95": (-0.04, 0.04),
        "ci90": (-0.03, 0.03),
        "ci_method": "t",
        "p_two_sided": 1.0,
        "p_worse_one_sided": 0.5,
        "p_better_one_sided": 0.5,
        "test_name": TEST_SIGN_FLIP,
        "check_test_name": None,
        "check_p": None,
        "correlation": 0.9,
        "n01": None,
        "n10": None,
    }
    base.update(overrides)
    return PairedResult(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# McNemar, sign-flip, paired t
# ---------------------------------------------------------------------------------------------


def test_mcnemar_hand_table() -> None:
    """Exact McNemar equals the binomial tail on the discordant pairs (n01=9, n10=2)."""
    baseline, candidate = _mcnemar_arms(n01=9, n10=2, n00=30, n11=9)
    result = mcnemar(baseline, candidate)
    # 11 discordant pairs, X ~ Bin(11, 1/2). P(X <= 2) = (1 + 11 + 55) / 2048 = 67/2048.
    # Two-sided = 2 * 67/2048 = 134/2048 = 0.0654296875; P(X >= 9) = 67/2048 = 0.0327148...
    assert (result.n01, result.n10, result.n) == (9, 2, 50)
    assert result.p_two_sided == pytest.approx(134 / 2048, abs=1e-12)
    assert result.p_higher == pytest.approx(67 / 2048, abs=1e-12)
    # P(X <= 9) = 1 - P(X >= 10) = 1 - (11 + 1)/2048 = 2036/2048.
    assert result.p_lower == pytest.approx(2036 / 2048, abs=1e-12)


def test_paired_difference_binary_k1_routes_to_mcnemar() -> None:
    """Binary K = 1 uses exact McNemar, and the worse direction picks the matching tail."""
    baseline, candidate = _mcnemar_arms(n01=9, n10=2, n00=30, n11=9)
    worse_higher = paired_difference(baseline, candidate, scale="binary", epochs=1, worse="higher")
    assert worse_higher.test_name == TEST_MCNEMAR
    assert (worse_higher.n01, worse_higher.n10) == (9, 2)
    # diff = (9 - 2) / 50 = 0.14
    assert worse_higher.diff == pytest.approx(0.14)
    assert worse_higher.p_two_sided == pytest.approx(134 / 2048)
    assert worse_higher.p_worse_one_sided == pytest.approx(67 / 2048)
    assert worse_higher.p_better_one_sided == pytest.approx(2036 / 2048)
    assert worse_higher.ci95[0] < 0.14 < worse_higher.ci95[1]
    worse_lower = paired_difference(baseline, candidate, scale="binary", epochs=1, worse="lower")
    assert worse_lower.p_worse_one_sided == pytest.approx(2036 / 2048)
    assert worse_lower.p_better_one_sided == pytest.approx(67 / 2048)


def test_binary_k1_rejects_rates() -> None:
    """With one epoch a binary score is 0 or 1; a rate means the caller mislabelled epochs."""
    with pytest.raises(ValueError, match="exactly 0 or 1"):
        paired_difference([0.0, 0.5], [1.0, 1.0], scale="binary", epochs=1, worse="higher")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        paired_difference([0.0, 1.2], [1.0, 1.0], scale="binary", epochs=5, worse="higher")


def test_paired_t_hand_calculation() -> None:
    """Ordinal scores use the paired t test; mean, SE, t-based CI and p match a hand calculation."""
    baseline = np.array([3.0, 2.0, 4.0, 1.0, 5.0, 2.0])
    candidate = np.array([4.0, 4.0, 4.0, 4.0, 4.0, 3.0])
    # d = [1, 2, 0, 3, -1, 1]; mean 1; deviations [0, 1, -1, 2, -2, 0], sum of squares 10.
    # SE = sqrt(10 / (5 * 6)) = sqrt(1/3) = 0.57735; t = 1 / 0.57735 = sqrt(3) = 1.73205, df 5.
    # t table: t_{0.975,5} = 2.570582, t_{0.95,5} = 2.015048; P(T_5 > sqrt 3) = 0.0719054.
    result = paired_difference(baseline, candidate, scale="ordinal", epochs=1, worse="higher")
    assert result.test_name == TEST_PAIRED_T
    assert result.ci_method == "t"
    assert result.n == 6
    assert result.diff == pytest.approx(1.0)
    assert result.mean_baseline == pytest.approx(17 / 6)
    assert result.mean_candidate == pytest.approx(23 / 6)
    assert result.se == pytest.approx(math.sqrt(1 / 3))
    assert result.sd_diff == pytest.approx(math.sqrt(2))
    assert result.ci95 == pytest.approx(
        (1 - 2.570582 * 0.577350, 1 + 2.570582 * 0.577350), abs=1e-5
    )
    assert result.ci90 == pytest.approx(
        (1 - 2.015048 * 0.577350, 1 + 2.015048 * 0.577350), abs=1e-5
    )
    assert result.p_worse_one_sided == pytest.approx(0.0719054, abs=1e-6)
    assert result.p_two_sided == pytest.approx(2 * 0.0719054, abs=1e-6)
    assert result.p_better_one_sided == pytest.approx(1 - 0.0719054, abs=1e-6)
    assert result.check_test_name == TEST_WILCOXON
    assert result.check_p is not None and 0 < result.check_p <= 1


def test_se_is_the_paired_se_from_the_differences() -> None:
    """SE = sqrt(sum((d_i - mean)^2) / ((n - 1) n)) on the d_i, not from the two arms separately."""
    rng = np.random.default_rng(7)
    baseline = rng.normal(5.0, 2.0, 80)
    candidate = baseline + rng.normal(0.1, 0.5, 80)  # arms strongly correlated
    d = candidate - baseline
    hand_se = math.sqrt(float(np.sum((d - d.mean()) ** 2)) / (79 * 80))
    result = paired_difference(baseline, candidate, scale="continuous", epochs=1, worse="lower")
    assert result.se == pytest.approx(hand_se)
    # The unpaired SE would be ~sqrt(2) * 2 / sqrt(80) = 0.32, far above the paired ~0.056.
    assert result.se < 0.1
    assert result.correlation is not None and result.correlation > 0.9


def test_sign_flip_exact_small_sample() -> None:
    """With 2^n <= n_resamples scipy enumerates every sign flip: d = 1..5 gives p = 1/32 exactly."""
    # All five differences positive and distinct: only the all-plus flip reaches the observed mean,
    # so P(mean >= observed) = 1/32 = 0.03125, two-sided 2/32 = 0.0625.
    result = sign_flip_test(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert result.p_higher == pytest.approx(1 / 32)
    assert result.p_lower == pytest.approx(1.0)
    assert result.p_two_sided == pytest.approx(2 / 32)


def test_binary_multi_epoch_uses_sign_flip_and_bootstrap_ci() -> None:
    """Binary K >= 2 uses the sign-flip test, a bootstrap CI below 300 probes and t above."""
    rng = np.random.default_rng(3)
    baseline, candidate = _binary_arms(rng, 150, shift=0.05)
    small = paired_difference(baseline, candidate, scale="binary", epochs=5, worse="higher", seed=1)
    assert small.test_name == TEST_SIGN_FLIP
    assert small.ci_method == "bootstrap BCa"
    assert small.check_p is None and small.check_test_name is None
    assert small.ci95[0] < small.ci90[0] < small.diff < small.ci90[1] < small.ci95[1]
    standalone = sign_flip_test(candidate - baseline, seed=1)
    assert small.p_worse_one_sided == standalone.p_higher
    assert small.p_two_sided == standalone.p_two_sided
    baseline, candidate = _binary_arms(rng, 400, shift=0.05)
    large = paired_difference(baseline, candidate, scale="binary", epochs=5, worse="higher")
    assert large.ci_method == "t"


def test_same_seed_same_result() -> None:
    """Reports must be reproducible: the permutation p and bootstrap CI depend only on the seed."""
    rng = np.random.default_rng(11)
    baseline, candidate = _binary_arms(rng, 60, shift=0.03)
    first = paired_difference(baseline, candidate, scale="binary", epochs=5, worse="higher", seed=5)
    again = paired_difference(baseline, candidate, scale="binary", epochs=5, worse="higher", seed=5)
    assert first == again


# ---------------------------------------------------------------------------------------------
# Degenerate and invalid inputs
# ---------------------------------------------------------------------------------------------


def test_all_differences_zero() -> None:
    """Nothing moved: diff 0, CI (0, 0), every p = 1, for each test family."""
    values = np.array([0.2, 0.4, 0.0, 1.0, 0.6])
    for scale, epochs in (("binary", 5), ("ordinal", 1)):
        result = paired_difference(
            values, values.copy(), scale=scale, epochs=epochs, worse="higher"
        )
        assert result.diff == 0.0
        assert result.ci95 == (0.0, 0.0) and result.ci90 == (0.0, 0.0)
        assert result.p_two_sided == result.p_worse_one_sided == result.p_better_one_sided == 1.0
        assert result.se == 0.0
    ones = np.ones(4)
    mc = paired_difference(ones, ones, scale="binary", epochs=1, worse="higher")
    assert mc.test_name == TEST_MCNEMAR and (mc.n01, mc.n10) == (0, 0) and mc.p_two_sided == 1.0
    assert mc.correlation is None  # both arms constant: Pearson undefined, not NaN


def test_constant_nonzero_shift_uses_exact_sign_flip() -> None:
    """Every probe up by exactly 0.5: t is undefined (zero SE), so the exact sign-flip test decides."""
    baseline = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 2.0])
    result = paired_difference(baseline, baseline + 0.5, scale="ordinal", epochs=1, worse="higher")
    assert result.test_name == TEST_SIGN_FLIP
    assert result.ci95 == (0.5, 0.5)
    # 2^6 = 64 flips, only the all-plus one reaches the observed mean: p = 1/64.
    assert result.p_worse_one_sided == pytest.approx(1 / 64)


def test_invalid_inputs_raise_with_the_problem_named() -> None:
    """Misaligned lengths, NaN and too few probes are caller errors, reported as such."""
    with pytest.raises(ValueError, match="lengths differ"):
        paired_difference([1.0, 2.0, 3.0], [1.0, 2.0], scale="ordinal", epochs=1, worse="higher")
    with pytest.raises(ValueError, match="NaN"):
        paired_difference(
            [1.0, np.nan, 3.0], [1.0, 2.0, 3.0], scale="ordinal", epochs=1, worse="higher"
        )
    with pytest.raises(ValueError, match="need at least 2 paired probes"):
        paired_difference([1.0], [2.0], scale="ordinal", epochs=1, worse="higher")
    with pytest.raises(ValueError, match="need at least 2 paired probes"):
        paired_difference(
            [1.0, 2.0, 3.0],
            [2.0, 2.0, 2.0],
            scale="ordinal",
            epochs=1,
            worse="higher",
            clusters=["a"] * 3,
        )
    with pytest.raises(ValueError, match="epochs"):
        paired_difference([1.0, 2.0], [2.0, 2.0], scale="ordinal", epochs=0, worse="higher")
    with pytest.raises(ValueError, match="scale"):
        paired_difference([1.0, 2.0], [2.0, 2.0], scale="likert", epochs=1, worse="higher")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clusters"):
        paired_difference(
            [1.0, 2.0], [2.0, 2.0], scale="ordinal", epochs=1, worse="higher", clusters=[1]
        )


def test_results_are_frozen() -> None:
    """Results are values: nobody downstream may edit a p-value in place."""
    result = paired_difference(
        [1.0, 2.0, 3.0], [2.0, 2.0, 4.0], scale="ordinal", epochs=1, worse="higher"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.diff = 0.0  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Clusters
# ---------------------------------------------------------------------------------------------


def test_clusters_are_averaged_before_testing() -> None:
    """Variants of one scenario are one unit: the test runs on cluster means ("Unit of analysis")."""
    # Two clusters of two probes and one singleton: cluster means baseline [1.5, 3.5, 5],
    # candidate [2.5, 3.5, 7]; d = [1, 0, 2], mean 1, SD 1, SE 1/sqrt(3).
    baseline = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    candidate = np.array([2.0, 3.0, 3.0, 4.0, 7.0])
    result = paired_difference(
        baseline,
        candidate,
        scale="ordinal",
        epochs=1,
        worse="higher",
        clusters=np.array(["a", "a", "b", "b", "c"]),
    )
    assert result.clustered and result.n == 3 and result.n_probes == 5
    assert result.test_name == TEST_PAIRED_T  # fewer than 10 clusters: paired t on cluster means
    assert result.mean_baseline == pytest.approx(10 / 3)
    assert result.diff == pytest.approx(1.0)
    assert result.se == pytest.approx(1 / math.sqrt(3))


def test_ten_or_more_clusters_use_sign_flip() -> None:
    """ "Sign-flip over clusters when >= 10": 12 mirrored pairs -> sign-flip on 12 cluster means."""
    rng = np.random.default_rng(5)
    baseline = rng.integers(1, 11, 24).astype(float)
    candidate = np.clip(baseline + rng.integers(-1, 3, 24), 1, 10)
    clusters = np.repeat(np.arange(12), 2)
    result = paired_difference(
        baseline, candidate, scale="ordinal", epochs=1, worse="higher", clusters=clusters
    )
    assert result.n == 12 and result.test_name == TEST_SIGN_FLIP
    assert result.check_test_name == TEST_WILCOXON
    # Singleton clusters are no clustering at all: same as passing none.
    unclustered = paired_difference(
        baseline, candidate, scale="ordinal", epochs=1, worse="higher", clusters=np.arange(24)
    )
    assert not unclustered.clustered and unclustered.test_name == TEST_PAIRED_T


def test_clustered_binary_k1_does_not_use_mcnemar() -> None:
    """A cluster mean of 0/1 values is not 0/1, so clustered binary data uses the sign-flip test."""
    baseline, candidate = _mcnemar_arms(n01=9, n10=2, n00=5, n11=4)
    result = paired_difference(
        baseline, candidate, scale="binary", epochs=1, worse="higher", clusters=np.arange(20) // 2
    )
    assert result.test_name == TEST_SIGN_FLIP and result.n01 is None


# ---------------------------------------------------------------------------------------------
# Multiplicity, equivalence, MDE
# ---------------------------------------------------------------------------------------------


def test_holm_hand_values() -> None:
    """Holm on [0.01, 0.04, 0.03, 0.005] matches the step-down computed by hand."""
    # Sorted: 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04;
    # running max -> 0.02, 0.03, 0.06, 0.06; back in input order -> [0.03, 0.06, 0.06, 0.02].
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_handles_ties_and_empty() -> None:
    """Adjusted p never exceeds 1, ties get equal values, and no p-values give no adjustments."""
    # [0.5, 0.5, 0.01]: 0.01*3 = 0.03, 0.5*2 = 1.0, 0.5*1 -> max 1.0.
    assert holm([0.5, 0.5, 0.01]) == pytest.approx([1.0, 1.0, 0.03])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([]).size == 0
    with pytest.raises(ValueError):
        holm([0.1, np.nan])


def test_benjamini_hochberg_hand_values() -> None:
    """BH comes from scipy; check it against the hand step-up so the wrapper keeps input order."""
    # Sorted 0.005, 0.01, 0.03, 0.04 times m/i = 4, 2, 4/3, 1 -> 0.02, 0.02, 0.04, 0.04;
    # running min from the top leaves them; in input order -> [0.02, 0.04, 0.04, 0.02].
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg([]).size == 0


def test_equivalence_is_ci90_strictly_inside_margin() -> None:
    """TOST: equivalence holds only when the whole 90% CI is inside (-m, m)."""
    assert equivalent((-0.21, 0.15), 0.5)
    assert not equivalent((-0.21, 0.55), 0.5)
    assert not equivalent((-0.5, 0.1), 0.5)  # touching the margin is not inside it
    assert not equivalent((math.nan, 0.1), 0.5)
    with pytest.raises(ValueError):
        equivalent((-0.1, 0.1), 0.0)


def test_mde_matches_methods_planning_numbers() -> None:
    """METHODS: MDE 0.39 points with SD_d 1.7 and 150 probes (two-sided 0.05, 80% power)."""
    # (1.959964 + 0.841621) * 1.7 / sqrt(150) = 2.801585 * 1.7 / 12.247449 = 0.38887
    assert minimum_detectable_effect(1.7, 150) == pytest.approx(0.38887, abs=1e-4)
    assert round(minimum_detectable_effect(1.7, 150), 2) == 0.39
    # One-sided: (1.644854 + 0.841621) * 1.7 / 12.247449 = 0.34513
    assert minimum_detectable_effect(1.7, 150, one_sided=True) == pytest.approx(0.34513, abs=1e-4)
    assert minimum_detectable_effect(0.0, 150) == 0.0


def test_probes_needed_matches_methods_planning_number() -> None:
    """METHODS: a 0.5-point shift with SD_d 2.0 needs ~128 probes (t quantiles; z alone gives 126)."""
    # n = ((t_{0.975,127} + t_{0.80,127}) * 2.0 / 0.5)^2 = ((1.97882 + 0.84446) * 4)^2 = 127.55 -> 128
    assert probes_needed(0.5, 2.0) == 128


# ---------------------------------------------------------------------------------------------
# Gate decision
# ---------------------------------------------------------------------------------------------


def test_classify_regression_and_material_flag() -> None:
    """REGRESSION when the Holm p in the worse direction < alpha; material if the CI clears the margin."""
    barely = classify(_result(diff=0.064, ci95=(0.021, 0.107)), p_adjusted_worse=0.010, margin=0.05)
    assert barely.drift is DriftClass.REGRESSION and not barely.material
    material = classify(_result(diff=0.12, ci95=(0.07, 0.17)), p_adjusted_worse=0.001, margin=0.05)
    assert material.drift is DriftClass.REGRESSION and material.material
    # worse = "lower": the bound nearer 0 is the upper one and must be below -margin.
    lower = _result(worse="lower", diff=-0.9, ci95=(-1.4, -0.6), ci90=(-1.3, -0.7))
    assert classify(lower, p_adjusted_worse=0.001, margin=0.5).material
    assert isinstance(barely, Classification)


def test_classify_improvement_no_drift_inconclusive() -> None:
    """The other three outcomes, in the order METHODS lists them (first that applies)."""
    improved = classify(
        _result(diff=-0.06, ci95=(-0.09, -0.03), ci90=(-0.085, -0.035)),
        p_adjusted_worse=1.0,
        p_adjusted_better=0.004,
        margin=0.05,
    )
    assert improved.drift is DriftClass.IMPROVEMENT
    # Without an adjusted p for the good direction, the result's own one-sided p is used.
    unadjusted = classify(_result(p_better_one_sided=0.01), p_adjusted_worse=0.9, margin=0.05)
    assert unadjusted.drift is DriftClass.IMPROVEMENT
    flat = classify(
        _result(ci90=(-0.021, 0.015)), p_adjusted_worse=0.6, p_adjusted_better=0.7, margin=0.05
    )
    assert flat.drift is DriftClass.NO_DRIFT and str(flat.drift) == "NO DRIFT BEYOND MARGIN"
    unclear = classify(
        _result(diff=0.015, ci95=(-0.012, 0.042), ci90=(-0.008, 0.038)),
        p_adjusted_worse=0.3,
        p_adjusted_better=0.9,
        margin=0.03,
    )
    assert unclear.drift is DriftClass.INCONCLUSIVE
    # MDE from the run: 2.801585 * 0.245 / sqrt(150) = 0.05604 ("5.6 pp, binary, K = 5").
    assert unclear.mde == pytest.approx(0.05604, abs=1e-4)


def test_classify_regression_wins_over_equivalence() -> None:
    """Order matters: a significant worsening is REGRESSION even if its 90% CI sits inside the margin."""
    result = _result(diff=0.01, ci95=(0.004, 0.016), ci90=(0.005, 0.015))
    assert classify(result, p_adjusted_worse=0.001, margin=0.05).drift is DriftClass.REGRESSION


# ---------------------------------------------------------------------------------------------
# CUSUM
# ---------------------------------------------------------------------------------------------


def test_cusum_hand_series() -> None:
    """CUSUM recursion by hand: z = [0, 1, 2, 3, -1, 3] alarms upward on night 5."""
    # S+: 0, 0.5, 2.0, 4.5, 3.0, 5.5 (> 5 -> alarm); S-: 0, 0, 0, 0, 0.5, 0.
    result = cusum(np.array([0.0, 1.0, 2.0, 3.0, -1.0, 3.0]))
    assert result.s_plus == pytest.approx([0, 0.5, 2.0, 4.5, 3.0, 5.5])
    assert result.s_minus == pytest.approx([0, 0, 0, 0, 0.5, 0])
    assert result.alarm.tolist() == [False] * 5 + [True]
    assert (result.first_alarm, result.direction) == (5, "up")
    down = cusum(-np.array([0.0, 1.0, 2.0, 3.0, -1.0, 3.0]))
    assert (down.first_alarm, down.direction) == (5, "down")
    quiet = cusum(np.zeros(10))
    assert quiet.first_alarm is None and quiet.direction is None and not quiet.alarm.any()


def test_cusum_z_guards_zero_se() -> None:
    """z = delta / SE; SE 0 with no change is z 0, SE 0 with a change alarms at once."""
    z = cusum_z(np.array([0.2, 0.0, 0.1, -0.1]), np.array([0.1, 0.0, 0.0, 0.0]))
    assert z[:2].tolist() == [2.0, 0.0]
    assert z[2] == math.inf and z[3] == -math.inf
    assert cusum(z[2:3]).first_alarm == 0
    with pytest.raises(ValueError):
        cusum_z([0.1], [-0.1])
    with pytest.raises(ValueError):
        cusum(np.array([0.0, np.nan]))


@pytest.mark.slow
def test_cusum_in_control_average_run_length() -> None:
    """METHODS: k = 0.5, h = 5 gives a false alarm about every 465 nights; simulate 200 series."""
    rng = np.random.default_rng(2024)
    nights = 2000
    observed_nights, alarms = 0, 0
    for _ in range(200):
        first = cusum(rng.standard_normal(nights)).first_alarm
        if first is None:
            observed_nights += nights  # censored series: all nights count, no alarm
        else:
            observed_nights += first + 1
            alarms += 1
    arl0 = observed_nights / alarms  # run lengths ~ geometric: censored MLE of the mean
    assert 300 <= arl0 <= 700, arl0


@pytest.mark.slow
def test_cusum_detects_one_se_shift_in_about_ten_nights() -> None:
    """METHODS: a 1-SE shift is caught in about 10 nights; the mean delay must lie in [6, 14]."""
    rng = np.random.default_rng(99)
    delays = []
    for _ in range(200):
        result = cusum(rng.normal(1.0, 1.0, 200))
        assert result.first_alarm is not None and result.direction == "up"
        delays.append(result.first_alarm + 1)
    assert 6 <= float(np.mean(delays)) <= 14


# ---------------------------------------------------------------------------------------------
# Agreement statistics
# ---------------------------------------------------------------------------------------------


def test_cohen_kappa_textbook_example() -> None:
    """Two raters, 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> kappa 0.4."""
    # p_o = 35/50 = 0.70; rater a says yes 25/50, rater b 30/50;
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.50; kappa = (0.70 - 0.50) / (1 - 0.50) = 0.40.
    a = np.array(["yes"] * 25 + ["no"] * 25)
    b = np.array(["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15)
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert confusion_matrix(a, b, ["yes", "no"]).tolist() == [[20, 5], [10, 15]]
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    # Both raters always "yes": chance agreement is 1 and kappa is undefined.
    assert math.isnan(cohen_kappa(np.array(["yes"] * 5), np.array(["yes"] * 5)))
    with pytest.raises(ValueError, match="not in labels"):
        confusion_matrix(a, b, ["yes"])


def test_weighted_kappa_hand_example() -> None:
    """Quadratic and linear weighted kappa on a 3-point scale match the hand calculation."""
    a = np.array([1, 1, 2, 2, 3, 3])
    b = np.array([1, 2, 2, 3, 3, 3])
    # Quadratic weights (i - j)^2 / 4: 0, 0.25, 1. Two pairs off by one:
    # sum(w O) = 2 * 0.25 / 6 = 1/12. Marginals a = (1/3, 1/3, 1/3), b = (1/6, 2/6, 3/6):
    # sum(w E) = 1/3 * [(2/6 * .25 + 3/6) + (1/6 + 3/6) * .25 + (1/6 + 2/6 * .25)] = 1/3.
    # kappa_w = 1 - (1/12) / (1/3) = 0.75.
    assert weighted_kappa(a, b) == pytest.approx(0.75)
    # Linear weights 0, 0.5, 1: sum(w O) = 1/6, sum(w E) = 4/9; kappa_w = 1 - 9/24 = 0.625.
    assert weighted_kappa(a, b, weights="linear") == pytest.approx(0.625)
    # Unweighted: p_o = 4/6, p_e = 1/3 * (1/6 + 2/6 + 3/6) = 1/3; kappa = (1/3)/(2/3) = 0.5.
    assert cohen_kappa(a, b) == pytest.approx(0.5)
    # Unused end points of the scale change nothing (zero marginals, weights rescale uniformly).
    assert weighted_kappa(a, b, categories=range(1, 6)) == pytest.approx(0.75)


def test_weighted_kappa_uses_numeric_spacing() -> None:
    """Numeric scores keep their spacing: with 3 and 4 unused, a 2-vs-5 gap is not 'one step'."""
    # Categories 1, 2, 5 (span 4): w(1,2) = 1/16, w(1,5) = 1, w(2,5) = 9/16.
    # a = [1, 1, 5, 5], b = [1, 2, 5, 5]: sum(w O) = (1/16) / 4 = 1/64.
    # Marginals a = (.5, 0, .5), b = (.25, .25, .5):
    # sum(w E) = .5 * (.25/16 + .5) + .5 * (.25 + .25 * 9/16) = 29/64 -> kappa_w = 1 - 1/29 = 28/29.
    assert weighted_kappa([1, 1, 5, 5], [1, 2, 5, 5]) == pytest.approx(28 / 29)
    # Ordered text labels are placed by rank: low/mid/high = 0/1/2, so w(low, mid) = 1/4 and
    # kappa_w = 1 - (1/16) / (7/16) = 6/7.
    kappa = weighted_kappa(
        ["low", "low", "high", "high"],
        ["low", "mid", "high", "high"],
        categories=["low", "mid", "high"],
    )
    assert kappa == pytest.approx(6 / 7)


KRIPPENDORFF_2011 = np.array(
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", 4 observers x 12 units,
    # nominal data with missing values (NaN = unit not coded by that observer).
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
        [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
    ]
)


def test_krippendorff_alpha_canonical_example() -> None:
    """Reproduce the published alphas of Krippendorff's worked example (nominal .743, interval .849)."""
    assert krippendorff_alpha(KRIPPENDORFF_2011, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(KRIPPENDORFF_2011, "interval") == pytest.approx(0.849, abs=5e-4)
    # The same paper reports ordinal alpha .815 for these data.
    assert krippendorff_alpha(KRIPPENDORFF_2011, "ordinal") == pytest.approx(0.815, abs=5e-4)


def test_krippendorff_alpha_edge_cases() -> None:
    """Perfect agreement is 1; with no pairable unit or no variation alpha is undefined (NaN)."""
    perfect = np.array([[1, 2, 3, np.nan], [1, 2, 3, 4], [np.nan, 2, 3, np.nan]])
    assert krippendorff_alpha(perfect, "interval") == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha(np.array([[1.0, np.nan], [np.nan, 2.0]]), "nominal"))
    assert math.isnan(krippendorff_alpha(np.full((3, 4), 2.0), "nominal"))
    with pytest.raises(ValueError):
        krippendorff_alpha(np.array([1.0, 2.0]), "nominal")


def test_bootstrap_ci_for_kappa_and_degenerate_data() -> None:
    """Bootstrap CIs resample units across both raters, are seeded, and degrade to NaN not errors."""
    a = np.array(["yes"] * 25 + ["no"] * 25)
    b = np.array(["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15)
    lo, hi = bootstrap_ci(cohen_kappa, a, b, n_resamples=500, seed=3)
    assert lo < 0.4 < hi and 0.1 < hi - lo < 0.8
    assert bootstrap_ci(cohen_kappa, a, b, n_resamples=500, seed=3) == (lo, hi)
    # Constant data: BCa cannot form an interval; the percentile interval is the honest (c, c).
    assert bootstrap_ci(np.mean, np.full(20, 0.3), n_resamples=200) == pytest.approx((0.3, 0.3))
    # A statistic undefined on (some) resamples: (nan, nan) rather than an exception.
    constant = np.array(["yes"] * 10)
    assert all(
        math.isnan(v) for v in bootstrap_ci(cohen_kappa, constant, constant, n_resamples=100)
    )
    assert all(math.isnan(v) for v in bootstrap_ci(np.mean, np.array([1.0])))


# ---------------------------------------------------------------------------------------------
# Beyond judge scores
# ---------------------------------------------------------------------------------------------


def test_length_ratio_test() -> None:
    """Responses that all roughly doubled in length show a median ratio near 2 and a small p."""
    rng = np.random.default_rng(8)
    baseline = rng.integers(200, 2000, 60).astype(float)
    candidate = baseline * rng.uniform(1.8, 2.2, 60)
    result = length_ratio_test(baseline, candidate)
    assert result.median_ratio == pytest.approx(2.0, abs=0.05)
    assert result.p_two_sided < 1e-6
    unchanged = length_ratio_test(baseline, baseline)
    assert unchanged.median_ratio == 1.0 and unchanged.p_two_sided == 1.0
    with pytest.raises(ValueError):
        length_ratio_test([-1.0, 2.0], [1.0, 2.0])


# ---------------------------------------------------------------------------------------------
# Calibration by simulation
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_aa_false_positive_rate_binary_k5() -> None:
    """A/A: with no true change the one-sided gating test rejects at most ~5% (<= 7% of 400 runs)."""
    rng = np.random.default_rng(20240601)
    rejections = 0
    for rep in range(400):
        baseline, candidate = _binary_arms(rng, 100, shift=0.0)
        result = paired_difference(
            baseline, candidate, scale="binary", epochs=5, worse="higher", seed=rep, n_resamples=199
        )
        rejections += result.p_worse_one_sided < 0.05
    rate = rejections / 400
    assert 0.01 <= rate <= 0.07, rate


@pytest.mark.slow
def test_power_for_ten_point_shift_binary_k5() -> None:
    """A planted +10 pp rise over 150 probes x 5 epochs is caught at least 80% of the time."""
    rng = np.random.default_rng(20240602)
    detections = 0
    for rep in range(100):
        baseline, candidate = _binary_arms(rng, 150, shift=0.10)
        result = paired_difference(
            baseline, candidate, scale="binary", epochs=5, worse="higher", seed=rep, n_resamples=199
        )
        detections += result.p_worse_one_sided < 0.05
    assert detections / 100 >= 0.8


@pytest.mark.slow
def test_mde_means_eighty_percent_power() -> None:
    """A true shift equal to the MDE is detected (two-sided, alpha 0.05) about 80% of the time."""
    rng = np.random.default_rng(20240603)
    mde = minimum_detectable_effect(1.7, 150)
    detections = 0
    for _ in range(400):
        baseline = rng.normal(5.0, 2.0, 150)
        candidate = baseline + rng.normal(mde, 1.7, 150)
        result = paired_difference(
            baseline, candidate, scale="continuous", epochs=1, worse="higher"
        )
        detections += result.p_two_sided < 0.05
    assert 0.72 <= detections / 400 <= 0.88
