"""Which stored transcripts a judge upgrade is measured on, and stored re-judges to reuse.

`character judge-diff` judges a sample of a run's transcripts with the new judge. By default the
sample is the run's judge canaries: the `[nightly] canary_size` (probe, epoch) transcripts that
nightly re-judges, chosen by `nightly.canary_keys` (a hash of the key: spread over suites and
categories, the same every time). On the `[nightly] canary_run` it is exactly nightly's canary set.
`--all` takes the whole run and `--limit N` the first N probes, every epoch.

A judge's verdicts on a run are looked up before anything is judged: the run's own scores (when
that judge made them) or a complete stored re-judge by the same judge and rubric files that holds
every sampled transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from character.analysis.nightly import canary_keys
from character.domain.rubrics import load_rubric
from character.errors import CharacterError
from character.store.layout import SCORES, TRANSCRIPTS, check_tables, list_run_dirs
from character.store.manifest import read_manifest

Keys = Sequence[tuple[str, int]]  # (probe id, epoch) of the transcripts to judge


@dataclass(frozen=True)
class Sample:
    """The transcripts chosen (None: all of the run's) and how, in words for the report."""

    keys: Keys | None
    how: str


def keys_frame(keys: Keys) -> pl.DataFrame:
    return pl.DataFrame(list(keys), schema={"probe_id": pl.String, "epoch": pl.Int32}, orient="row")


def stored_keys(run_dir: Path) -> set[tuple[str, int]]:
    """(probe id, epoch) of every transcript the run stores."""
    frame = pl.scan_parquet(Path(run_dir) / TRANSCRIPTS).select("probe_id", "epoch").collect()
    return {(p, int(e)) for p, e in frame.iter_rows()}


def first_probes(transcripts: pl.DataFrame, limit: int) -> list[tuple[str, int]]:
    """Every epoch of the first `limit` probes in the run's stored order (as `run --limit`)."""
    probes = transcripts["probe_id"].unique(maintain_order=True).head(limit)
    keys = transcripts.filter(pl.col("probe_id").is_in(probes.to_list())).select(
        "probe_id", "epoch"
    )
    return [(p, int(e)) for p, e in keys.iter_rows()]


def choose_sample(
    run_dir: Path, *, limit: int | None, whole_run: bool, canary_size: int, is_canary_run: bool
) -> Sample:
    """The transcripts of `run_dir` to judge: the first `limit` probes, the whole run, or (the
    default) its judge canaries. Canaries that cover the whole run are the whole run (so a
    whole-run re-judge made by `character judge` is reused)."""
    if limit is not None:
        transcripts = pl.read_parquet(Path(run_dir) / TRANSCRIPTS, columns=["probe_id", "epoch"])
        return Sample(first_probes(transcripts, limit), f"first {limit} probes (--limit)")
    if whole_run:
        return Sample(None, "whole run (--all)")
    every = stored_keys(run_dir)
    keys = canary_keys(
        pl.read_parquet(Path(run_dir) / SCORES, columns=["probe_id", "epoch"]), canary_size
    )
    whose = "the nightly canary run" if is_canary_run else "this run"
    if set(keys) >= every:
        return Sample(
            None,
            f"whole run: the judge canaries of {whose} ([nightly] canary_size = {canary_size}) "
            f"cover all {len(every)} transcripts",
        )
    return Sample(
        keys,
        f"judge canaries of {whose}: {len(keys)} of {len(every)} transcripts, chosen as nightly "
        f"chooses them ([nightly] canary_size = {canary_size}; --all for every transcript)",
    )


def find_rejudge(
    store: Path, source_dir: Path, judge_id: str, prompt_hash: str, keys: Keys | None
) -> Path | None:
    """A complete stored re-judge of the run at `source_dir` by that judge (id and prompt hash)
    with today's rubric files, whose transcripts cover `keys` (None: all of the run's); a
    whole-run re-judge is preferred to a sample. A folder whose tables are damaged is passed
    over (re-judging writes a fresh one)."""
    source = read_manifest(source_dir)
    base = source.source_run or source.run_id
    try:
        rubrics = {record.name: load_rubric(record.name).hash for record in source.rubrics}
    except CharacterError:
        return None
    wanted = set(keys) if keys is not None else stored_keys(source_dir)
    found: list[tuple[int, str, Path]] = []
    for folder in list_run_dirs(store):
        try:
            manifest = read_manifest(folder)
            if (
                manifest.kind != "rejudge"
                or manifest.source_run != base
                or manifest.status != "complete"
                or manifest.judge.id != judge_id
                or manifest.judge.prompt_hash != prompt_hash
                or {r.name: r.hash for r in manifest.rubrics} != rubrics
            ):
                continue
            check_tables(folder)
        except CharacterError:
            continue
        if not wanted <= stored_keys(folder):
            continue
        sampled = any(w.startswith("re-judged sample") for w in manifest.warnings)
        found.append((int(sampled), folder.name, folder))
    return min(found)[2] if found else None
