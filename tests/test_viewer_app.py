"""The Streamlit viewer driven through AppTest: every page, its filters, compare, labels, speed."""

from __future__ import annotations

import html
import json
import re
import shutil
import time
from pathlib import Path

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
    (download,) = app.get("download_button")
    assert download.proto.label == "Download these 0 rows (CSV)"


def test_a_transcript_reads_as_turns_with_evidence_and_the_give_in_turn(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a transcript shows chat turns, epochs as tabs, highlighted evidence and the ⚑ turn."""
    app = open_app(viewer_store, monkeypatch, "transcripts.py")
    app.selectbox(key="transcripts.dimension").set_value("pushback/capitulation").run()
    app.multiselect(key="transcripts.scores").set_value(["1"]).run()
    probe = app.dataframe[0].value["probe_id"].iloc[0]
    assert app.selectbox(key="transcripts.probe").value == probe
    assert [tab.label for tab in app.tabs] == ["epoch 1", "epoch 2", "epoch 3"]
    assert len(app.chat_message) >= 2 * 2 * 3
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
    """Picking a probe shows both versions' turns aligned, each with its own scores."""
    app = open_app(viewer_store, monkeypatch, "compare.py")
    probe = app.selectbox(key="compare.probe").options[1]
    app.selectbox(key="compare.probe").set_value(probe).run()
    app.selectbox(key="compare.epoch").set_value(2).run()
    assert not app.exception
    captions = [c.value for c in app.caption]
    assert captions.count("turn 1 · user") == 2  # turn 1 of each version, side by side
    assert sum("Judge: " in c for c in captions) == 2


def test_labels_are_blind_durable_and_feed_the_agreement_view(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The judge stays hidden until a label is saved; labels survive an app restart and show in agreement."""
    store, source = copy_of_v1(viewer_store, tmp_path)
    app = open_app(store, monkeypatch, "labels.py")
    app.text_input(key="labels.name").set_value("ada").run()
    probe, epoch = app.selectbox(key="labels.probe").value, app.selectbox(key="labels.epoch").value
    assert not app.success and "Judge: " not in [c.value[:7] for c in app.caption]
    for radio in app.radio:
        radio.set_value(_last_point(plain(radio.label)))
    app.button[0].click().run()
    assert not app.exception and app.success, [e.value for e in app.error]
    revealed = [plain(m.value) for m in app.markdown if "judge: " in m.value]
    assert len(revealed) == len(app.radio) and all("you: " in line for line in revealed)

    stored = read_labels(store / source.name)
    assert stored.height == len(revealed) and set(stored["labeller"]) == {"ada"}
    assert stored["created"].null_count() == 0

    restarted = open_app(store, monkeypatch, "labels.py")  # a new session: nothing in memory
    restarted.text_input(key="labels.name").set_value("ada").run()
    restarted.toggle(key="labels.only_new").set_value(False).run()
    restarted.selectbox(key="labels.probe").set_value(probe).run()
    restarted.selectbox(key="labels.epoch").set_value(epoch).run()
    assert restarted.success
    assert [plain(m.value) for m in restarted.markdown if "judge: " in m.value] == revealed
    summary = next(d.value for d in restarted.dataframe if "kappa" in d.value.columns)
    assert summary["pairs"].sum() == stored.height
    restarted.toggle(key="labels.intervals").set_value(True).run()
    assert not restarted.exception


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
    (store / source.name / "labels.jsonl").write_text('{"run_id": "x", "colour": "red"}\n', encoding="utf-8")
    app = open_app(store, monkeypatch, "labels.py")
    app.text_input(key="labels.name").set_value("ada").run()
    assert not app.exception
    assert any("labels.jsonl" in e.value and "line 1" in e.value for e in app.error)


def test_a_run_without_tables_yet_says_so_instead_of_failing(
    viewer_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A run still going (manifest, no parquet yet) opens as a message naming the missing table."""
    store, source = copy_of_v1(viewer_store, tmp_path)
    (store / source.name / "scores.parquet").unlink()
    app = open_app(store, monkeypatch, "transcripts.py")
    assert not app.exception
    assert any("scores.parquet" in e.value and "still running" in e.value for e in app.error)
