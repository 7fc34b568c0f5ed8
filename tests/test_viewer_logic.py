"""The viewer's logic modules, without a browser or a Streamlit runtime."""

from __future__ import annotations

import html
import io
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from character.analysis.calibrate import calibrate
from character.errors import CharacterError
from character.store.labels import Label, append_labels
from character.viewer.agreement import (
    agreement_report,
    confusion_table,
    labeller_table,
    summary_table,
)
from character.viewer.catalog import runs_table
from character.viewer.context import run_folder, store_from_argv
from character.viewer.conversation import align_by_turn, gave_in_turns, numbered_messages
from character.viewer.exports import rows_csv
from character.viewer.render import WORD_JOINER, escape_markdown, highlighted_markdown
from character.viewer.scales import find_dimension, scale_points
from character.viewer.transcript_index import (
    TranscriptFilters,
    apply_filters,
    filter_options,
    load_index,
    load_transcript,
    load_verdicts,
    search,
)
from tests.conftest import run_by_name

PAYLOAD = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> '
    "![x](http://example.invalid/track.png) <b>bold</b> **strong** `code` $x^2$ :red[red]\n"
    "    indented\n# heading\n1. item\n> quote\n| a | b |\n[link](javascript:alert(1)) www.example.invalid a@b.invalid"
)


def _render(markdown: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("gfm-like" if _has_linkify() else "commonmark").render(markdown)


def _has_linkify() -> bool:
    try:
        import linkify_it  # noqa: F401
    except ImportError:
        return False
    return True


def _visible_text(rendered: str) -> str:
    return (
        html.unescape(re.sub(r"<[^>]+>", "", rendered))
        .replace(WORD_JOINER, "")
        .replace("\u00a0", " ")
    )


def test_escaped_payload_renders_no_markup_and_reads_exactly_as_written() -> None:
    """Transcript text is untrusted: no tag, link, image or emphasis may come out of it."""
    rendered = _render(escape_markdown(PAYLOAD))
    tags = set(re.findall(r"<([a-z0-9]+)", rendered))
    assert tags <= {"p", "br"}, tags
    assert " ".join(_visible_text(rendered).split()) == " ".join(PAYLOAD.split())


def test_highlights_find_quotes_despite_case_spacing_and_quote_style() -> None:
    """Judge quotes are verified loosely (case, whitespace, curly quotes); highlighting must match the same way."""
    text = "You're right,  I apologize.\nIt is <b>Sydney</b>."
    markdown, missing = highlighted_markdown(
        text, ["you’re RIGHT, i apologize", "<b>Sydney</b>", "never said"]
    )
    assert missing == ["never said"]
    assert markdown.count(":orange-background[") == 2
    rendered = _render(markdown)
    assert "<b>" not in rendered and "&lt;b&gt;Sydney" in rendered


def test_store_and_run_folder_never_leave_the_store(tmp_path: Path) -> None:
    """A run id like ../../etc, or a symlinked run, must not make the UI read outside the store."""
    store = tmp_path / "store"
    store.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "manifest.json").write_text("{}")
    (store / "escape").symlink_to(tmp_path / "outside")
    for bad in ("../outside", "..", "escape", "/etc"):
        with pytest.raises(CharacterError):
            run_folder(store, bad)
    assert store_from_argv(["-q", "tests/x.py", "--store", str(store)]) == store.resolve()


def test_runs_table_has_the_issue_columns_and_marks_simulated_runs(mini_run) -> None:
    """The Runs page promises target, model, prompt hash, suites, date, probes x epochs, cost, unscored, marks."""
    folder, manifest = mini_run
    row = runs_table(folder.parent).row(0, named=True)
    assert row["run_id"] == manifest.run_id
    assert row["probes_x_epochs"] == "5 × 2"
    assert row["marks"] == "simulated"
    assert row["target"] == manifest.target.label and row["model"] == "sim/assistant-v1"
    assert row["unscored"] == manifest.counts.unscored


def test_a_damaged_manifest_is_a_row_with_its_problem(tmp_path: Path) -> None:
    """One broken run must not take the whole Runs page down."""
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    row = runs_table(tmp_path).row(0, named=True)
    assert row["status"] == "damaged" and "damaged" in row["problem"]


def test_each_filter_narrows_the_transcript_list(mini_run) -> None:
    """Suite, category, tag, dimension+score, unscored status and search each change the rows."""
    folder, _ = mini_run
    verdicts = load_verdicts(folder)
    index = load_index(folder, verdicts)
    assert index.height == 10 and index.columns[:3] == ["suite", "probe_id", "epoch"]
    options = filter_options(index, verdicts)
    assert "authority" in options.tags and "pushback/capitulation" in options.dimensions

    def rows(**given) -> pl.DataFrame:
        filters = TranscriptFilters(**given)
        matches = search(folder, filters.query) if filters.query else None
        return apply_filters(index, verdicts, filters, matches)

    assert rows(categories=["geography"])["probe_id"].unique().to_list() == [
        "mini.capital-australia"
    ]
    assert rows(tags=["authority"]).height == 2
    capitulation = rows(dimension="pushback/capitulation")
    assert capitulation.height == 2 and "pushback/capitulation" in capitulation.columns
    gave_in = rows(dimension="pushback/capitulation", scores=["1"])
    assert set(gave_in["pushback/capitulation"]) <= {"1"}
    assert rows(query="SYDNEY")["probe_id"].unique().to_list() == ["mini.capital-australia"]
    assert rows(unscored="scored").height + rows(unscored="unscored").height == index.height


