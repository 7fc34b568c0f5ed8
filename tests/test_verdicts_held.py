"""Verdicts that hold on real use (issue 11), second round of a tester's findings.

- A misspelt `[gate.margins]` key, found only when a comparison meets the runs, names the file.
- compare's own margin check (rubrics not installed here) refuses a rate margin of 1 like
  `load_config` does: both call `config.check_margin`.
- Settings are strict: `fail_on_warn = "yes"` or `1` is not true; `cusum_h`, `cusum_k` and
  `shewhart_z` have a range in which the nightly detector can still alarm.
- The fixed-suite SE does not depend on epoch numbers: permuting the epochs of a probe within an
  arm (an import listing epochs by outcome) leaves it and every statistic unchanged.
- Reply lengths identical across epochs give no zero-width CI ("+4.00 to +4.00"): not estimable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from test_compare import compare_frames, score_rows

from character.analysis import stats
from character.analysis.wording import finding_sentence
from character.cli.main import cli
from character.domain.config import GateConfig, load_config
from character.errors import CharacterError


def _config(tmp_path: Path, text: str, name: str = "m.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _rows(
    values: dict[int, list[float]], *, dimension: str = "capitulation", **extra
) -> pl.DataFrame:
    return score_rows(
        [
            {"probe_id": f"synthetic.p{i}", "dimension": dimension, "epoch": e, "value": v, **extra}
            for i, epochs in values.items()
            for e, v in enumerate(epochs, start=1)
        ]
    )


# --------------------------------------------------------------------------------------------
# Margins: the file and key named; one check for both paths
# --------------------------------------------------------------------------------------------


def test_a_misspelt_margin_key_names_the_config_file(tmp_path: Path) -> None:
    path = _config(
        tmp_path, '[gate]\nresamples = 999\n\n[gate.margins]\n"synthetic/capitulaton" = 0.05\n'
    )
    settings = load_config(path).gate
    rows = _rows({0: [0.0, 1.0], 1: [1.0, 0.0]})
    with pytest.raises(CharacterError) as caught:
        compare_frames(rows, rows, settings)
    assert caught.value.one_line() == (
        f"{path}: field 'gate.margins': 'synthetic/capitulaton' is not a dimension these runs scored "
        "(fix: use rubric/dimension, one of: synthetic/capitulation)"
    )


def test_the_gate_prints_the_misspelt_key_with_its_file_and_exits_2(tmp_path: Path) -> None:
    """The tester's repro: two imports, `[gate.margins] "pushback/capitulaton" = 0.05` in m.toml."""
    from test_small_suites import gate, import_pair

    store = tmp_path / "store"
    base, cand = import_pair(store, tmp_path, probes=2, epochs=2, base_caving=1, cand_caving=1)
    path = _config(tmp_path, '[gate.margins]\n"pushback/capitulaton" = 0.05\n')
    code, output = gate(store, base, cand, tmp_path / "reports", path)
    assert code == 2
    assert output.strip().splitlines()[-1] == (
        f"error: {path}: field 'gate.margins': 'pushback/capitulaton' is not a dimension these runs "
        "scored (fix: use rubric/dimension, one of: pushback/capitulation)"
    )
    assert not (tmp_path / "reports").exists()


def test_a_misspelt_gating_key_names_the_config_file_too(tmp_path: Path) -> None:
    path = _config(tmp_path, '[gate]\nresamples = 999\ngating = ["synthetic/capitulaton"]\n')
    rows = _rows({0: [0.0, 1.0], 1: [1.0, 0.0]})
    with pytest.raises(CharacterError) as caught:
        compare_frames(rows, rows, load_config(path).gate)
    assert caught.value.one_line().startswith(
        f"{path}: field 'gate.gating': 'synthetic/capitulaton' is not"
    )


@pytest.mark.parametrize(
    ("margin", "message", "remedy"),
    [
        (1, "margin 1 is +-100 pp, so no drift could ever exceed it:", "write 0.01"),
        (5, "margin 5 is above 1, but", "write 0.05"),
    ],
)
def test_compares_own_check_refuses_a_rate_margin_of_one_like_the_settings_path(
    tmp_path: Path, margin: int, message: str, remedy: str
) -> None:
    """The rubric 'synthetic' is not installed: load_config cannot check it, compare does, the same way."""
    path = _config(
        tmp_path,
        f'[gate]\nresamples = 999\n\n[gate.margins]\n"synthetic/capitulation" = {margin}\n',
    )
    settings = load_config(path).gate  # nothing to check yet: the scale is unknown here
    rows = _rows({0: [0.0, 1.0], 1: [1.0, 0.0]})
    with pytest.raises(CharacterError) as caught:
        compare_frames(rows, rows, settings)
    assert caught.value.one_line() == (
        f"{path}: field 'gate.margins.\"synthetic/capitulation\"': {message} 'synthetic/capitulation' is a "
        f"rate and rate margins are fractions (0.05 = 5 percentage points) (fix: {remedy})"
    )


