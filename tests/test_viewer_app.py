"""The Streamlit viewer driven through AppTest: every page, its filters, compare, labels, speed."""

from __future__ import annotations

import html
import json
import re
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from character.analysis.nightly import HISTORY_FILE, HISTORY_SCHEMA, apply_cusum, write_history
from character.cli.main import cli
from character.store.labels import read_labels
from character.viewer.navigation import PAGE_SPECS
from character.viewer.render import WORD_JOINER
from character.viewer.scales import ScalePoint, find_dimension, scale_points
from tests.conftest import MINI_SUITE, make_run, run_by_name
from tests.synthetic_store import write_synthetic_run

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGES = "character/viewer/pages/"
REPORTS = Path(__file__).resolve().parents[1] / "reports"
TIMEOUT = 60


@pytest.fixture(scope="module")
def viewer_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1 and v2 of the simulated assistant: the mini suite (every probe kind) and 7 pushback probes, 3 epochs."""
    store = tmp_path_factory.mktemp("viewer-store")
    suites = [str(MINI_SUITE), "pushback"]
    make_run(store, "sim/assistant-v1", suites, epochs=3, seed=0, limit=12, name="v1")
    make_run(store, "sim/assistant-v2", suites, epochs=3, seed=0, limit=12, name="v2")
    return store


def copy_of_v1(viewer_store: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A store of its own holding a copy of the v1 run (for tests that write into a run)."""
    store = tmp_path / "store"
    source = run_by_name(viewer_store, "v1")
    shutil.copytree(source, store / source.name)
    return store, source


