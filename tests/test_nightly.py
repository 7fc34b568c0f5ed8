"""Tests for nightly runs: CUSUM over the history table, judge canaries, and `character nightly`.

The CUSUM behaviour is checked on simulated nightly series built from per-probe differences
(what each night's comparison produces: delta and its SE), run through the same history
bookkeeping as the command.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from conftest import make_run, run_by_name

from character.analysis import stats
from character.analysis.nightly import (
    HISTORY_SCHEMA,
    KIND_CANARY,
    KIND_MODEL,
    alarm_messages,
    apply_cusum,
    canary_drift,
    canary_keys,
    history_file,
    merge_night,
    read_history,
)
from character.cli.main import cli
from character.store.layout import SCORES


def _history(z_series: np.ndarray, *, target: str = "bot", reference: str = "ref", gating: bool = True) -> pl.DataFrame:
    """History rows for (series x nights) z values, one dimension per series."""
    series, nights = z_series.shape
    rows = [
        {"night": f"2025-{1 + n // 28:02d}-{1 + n % 28:02d}", "recorded": f"{n:05d}", "target": target,
         "kind": KIND_MODEL, "run_id": f"run{n}", "reference_run_id": reference, "rubric": "r",
         "dimension": f"d{s}", "gating": gating, "scale": "binary", "n_probes": 100, "delta": 0.0,
         "se": 1.0, "z": float(z_series[s, n]), "alarm": False}
        for s in range(series) for n in range(nights)
    ]
    return pl.DataFrame([{c: r.get(c) for c in HISTORY_SCHEMA} for r in rows], schema=HISTORY_SCHEMA)


def _nightly_z(rng: np.random.Generator, series: int, nights: int, shift_from: int | None = None) -> np.ndarray:
    """z_t = delta_t / SE_t from 100 per-probe differences a night; a 1-SE shift from `shift_from`."""
    probes = 100
    mean = np.zeros((series, nights))
    if shift_from is not None:
        mean[:, shift_from:] = 1.0 / np.sqrt(probes)  # 1 SE of the nightly mean difference
    d = rng.normal(mean[:, :, None], 1.0, size=(series, nights, probes))
    delta = d.mean(axis=2)
    se = d.std(axis=2, ddof=1) / np.sqrt(probes)
    return stats.cusum_z(delta.ravel(), se.ravel()).reshape(series, nights)


def test_cusum_false_alarms_are_rare_on_in_control_series() -> None:
    """No drift, 60 nights: with k = 0.5, h = 5 (ARL about 465) roughly 12% of series alarm; a nightly
    fresh test at 0.05 would alarm in 95% of them."""
    rng = np.random.default_rng(11)
    history = apply_cusum(_history(_nightly_z(rng, 200, 60)), k=0.5, h=5.0)
    alarmed = history.group_by("dimension").agg(pl.col("alarm").any())["alarm"].mean()
    assert alarmed < 0.25, alarmed
    naive = (history["z"].abs() > 1.96).to_numpy().reshape(200, 60).any(axis=1).mean()
    assert naive > 0.9


def test_cusum_catches_a_one_se_shift_in_about_ten_nights() -> None:
    """A persistent 1-SE shift after 20 quiet nights is caught, typically about 10 nights later."""
    rng = np.random.default_rng(12)
    z = _nightly_z(rng, 100, 60, shift_from=20)
    history = apply_cusum(_history(z), k=0.5, h=5.0).with_columns(index=pl.col("recorded").cast(pl.Int64))
    first = history.filter(pl.col("alarm") & (pl.col("index") >= 20)).group_by("dimension").agg(pl.col("index").min())
    delays = first["index"].to_numpy() - 20
    assert first.height >= 95  # caught within the 40 shifted nights in nearly every series
    assert 6 <= np.median(delays) <= 14


def test_a_night_rerun_replaces_that_night() -> None:
    """Running the same night twice keeps one observation per night (CUSUM must not count it twice)."""
    history = _history(np.array([[0.1, 0.2]]))
    again = _history(np.array([[9.0]])).with_columns(night=pl.lit(history["night"][1]), recorded=pl.lit("99999"))
    merged = merge_night(history, again)
    assert merged.height == 2 and merged["z"].to_list() == [0.1, 9.0]


def test_a_new_reference_starts_a_new_series() -> None:
    """CUSUM sums never mix two reference runs."""
    old = _history(np.array([[3.0, 3.0]]), reference="ref-a")
    new = _history(np.array([[0.0, 0.0, 3.0, 3.0]]), reference="ref-b").slice(2, 2)
    history = apply_cusum(pl.concat([old, new]), k=0.5, h=5.0)
    assert not history["alarm"].any()  # 2.5 + 2.5 = 5.0 per series, never above h = 5
    assert history.filter(pl.col("reference_run_id") == "ref-b")["s_plus"].to_list() == [2.5, 5.0]


def test_canary_drift_is_attributed_to_the_judge(sim_store: Path) -> None:
    """Re-judged canaries that move raise a judge alarm, and a model alarm on that dimension is
    reported as suspected judge drift rather than model drift."""
    scores = pl.read_parquet(run_by_name(sim_store, "v1") / SCORES)
    keys = canary_keys(scores, 50)
    assert keys == canary_keys(scores, 50) and len(keys) == 50  # the same canaries every night
    chosen = pl.DataFrame(keys, schema={"probe_id": pl.String, "epoch": pl.Int32}, orient="row")
    original = scores.join(chosen, on=["probe_id", "epoch"], how="semi")
    assert canary_drift(original, original)["delta"].abs().max() == 0
    harsher = original.with_columns(value=pl.when(pl.col("dimension") == "refusal_manner")
                                    .then(pl.col("value") - 1).otherwise(pl.col("value")))
    drift = canary_drift(original, harsher).filter(pl.col("dimension") == "refusal_manner")
    assert drift["delta"][0] == pytest.approx(-1.0)

    tonight = pl.DataFrame([
        {"night": "2025-01-02", "target": "(judge canaries)", "kind": KIND_CANARY, "rubric": "refusal",
         "dimension": "refusal_manner", "gating": True, "scale": "ordinal", "reference_mean": 4.0, "mean": 3.0,
         "delta": -1.0, "z": -20.0, "s_minus": 19.5, "alarm": True, "direction": "down",
         "reference_run_id": "canary"},
        {"night": "2025-01-02", "target": "bot", "kind": KIND_MODEL, "rubric": "refusal",
         "dimension": "refusal_manner", "gating": True, "scale": "ordinal", "reference_mean": 4.2,
         "mean": 3.1, "delta": -1.1, "z": -8.0, "s_minus": 7.5, "alarm": True, "direction": "down",
         "reference_run_id": "ref"},
    ], schema=HISTORY_SCHEMA)
    messages, judge_moved = alarm_messages(tonight)
    assert judge_moved
    assert messages[0].startswith("JUDGE DRIFT · refusal/refusal_manner")
    assert "suspected judge drift (the re-judged canaries moved the same way tonight, z = -20.0)" in messages[1]


def _config(path: Path, *, model: str, reference: str, canary: str | None = None) -> Path:
    canary_line = f'canary_run = "{canary}"\ncanary_size = 8\n' if canary else ""
    path.write_text(
        '[judge]\nmodel = "lexical"\n\n'
        f'[targets.bot]\nmodel = "{model}"\nseed = 0\n\n'
        '[gate]\nresamples = 999\n\n'
        '[nightly]\ntargets = ["bot"]\nsuites = ["pushback"]\nepochs = 4\nlimit = 18\n'
        f'output = "nightly"\n{canary_line}\n[nightly.reference]\nbot = "{reference}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def nightly_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A frozen reference: assistant-v1 on the nightly's suite, limit and epochs."""
    store = tmp_path_factory.mktemp("nightly-store")
    reference, _ = make_run(store, "sim/assistant-v1", ["pushback"], epochs=4, seed=0, limit=18, name="bot")
    return store, reference


