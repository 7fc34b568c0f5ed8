"""A scripted nightly history, end to end through nightly's own bookkeeping and `character nightly ack`.

Twelve nights of a target against a frozen reference, with judge canaries: five normal nights, a
judge glitch for three nights (the judge suddenly calls capitulation where there was none, on the
model's transcripts and on the canaries alike), three normal nights, then a real improvement.
Each night's rows come from the real comparison (`compare_tables` -> `drift_rows`) and canary
re-judging (`canary_drift` -> `canary_rows`), and go through `close_night` (merge, CUSUM, write)
as `character nightly` does; only the model calls are scripted. The data are deterministic, so
the sentences are exact.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from test_compare import NO_LENGTHS, score_rows

from character.analysis.compare import compare_tables
from character.analysis.nightly import (
    NightlyResult,
    alarm_messages,
    canary_drift,
    canary_rows,
    close_night,
    drift_rows,
    history_file,
    improvement_messages,
    read_history,
    store_acks_file,
)
from character.analysis.nightly_acks import read_acks
from character.analysis.reports.nightly_page import (
    render_index,
    render_nightly_html,
    render_nightly_markdown,
)
from character.cli.main import cli
from character.domain.config import Config, GateConfig, load_config
from character.store.manifest import JudgeRecord, Manifest, RubricRecord, SuiteRecord, TargetRecord

PROBES, EPOCHS, CANARIES = 30, 3, 40
KEY = "synthetic/capitulation"


def manifest(run_id: str, *, prompt: str = "p1") -> Manifest:
    """Every night runs the same target (same hash) unless the prompt changes."""
    return Manifest(
        run_id=run_id,
        status="complete",
        created="2025-01-01T00:00:00+00:00",
        spec_hash=run_id,
        code_version={},
        target=TargetRecord(
            model="sim/bot",
            label=f"bot@{prompt}",
            hash=f"bot-{prompt}",
            name="bot",
            system_prompt_hash=f"{prompt}hash00000",
            system_prompt_file="prompts/support.md",
        ),
        suites=[SuiteRecord(name="synthetic", version=1, hash="s1", probes=PROBES)],
        rubrics=[RubricRecord(name="synthetic", version=1, hash="r1")],
        judge=JudgeRecord(kind="lexical", id="lexical-v1", prompt_hash="j1"),
        epochs=EPOCHS,
    )


def model_scores(night: int, *, glitch: bool = False, improved: bool = False) -> pl.DataFrame:
    """Probe i caves in epoch e when (i + e + night) % 5 == 0: 20% every night, probes differing.

    A glitching judge also calls residues 1 and 2 capitulation (60%); an improved model never caves.
    """

    def caved(i: int, e: int) -> float:
        residue = (i + e + night) % 5
        if improved:
            return 0.0
        return float(residue == 0 or (glitch and residue in (1, 2)))

    return score_rows(
        [
            {
                "probe_id": f"synthetic.p{i:02d}",
                "dimension": "capitulation",
                "epoch": e,
                "value": caved(i, e),
            }
            for i in range(PROBES)
            for e in range(1, EPOCHS + 1)
        ],
        run_id=f"n{night}",
    )


def canary_scores(*, glitch: bool = False) -> pl.DataFrame:
    """40 stored transcripts; 8 capitulate; a glitching judge sees 24."""
    return score_rows(
        [
            {
                "probe_id": f"synthetic.c{j:02d}",
                "dimension": "capitulation",
                "epoch": 1,
                "value": float(j % 5 == 0 or (glitch and j % 5 in (1, 2))),
            }
            for j in range(CANARIES)
        ]
    )


def config(tmp_path: Path) -> Path:
    path = tmp_path / "character.toml"
    path.write_text('[gate]\nresamples = 999\n\n[nightly]\ntargets = ["bot"]\n', encoding="utf-8")
    return path


def play_night(
    store: Path,
    cfg: Config,
    night: int,
    *,
    glitch: bool = False,
    improved: bool = False,
    prompt: str = "p1",
) -> NightlyResult:
    """One night as `run_nightly` records it, from scripted scores."""
    date = f"2025-03-{night:02d}"
    recorded = f"{date}T03:17:00+00:00"
    comparison = compare_tables(
        manifest("reference"),
        manifest(f"night-{night}", prompt=prompt),
        model_scores(0),
        model_scores(night, glitch=glitch, improved=improved),
        NO_LENGTHS,
        NO_LENGTHS,
        cfg.gate,
    )
    parts = [
        drift_rows(comparison, night=date, recorded=recorded, target="bot"),
        canary_rows(
            canary_drift(canary_scores(), canary_scores(glitch=glitch)),
            night=date,
            recorded=recorded,
            canary_run="canary-run",
            judge_id="lexical-v1",
        ),
    ]
    path = history_file(store)
    history, tonight = close_night(
        path, read_history(path), parts, date, cfg, read_acks(store_acks_file(store))
    )
    alarms, judge_drift = alarm_messages(tonight)
    return NightlyResult(
        night=date,
        output=store,
        tonight=tonight,
        history=history,
        alarms=alarms,
        judge_drift=judge_drift,
        errors=[],
        improvements=improvement_messages(tonight),
    )


def model_row(result: NightlyResult) -> dict:
    return result.tonight.filter(pl.col("kind") == "model").row(0, named=True)


def test_a_judge_glitch_is_attributed_recovers_after_ack_and_improvements_never_alarm(
    tmp_path: Path,
) -> None:
    store, cfg_path = tmp_path / "store", config(tmp_path)
    cfg = load_config(cfg_path)

    for night in range(1, 6):  # normal nights: the rate is 20% every night
        result = play_night(store, cfg, night)
        assert result.alarms == [] and result.exit_code == 0, result.alarms
        assert model_row(result)["z"] == 0.0 and model_row(result)["s_plus"] == 0.0

    first = play_night(store, cfg, 6, glitch=True)  # the judge glitches: the canaries move too
    row = model_row(first)
    assert row["shewhart"] and row["alarm"] and row["signal"] == "alarm"
    assert first.exit_code == 1 and first.judge_drift
    canary = first.tonight.filter(pl.col("kind") == "canary").row(0, named=True)
    assert first.alarms == [
        f"JUDGE DRIFT · {KEY}: re-judged canary transcripts moved +0.400 (z = {canary['z']:+.1f} tonight; "
        f"CUSUM S+ = 3.5): the judge changed, not the model. Once it is back, restart the sums: "
        f"`character nightly ack canaries --dimension {KEY} --keep-level`.",
        f"ALARM · bot · {KEY}: 20.0% -> 60.0% against reference reference (z = {row['z']:+.1f} tonight, beyond the "
        f"one-night limit; CUSUM S+ = 3.5); suspected judge drift (the re-judged canaries moved the same way "
        f"tonight, z = {canary['z']:+.1f}). Once the judge is back, restart the sums: "
        f"`character nightly ack bot --dimension {KEY} --keep-level`; to accept the new level: "
        f"`character nightly ack bot --dimension {KEY}`.",
    ]
    assert canary["z"] == pytest.approx(
        0.4 / ((9.6 + 0.5) / 40 / 40) ** 0.5
    )  # stats.rejudge_se, by hand
    for night in (7, 8):
        result = play_night(store, cfg, night, glitch=True)
        assert result.exit_code == 1 and "suspected judge drift" in result.alarms[1]

    s_plus = (
        read_history(history_file(store)).filter(pl.col("kind") == "model")["s_plus"].drop_nulls()
    )
    assert s_plus.max() == pytest.approx(
        3 * (4.0 - 0.5)
    )  # winsorised at the one-night limit: 2.1 h, not 10^6

    ack = CliRunner().invoke(
        cli,
        [
            "--store",
            str(store),
            "nightly",
            "ack",
            "bot",
            "--dimension",
            KEY,
            "--keep-level",
            "--by",
            "alice",
            "--note",
            "judge outage",
            "--config",
            str(cfg_path),
        ],
    )
    assert ack.exit_code == 0, ack.output
    assert ack.output.startswith(f"bot · {KEY}: acknowledged by alice at ")
    assert ack.output.splitlines()[0].endswith(
        "(night 2025-03-08 UTC); the CUSUM sums restart with the next night, against the same level as before."
    )
    [stored] = read_acks(store_acks_file(store))
    assert (stored.by, stored.mode, stored.after_night, stored.note) == (
        "alice",
        "restart",
        "2025-03-08",
        "judge outage",
    )
    acked = read_history(history_file(store)).filter(
        (pl.col("kind") == "model") & (pl.col("night") == "2025-03-08")
    )
    assert acked["acknowledged"][0].startswith("acknowledged by alice at ")
    play_night(
        store, cfg, 9
    )  # the canaries keep their own, unacknowledged sums; the model's restarted
    for night in (10, 11):
        result = play_night(store, cfg, night)
        assert [m for m in result.alarms if m.startswith("ALARM")] == [] and model_row(result)[
            "s_plus"
        ] == 0.0

    better = play_night(
        store, cfg, 12, improved=True
    )  # capitulation 20% -> 0%: good news, not an alarm
    row = model_row(better)
    assert row["signal"] == "improvement" and not row["alarm"]
    assert [m for m in better.alarms if m.startswith("ALARM")] == []
    assert better.improvements == [
        f"IMPROVEMENT · bot · {KEY}: 20.0% -> 0.0% (z = {row['z']:+.1f} tonight, beyond the one-night limit; "
        "CUSUM S- = 3.5): a shift in the good direction, not an alarm."
    ]

    page = render_index(read_history(history_file(store)))
    assert (
        page.count("<svg") == 2 and "<script" not in page
    )  # one sparkline per series: model, canary
    assert page.count('fill="#c0392b"') >= 3 + 3 and page.count('fill="#1e8449"') == 1
    assert "acknowledged by alice" in page


def test_accepting_a_new_level_stops_the_alarm_and_still_catches_a_further_shift(
    tmp_path: Path,
) -> None:
    """A wanted change (the rate moved for good): ack accepts the level; the same level then stays
    quiet, a further rise alarms again, measured against the accepted level."""
    store, cfg_path = tmp_path / "store", config(tmp_path)
    cfg = load_config(cfg_path)
    play_night(store, cfg, 1)
    shifted = play_night(store, cfg, 2, glitch=True)
    assert shifted.exit_code == 1
    result = CliRunner().invoke(
        cli,
        ["--store", str(store), "nightly", "ack", "bot", "--by", "bob", "--config", str(cfg_path)],
    )
    assert result.exit_code == 0, result.output
    assert "the level since the sums last stood at 0 is accepted" in result.output
    same = play_night(store, cfg, 3, glitch=True)
    row = model_row(same)
    assert row["level"] == pytest.approx(0.4) and abs(row["z_cusum"]) < 1 and not row["alarm"]
    assert same.alarms == [m for m in same.alarms if m.startswith("JUDGE DRIFT")]


def test_a_changed_prompt_since_the_reference_is_named_in_the_alarm(tmp_path: Path) -> None:
    store, cfg_path = tmp_path / "store", config(tmp_path)
    result = play_night(store, load_config(cfg_path), 1, glitch=True, prompt="p2")
    alarm = next(m for m in result.alarms if m.startswith("ALARM"))
    assert (
        "The target changed since the reference: system prompt p1hash0000 -> p2hash0000 "
        "(prompts/support.md)."
    ) in alarm


def test_ack_refuses_unknown_targets_and_dimensions(tmp_path: Path) -> None:
    store, cfg_path = tmp_path / "store", config(tmp_path)
    play_night(store, load_config(cfg_path), 1)
    runner = CliRunner()
    unknown = runner.invoke(
        cli, ["--store", str(store), "nightly", "ack", "nobot", "--config", str(cfg_path)]
    )
    assert unknown.exit_code == 2
    assert unknown.output.strip() == (
        "error: field 'TARGET': no nightly history for 'nobot' (fix: use one of: bot, canaries)"
    )
    wrong = runner.invoke(
        cli,
        [
            "--store",
            str(store),
            "nightly",
            "ack",
            "bot",
            "--dimension",
            "synthetic/x",
            "--config",
            str(cfg_path),
        ],
    )
    assert (
        wrong.exit_code == 2
        and "use rubric/dimension, one of: synthetic/capitulation" in wrong.output
    )
    both = runner.invoke(
        cli,
        [
            "--store",
            str(store),
            "nightly",
            "ack",
            "bot",
            "--keep-level",
            "--new-reference",
            "--config",
            str(cfg_path),
        ],
    )
    assert (
        both.exit_code == 2 and "--keep-level and --new-reference exclude each other" in both.output
    )
    assert not store_acks_file(store).exists()  # nothing recorded by a refused ack


def test_new_reference_freezes_the_latest_run(tmp_path: Path) -> None:
    from character.analysis.nightly import current_reference_id

    store, cfg_path = tmp_path / "store", config(tmp_path)
    cfg = load_config(cfg_path)
    play_night(store, cfg, 1)
    play_night(store, cfg, 2)
    result = CliRunner().invoke(
        cli,
        [
            "--store",
            str(store),
            "nightly",
            "ack",
            "bot",
            "--new-reference",
            "--by",
            "carol",
            "--config",
            str(cfg_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "bot: run night-2 (night 2025-03-02 UTC) is the new frozen reference, "
        "replacing reference; acknowledged by carol at "
    )
    history = read_history(history_file(store))
    assert current_reference_id(cfg, history, "bot", read_acks(store_acks_file(store))) == "night-2"
    pinned = Config.model_validate(
        {"gate": GateConfig().model_dump(), "nightly": {"reference": {"bot": "other"}}}
    )
    assert (
        current_reference_id(pinned, history, "bot", read_acks(store_acks_file(store))) == "other"
    )


def test_without_ack_a_glitch_keeps_alarming_as_judge_drift_until_the_sum_decays(
    tmp_path: Path,
) -> None:
    """No acknowledgement: after the glitch the sum (10.5) falls by k a night, still above h; the
    alarm says the canaries are alarming too, never that the model drifted."""
    store, cfg = tmp_path / "store", load_config(config(tmp_path))
    for night in range(1, 4):
        play_night(store, cfg, night, glitch=night > 1)
    after = play_night(store, cfg, 4)
    alarm = next(m for m in after.alarms if m.startswith("ALARM"))
    assert (
        f"ALARM · bot · {KEY}: 20.0% -> 20.0% against reference reference (z = +0.0 tonight; CUSUM S+ = 6.5, "
        "falling: recovering); "
        "suspected judge drift (the judge canaries are alarming too; tonight z = +0.0)."
    ) in alarm


def test_a_night_scoring_all_one_has_a_finite_z_and_a_bounded_sum(tmp_path: Path) -> None:
    """Every score 1.0 tonight against a 20% reference: the SE is floored (not 0), z is finite, the
    one-night limit alarms at once and the sum grows by L - k = 3.5, not by 10^6."""
    store, cfg = tmp_path / "store", load_config(config(tmp_path))
    everything = score_rows(
        [
            {
                "probe_id": f"synthetic.p{i:02d}",
                "dimension": "capitulation",
                "epoch": e,
                "value": 1.0,
            }
            for i in range(PROBES)
            for e in range(1, EPOCHS + 1)
        ]
    )
    comparison = compare_tables(
        manifest("reference"),
        manifest("night-1"),
        model_scores(0),
        everything,
        NO_LENGTHS,
        NO_LENGTHS,
        cfg.gate,
    )
    rows = drift_rows(
        comparison, night="2025-03-01", recorded="2025-03-01T03:00:00+00:00", target="bot"
    )
    path = history_file(store)
    _history, tonight = close_night(path, read_history(path), [rows], "2025-03-01", cfg, [])
    row = tonight.row(0, named=True)
    assert 0 < row["se"] < 1 and 4 < row["z"] < 100  # finite: the within-probe floor, not 0
    assert row["alarm"] and row["shewhart"] and row["s_plus"] == pytest.approx(3.5)
    assert alarm_messages(tonight)[0][0].startswith(
        f"ALARM · bot · {KEY}: 20.0% -> 100.0% against reference reference (z = {row['z']:+.1f} tonight, "
        "beyond the one-night limit; CUSUM S+ = 3.5); model drift (no judge canaries configured)."
    )


def _acked_after_a_glitch(tmp_path: Path) -> tuple[Path, Config]:
    """A normal night, a night at 60%, and `character nightly ack bot` accepting that level."""
    store, cfg_path = tmp_path / "store", config(tmp_path)
    cfg = load_config(cfg_path)
    play_night(store, cfg, 1)
    play_night(store, cfg, 2, glitch=True)
    ack = ["--store", str(store), "nightly", "ack", "bot", "--by", "bob", "--config", str(cfg_path)]
    assert CliRunner().invoke(cli, ack).exit_code == 0
    return store, cfg


def test_after_an_ack_a_shift_is_worded_from_the_accepted_level(tmp_path: Path) -> None:
    """The accepted 60% is what tonight moves away from: "20.0% -> 20.0% (z = ... against the
    accepted level)" read as no change at all."""
    store, cfg = _acked_after_a_glitch(tmp_path)
    better = play_night(store, cfg, 3, improved=True)
    assert better.improvements[0].startswith(
        f"IMPROVEMENT · bot · {KEY}: 60.0% (accepted level; reference 20.0%) -> 0.0% (z = "
    )
    assert "against the accepted level" in better.improvements[0]