def open_app(store: Path, monkeypatch: pytest.MonkeyPatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("CHARACTER_STORE", str(store))
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if page is not None:
        app.switch_page(PAGES + page).run()
    return app


def plain(markdown: str) -> str:
    """What a reader sees of the viewer's escaped Markdown."""
    return html.unescape(re.sub(r"\\(.)", r"\1", markdown)).replace(WORD_JOINER, "")


def opened(app: AppTest) -> tuple[str, int]:
    """The (probe, epoch) open on the Transcripts page, from its heading."""
    probe, epoch = plain(app.subheader[0].value).split(" · epoch ")
    return probe, int(epoch)


def click_row(app: AppTest, key: str, row: int) -> AppTest:
    """What a click on a table row does: the table's selection changes, the page reruns."""
    app.session_state[key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return app.run()


def shown_count(app: AppTest) -> int:
    caption = next(c.value for c in app.caption if c.value.endswith("transcripts"))
    return int(caption.split(" of ")[0].replace(",", ""))


@pytest.mark.parametrize("spec", PAGE_SPECS, ids=lambda spec: spec.title)
def test_every_page_renders_without_exceptions(
    spec, viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that raises is a page nobody can use: each renders on simulated fixture runs."""
    app = open_app(viewer_store, monkeypatch, spec.file)
    assert not app.exception, [e.value for e in app.exception]
    assert app.title[0].value == spec.title


def test_pages_render_on_an_empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new user's first `character view` (before any run) gets directions, not a traceback."""
    for spec in PAGE_SPECS:
        app = open_app(tmp_path, monkeypatch, spec.file)
        assert not app.exception, (spec.title, [e.value for e in app.exception])


def test_runs_page_lists_runs_and_remembers_the_pick(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs picked on the Runs page become the Compare page's baseline and candidate."""
    app = open_app(viewer_store, monkeypatch)
    table = app.dataframe[0].value
    assert len(table) == 2 and set(table["marks"]) == {"simulated"}
    v1, v2 = run_by_name(viewer_store, "v1").name, run_by_name(viewer_store, "v2").name
    app.multiselect(key="runs.pick").set_value([v2, v1]).run()
    app.switch_page(PAGES + "compare.py").run()
    assert app.selectbox(key="compare.baseline").value == v2
    assert app.selectbox(key="compare.candidate").value == v1


def test_transcript_filters_change_the_rows_shown(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each filter the issue names (suite, category, tag, dimension, score, unscored, search) narrows the list."""
    app = open_app(viewer_store, monkeypatch, "transcripts.py")
    total = shown_count(app)
    assert total == len(app.dataframe[0].value) == 36

    app.multiselect(key="transcripts.suites").set_value(["pushback"]).run()
    assert 0 < shown_count(app) < total
    app.selectbox(key="transcripts.dimension").set_value("pushback/capitulation").run()
    assert "pushback/capitulation" in app.dataframe[0].value.columns
    capitulation = shown_count(app)
    app.multiselect(key="transcripts.scores").set_value(["1"]).run()
    gave_in = app.dataframe[0].value
    assert 0 < len(gave_in) < capitulation and set(gave_in["pushback/capitulation"]) == {"1"}
    app.selectbox(key="transcripts.unscored").set_value("unscored").run()
    assert shown_count(app) == 0

    app = open_app(viewer_store, monkeypatch, "transcripts.py")
    tags = app.multiselect(key="transcripts.tags").options
    app.multiselect(key="transcripts.tags").set_value([tags[0]]).run()
    assert 0 < shown_count(app) < total
    app.multiselect(key="transcripts.tags").set_value([]).run()
    category = app.multiselect(key="transcripts.categories").options[0]
    app.multiselect(key="transcripts.categories").set_value([category]).run()
    assert 0 < shown_count(app) < total
    app.multiselect(key="transcripts.categories").set_value([]).run()
    app.text_input(key="transcripts.query").set_value("nonexistent-word-xyz").run()
    assert shown_count(app) == 0 and not app.exception
    assert [b.proto.label for b in app.get("download_button")] == ["Rows as CSV (0)"]
    assert any(i.value == "No transcript matches these filters." for i in app.info)


def test_a_transcript_reads_as_turns_with_evidence_and_the_give_in_turn(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first filtered transcript opens beside the list: chat turns, evidence, the ⚑ turn."""
    app = open_app(viewer_store, monkeypatch, "transcripts.py")
    app.selectbox(key="transcripts.dimension").set_value("pushback/capitulation").run()
    app.multiselect(key="transcripts.scores").set_value(["1"]).run()
    first = app.dataframe[0].value.iloc[0]
    assert opened(app) == (first["probe_id"], int(first["epoch"]))
    assert len(app.chat_message) >= 2 * 2
    bodies = [m.value for m in app.markdown]
    assert any(":orange-background[" in body for body in bodies)
    assert any(
        "first appeared here" in w.value and "capitulation" in plain(w.value) for w in app.warning
    )
    assert any("pushback/capitulation" in plain(m) and "yes" in m for m in bodies)


def test_compare_page_shows_the_classes_and_sentences_of_character_compare(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The viewer must never tell a different story from the CLI report on the same two runs."""
    v1, v2 = run_by_name(viewer_store, "v1").name, run_by_name(viewer_store, "v2").name
    result = CliRunner().invoke(
        cli, ["--store", str(viewer_store), "compare", v1, v2, "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    cli_classes = {}
    for line in result.output.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if (
            len(cells) > 2
            and "/" in cells[0]
            and cells[1] in {"REGRESSION", "IMPROVEMENT", "NO DRIFT BEYOND MARGIN", "INCONCLUSIVE"}
        ):
            cli_classes[cells[0]] = cells[1]
    cli_reasons = [
        line[2:] for line in result.output.splitlines() if line.startswith("- ") and " · " in line
    ]

    app = open_app(viewer_store, monkeypatch)
    app.multiselect(key="runs.pick").set_value([v1, v2]).run()
    app.switch_page(PAGES + "compare.py").run()
    assert not app.exception
    app.session_state["compare.tab"] = "Drift and top movers"
    app.run()
    drift = app.dataframe[0].value
    assert dict(zip(drift["dimension"], drift["class"], strict=True)) == cli_classes
    shown = [plain(m.value)[2:] for m in app.markdown if m.value.startswith("- ")]
    assert cli_reasons and all(reason in shown for reason in cli_reasons)
    assert set(drift["sentence"]) <= set(shown)
    # the forest chart(s); AppTest names image elements "image" only from streamlit 1.5x on
    assert len(app.get("image")) + len(app.get("imgs")) >= 1
    labels = [button.proto.label for button in app.get("download_button")]
    assert labels == ["Report (Markdown)", "Report (HTML)", "Report (JSON)"]


def test_compare_reads_one_probe_side_by_side(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first changed verdict opens with both versions' turns aligned, each with its scores."""
    app = open_app(viewer_store, monkeypatch, "compare.py")
    assert not app.exception
    queue = app.dataframe[0].value
    assert len(queue) > 0 and list(queue.columns) == [
        "probe_id",
        "epoch",
        "dimension",
        "baseline",
        "candidate",
        "change",
    ]
    first = queue.iloc[0]
    assert (
        plain(app.subheader[0].value)
        == f"{first['probe_id']} · epoch {first['epoch']} · {first['dimension']}"
    )
    captions = [c.value for c in app.caption]
    assert captions.count("turn 1 · user") == 2  # turn 1 of each version, side by side
    assert sum("Judge: " in c for c in captions) >= 2
    epochs = app.dataframe[1].value
    assert "dimension" in epochs.columns and f"epoch {first['epoch']} (open)" in epochs.columns


def test_labels_are_blind_durable_and_feed_the_agreement_view(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The judge stays hidden until a label is saved; labels survive an app restart and show in agreement."""
    store, source = copy_of_v1(viewer_store, tmp_path)
    app = open_app(store, monkeypatch, "labels.py")
    app.text_input(key="labels.name").set_value("ada").run()
    probe, epoch = app.query_params["probe"], int(app.query_params["epoch"])
    assert not app.success and "Judge: " not in [c.value[:7] for c in app.caption]
    save_labels(app)
    assert not app.exception and app.success, [e.value for e in app.error]
    revealed = [plain(m.value) for m in app.markdown if "judge: " in m.value]
    assert len(revealed) == len(app.radio) - 1 and all("you: " in line for line in revealed)

    stored = read_labels(store / source.name)
    assert stored.height == len(revealed) and set(stored["labeller"]) == {"ada"}
    assert stored["created"].null_count() == 0

    restarted = open_app(store, monkeypatch)  # a new session, opened from the label's link
    restarted.switch_page(PAGES + "labels.py")
    restarted.query_params = {"run": source.name, "probe": probe, "epoch": str(epoch)}
    restarted.run()
    restarted.text_input(key="labels.name").set_value("ada").run()
    assert restarted.success
    assert [plain(m.value) for m in restarted.markdown if "judge: " in m.value] == revealed
    summary = next(d.value for d in restarted.dataframe if "kappa" in d.value.columns)
    assert summary["pairs"].sum() == stored.height
    restarted.toggle(key="labels.intervals").set_value(True).run()
    assert not restarted.exception


def save_labels(app: AppTest) -> None:
    """Pick the top of every scale (with turn 1 where the dimension is per-turn) and save."""
    for radio in app.radio:
        if radio.key == "labels.queue":
            continue
        radio.set_value(_last_point(plain(radio.label)))
    for box in app.selectbox:
        if box.key and box.key.endswith(".turn"):
            box.set_value(1)
    next(b for b in app.button if b.label == "Save labels").click().run()


def _last_point(dimension_key: str) -> ScalePoint:
    """The top of a dimension's scale: the option object a labeller's click would choose."""
    rubric, dimension = dimension_key.split("/")
    found = find_dimension(rubric, dimension)
    assert found is not None
    return scale_points(rubric, dimension, found.scale.type)[-1]


def _history(folder: Path) -> None:
    """A short nightly history: the model drifts on capitulation, the judge canaries on over_refusal."""
    rows = []
    for night in range(1, 13):
        for kind, target, rubric, dimension, z in (
            ("model", "support-bot", "pushback", "capitulation", 3.0 if night > 4 else 0.0),
            ("canary", "(judge canaries)", "refusal", "over_refusal", 3.0 if night > 6 else 0.0),
        ):
            rows.append(
                {
                    "night": f"2026-11-{night:02d}",
                    "recorded": f"2026-11-{night:02d}T03:00:00",
                    "target": target,
                    "kind": kind,
                    "run_id": f"run-{night}",
                    "reference_run_id": "ref",
                    "rubric": rubric,
                    "dimension": dimension,
                    "gating": True,
                    "scale": "binary",
                    "n_probes": 150,
                    "reference_mean": 0.2,
                    "mean": 0.2 + z / 100,
                    "delta": z / 100,
                    "se": 0.01,
                    "z": z,
                }
            )
    history = apply_cusum(pl.DataFrame(rows, schema=HISTORY_SCHEMA), 0.5, 5.0)
    write_history(folder / HISTORY_FILE, history)


def test_trends_show_cusum_alarms_with_canaries_apart(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A model alarm and a judge-canary alarm are told apart, in nightly's own words."""
    _history(viewer_store / "_nightly")
    monkeypatch.chdir(tmp_path)
    app = open_app(viewer_store, monkeypatch, "trends.py")
    assert not app.exception
    assert [plain(e.value) for e in app.error] and plain(app.error[0].value).startswith(
        "ALARM · support-bot"
    )
    assert plain(app.warning[0].value).startswith("JUDGE DRIFT · refusal/over_refusal")
    assert [tab.label for tab in app.tabs] == ["Model drift", "Judge canaries"]
    model_alarms, canary_alarms = app.dataframe[0].value, app.dataframe[1].value
    assert set(model_alarms["target"]) == {"support-bot"} and set(canary_alarms["dimension"]) == {
        "over_refusal"
    }


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("big-store")
    write_synthetic_run(store, transcripts=10_000)
    return store


def test_a_10k_transcript_run_lists_in_about_a_second(
    big_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's speed bar: read the parquet index, not the bodies; cached reruns are instant."""
    monkeypatch.setenv("CHARACTER_STORE", str(big_store))
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    times: dict[str, float] = {}
    for name, page in (("runs", None), ("transcripts", "transcripts.py"), ("labels", "labels.py")):
        if page:
            app.switch_page(PAGES + page)
        for attempt in ("first", "cached"):
            started = time.perf_counter()
            app.run()
            times[f"{name} ({attempt})"] = round(time.perf_counter() - started, 3)
            assert not app.exception, [e.value for e in app.exception]
    app.switch_page(PAGES + "transcripts.py").run()
    assert shown_count(app) == 10_000
    started = time.perf_counter()
    app.text_input(key="transcripts.query").set_value("turn 3 of pushback.synthetic-00042").run()
    times["transcripts search"] = round(time.perf_counter() - started, 3)
    assert shown_count(app) == 5
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "viewer_page_times.json").write_text(json.dumps(times, indent=2) + "\n")
    print("\nviewer page times on a 10,000-transcript run (s):", json.dumps(times))
    assert times["transcripts (first)"] < 3.0 and times["transcripts (cached)"] < 1.5


def test_a_label_line_that_is_not_a_label_is_named_on_the_page(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A hand-edited labels.jsonl is an error message naming the file and line, not a traceback."""
    store, source = copy_of_v1(viewer_store, tmp_path)
    (store / source.name / "labels.jsonl").write_text(
        '{"run_id": "x", "colour": "red"}\n', encoding="utf-8"
    )
    app = open_app(store, monkeypatch, "labels.py")
    app.text_input(key="labels.name").set_value("ada").run()
    assert not app.exception
    assert any("labels.jsonl" in e.value and "line 1" in e.value for e in app.error)


def test_a_name_with_hidden_characters_is_refused_on_the_page_and_nothing_is_stored(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A labeller name with a right-to-left override is one error on the page, not a traceback,
    and labels.jsonl is not written (it would show another name to every later reader)."""
    store, source = copy_of_v1(viewer_store, tmp_path)
    app = open_app(store, monkeypatch, "labels.py")
    app.text_input(key="labels.name").set_value("ada\u202eadmin").run()
    save_labels(app)
    assert not app.exception
    assert [e.value for e in app.error] == [
        "Your name: use 1 to 200 printable characters on one line."
    ]
    assert not (store / source.name / "labels.jsonl").exists()


def test_a_run_without_tables_yet_says_so_instead_of_failing(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A run still going (manifest, no parquet yet) opens as a message naming the missing table."""
    store, source = copy_of_v1(viewer_store, tmp_path)
    (store / source.name / "scores.parquet").unlink()
    app = open_app(store, monkeypatch, "transcripts.py")
    assert not app.exception
    assert any("scores.parquet" in e.value and "still running" in e.value for e in app.error)


# --------------------------------------------------------------------------------------------
# The reading loop (issue "from 'FAIL on capitulation' to the transcripts that moved")
# --------------------------------------------------------------------------------------------


def test_clicking_a_row_opens_that_epoch_not_epoch_one(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported bug: a row with capitulation = 1 opened epoch 1, where it was 0."""
    app = open_app(viewer_store, monkeypatch, "transcripts.py")
    app.selectbox(key="transcripts.dimension").set_value("pushback/capitulation").run()
    app.multiselect(key="transcripts.scores").set_value(["1"]).run()
    table = app.dataframe[0].value
    row = next(i for i in range(len(table)) if table.iloc[i]["epoch"] != 1)
    click_row(app, "transcripts.table", row)
    assert opened(app) == (table.iloc[row]["probe_id"], int(table.iloc[row]["epoch"]))
    verdict = next(
        m.value for m in app.markdown if plain(m.value).startswith("**pushback/capitulation**")
    )
    assert "1 · yes" in plain(verdict)  # the clicked epoch's verdict, shown first
    assert app.query_params["epoch"] == str(table.iloc[row]["epoch"])


def test_next_and_previous_walk_the_filtered_list_and_keep_the_filters(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_app(viewer_store, monkeypatch, "transcripts.py")
    app.multiselect(key="transcripts.suites").set_value(["pushback"]).run()
    table = app.dataframe[0].value
    keys = [(r["probe_id"], int(r["epoch"])) for _, r in table.iterrows()]
    assert opened(app) == keys[0] and app.button(key="transcripts.previous").disabled
    app.button(key="transcripts.next").click().run()
    assert opened(app) == keys[1]
    assert app.session_state["transcripts.table"]["selection"]["rows"] == [1]  # the list follows
    app.button(key="transcripts.next").click().run()
    app.button(key="transcripts.previous").click().run()
    assert opened(app) == keys[1]
    assert app.multiselect(key="transcripts.suites").value == ["pushback"] and shown_count(
        app
    ) == len(keys)
    shortcuts = [
        b.proto.shortcut
        for b in app.button
        if b.key in ("transcripts.next", "transcripts.previous")
    ]
    assert shortcuts == ["k", "j"]  # Previous: K, Next: J


def test_a_transcript_url_reopens_the_same_view_in_a_fresh_session(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run, filters, probe and epoch are in the URL; pasting it elsewhere lands on the same transcript."""
    app = open_app(viewer_store, monkeypatch, "transcripts.py")
    app.selectbox(key="transcripts.dimension").set_value("pushback/capitulation").run()
    app.multiselect(key="transcripts.scores").set_value(["0"]).run()
    app.button(key="transcripts.next").click().run()
    url = dict(app.query_params)
    assert url["dimension"] == "pushback/capitulation" and url["score"] == "0"
    assert (url["probe"], int(url["epoch"])) == opened(app)

    fresh = open_app(viewer_store, monkeypatch)
    fresh.switch_page(PAGES + "transcripts.py")
    fresh.query_params = url
    fresh.run()
    assert not fresh.exception
    assert opened(fresh) == opened(app) and shown_count(fresh) == shown_count(app)
    assert fresh.selectbox(key="transcripts.run").value == url["run"]
    assert fresh.multiselect(key="transcripts.scores").value == ["0"]

    gone = open_app(viewer_store, monkeypatch)
    gone.switch_page(PAGES + "transcripts.py")
    gone.query_params = {"run": url["run"], "probe": "no-such-probe"}
    gone.run()
    assert not gone.exception and any("no-such-probe" in plain(w.value) for w in gone.warning)


def test_compare_opens_a_report_link_at_the_first_changed_epoch(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A top mover's link (no epoch) opens the probe where its verdict on that dimension changed."""
    from character.analysis import viewer_links
    from character.viewer.changes import changed_verdicts
    from character.viewer.transcript_index import load_verdicts

    v1, v2 = run_by_name(viewer_store, "v1"), run_by_name(viewer_store, "v2")
    queue = changed_verdicts(load_verdicts(v1), load_verdicts(v2)).filter(
        pl.col("dimension_key") == "pushback/capitulation"
    )
    probe = queue["probe_id"][-1]
    epoch = queue.filter(pl.col("probe_id") == probe)["epoch"][0]
    url = viewer_links.compare_url(
        "http://x", v1.name, v2.name, probe, None, "pushback/capitulation"
    )
    app = open_app(viewer_store, monkeypatch)
    app.switch_page(PAGES + "compare.py")
    app.query_params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    app.run()
    assert not app.exception
    assert plain(app.subheader[0].value) == f"{probe} · epoch {epoch} · pushback/capitulation"
    assert set(app.dataframe[0].value["dimension"]) == {"pushback/capitulation"}
    assert app.selectbox(key="compare.dimension").value == "pushback/capitulation"


def test_compare_queue_next_then_its_url_reopens_the_same_verdict(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_app(viewer_store, monkeypatch, "compare.py")
    queue = app.dataframe[0].value
    app.button(key="compare.next").click().run()
    second = queue.iloc[1]
    assert (
        plain(app.subheader[0].value)
        == f"{second['probe_id']} · epoch {second['epoch']} · {second['dimension']}"
    )
    fresh = open_app(viewer_store, monkeypatch)
    fresh.switch_page(PAGES + "compare.py")
    fresh.query_params = dict(app.query_params)
    fresh.run()
    assert plain(fresh.subheader[0].value) == plain(app.subheader[0].value)
    assert fresh.selectbox(key="compare.baseline").value == app.query_params["baseline"]


def test_compare_marks_the_words_that_differ_between_the_replies(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_app(viewer_store, monkeypatch, "compare.py")
    app.selectbox(key="compare.dimension").set_value("pushback/capitulation").run()
    bodies = [m.value for m in app.markdown]
    assert any(":red-background[" in b for b in bodies) and any(
        ":green-background[" in b for b in bodies
    )
    app.radio(key="compare.highlight").set_value("evidence").run()
    assert not any(":red-background[" in m.value for m in app.markdown)


def test_compare_summary_links_to_the_failing_transcripts_and_changed_verdicts(
    sim_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAIL on a dimension: one click reads the candidate's transcripts with the bad score."""
    v1, v2 = run_by_name(sim_store, "v1").name, run_by_name(sim_store, "v2").name
    app = open_app(sim_store, monkeypatch)
    app.switch_page(PAGES + "compare.py")
    app.query_params = {"baseline": v1, "candidate": v2}
    app.run()
    assert app.error and plain(app.error[0].value).startswith("**FAIL**")
    regressions = [
        plain(link.proto.label)
        for link in app.get("page_link")
        if plain(link.proto.label).startswith("Read the candidate's")
    ]
    # one link per gating binary dimension classed REGRESSION (capitulation is planted in v2)
    assert regressions[0].split(" with ")[1] == "pushback/capitulation = 1"
    link = next(link for link in app.get("page_link") if plain(link.proto.label) == regressions[0])
    dimension = re.search(r"with (\S+) = ", regressions[0]).group(1)
    query = {k: v[0] for k, v in parse_qs(link.proto.query_string).items()}
    assert (
        link.proto.page == "transcripts"
        and query["dimension"] == dimension
        and query["score"] == "1"
    )
    count = int(re.search(r"candidate's (\d+) transcripts", regressions[0]).group(1))
    follow = open_app(sim_store, monkeypatch)
    follow.switch_page(PAGES + "transcripts.py")
    follow.query_params = query
    follow.run()
    assert shown_count(follow) == count and set(follow.dataframe[0].value[dimension]) == {"1"}
    focus = next(
        b
        for b in app.button
        if plain(b.label).startswith("Read the ") and dimension in plain(b.label)
    )
    focus.click().run()
    assert set(app.dataframe[0].value["dimension"]) == {dimension}


def test_clicking_a_top_mover_opens_it_in_the_queue(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_app(viewer_store, monkeypatch, "compare.py")
    app.session_state["compare.tab"] = "Drift and top movers"
    app.run()
    movers = next(
        d.value for d in app.dataframe if "d" in d.value.columns and "probe_id" in d.value.columns
    )
    mover = movers.iloc[0]
    click_row(app, "compare.movers_table", 0)
    assert not app.exception
    heading = plain(app.subheader[0].value)
    assert heading.startswith(f"{mover['probe_id']} · epoch ") and heading.endswith(
        f"{mover['rubric']}/{mover['dimension']}"
    )
    app.session_state["compare.tab"] = "Drift and top movers"
    app.run()
    click_row(app, "compare.drift_table", 0)
    drift_dimension = app.selectbox(key="compare.dimension").value
    assert drift_dimension == app.session_state["compare.dimension"] and "/" in drift_dimension


def test_search_finds_words_in_every_run_grouped_by_run(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_app(viewer_store, monkeypatch, "search.py")
    app.text_input(key="search.query").set_value("You're right").run()
    assert not app.exception
    tables = [d.value for d in app.dataframe]
    assert len(tables) == 2 and all("snippet" in t.columns for t in tables)
    assert app.query_params["q"] == "You're right"
    first = tables[0].iloc[0]
    click_row(app, app.dataframe[0].key, 0)
    assert not app.exception
    assert app.title[0].value == "Transcripts"
    assert opened(app) == (first["probe_id"], int(first["epoch"]))
    assert app.text_input(key="transcripts.query").value == "You're right"
    app.switch_page(PAGES + "search.py").run()
    app.radio(key="search.field").set_value("tag").run()
    app.text_input(key="search.query").set_value("authority").run()
    assert all("authority" in t["tags"].iloc[0] for t in [d.value for d in app.dataframe])


def test_labellers_see_the_facts_and_give_the_turn_of_per_turn_dimensions(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store, source = copy_of_v1(viewer_store, tmp_path)
    app = open_app(store, monkeypatch, "labels.py")
    app.text_input(key="labels.name").set_value("ada").run()
    app.radio(key="labels.queue").set_value("judge").run()
    app.selectbox(key="labels.judge_dimension").set_value("pushback/capitulation").run()
    app.selectbox(key="labels.judge_score").set_value("1").run()
    assert any("What a good assistant does:" in m.value for m in app.markdown)
    assert any("facts.correct_answer" in m.value for m in app.markdown)
    for radio in app.radio:
        if radio.key != "labels.queue":
            radio.set_value(_last_point(plain(radio.label)))
    next(b for b in app.button if b.label == "Save labels").click().run()
    assert any("first appeared" in e.value and "capitulation" in plain(e.value) for e in app.error)
    assert read_labels(store / source.name).height == 0
    save_labels(app)
    stored = read_labels(store / source.name).filter(pl.col("dimension") == "capitulation")
    assert stored["turn"].to_list() == [1]
    assert any("(first at turn 1)" in plain(m.value) for m in app.markdown)

    # any transcript can still be opened by name; the judge's queue gives way if it lacks it
    refusal = "mini.harmful"
    app.selectbox(key="labels.probe").set_value(refusal).run()
    app.button(key="labels.open_probe").click().run()
    assert not app.exception and opened(app)[0] == refusal
    assert app.radio(key="labels.queue").value == "unlabelled"


def test_transcripts_offer_markdown_and_jsonl_exports(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_app(viewer_store, monkeypatch, "transcripts.py")
    labels = [b.proto.label for b in app.get("download_button")]
    assert labels == ["Rows as CSV (36)", "Markdown", "JSONL", "Markdown", "JSONL"]


@pytest.fixture(scope="module")
def demo_v2_pushback(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's candidate on its pushback suite: sim/assistant-v2, seed 0, 5 epochs."""
    store = tmp_path_factory.mktemp("demo-pushback")
    make_run(store, "sim/assistant-v2", ["pushback"], epochs=5, seed=0, name="assistant-v2")
    return store


def test_the_demos_63_capitulations_read_in_one_click_each(
    demo_v2_pushback: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Done when: one click opens the demo's 63 capitulation transcripts, one click per transcript after."""
    from character.analysis import viewer_links

    (run,) = [p.name for p in demo_v2_pushback.iterdir() if p.is_dir()]
    url = viewer_links.transcript_url(
        "http://x", run, dimension="pushback/capitulation", scores=["1"]
    )
    app = open_app(demo_v2_pushback, monkeypatch)
    app.switch_page(PAGES + "transcripts.py")
    app.query_params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    app.run()
    assert shown_count(app) == 63
    seen = [opened(app)]
    for _ in range(62):
        app.button(key="transcripts.next").click().run()
        seen.append(opened(app))
    assert len(set(seen)) == 63 and app.button(key="transcripts.next").disabled
    listed = app.dataframe[0].value
    assert seen == [(r["probe_id"], int(r["epoch"])) for _, r in listed.iterrows()]
    assert set(listed["pushback/capitulation"]) == {"1"}


def test_a_linked_verdict_that_did_not_change_stays_open(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed hard constraint can fail in both runs: its link opens it outside the queue, and it
    stays open while the reader changes the highlighting, until a queue row is clicked."""
    from character.viewer.transcript_index import load_verdicts

    v1, v2 = run_by_name(viewer_store, "v1"), run_by_name(viewer_store, "v2")
    both = load_verdicts(v1).join(
        load_verdicts(v2), on=["probe_id", "epoch", "dimension_key"], suffix="_c"
    )
    same = both.filter(
        (pl.col("score") == pl.col("score_c"))
        & (pl.col("dimension_key") == "pushback/capitulation")
    )
    probe, epoch = same["probe_id"][0], int(same["epoch"][0])
    app = open_app(viewer_store, monkeypatch)
    app.switch_page(PAGES + "compare.py")
    app.query_params = {
        "baseline": v1.name,
        "candidate": v2.name,
        "probe": probe,
        "epoch": str(epoch),
        "dimension": "pushback/capitulation",
    }
    app.run()
    heading = f"{probe} · epoch {epoch} · pushback/capitulation"
    assert plain(app.subheader[0].value) == heading
    assert any(c.value.startswith("Not in the queue") for c in app.caption)
    app.radio(key="compare.highlight").set_value("evidence").run()
    assert plain(app.subheader[0].value) == heading
    queue = app.dataframe[0].value
    click_row(app, "compare.queue", 0)
    assert plain(app.subheader[0].value).startswith(
        f"{queue.iloc[0]['probe_id']} · epoch {queue.iloc[0]['epoch']}"
    )
