"""Every gate and nightly setting is checked: units, signs, NaN and infinity, each naming its key.

A margin of 5 on a rate meant as 5 pp used to be read as +-500 pp and turned a WARN into a PASS;
negative or NaN margins crashed `compare`; `cusum_h = inf` meant nightly could never alarm. Each
mistake is now one line naming the file, the field and the fix, exit 2, before anything runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from character.cli.main import cli
from character.domain.config import GateConfig, check_margin_units, load_config
from character.errors import CharacterError


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "character.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_rate_margin_above_one_is_an_error_suggesting_the_fraction(tmp_path: Path) -> None:
    """`"pushback/capitulation" = 5` meant 5 pp: refused, naming the key and suggesting 0.05."""
    path = _config(tmp_path, '[gate.margins]\n"pushback/capitulation" = 5\n')
    with pytest.raises(CharacterError) as caught:
        load_config(path)
    assert caught.value.one_line() == (
        f"{path}: field 'gate.margins.\"pushback/capitulation\"': margin 5 is above 1, but "
        "'pushback/capitulation' is a rate and rate margins are fractions (0.05 = 5 percentage points) "
        "(fix: write 0.05)"
    )


def test_the_rate_check_reaches_the_command_line_with_exit_2(tmp_path: Path) -> None:
    path = _config(tmp_path, '[gate.margins]\n"refusal/under_refusal" = 3\n')
    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path / "s"), "compare", "a", "b", "--config", str(path)]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {path}: field 'gate.margins.\"refusal/under_refusal\"': margin 3 is above 1, but "
        "'refusal/under_refusal' is a rate and rate margins are fractions (0.05 = 5 percentage points) "
        "(fix: write 0.03)"
    )


def test_a_scale_margin_may_exceed_one_but_not_the_whole_scale(tmp_path: Path) -> None:
    """Ordinal margins are in points: 0.5 and 1.5 are fine on 1-5, 4 can never be exceeded."""
    load_config(_config(tmp_path, '[gate.margins]\n"sycophancy/candour" = 1.5\n'))
    path = _config(tmp_path, '[gate.margins]\n"sycophancy/candour" = 4\n')
    with pytest.raises(CharacterError) as caught:
        load_config(path)
    assert "margin 4 spans the whole 1-5 scale of 'sycophancy/candour'" in caught.value.one_line()
    assert "(fix: use scale points, e.g. 0.5)" in caught.value.one_line()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[gate.margins]\n"pushback/capitulation" = -0.05\n', "gate.margins.pushback/capitulation"),
        ('[gate.margins]\n"pushback/capitulation" = nan\n', "gate.margins.pushback/capitulation"),
        ('[gate.margins]\n"pushback/capitulation" = inf\n', "gate.margins.pushback/capitulation"),
        ("[gate]\nalpha = nan\n", "gate.alpha"),
        ("[gate]\nalpha = -0.05\n", "gate.alpha"),
        ("[gate]\nexploratory_q = inf\n", "gate.exploratory_q"),
        ("[gate]\nresamples = -5\n", "gate.resamples"),
        ("[gate]\nresamples = inf\n", "gate.resamples"),
        ('[gate]\npopulation = "people"\n', "gate.population"),
        ("[nightly]\ncusum_h = inf\n", "nightly.cusum_h"),
        ("[nightly]\ncusum_h = -5\n", "nightly.cusum_h"),
        ("[nightly]\ncusum_k = nan\n", "nightly.cusum_k"),
        ("[nightly]\nshewhart_z = inf\n", "nightly.shewhart_z"),
    ],
)
def test_negative_nan_and_infinite_settings_name_their_key(
    tmp_path: Path, text: str, field: str
) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(CharacterError) as caught:
        load_config(path)
    assert caught.value.field == field and str(caught.value.file) == str(path)
    assert caught.value.one_line().startswith(f"{path}: field '{field}': ")
    if "nan" in text or "inf" in text:
        assert "Input should be a finite number" in caught.value.one_line()


def test_a_rate_margin_of_an_uninstalled_rubric_is_caught_where_it_meets_the_scores() -> None:
    """A rubric not installed here is checked when the comparison sees the dimension is a rate."""
    from test_compare import compare_frames, score_rows

    rows = score_rows(
        [
            {"probe_id": f"synthetic.p{i}", "dimension": "d", "epoch": 1, "value": 0.0}
            for i in range(6)
        ]
    )
    check_margin_units(
        GateConfig(margins={"synthetic/d": 5}), None
    )  # unknown rubric: nothing to check yet
    with pytest.raises(CharacterError) as caught:
        compare_frames(rows, rows, GateConfig(margins={"synthetic/d": 5}))
    assert caught.value.field == 'gate.margins."synthetic/d"'
    assert caught.value.remedy == "write 0.05"


def test_population_reaches_the_comparison() -> None:
    assert GateConfig().population == "auto"
    assert GateConfig(population="suite").population == "suite"


def test_a_rate_margin_of_one_is_the_whole_scale_and_an_error(tmp_path: Path) -> None:
    """`= 1` (meant as 1 pp) is +-100 pp: it turned a WARN into "no drift beyond ±100 pp" PASS."""
    path = _config(tmp_path, '[gate.margins]\n"pushback/capitulation" = 1\n')
    with pytest.raises(CharacterError) as caught:
        load_config(path)
    assert caught.value.one_line() == (
        f"{path}: field 'gate.margins.\"pushback/capitulation\"': margin 1 is +-100 pp, so no drift "
        "could ever exceed it: 'pushback/capitulation' is a rate and rate margins are fractions "
        "(0.05 = 5 percentage points) (fix: write 0.01)"
    )


@pytest.mark.parametrize(("value", "shown"), [("true", "True"), ('"0.05"', "'0.05'")])
def test_a_margin_is_a_number_not_a_boolean_or_text(tmp_path: Path, value: str, shown: str) -> None:
    """pydantic's lax mode read `true` as 1.0 (+-100 pp: WARN became PASS) and "0.05" as 0.05."""
    path = _config(tmp_path, f'[gate.margins]\n"pushback/capitulation" = {value}\n')
    with pytest.raises(CharacterError) as caught:
        load_config(path)
    assert caught.value.one_line() == (
        f"{path}: field 'gate.margins.pushback/capitulation': {shown} is not a number "
        f"(got {shown}) (fix: write a number without quotes)"
    )
