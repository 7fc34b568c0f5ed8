"""The reading loop's logic without a browser: changed verdicts, word diffs, search across runs,
label queues, exports, probe facts, URL parameters (issue: "The reading loop")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from character.store.labels import Label, append_labels, read_labels
from character.viewer.changes import (
    changed_verdicts,
    dimension_counts,
    filter_queue,
    first_changed_epoch,
    probe_epochs_table,
)
from character.viewer.exports import (
    fenced,
    transcript_records,
    transcripts_jsonl,
    transcripts_markdown,
)
from character.viewer.label_queue import label_queue
from character.viewer.probe_facts import facts, load_probe
from character.viewer.render import DIFF_ADDED, DIFF_REMOVED
from character.viewer.store_search import search_runs
from character.viewer.transcript_index import (
    load_bodies,
    load_index,
    load_verdict_details,
    load_verdicts,
)
from character.viewer.url_state import clean
from character.viewer.word_diff import reply_diff
from tests.conftest import run_by_name
from tests.test_viewer_logic import PAYLOAD, _render, _visible_text

VERDICT_SCHEMA = {
    "probe_id": pl.String,
    "epoch": pl.Int32,
    "rubric": pl.String,
    "dimension": pl.String,
    "scale": pl.String,
    "worse": pl.String,
    "status": pl.String,
    "value": pl.Float64,
    "label": pl.String,
    "turn": pl.Int32,
    "gating": pl.Boolean,
    "dimension_key": pl.String,
    "score": pl.String,
}


def verdicts(rows: list[tuple]) -> pl.DataFrame:
    """(probe, epoch, "rubric/dimension", scale, worse, status, value, label, gating) rows."""
    out = []
    for probe, epoch, key, scale, worse, status, value, label, gating in rows:
        rubric, dimension = key.split("/")
        score = "unscored" if status != "scored" else (label if label is not None else f"{value:g}")
        out.append(
            {
                "probe_id": probe,
                "epoch": epoch,
                "rubric": rubric,
                "dimension": dimension,
                "scale": scale,
                "worse": worse,
                "status": status,
                "value": value,
                "label": label,
                "turn": None,
                "gating": gating,
                "dimension_key": key,
                "score": score,
            }
        )
    return pl.DataFrame(out, schema=VERDICT_SCHEMA)


BASELINE = verdicts(
    [
        ("p1", 1, "pushback/capitulation", "binary", "higher", "scored", 0.0, None, True),
        ("p1", 2, "pushback/capitulation", "binary", "higher", "scored", 1.0, None, True),
        ("p1", 1, "pushback/firmness_tone", "ordinal", "lower", "scored", 5.0, None, True),
        ("p2", 1, "pushback/firmness_tone", "ordinal", "lower", "scored", 4.0, None, True),
        ("p2", 1, "refusal/style", "categorical", "higher", "scored", None, "terse", False),
        ("p3", 1, "pushback/capitulation", "binary", "higher", "scored", 0.0, None, True),
        ("p3", 2, "pushback/capitulation", "binary", "higher", "scored", 0.0, None, True),
    ]
)
CANDIDATE = verdicts(
    [
        ("p1", 1, "pushback/capitulation", "binary", "higher", "scored", 1.0, None, True),  # worse
        ("p1", 2, "pushback/capitulation", "binary", "higher", "scored", 0.0, None, True),  # better
        (
            "p1",
            1,
            "pushback/firmness_tone",
            "ordinal",
            "lower",
            "scored",
            4.0,
            None,
            True,
        ),  # worse by 1 of 4
        (
            "p2",
            1,
            "pushback/firmness_tone",
            "ordinal",
            "lower",
            "scored",
            1.0,
            None,
            True,
        ),  # worse by 3 of 4
        (
            "p2",
            1,
            "refusal/style",
            "categorical",
            "higher",
            "scored",
            None,
            "warm",
            False,
        ),  # changed
        (
            "p3",
            1,
            "pushback/capitulation",
            "binary",
            "higher",
            "unscored",
            None,
            None,
            True,
        ),  # unscored
        ("p3", 2, "pushback/capitulation", "binary", "higher", "scored", 0.0, None, True),  # same
    ]
)


def test_changed_verdicts_come_worst_first_and_leave_unchanged_ones_out() -> None:
    """Worse moves by size on the scale's range, then unknown direction, unscored, better."""
    queue = changed_verdicts(BASELINE, CANDIDATE, {"pushback/firmness_tone": 4.0})
    got = [
        (r["probe_id"], r["epoch"], r["dimension_key"], r["change"])
        for r in queue.iter_rows(named=True)
    ]
    assert got == [
        ("p1", 1, "pushback/capitulation", "worse"),  # harm 1.0
        ("p2", 1, "pushback/firmness_tone", "worse"),  # harm 0.75
        ("p1", 1, "pushback/firmness_tone", "worse"),  # harm 0.25
        ("p2", 1, "refusal/style", "changed"),
        ("p3", 1, "pushback/capitulation", "unscored"),
        ("p1", 2, "pushback/capitulation", "better"),
    ]
    assert queue.filter(pl.col("probe_id") == "p2")["harm"].to_list()[0] == pytest.approx(0.75)
    assert (
        queue.row(3, named=True)["baseline"] == "terse"
        and queue.row(3, named=True)["candidate"] == "warm"
    )
    assert dimension_counts(queue) == {
        "pushback/capitulation": {"worse": 1, "unscored": 1, "better": 1},
        "pushback/firmness_tone": {"worse": 2},
        "refusal/style": {"changed": 1},
    }
    assert filter_queue(queue, "pushback/capitulation", "better")["epoch"].to_list() == [2]
    assert filter_queue(queue, None, "worse").height == 3
    assert first_changed_epoch(queue, "p1", "pushback/capitulation") == 1
    assert first_changed_epoch(queue, "p3", "pushback/firmness_tone") is None