def test_a_transcript_body_is_read_alone(mini_run) -> None:
    """Opening a transcript loads one row's messages, not the whole table."""
    folder, _ = mini_run
    body = load_transcript(folder, "mini.everest-boiling", 1)
    assert body is not None and body.kind == "valid_correction"
    numbered = numbered_messages(body.messages)
    assert [(m.turn, m.role, m.scripted) for m in numbered[:3]] == [
        (1, "user", False),
        (1, "assistant", True),
        (2, "user", False),
    ]
    assert load_transcript(folder, "mini.nope", 1) is None


def test_gave_in_marks_only_bad_per_turn_behaviour() -> None:
    """A per-turn 'yes' is giving in only where yes is worse; challenging a false premise is not."""
    verdicts = pl.DataFrame(
        {
            "rubric": ["pushback", "pushback", "pushback", "markers"],
            "dimension": ["capitulation", "challenges_false_premise", "stubbornness", "apology"],
            "status": ["scored", "scored", "scored", "scored"],
            "turn": [3, 2, None, 1],
            "worse": ["higher", "lower", "higher", "higher"],
            "value": [1.0, 1.0, 1.0, 1.0],
        }
    )
    assert gave_in_turns(verdicts) == {3: ["pushback/capitulation"]}


def test_side_by_side_aligns_turns_and_pads_the_shorter_conversation() -> None:
    """Turn k of the baseline must sit beside turn k of the candidate."""
    base = numbered_messages(
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    )
    cand = numbered_messages(
        [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "c"},
            {"role": "user", "content": "d"},
            {"role": "assistant", "content": "e"},
        ]
    )
    aligned = align_by_turn(base, cand)
    assert [a.turn for a in aligned] == [1, 2]
    assert aligned[1].baseline == [] and [m.content for m in aligned[1].candidate] == ["d", "e"]


def test_label_scale_is_the_judges_and_path_shaped_rubric_names_are_not_loaded() -> None:
    """People label on the judge's scale; a name from the store cannot make the viewer open a file."""
    ordinal = scale_points("pushback", "firmness_tone", "ordinal")
    assert [p.value for p in ordinal] == [1.0, 2.0, 3.0, 4.0, 5.0] and ordinal[0].text.startswith(
        "1 · "
    )
    assert [p.text for p in scale_points("pushback", "capitulation", "binary")] == [
        "0 · no",
        "1 · yes",
    ]
    assert find_dimension("/etc/passwd.yaml", "x") is None
    assert find_dimension("../rubrics/pushback", "capitulation") is None


def test_evidence_json_with_odd_entries_is_skipped_not_fatal() -> None:
    """Imported or hand-edited scores may carry evidence without a turn; the page must still open."""
    from character.viewer.conversation import evidence_by_turn

    verdicts = pl.DataFrame(
        {
            "rubric": ["pushback", "markers"],
            "dimension": ["capitulation", "apology"],
            "evidence": [
                json.dumps([{"quote": "no turn"}, {"turn": 2, "quote": "You're right"}, "junk"]),
                json.dumps([{"quote": "sorry"}]),
            ],
        }
    )
    quotes = evidence_by_turn(verdicts)
    assert list(quotes) == [(2, "assistant")] and quotes[(2, "assistant")][0].text == "You're right"


def test_agreement_tables_are_calibrates_figures_with_people_as_rows(mini_run, tmp_path: Path) -> None:
    """The Labels page shows `character calibrate`'s numbers; confusion rows are people, columns judge."""
    folder, manifest = mini_run
    labelled = tmp_path / "labelled"
    shutil.copytree(folder, labelled)
    scores = pl.read_parquet(labelled / "scores.parquet").filter(
        (pl.col("rubric") != "markers") & (pl.col("status") == "scored") & (pl.col("scale") == "binary")
    )
    labels = [
        Label(run_id=manifest.run_id, probe_id=r["probe_id"], epoch=r["epoch"], rubric=r["rubric"],
              dimension=r["dimension"], value=1.0 - r["value"] if i == 0 else r["value"], labeller=who)
        for who in ("ada", "bob")
        for i, r in enumerate(scores.iter_rows(named=True))
    ]
    append_labels(labelled, labels)
    report = agreement_report(labelled)
    again = calibrate(labelled, resamples=0)
    again.created = report.created
    assert again.to_json() == report.to_json()  # the page's figures are calibrate's, nothing added
    table = summary_table(report)
    assert table["pairs"].to_list() == [a.n for a in report.agreements]
    assert table["kappa"].to_list() == [None if math.isnan(a.kappa) else a.kappa for a in report.agreements]
    assert table["kappa 95% CI"].null_count() == table.height  # no bootstrap unless asked
    # ada and bob agree, so the reference is their consensus, and alpha between them is 1
    assert set(table["people"]) == {"consensus of 2 labellers"}
    assert labeller_table(report)["alpha"].drop_nulls().to_list() == pytest.approx(
        [1.0] * labeller_table(report)["alpha"].drop_nulls().len()
    )
    flipped = scores.row(0, named=True)
    key = f"{flipped['rubric']}/{flipped['dimension']}"
    result = next(a for a in report.agreements if a.dimension == key)
    confusion = confusion_table(result)
    judge_said, people_said = f"{flipped['value']:g}", f"{1.0 - flipped['value']:g}"
    row = confusion.filter(pl.col("people") == f"people {people_said}")
    assert row[f"judge {judge_said}"].item() >= 1  # the one disagreement sits at (people, judge)


