"""Cached loaders for the pages: every cache is bounded and keyed on the file's path and mtime.

A re-run or re-judged run writes new parquet files (new mtime), so a stale table is never
served; `max_entries` and `ttl` keep a long-lived viewer from growing without bound. The loaders
themselves live in importable modules (catalog, transcript_index); this module only caches them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import streamlit as st

from character.domain.config import CONFIG_FILE, Config, load_config
from character.store.labels import read_labels
from character.store.layout import LABELS, SCORES, TRANSCRIPTS
from character.viewer import catalog, transcript_index
from character.viewer.transcript_index import TranscriptBody

if TYPE_CHECKING:
    from character.analysis.calibrate import CalibrationReport
    from character.analysis.compare import Comparison

TTL_SECONDS = 3600


Stamp = tuple[int, int]


def stamp(path: Path) -> Stamp:
    """(mtime in ns, size): changes on every rewrite or append; (0, 0) while the file is missing."""
    try:
        info = Path(path).stat()
    except FileNotFoundError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


def run_stamp(run_dir: Path) -> tuple[Stamp, Stamp]:
    return stamp(run_dir / TRANSCRIPTS), stamp(run_dir / SCORES)


@st.cache_data(max_entries=8, ttl=TTL_SECONDS, show_spinner=False)
def _runs(store: str, stamps: tuple[tuple[str, int], ...]) -> pl.DataFrame:
    return catalog.runs_table(Path(store))


def runs(store: Path) -> pl.DataFrame:
    return _runs(str(store), catalog.manifest_stamps(store))


@st.cache_data(max_entries=8, ttl=TTL_SECONDS, show_spinner=False)
def _verdicts(run_dir: str, stamps: tuple[Stamp, Stamp]) -> pl.DataFrame:
    return transcript_index.load_verdicts(Path(run_dir))


def verdicts(run_dir: Path) -> pl.DataFrame:
    return _verdicts(str(run_dir), run_stamp(run_dir))


@st.cache_data(max_entries=8, ttl=TTL_SECONDS, show_spinner=False)
def _index(run_dir: str, stamps: tuple[Stamp, Stamp]) -> pl.DataFrame:
    return transcript_index.load_index(Path(run_dir), _verdicts(run_dir, stamps))


def index(run_dir: Path) -> pl.DataFrame:
    return _index(str(run_dir), run_stamp(run_dir))


@st.cache_data(max_entries=32, ttl=TTL_SECONDS, show_spinner=False)
def _search(run_dir: str, stamps: tuple[Stamp, Stamp], query: str) -> pl.DataFrame:
    return transcript_index.search(Path(run_dir), query)


def search(run_dir: Path, query: str) -> pl.DataFrame | None:
    """Matches of a full-text query, or None when there is no query (no filtering)."""
    if not query.strip():
        return None
    return _search(str(run_dir), run_stamp(run_dir), query.strip().lower())


@st.cache_data(max_entries=64, ttl=TTL_SECONDS, show_spinner=False)
def _transcript(
    run_dir: str, stamps: tuple[Stamp, Stamp], probe_id: str, epoch: int
) -> TranscriptBody | None:
    return transcript_index.load_transcript(Path(run_dir), probe_id, epoch)


def transcript(run_dir: Path, probe_id: str, epoch: int) -> TranscriptBody | None:
    return _transcript(str(run_dir), run_stamp(run_dir), probe_id, int(epoch))


@st.cache_data(max_entries=64, ttl=TTL_SECONDS, show_spinner=False)
def _transcript_verdicts(
    run_dir: str, stamps: tuple[Stamp, Stamp], probe_id: str, epoch: int
) -> pl.DataFrame:
    return transcript_index.load_transcript_verdicts(Path(run_dir), probe_id, epoch)


def transcript_verdicts(run_dir: Path, probe_id: str, epoch: int) -> pl.DataFrame:
    return _transcript_verdicts(str(run_dir), run_stamp(run_dir), probe_id, int(epoch))


@st.cache_data(max_entries=16, ttl=TTL_SECONDS, show_spinner=False)
def _labels(run_dir: str, labels_stamp: Stamp) -> pl.DataFrame:
    return read_labels(Path(run_dir))


def labels(run_dir: Path) -> pl.DataFrame:
    """Latest label per labeller x transcript x dimension; re-read whenever labels.jsonl grows."""
    return _labels(str(run_dir), stamp(run_dir / LABELS))


@st.cache_data(max_entries=16, ttl=TTL_SECONDS, show_spinner="Computing agreement…")
def _agreement(
    run_dir: str, stamps: tuple[Stamp, Stamp, Stamp], intervals: bool
) -> CalibrationReport:
    # Imported here so that pages which never show agreement do not load scipy.
    from character.viewer.agreement import agreement_report

    return agreement_report(Path(run_dir), intervals=intervals)


def agreement(run_dir: Path, intervals: bool) -> CalibrationReport:
    """Judge vs people (`character calibrate`'s figures); recomputed when labels or verdicts change."""
    return _agreement(str(run_dir), (*run_stamp(run_dir), stamp(run_dir / LABELS)), intervals)


@st.cache_data(max_entries=8, ttl=TTL_SECONDS, show_spinner="Comparing the runs…")
def _comparison(baseline: str, candidate: str, stamps: tuple[Stamp, ...]) -> Comparison:
    # Imported here: the statistics stack (scipy) loads only when a page compares.
    from character.analysis.compare import compare_runs

    # The same settings as `character compare` run from this folder (./character.toml [gate]).
    return compare_runs(Path(baseline), Path(candidate), project_config().gate)


def comparison(baseline_dir: Path, candidate_dir: Path) -> Comparison:
    stamps = (*run_stamp(baseline_dir), *run_stamp(candidate_dir), stamp(Path(CONFIG_FILE)))
    return _comparison(str(baseline_dir), str(candidate_dir), stamps)


@st.cache_data(max_entries=4, ttl=TTL_SECONDS, show_spinner=False)
def _config(folder: str, config_stamp: Stamp) -> Config:
    return load_config(None)  # reads ./character.toml when present; the key is folder + stamp


def project_config() -> Config:
    """./character.toml (or the defaults), as the CLI reads it from this folder."""
    return _config(str(Path.cwd()), stamp(Path(CONFIG_FILE)))


@st.cache_data(max_entries=4, ttl=TTL_SECONDS, show_spinner=False)
def _nightly_history(path: str, history_stamp: Stamp) -> pl.DataFrame:
    from character.analysis.nightly import read_history

    return read_history(Path(path))


def nightly_history(path: Path) -> pl.DataFrame:
    return _nightly_history(str(path), stamp(path))


@st.cache_data(max_entries=8, ttl=TTL_SECONDS, show_spinner=False)
def _changed(baseline: str, candidate: str, stamps: tuple[Stamp, ...]) -> pl.DataFrame:
    from character.viewer.changes import changed_verdicts
    from character.viewer.scales import scale_width

    base, cand = _verdicts(baseline, stamps[:2]), _verdicts(candidate, stamps[2:])
    ranges = {}
    for rubric, dimension in base.select("rubric", "dimension").unique().iter_rows():
        width = scale_width(rubric, dimension)
        if width is not None:
            ranges[f"{rubric}/{dimension}"] = width
    return changed_verdicts(base, cand, ranges)


def changed(baseline_dir: Path, candidate_dir: Path) -> pl.DataFrame:
    """The verdicts that changed between two runs, worst first (changes.changed_verdicts)."""
    stamps = (*run_stamp(baseline_dir), *run_stamp(candidate_dir))
    return _changed(str(baseline_dir), str(candidate_dir), stamps)


@st.cache_data(max_entries=32, ttl=TTL_SECONDS, show_spinner="Searching the runs…")
def _search_store(
    folders: tuple[tuple[str, str], ...], stamps: tuple[Stamp, ...], query: str, field: str
) -> pl.DataFrame:
    from character.viewer.store_search import search_runs

    return search_runs({run_id: Path(folder) for run_id, folder in folders}, query, field)  # type: ignore[arg-type]


def search_store(folders: dict[str, Path], query: str, field: str) -> pl.DataFrame:
    """Matches across runs (store_search.search_runs), recomputed when any run's index changes."""
    stamps = tuple(stamp(Path(folder) / TRANSCRIPTS) for folder in folders.values())
    pairs = tuple((run_id, str(folder)) for run_id, folder in folders.items())
    return _search_store(pairs, stamps, query.strip().lower(), field)


@st.cache_data(max_entries=256, ttl=TTL_SECONDS, show_spinner=False)
def _probe_definition(run_dir: str, log_stamp: Stamp, probe_id: str, epoch: int):  # noqa: ANN202
    from character.viewer.probe_facts import load_probe

    return load_probe(Path(run_dir), probe_id, epoch)


def probe_definition(run_dir: Path, probe_id: str, epoch: int):  # noqa: ANN201 - Probe | None
    """The probe as the run played it (facts, good behaviour), from the run's log."""
    from character.store.tables import latest_log

    log = latest_log(run_dir)
    return _probe_definition(str(run_dir), stamp(log) if log else (0, 0), probe_id, int(epoch))
