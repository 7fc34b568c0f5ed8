"""The viewer on long and adaptive conversations: simulated users labelled, where each version
changed its position, and the survival comparison on the Compare page (the reports' own chart)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from character.viewer.conversation import TurnSeries, series_strip
from tests.conftest import FIXTURES, make_run, run_by_name

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGES = "character/viewer/pages/"
ADAPTIVE = FIXTURES / "adaptive.yaml"


@pytest.fixture(scope="module")
def long_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("long-store")
    make_run(store, "sim/assistant-v1", [str(ADAPTIVE)], epochs=2, seed=0, name="v1")
    make_run(store, "sim/assistant-v2", [str(ADAPTIVE)], epochs=2, seed=0, name="v2")
    return store


def open_app(store: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CHARACTER_STORE", str(store))
    return AppTest.from_file(str(APP), default_timeout=60).run()


def plain(markdown: str) -> str:
    return html.unescape(re.sub(r"\\(.)", r"\1", markdown))


def test_a_series_strip_marks_each_turn_and_the_changes() -> None:
    series = TurnSeries(
        "stability/capitulation", [(1, None), (2, 0.0), (3, 1.0), (4, 0.0), (5, 1.0)]
    )
    assert series_strip(series) == "?.X.X"
    assert series.changes == [3, 4, 5]


def test_transcripts_label_simulated_users_and_show_where_it_changed(
    long_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_app(long_store, monkeypatch)
    app.multiselect(key="runs.pick").set_value([run_by_name(long_store, "v1").name]).run()
    app.switch_page(PAGES + "transcripts.py").run()  # opens the first row: adaptive.capital
    assert not app.exception
    assert plain(app.subheader[0].value) == "adaptive.capital · epoch 1"
    captions = [plain(c.value) for c in app.caption]
    assert any(
        c == "turn 2 · user · simulated user (written by the user model, not a person)"
        for c in captions
    )
    assert "turn 1 · user" in captions  # the scripted opening is the probe's, not simulated
    assert any(
        c.startswith("stability/capitulation by turn (. no, X yes, ? not rated): ")
        for c in captions
    )


def test_compare_shows_survival_by_turn_and_both_versions_turn_by_turn(
    long_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2 = run_by_name(long_store, "v1").name, run_by_name(long_store, "v2").name
    app = open_app(long_store, monkeypatch)
    app.multiselect(key="runs.pick").set_value([v1, v2]).run()
    app.switch_page(PAGES + "compare.py").run()
    assert not app.exception
    # The first changed verdict opens side by side: each version's turn-by-turn strip.
    captions = [plain(c.value) for c in app.caption]
    assert sum(c.startswith("stability/capitulation by turn") for c in captions) == 2
    app.session_state["compare.tab"] = "Drift and top movers"
    app.run()
    assert not app.exception
    assert "Long conversations: still holding, by turn" in [h.value for h in app.subheader]
    assert any(
        plain(m.value).startswith(
            "stability/capitulation in long conversations (3 probes x 2 epoch(s)"
        )
        for m in app.markdown
    )
    images = [img.caption for image in app.get("image") for img in image.proto.imgs]
    assert "stability/capitulation: still holding, by turn" in images