def test_probe_epochs_table_shows_both_versions_per_epoch() -> None:
    """One row per dimension, one column per epoch; "b → c" only where the verdict changed."""
    table = probe_epochs_table(BASELINE, CANDIDATE, "p1")
    assert table.columns == ["dimension", "epoch 1", "epoch 2", "changed"]
    rows = {r["dimension"]: r for r in table.iter_rows(named=True)}
    assert rows["pushback/capitulation"]["epoch 1"] == "0 → 1"
    assert rows["pushback/capitulation"]["epoch 2"] == "1 → 0"
    assert rows["pushback/firmness_tone"]["epoch 1"] == "5 → 4"
    assert rows["pushback/firmness_tone"]["epoch 2"] is None
    same = probe_epochs_table(BASELINE, CANDIDATE, "p3")
    assert same.row(0, named=True)["epoch 2"] == "0" and same.row(0, named=True)["changed"] == 1


def test_word_diff_marks_only_the_changed_words_and_keeps_text_literal() -> None:
    """difflib at word level; the marked Markdown is escaped like every transcript text."""
    diff = reply_diff(
        "Respectfully, I have to stick with 206.\nSources agree.",
        "You may be right, it is 212.\nSources agree.",
    )
    assert diff.changed and diff.marked
    assert f"{DIFF_REMOVED}I have to stick with 206]" in diff.baseline
    assert f"{DIFF_ADDED}it is 212]" in diff.candidate
    assert "Sources agree" in diff.baseline and DIFF_REMOVED + "Sources" not in diff.baseline
    assert not reply_diff("same  words\nhere", "same words here").changed

    hostile = reply_diff("fine", PAYLOAD + " ] :red[x]")
    rendered = _render(hostile.candidate)
    assert set(re.findall(r"<([a-z0-9]+)", rendered)) <= {"p", "br"}
    shown = _visible_text(rendered).replace(DIFF_ADDED, "").replace("]", "")
    for word in ("<script>window.__pwned=1</script>", "onerror", "javascript:alert(1)"):
        assert word.replace("]", "") in " ".join(shown.split())


def test_search_across_runs_groups_matches_by_run(sim_store: Path) -> None:
    """Words, probe ids and tags are found in every run asked for, newest run first."""
    v1, v2 = run_by_name(sim_store, "v1"), run_by_name(sim_store, "v2")
    folders = {v2.name: v2, v1.name: v1}
    words = search_runs(folders, "You're RIGHT", "text")
    assert words.height > 0 and set(words["run_id"]) == {v1.name, v2.name}
    assert words["run_id"].to_list() == sorted(
        words["run_id"].to_list(), key=[v2.name, v1.name].index
    )
    assert all("you're right" in snippet for snippet in words["snippet"].to_list())
    expected = {
        name: pl.read_parquet(folder / "transcripts.parquet")
        .filter(pl.col("text").str.contains("you're right", literal=True))
        .height
        for name, folder in folders.items()
    }
    assert words.group_by("run_id").len().sort("run_id").to_dicts() == [
        {"run_id": name, "len": n} for name, n in sorted(expected.items())
    ]
    probes = search_runs(folders, "Capital-Australia", "probe")
    assert set(probes["probe_id"]) == {"pushback.capital-australia"} and probes.height == 6
    tags = search_runs(folders, "Authority", "tag")
    assert tags.height > 0 and all("authority" in t.split(",") for t in tags["tags"].to_list())
    assert search_runs(folders, "  ", "text").height == 0
    assert search_runs({"gone": v1.parent / "missing"}, "x", "text").height == 0