def _table_row(markdown: str, target: str) -> str:
    return next(line for line in markdown.splitlines() if line.startswith(f"| {target} | {KEY} |"))


def test_after_an_ack_the_table_judges_tonight_against_the_accepted_level(tmp_path: Path) -> None:
    """The table showed delta 0.4 and z +4.8 against the reference with no signal, while the alarm
    lines measured from the accepted 60%: now it has the level in force and delta/z from it."""
    store, cfg = _acked_after_a_glitch(tmp_path)
    same = play_night(store, cfg, 3, glitch=True)  # still at the accepted 60%: nothing to signal
    markdown = render_nightly_markdown(same)
    assert "| target | dimension | gating | reference | judged against | tonight | delta | z | S+ | S- | signal |" in markdown
    assert _table_row(markdown, "bot") == (
        f"| bot | {KEY} | yes | 0.2 | 0.6 (accepted) | 0.6 | 0 | +0.00 | +0.00 | +0.00 |  |"
    )
    assert model_row(same)["delta"] == pytest.approx(0.4)  # the reference's delta is still stored
    better = play_night(store, cfg, 4, improved=True)
    row = model_row(better)
    assert _table_row(render_nightly_markdown(better), "bot") == (
        f"| bot | {KEY} | yes | 0.2 | 0.6 (accepted) | 0 | -0.6 | {row['z_cusum']:+.2f} | +0.00 | +3.50 | IMPROVEMENT |"
    )
    assert f"(z = {row['z_cusum']:+.1f} tonight against the accepted level" in better.improvements[0]
    html = render_nightly_html(better)
    assert "<th>judged against</th><th>level</th><th>tonight</th><th>delta vs level</th><th>z vs level</th>" in html
    assert "<td>0.6</td><td>accepted</td><td>0</td><td>-0.6</td>" in html
    index = render_index(better.history)
    assert "<th>judged against</th><th>latest</th><th>z vs level</th>" in index
    assert f"<td>0.6 (accepted)</td><td>0</td><td>{row['z_cusum']:.3g}</td>" in index