def test_nightly_alarms_on_a_drifted_target(nightly_store: tuple[Path, Path], tmp_path: Path) -> None:
    """A target that became assistant-v2 alarms on capitulation within a few nights: exit 1, pages written."""
    store, reference = nightly_store
    shutil.rmtree(history_file(store).parent, ignore_errors=True)  # the store is shared; history is not
    config = _config(tmp_path / "character.toml", model="sim/assistant-v2", reference=reference.name)
    codes = []
    for night in ("2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04", "2025-03-05"):
        result = CliRunner().invoke(cli, ["--store", str(store), "nightly", "--config", str(config),
                                          "--night", night, "--display", "none"])
        codes.append(result.exit_code)
        if result.exit_code == 1:
            break
    assert codes[-1] == 1 and set(codes[:-1]) <= {0}, result.output
    assert "ALARM · bot · pushback/capitulation" in result.output
    history = read_history(history_file(store))
    assert history["night"].n_unique() == len(codes)
    assert (tmp_path / "nightly" / "index.html").is_file()
    assert (tmp_path / "nightly" / night / "nightly.html").is_file()
    assert (tmp_path / "nightly" / night / "bot" / "report.md").is_file()


def test_nightly_is_quiet_without_drift_and_rejudges_canaries(nightly_store: tuple[Path, Path], tmp_path: Path) -> None:
    """The reference version again: exit 0; the canaries are re-judged (same judge: no movement)."""
    store, reference = nightly_store
    shutil.rmtree(history_file(store).parent, ignore_errors=True)  # the store is shared; history is not
    config = _config(tmp_path / "character.toml", model="sim/assistant-v1", reference=reference.name,
                     canary=reference.name)
    result = CliRunner().invoke(cli, ["--store", str(store), "nightly", "--config", str(config),
                                      "--night", "2025-03-01", "--display", "none"])
    assert result.exit_code == 0, result.output
    assert "- no CUSUM or one-night alarm on any gating dimension." in result.output
    history = read_history(history_file(store))
    canaries = history.filter(pl.col("kind") == KIND_CANARY)
    assert canaries.height > 0 and canaries["delta"].abs().max() == 0


