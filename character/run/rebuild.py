"""Rebuild a stored run's tables (scores.parquet, transcripts.parquet) and its manifest counts.

The tables are derived data: a run's come from its inspect .eval log, an import's from the
conversations stored with it (importers/source_record.py). When a table is lost, damaged, or was
written by an older version of character (a missing column, a column of another type),
`character rebuild RUN` writes both again with the current code, under the run's lock. Nothing
else changes: the log, the manifest's other fields and the human labels are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from character.domain.rubrics import Rubric
from character.engine.verdicts import Verdict
from character.errors import CharacterError
from character.importers.source_record import SOURCE, damaged, read_source
from character.importers.store_writer import (
    Conversation,
    ImportBatch,
    JudgedVerdict,
    Message,
    build_rows,
    read_probes,
)
from character.redact import scrub_log_files
from character.store.files import exclusive_lock
from character.store.layout import LOCK, LOGS
from character.store.manifest import Manifest, read_manifest, write_manifest
from character.store.tables import build_tables, count_verdicts, latest_log, write_tables


@dataclass(frozen=True)
class Rebuilt:
    manifest: Manifest
    source: str  # what the tables were rebuilt from, relative to the run folder


def rebuild(folder: Path) -> Rebuilt:
    """Write the run's tables again from its log (runs) or stored conversations (imports)."""
    manifest = read_manifest(folder)
    with exclusive_lock(Path(folder) / LOCK, what=f"run {manifest.run_id}"):
        if manifest.kind == "import":
            batch = _stored_import(folder, manifest)
            scores, transcripts = build_rows(batch, manifest.run_id)
            source = SOURCE
        else:
            log = latest_log(folder)
            if log is None:
                raise CharacterError(
                    "the run has no inspect log to rebuild its tables from",
                    file=Path(folder) / LOGS,
                    remedy="run the command that made the run again: it resumes and writes them",
                )
            scrub_log_files(Path(folder) / LOGS)
            scores, transcripts = build_tables(folder, manifest.run_id)
            source = str(log.relative_to(folder))
        write_tables(folder, scores, transcripts)
        updated = manifest.model_copy(update={"counts": count_verdicts(scores, transcripts)})
        write_manifest(folder, updated)
    return Rebuilt(updated, source)


def _stored_import(folder: Path, manifest: Manifest) -> ImportBatch:
    header, rows = read_source(folder)
    probes = read_probes(folder)
    try:
        rubrics = [Rubric.model_validate(item) for item in header["rubrics"]]
        conversations = [
            Conversation(
                probe=probes[row["probe_id"]],
                suite=row["suite"],
                epoch=int(row["epoch"]),
                messages=[
                    Message(m["role"], m["content"], bool(m["scripted"])) for m in row["messages"]
                ],
                verdicts=[
                    JudgedVerdict(v["judge"], Verdict.model_validate(v["verdict"]))
                    for v in row["verdicts"]
                ],
            )
            for row in rows
        ]
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise damaged(Path(folder) / SOURCE, exc) from None
    source = getattr(manifest, "import_source", None) or {}
    return ImportBatch(
        adapter=str(source.get("adapter", "import")),
        adapter_version=int(source.get("adapter_version", 1)),
        files=[],
        model=manifest.target.model,
        conversations=conversations,
        suites=[],
        rubrics=rubrics,
        judge=manifest.judge if manifest.judge.kind == "imported" else None,
    )