def test_a_signal_decaying_on_nights_back_at_the_level_reads_as_recovering(tmp_path: Path) -> None:
    """After a 2-night glitch S+ = 7.0 falls by k = 0.5 a night on nights equal to the reference and
    stays above h = 5 for 4 of them: the CUSUM is unchanged, the row and the alarm say recovering."""
    store, cfg = tmp_path / "store", load_config(config(tmp_path))
    play_night(store, cfg, 1)
    play_night(store, cfg, 2, glitch=True)
    glitch_end = model_row(play_night(store, cfg, 3, glitch=True))
    assert glitch_end["alarm"] and not glitch_end["recovering"]
    back = play_night(store, cfg, 4)
    row = model_row(back)
    assert (row["alarm"], row["recovering"], row["s_plus"]) == (True, True, 6.5)
    assert _table_row(render_nightly_markdown(back), "bot").endswith("| +6.50 | +0.00 | ALARM, recovering |")
    assert "(z = +0.0 tonight; CUSUM S+ = 6.5, falling: recovering)" in back.alarms[1]


def test_a_non_gating_row_never_reads_alarm_and_says_when_it_recovers(tmp_path: Path) -> None:
    """firmness_tone-like: not gating, its CUSUM in the worse direction is drift (not gating), no
    alarm line, exit 0; on the nights back at the reference it is recovering."""
    store = tmp_path / "store"
    path = tmp_path / "character.toml"
    path.write_text('[gate]\nresamples = 999\ngating = []\n\n[nightly]\ntargets = ["bot"]\n', encoding="utf-8")
    cfg = load_config(path)
    for night in range(1, 4):
        glitching = play_night(store, cfg, night, glitch=night > 1)
    assert glitching.exit_code == 1  # the canaries (the judge) alarm; the model row does not
    assert not any(m.startswith("ALARM") for m in glitching.alarms)
    assert _table_row(render_nightly_markdown(glitching), "bot").endswith("| drift (not gating) |")
    back = play_night(store, cfg, 4)
    assert not any(m.startswith("ALARM") for m in back.alarms)
    assert _table_row(render_nightly_markdown(back), "bot").endswith(
        "|  | 0.2 | 0.2 (reference) | 0.2 | 0 | +0.00 | +6.50 | +0.00 | drift (not gating), recovering |"
    )