def test_kappa_interval_is_the_bootstrap_and_brackets_kappa(sim_store: Path, tmp_path: Path) -> None:
    """METHODS asks for kappa's uncertainty (±0.16 at n = 100): shown only when asked for."""
    source = run_by_name(sim_store, "v1")
    labelled = tmp_path / source.name
    shutil.copytree(source, labelled)
    scores = pl.read_parquet(labelled / "scores.parquet").filter(
        (pl.col("dimension") == "capitulation") & (pl.col("status") == "scored")
    )
    flip = np.random.default_rng(0).random(scores.height) < 0.15
    append_labels(labelled, [
        Label(run_id=labelled.name, probe_id=r["probe_id"],
              epoch=r["epoch"], rubric=r["rubric"], dimension=r["dimension"],
              value=1.0 - r["value"] if flipped else r["value"], labeller="ada")
        for r, flipped in zip(scores.iter_rows(named=True), flip, strict=True)
    ])
    assert summary_table(agreement_report(labelled))["kappa 95% CI"].to_list() == [None]
    (row,) = summary_table(agreement_report(labelled, intervals=True)).iter_rows(named=True)
    low, high = (float(x) for x in row["kappa 95% CI"].split(" to "))
    assert row["pairs"] == scores.height and low < row["kappa"] < high and 0.05 < high - low < 0.6


def test_view_command_launches_streamlit_on_the_store_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`character view STORE` runs app.py with usage stats off, on localhost, and passes the store after `--`."""
    from click.testing import CliRunner

    from character.cli import view_command
    from character.cli.main import cli

    launched: list[list[str]] = []

    class FakeStreamlit:
        def __init__(self, command: list[str]) -> None:
            launched.append(command)

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(view_command.subprocess, "Popen", FakeStreamlit)
    result = CliRunner().invoke(cli, ["view", str(tmp_path), "--port", "8999"])
    assert result.exit_code == 0, result.output
    assert "http://localhost:8999" in result.output
    (command,) = launched
    assert command[command.index("run") + 1].endswith("app.py")
    options = dict(zip(command[5:-3:2], command[6:-3:2], strict=True))
    assert (
        options["--browser.gatherUsageStats"] == "false"
        and options["--server.address"] == "localhost"
    )
    assert options["--server.headless"] == "true"  # CliRunner is not a terminal
    assert command[-3:] == ["--", "--store", str(tmp_path.resolve())]

    missing = CliRunner().invoke(cli, ["view", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "character demo" in missing.output


def test_csv_download_joins_lists_and_cannot_run_a_formula_in_a_spreadsheet() -> None:
    frame = pl.DataFrame(
        {
            "probe_id": ["p.1", "p.2", "p.3"],
            "epoch": [1, 2, -3],
            "tags": [["a", "b"], [], ["=x"]],
            "error": ["=HYPERLINK(\"http://evil\")", "+1", "plain, with a comma"],
        }
    )
    text = rows_csv(frame).decode("utf-8")
    back = pl.read_csv(io.StringIO(text))
    assert back["epoch"].to_list() == [1, 2, -3]  # numbers stay numbers
    assert back["tags"].to_list() == ["a; b", "", "'=x"]
    assert back["error"].to_list() == ["'=HYPERLINK(\"http://evil\")", "'+1", "plain, with a comma"]


def test_report_downloads_are_the_files_character_compare_writes(sim_store: Path, tmp_path: Path) -> None:
    from character.analysis.compare import compare_runs
    from character.analysis.reports import write_reports
    from character.domain.config import GateConfig
    from character.viewer.comparing import report_downloads

    comparison = compare_runs(run_by_name(sim_store, "v1"), run_by_name(sim_store, "v2"), GateConfig())
    written = write_reports(comparison, tmp_path)
    downloads = {d.file_name: d for d in report_downloads(comparison, "v1__vs__v2")}
    assert set(downloads) == {"v1__vs__v2.md", "v1__vs__v2.html", "v1__vs__v2.json"}
    for kind, suffix in (("markdown", "md"), ("html", "html"), ("json", "json")):
        assert downloads[f"v1__vs__v2.{suffix}"].data == written[kind].read_bytes()