def test_a_margin_below_one_on_a_rate_of_an_uninstalled_rubric_is_used() -> None:
    rows = _rows({0: [0.0, 1.0], 1: [1.0, 0.0]})
    comparison = compare_frames(
        rows, rows, GateConfig(resamples=999, margins={"synthetic/capitulation": 0.2})
    )
    assert comparison.dimensions["margin"].to_list() == [0.2]


# --------------------------------------------------------------------------------------------
# Strict settings
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "shown"),
    [
        ('[gate]\nfail_on_warn = "yes"\n', "gate.fail_on_warn", "'yes'"),
        ("[gate]\nfail_on_warn = 1\n", "gate.fail_on_warn", "1"),
        ('[gate]\nhard_constraints = "false"\n', "gate.hard_constraints", "'false'"),
        ("[nightly]\nbatch = 0\n", "nightly.batch", "0"),
    ],
)
def test_a_flag_is_true_or_false_not_yes_or_one(
    tmp_path: Path, text: str, field: str, shown: str
) -> None:
    path = _config(tmp_path, text)
    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path / "s"), "compare", "a", "b", "--config", str(path)]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {path}: field '{field}': Input should be a valid boolean (got {shown}) (fix: write true or false)"
    )


def test_true_and_false_still_read(tmp_path: Path) -> None:
    config = load_config(
        _config(tmp_path, "[gate]\nfail_on_warn = true\nhard_constraints = false\n")
    )
    assert config.gate.fail_on_warn is True and config.gate.hard_constraints is False


@pytest.mark.parametrize(
    ("key", "value", "range_text"),
    [
        ("cusum_h", "1000000", "1 to 20"),
        ("cusum_h", "0.5", "1 to 20"),
        ("shewhart_z", "1000000", "2 to 10"),
        ("shewhart_z", "1.5", "2 to 10"),
        ("cusum_k", "100", "above 0 to 2"),
        ("cusum_k", "0", "above 0 to 2"),
    ],
)
def test_nightly_detector_settings_stay_where_it_can_alarm(
    tmp_path: Path, key: str, value: str, range_text: str
) -> None:
    path = _config(tmp_path, f"[nightly]\n{key} = {value}\n")
    with pytest.raises(CharacterError) as caught:
        load_config(path)
    assert caught.value.field == f"nightly.{key}" and str(caught.value.file) == str(path)
    line = caught.value.one_line()
    assert line.startswith(f"{path}: field 'nightly.{key}': Input should be ")
    bound = range_text.split()[-1] if float(value) > 2 else range_text.split()[-3]
    assert bound in line


def test_the_documented_defaults_and_ends_are_accepted(tmp_path: Path) -> None:
    nightly = load_config(
        _config(tmp_path, "[nightly]\ncusum_h = 20\nshewhart_z = 2\ncusum_k = 2\n")
    ).nightly
    assert (nightly.cusum_h, nightly.shewhart_z, nightly.cusum_k) == (20, 2, 2)
    nightly = load_config(
        _config(tmp_path, "[nightly]\ncusum_h = 1\nshewhart_z = 10\n", "b.toml")
    ).nightly
    assert (nightly.cusum_h, nightly.shewhart_z) == (1, 10)


# --------------------------------------------------------------------------------------------
# Epochs are exchangeable: no statistic depends on their numbers
# --------------------------------------------------------------------------------------------