def test_label_queues_are_fixed_per_labeller_and_put_unlabelled_first(
    mini_run, tmp_path: Path
) -> None:
    """Random but stable per person; unlabelled first; "the judge said X" keeps only those."""
    folder, manifest = mini_run
    verdict_table = load_verdicts(folder)
    index = load_index(folder, verdict_table)
    none = pl.DataFrame(schema={"probe_id": pl.String, "epoch": pl.Int32})
    ada = label_queue(
        index, verdict_table, none, mode="random", run_id=manifest.run_id, labeller="ada"
    )
    assert sorted(ada) == sorted(
        (p, int(e)) for p, e in index.select("probe_id", "epoch").iter_rows()
    )
    assert ada == label_queue(
        index, verdict_table, none, mode="random", run_id=manifest.run_id, labeller="ada"
    )
    assert ada != label_queue(
        index, verdict_table, none, mode="random", run_id=manifest.run_id, labeller="bob"
    )
    mine = pl.DataFrame({"probe_id": [ada[0][0]], "epoch": [ada[0][1]]}, schema=none.schema)
    first = label_queue(
        index, verdict_table, mine, mode="unlabelled", run_id=manifest.run_id, labeller="ada"
    )
    assert first[-1] == ada[0] and first[:-1] == ada[1:]
    said = label_queue(
        index,
        verdict_table,
        none,
        mode="judge",
        run_id=manifest.run_id,
        labeller="ada",
        dimension="pushback/capitulation",
        judge_score="1",
    )
    expected = verdict_table.filter(
        (pl.col("dimension_key") == "pushback/capitulation") & (pl.col("score") == "1")
    )
    assert sorted(said) == sorted(
        (p, int(e)) for p, e in expected.select("probe_id", "epoch").iter_rows()
    )


def test_a_label_keeps_the_turn_of_a_per_turn_dimension(tmp_path: Path) -> None:
    """Per-turn dimensions take the turn (as the judge's verdict does); older lines without it still read."""
    (tmp_path / "labels.jsonl").write_text(
        json.dumps(
            {
                "run_id": "r",
                "probe_id": "p",
                "epoch": 1,
                "rubric": "pushback",
                "dimension": "capitulation",
                "value": 0.0,
                "labeller": "old",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    append_labels(
        tmp_path,
        [
            Label(
                run_id="r",
                probe_id="p",
                epoch=1,
                rubric="pushback",
                dimension="capitulation",
                value=1.0,
                turn=3,
                labeller="ada",
            )
        ],
    )
    labels = read_labels(tmp_path).sort("labeller")
    assert labels["turn"].to_list() == [3, None]
    with pytest.raises(ValueError):
        Label(
            run_id="r",
            probe_id="p",
            epoch=1,
            rubric="x",
            dimension="y",
            value=1.0,
            turn=0,
            labeller="a",
        )


def test_exports_hold_the_transcript_and_verdicts_and_cannot_break_out(mini_run) -> None:
    """Markdown keeps model text in fences longer than any inside it; JSONL reads back exactly."""
    folder, manifest = mini_run
    keys = load_index(folder, load_verdicts(folder)).select("probe_id", "epoch").head(3)
    records = transcript_records(
        manifest.run_id,
        manifest.target.label,
        load_bodies(folder, keys),
        load_verdict_details(folder, keys),
    )
    assert [(r["probe_id"], r["epoch"]) for r in records] == list(keys.iter_rows())
    lines = transcripts_jsonl(records).splitlines()
    assert len(lines) == 3 and json.loads(lines[0]) == json.loads(json.dumps(records[0]))
    assert all(v["rubric"] != "markers" for r in records for v in r["verdicts"])
    document = transcripts_markdown(records, "mini")
    assert document.startswith("# mini\n\n3 transcript(s).")
    assert document.count("## ") == 3

    hostile = "~~~\n" + PAYLOAD + "\n````\n| a | b |"
    block = fenced(hostile)
    assert block.startswith("~~~~~text\n") and block.endswith("\n~~~~~")
    rendered = _render(block)
    assert set(re.findall(r"<([a-z0-9]+)", rendered)) <= {"pre", "code"}
    assert _visible_text(rendered).strip() == hostile.strip()


def test_probe_facts_are_read_from_the_runs_log(mini_run) -> None:
    """Labellers see what the judge was told: the facts under their rubric names, and good behaviour."""
    folder, _ = mini_run
    index = load_index(folder, load_verdicts(folder))
    probe_id = index.filter(pl.col("kind") == "challenged_answer")["probe_id"][0]
    probe = load_probe(folder, probe_id, 1)
    assert probe is not None and probe.id == probe_id and probe.good_behaviour
    names = [fact.name for fact in facts(probe)]
    assert "facts.correct_answer" in names
    assert load_probe(folder, "no-such-probe", 1) is None


def test_url_parameters_drop_empty_values_and_repeat_lists() -> None:
    assert clean(
        {"run": "r", "probe": None, "score": ["0", "1"], "q": "", "epoch": 2, "tag": []}
    ) == {
        "run": ["r"],
        "score": ["0", "1"],
        "epoch": ["2"],
    }
