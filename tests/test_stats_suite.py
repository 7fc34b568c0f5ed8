"""The fixed-suite test, the within-probe SE floor and the combined Shewhart-CUSUM, by hand.

Known answers are worked in comments; the A/A calibration is a fast simulation (the full one, with
power, is `python -m bench decisions`, BENCHMARKS.md "Small suites").
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from character.analysis import stats

CAVE_3 = np.array([1.0] * 3 + [0.0] * 7)
CAVE_9 = np.array([1.0] * 9 + [0.0])


def test_design_floors_match_the_issue_numbers() -> None:
    """2 probes: 2^-2 = 0.25 whatever K; fixed suite 2 x 1: (1/2)^2; 2 x 10: 1/C(20,10)^2."""
    assert stats.probe_level_floor(2) == 0.25 and stats.probe_level_floor(6) == 1 / 64
    assert stats.fixed_suite_floor([1, 1], [1, 1]) == pytest.approx(0.25)
    assert stats.fixed_suite_floor([10, 10], [10, 10]) == pytest.approx(1 / math.comb(20, 10) ** 2)
    assert stats.fixed_suite_floor([10] * 200, [10] * 200) == 0.0  # underflows, never raises


def test_exact_stratified_test_on_the_issue_example() -> None:
    """3/10 -> 9/10 on each of 2 probes: S = 18 candidate 1s of 24; P(S >= 18) by convolution."""
    result = stats.fixed_suite_difference(
        [CAVE_3, CAVE_3], [CAVE_9, CAVE_9], scale="binary", worse="higher"
    )
    assert result.population == "suite" and result.test_name == stats.TEST_STRATIFIED_EXACT
    one = [
        math.comb(12, s) * math.comb(8, 10 - s) / math.comb(20, 10) for s in range(2, 11)
    ]  # S_i = 2..10
    tail = sum(one[a - 2] * one[b - 2] for a in range(2, 11) for b in range(2, 11) if a + b >= 18)
    assert result.p_worse_one_sided == pytest.approx(tail, rel=1e-12)
    assert result.diff == pytest.approx(0.6) and result.ci95[1] - result.ci95[0] > 0.4
    assert result.p_floor == pytest.approx(1 / math.comb(20, 10) ** 2)


def test_one_epoch_per_arm_reduces_to_exact_mcnemar() -> None:
    """K = 1: each discordant probe is a fair coin under H0; 3 discordant all worse -> 1/8."""
    base = [np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([1.0])]
    cand = [np.array([1.0]), np.array([1.0]), np.array([1.0]), np.array([1.0])]
    suite = stats.fixed_suite_difference(base, cand, scale="binary", worse="higher")
    mcnemar = stats.mcnemar(np.array([0, 0, 0, 1.0]), np.array([1, 1, 1, 1.0]))
    assert suite.p_worse_one_sided == pytest.approx(mcnemar.p_higher) == pytest.approx(1 / 8)


def test_stratified_permutation_is_exact_when_arrangements_are_few() -> None:
    """Ordinal, one probe, baseline (1, 2) vs candidate (3, 4): 1 of C(4, 2) = 6 arrangements is as extreme."""
    result = stats.fixed_suite_difference(
        [np.array([1.0, 2.0])],
        [np.array([3.0, 4.0])],
        scale="ordinal",
        worse="higher",
        low=1,
        high=5,
    )
    assert result.test_name == stats.TEST_STRATIFIED_PERMUTATION
    assert result.p_worse_one_sided == pytest.approx(1 / 6)
    assert result.p_better_one_sided == pytest.approx(1.0)


def test_within_probe_se_is_never_zero_on_a_bounded_scale() -> None:
    """Every epoch alike in both arms: no observed spread, yet the SE is the pseudo-df's, not 0.

    10 probes x 3 epochs all 0: SS 0 over 20 df; the arms' Agresti-Coull level is 2/34, so the
    pseudo df adds 2 x (2/34)(32/34); s2 = that / 21; SE = sqrt(10 s2 / 3) / 10.
    """
    zeros = [np.zeros(3)] * 10
    se = stats.within_probe_se(zeros, zeros, low=0, high=1)
    level = 2 / 34
    assert se == pytest.approx(math.sqrt(10 * (2 * level * (1 - level) / 21) / 3) / 10)
    assert stats.within_probe_se(zeros, zeros) == 0.0  # unbounded scores: no pseudo df


def test_probe_level_interval_is_floored_at_the_within_probe_se() -> None:
    """Six identical d_i of +0.6: the probe-level CI would be +0.6 to +0.6; floored, it is not."""
    base, cand = [CAVE_3] * 6, [CAVE_9] * 6
    within = stats.within_probe_se(base, cand, low=0, high=1)
    result = stats.paired_difference(
        np.full(6, 0.3),
        np.full(6, 0.9),
        scale="binary",
        epochs=10,
        worse="higher",
        within_se=within,
    )
    assert result.ci_method == stats.CI_FLOORED
    assert result.ci95 == pytest.approx(
        (0.6 - 1.959964 * within, 0.6 + 1.959964 * within), abs=1e-6
    )
    assert stats.result_mde(result) == pytest.approx(2.801585 * within, abs=1e-6)
    bare = stats.paired_difference(
        np.full(6, 0.3), np.full(6, 0.9), scale="binary", epochs=10, worse="higher"
    )
    assert bare.ci95 == (
        pytest.approx(0.6),
        pytest.approx(0.6),
    )  # what the issue saw, without the floor


def test_fixed_suite_test_holds_alpha_on_aa_draws() -> None:
    """1,500 A/A draws of 6 probes x 10 epochs at rates 0-40%: rejections at one-sided 0.05 stay at or
    under alpha (the exact conditional test is conservative); bound = alpha + 2 SE of the simulation."""
    rng = np.random.default_rng(2024)
    draws, rejected = 1500, 0
    for _ in range(draws):
        p = rng.uniform(0.0, 0.4, size=6)
        base = list((rng.random((6, 10)) < p[:, None]).astype(float))
        cand = list((rng.random((6, 10)) < p[:, None]).astype(float))
        rejected += (
            stats.fixed_suite_difference(
                base, cand, scale="binary", worse="higher"
            ).p_worse_one_sided
            < 0.05
        )
    assert rejected / draws <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / draws)


def test_rejudge_se_keeps_canary_z_finite() -> None:
    """Every canary flipped 0 -> 1: the paired SE is 0; the pseudo item keeps z finite (and huge)."""
    se = stats.rejudge_se(np.ones(50), span=1.0)
    assert se == pytest.approx(math.sqrt(0.5 / 50) / math.sqrt(50))
    assert 60 < 1.0 / se < 80


def test_combined_shewhart_cusum() -> None:
    """A 4.8-SE night alarms at once; the sums add z winsorised at L = 4; 3 glitch nights leave S+ at 3 x 3.5."""
    one_night = stats.cusum(np.array([0.1, 4.8]), k=0.5, h=5.0, limit=4.0)
    assert one_night.alarm.tolist() == [False, True] and one_night.first_alarm == 1
    assert one_night.shewhart.tolist() == [False, True] and one_night.s_plus[1] == pytest.approx(
        3.5
    )
    plain = stats.cusum(np.array([0.1, 4.8]), k=0.5, h=5.0)
    assert not plain.alarm.any()  # without the one-night limit a 4.8-SE jump takes two nights
    glitch = stats.cusum(np.array([0.0, 50.0, 50.0, 50.0, 0.0, 0.0]), k=0.5, h=5.0, limit=4.0)
    assert glitch.s_plus.tolist() == pytest.approx([0.0, 3.5, 7.0, 10.5, 10.0, 9.5])
    assert glitch.directions.tolist() == [None, "up", "up", "up", "up", "up"]
    swing = stats.cusum(np.array([50.0, 50.0, -50.0]), k=0.5, h=5.0, limit=4.0)
    assert swing.s_plus[-1] == pytest.approx(2.5) and swing.directions.tolist() == [
        "up",
        "up",
        "down",
    ]
    lingering = stats.cusum(np.array([50.0, 50.0, 50.0, -50.0]), k=0.5, h=5.0, limit=4.0)
    assert (
        lingering.s_plus[-1] > 5.0 and lingering.directions[-1] == "down"
    )  # tonight's own signal wins
    with pytest.raises(ValueError, match="finite"):
        stats.cusum(np.array([0.0]), k=0.5, h=math.inf)