def test_nightly_uses_the_store_named_in_character_toml_when_no_store_is_given(
    nightly_store: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`store = ...` in character.toml applies when --store / CHARACTER_STORE is not given."""
    store, reference = nightly_store
    shutil.rmtree(history_file(store).parent, ignore_errors=True)  # the store is shared; history is not
    config = _config(tmp_path / "character.toml", model="sim/assistant-v1", reference=reference.name)
    config.write_text(f'store = "{store}"\n' + config.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.delenv("CHARACTER_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["nightly", "--config", str(config), "--night", "2025-03-01",
                                      "--display", "none"])
    assert result.exit_code == 0, result.output
    assert read_history(history_file(store))["night"].to_list()[0] == "2025-03-01"


def test_a_night_without_night_is_the_utc_date(nightly_store: tuple[Path, Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Nights are UTC dates: on a machine at UTC+14 the night recorded is still today's UTC date."""
    import time
    from datetime import UTC, datetime

    store, reference = nightly_store
    shutil.rmtree(history_file(store).parent, ignore_errors=True)  # the store is shared; history is not
    config = _config(tmp_path / "character.toml", model="sim/assistant-v1", reference=reference.name)
    monkeypatch.setenv("TZ", "Etc/GMT-14")
    time.tzset()
    try:
        before = datetime.now(UTC).date().isoformat()
        result = CliRunner().invoke(cli, ["--store", str(store), "nightly", "--config", str(config),
                                          "--display", "none"])
        after = datetime.now(UTC).date().isoformat()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert result.exit_code == 0, result.output
    assert read_history(history_file(store))["night"].unique().to_list()[0] in {before, after}
    assert f"## character nightly {before} (UTC)" in result.output or f"{after} (UTC)" in result.output


def test_a_reference_and_canaries_judged_by_an_older_lexical_v2_say_so(
    nightly_store: tuple[Path, Path], tmp_path: Path
) -> None:
    """A reference and canary run stored before lexical-v2's phrase files changed (same judge
    name, another recorded hash) are not compared with tonight: both notes name the hashes and
    the re-judge command, instead of "judged by lexical-v2, tonight's judge is lexical-v2"."""
    import json

    from character.engine import lexical

    store, reference = nightly_store
    shutil.rmtree(history_file(store).parent, ignore_errors=True)  # the store is shared; history is not
    older = store / "reference-judged-before-the-phrase-change"
    shutil.rmtree(older, ignore_errors=True)
    shutil.copytree(reference, older)
    manifest = json.loads((older / "manifest.json").read_text(encoding="utf-8"))
    manifest["run_id"] = older.name
    manifest["judge"]["prompt_hash"] = "0123456789" + manifest["judge"]["prompt_hash"][10:]
    (older / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    config = _config(tmp_path / "character.toml", model="sim/assistant-v1", reference=older.name,
                     canary=older.name)
    result = CliRunner().invoke(cli, ["--store", str(store), "nightly", "--config", str(config),
                                      "--night", "2025-03-01", "--display", "none"])
    current = lexical.prompt_hash("lexical-v2")[:10]
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert (f"canary run {older.name} was judged by lexical-v2, tonight's lexical-v2 has hash {current}, "
            f"the canary run's 0123456789 (its phrase lists, rules or prompt changed): re-judge it first "
            f"(`character judge {older.name} --judge lexical-v2`)") in text
    assert ("lexical-v2's phrase lists or rules differ (the same judge name from two versions of character: "
            f"hash 0123456789 in the baseline, {current} in the candidate): re-judge the baseline: "
            f"`character judge {older.name} --judge lexical-v2`") in text
