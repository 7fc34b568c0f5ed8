"""The runs in a store, one row each, from their manifests (no parquet is opened here)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from character.errors import CharacterError
from character.store.layout import MANIFEST, list_run_dirs
from character.store.manifest import Manifest, read_manifest

RUNS_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "run_id": pl.String,
    "target": pl.String,
    "model": pl.String,
    "prompt_hash": pl.String,
    "suites": pl.String,
    "created": pl.String,
    "probes_x_epochs": pl.String,
    "transcripts": pl.Int64,
    "cost_usd": pl.Float64,
    "unscored": pl.Int64,
    "marks": pl.String,
    "judge": pl.String,
    "status": pl.String,
    "problem": pl.String,
}


def manifest_stamps(store: Path) -> tuple[tuple[str, int], ...]:
    """(run id, manifest mtime) per run: the cache key that changes when a run is added or redone."""
    return tuple(
        (folder.name, (folder / MANIFEST).stat().st_mtime_ns) for folder in list_run_dirs(store)
    )


def listed_run_ids(runs: pl.DataFrame) -> list[str]:
    """The runs a page can offer: every run whose manifest reads (damaged ones are rows only)."""
    return runs.filter(pl.col("status") != "damaged")["run_id"].to_list()


def run_row(manifest: Manifest) -> dict:
    probes = sum(suite.probes for suite in manifest.suites)
    return {
        "run_id": manifest.run_id,
        "target": manifest.target.label,
        "model": manifest.target.model,
        "prompt_hash": manifest.target.system_prompt_hash or "(none)",
        "suites": ", ".join(suite.name for suite in manifest.suites),
        "created": manifest.created[:19].replace("T", " "),
        "probes_x_epochs": f"{probes} × {manifest.epochs}",
        "transcripts": manifest.counts.samples,
        "cost_usd": manifest.cost_usd.get("total"),
        "unscored": manifest.counts.unscored,
        "marks": ", ".join(manifest.marks),
        "judge": manifest.judge.id,
        "status": manifest.status,
        "problem": None,
    }


def runs_table(store: Path) -> pl.DataFrame:
    """Newest run first. A damaged manifest shows as a row with its problem, not a crash."""
    rows = []
    for folder in list_run_dirs(store):
        try:
            rows.append(run_row(read_manifest(folder)))
        except CharacterError as exc:
            rows.append({"run_id": folder.name, "status": "damaged", "problem": exc.message})
    return pl.DataFrame(rows, schema=RUNS_SCHEMA).sort("created", descending=True, nulls_last=True)


def run_label(runs: pl.DataFrame, run_id: str) -> str:
    """How a run is named in pickers: target label, date and id."""
    row = runs.filter(pl.col("run_id") == run_id)
    if row.height == 0:
        return run_id
    found = row.row(0, named=True)
    mark = f" [{found['marks']}]" if found["marks"] else ""
    return f"{found['target'] or '?'} · {found['created'] or '?'} · {run_id}{mark}"