def _six_probes(order_by_outcome: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """6 probes x 10 epochs, 3 of 10 caving in both arms: listed 1s first, or at random places."""
    rng = np.random.default_rng(7)
    base, cand = [], []
    for _ in range(6):
        a, b = np.array([1.0] * 3 + [0.0] * 7), np.array([1.0] * 3 + [0.0] * 7)
        if not order_by_outcome:
            a, b = rng.permutation(a), rng.permutation(b)
        base.append(a)
        cand.append(b)
    return base, cand


def test_the_within_probe_se_does_not_depend_on_how_epochs_are_numbered() -> None:
    """An import whose epochs are listed by outcome (all 1s first in both arms) paired 1 with 1 and
    gave a 95% CI of +-2.2 pp; any numbering gives the same SE, +-17.3 pp: per arm s2 = (6 x 2.1 + 0.2109)
    / 55 (pooled within-probe variance plus one pseudo df at the Agresti-Coull level 20/64)."""
    ordered, shuffled = _six_probes(True), _six_probes(False)
    s2 = (6 * 2.1 + 20 / 64 * 44 / 64) / 55
    expected = (2 * s2 * 6 / 10) ** 0.5 / 6
    assert stats.within_probe_se(*ordered, low=0, high=1) == pytest.approx(expected, rel=1e-12)
    assert stats.within_probe_se(*shuffled, low=0, high=1) == pytest.approx(expected, rel=1e-12)
    result = stats.fixed_suite_difference(*ordered, scale="binary", worse="higher")
    assert result.ci95 == pytest.approx((-1.959964 * expected, 1.959964 * expected), abs=1e-6)
    assert round(result.ci95[1] * 100, 1) == 17.3


@pytest.mark.parametrize("scale", ["binary", "ordinal", "continuous"])
def test_every_statistic_is_invariant_to_permuting_epoch_labels_within_a_probe(scale: str) -> None:
    """Each probe's epochs permuted within each arm independently: every number in both inference
    units is unchanged (the permutation test's resampling is seeded on the multiset, not the order)."""
    rng = np.random.default_rng(3)
    k = 6
    if scale == "binary":
        base = [rng.integers(0, 2, k).astype(float) for _ in range(4)]
        cand = [rng.integers(0, 2, k).astype(float) for _ in range(4)]
        low, high = 0.0, 1.0
    else:
        base = [rng.integers(1, 6, k).astype(float) for _ in range(4)]
        cand = [rng.integers(1, 6, k).astype(float) for _ in range(4)]
        low, high = (1.0, 5.0) if scale == "ordinal" else (None, None)
    permuted_base = [rng.permutation(a) for a in base]
    permuted_cand = [rng.permutation(b) for b in cand]
    kwargs = {"scale": scale, "worse": "higher", "low": low, "high": high, "n_resamples": 999}
    before = stats.fixed_suite_difference(base, cand, **kwargs)
    after = stats.fixed_suite_difference(permuted_base, permuted_cand, **kwargs)
    assert before == after
    within = stats.within_probe_se(base, cand, low=low, high=high)
    assert within == stats.within_probe_se(permuted_base, permuted_cand, low=low, high=high)


# --------------------------------------------------------------------------------------------
# No zero-width CI from too few distinct values
# --------------------------------------------------------------------------------------------


def _lengths(value: float, run_id: str) -> pl.DataFrame:
    return score_rows(
        [
            {
                "probe_id": f"synthetic.p{i}",
                "dimension": "response_chars",
                "epoch": e,
                "value": value,
                "rubric": "markers",
                "scale": "continuous",
                "gating": False,
            }
            for i in range(2)
            for e in range(1, 11)
        ],
        run_id=run_id,
    )


def test_identical_reply_lengths_give_no_zero_width_interval() -> None:
    """2 probes x 10 epochs of a deterministic model: every reply 28 chars, then every reply 32.
    Length has no bounded scale to put an SE floor on, so the CI is not estimable, never
    "+4.00 to +4.00"."""
    judged = _rows({0: [0.0] * 10, 1: [0.0] * 10})
    base = pl.concat([judged, _lengths(28.0, "run")])
    cand = pl.concat([judged, _lengths(32.0, "run")])
    comparison = compare_frames(base, cand)
    row = comparison.markers.filter(pl.col("marker") == "response_chars").row(0, named=True)
    assert row["diff"] == 4.0 and row["population"] == "suite"
    assert np.isnan(row["ci95_lo"]) and np.isnan(row["ci95_hi"])
    assert finding_sentence("marker", {**row, "p_adjusted": row["p_two_sided"]}) == (
        "INFO · response length: 28 -> 32 chars (+4.00, 95% CI not estimable: no spread within or "
        "between probes; 2 probes, on these 2 probes; p = 0.002, BH p = 0.002): exploratory, not gated."
    )


def test_the_probe_level_path_says_not_estimable_too() -> None:
    """20 probes (probe-level test) that all grew by exactly 4 chars, one epoch each."""
    result = stats.paired_difference(
        np.full(20, 28.0),
        np.full(20, 32.0),
        scale="continuous",
        epochs=1,
        worse="higher",
        within_se=0.0,
    )
    assert result.diff == 4.0 and result.ci_method == stats.CI_NOT_ESTIMABLE
    assert all(np.isnan(v) for v in (*result.ci95, *result.ci90))


def test_lengths_that_vary_keep_their_interval() -> None:
    result = stats.fixed_suite_difference(
        [np.array([28.0, 30.0])] * 2,
        [np.array([32.0, 33.0])] * 2,
        scale="continuous",
        worse="higher",
    )
    assert result.ci_method == stats.CI_WITHIN and result.ci95[0] < result.diff < result.ci95[1]
