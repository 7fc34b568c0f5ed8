"""Write imported conversations as a normal run folder, shared by every importer.

An adapter turns a file into an `ImportBatch` (conversations with their probes, any imported
judge verdicts and human labels); `write_import` stores it as <store>/<run_id>/ with the same
manifest.json, scores.parquet, transcripts.parquet and labels.jsonl a `character run` writes, so
compare, reports and the viewer need no special case. Differences, all deliberate:

* the manifest has kind "import" and imported=True, and records the source files' SHA-256;
* the run id is derived from the adapter and the files' content, so importing the same file twice
  finds the stored run and changes nothing (labels are also de-duplicated line by line);
* verdict rows are only what was judged: imported judge scores keep the judge's name
  (judge_kind "imported"); if the file carries no judge scores, the lexical judge scores the
  transcripts exactly as `character run --judge lexical` would, so such an import is comparable
  with a lexical run of the same suite. A transcript nobody judged has no verdict rows;
* probes.jsonl holds the probe of every transcript (imports have no inspect log to carry them).

The manifest is written last: a crash mid-import leaves a folder without manifest, which no
command lists, and the next import of the file redoes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

import polars as pl
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageUser
from pydantic import ValidationError

from character.boundary.errors import validation_error
from character.boundary.paths import no_symlink
from character.boundary.reading import STORED_LINES_MAX, decode_line, jsonl_lines, read_bytes
from character.domain.hashing import content_hash
from character.domain.probes import Probe, Suite
from character.domain.rubrics import Dimension, Rubric, load_rubric
from character.engine.lexical import DEFAULT_LEXICAL, DEFAULT_MARKERS, markers
from character.engine.lexical_judge import applicable_dimensions
from character.engine.reply_rules import lexical_with_rules, shape_markers
from character.engine.transcript import (
    SCRIPTED_KEY,
    SIMULATED_USER_KEY,
    Exchange,
    exchanges_from_messages,
    final_generated,
)
from character.engine.turn_series import with_rule_series
from character.engine.verdicts import Verdict, unscored
from character.errors import CharacterError
from character.importers.source_record import write_source
from character.run.judges import resolve_judge
from character.run.provenance import code_version
from character.store.files import atomic_write_text, ensure_dir, exclusive_lock
from character.store.labels import Label, append_labels, read_labels
from character.store.layout import LOCK, MANIFEST, list_run_dirs, run_dir
from character.store.manifest import (
    JudgeRecord,
    Manifest,
    RubricRecord,
    SuiteRecord,
    TargetRecord,
    read_manifest,
    write_manifest,
)
from character.store.tables import (
    count_verdicts,
    frames,
    marker_row,
    reply_columns,
    verdict_row,
    write_tables,
)

PROBES = "probes.jsonl"  # the probe of every imported transcript, one JSON object per line
IMPORT_KEY = "import_source"  # manifest field describing where the data came from

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    scripted: bool = False  # an assistant turn pre-filled by the probe, not written by the model
    simulated: bool = False  # a user turn written by a user model (e.g. Spiral-Bench's user agent)


@dataclass(frozen=True)
class JudgedVerdict:
    """A verdict from a judge named in the imported file (not run by character)."""

    judge: str
    verdict: Verdict


@dataclass(frozen=True)
class HumanLabel:
    labeller: str
    rubric: str
    dimension: str
    value: float | None = None
    label: str | None = None
    note: str | None = None


@dataclass
class Conversation:
    probe: Probe
    suite: str
    messages: list[Message]
    epoch: int = 1
    verdicts: list[JudgedVerdict] = field(default_factory=list)
    labels: list[HumanLabel] = field(default_factory=list)


@dataclass
class ImportBatch:
    """Everything one run of an import holds. `judge=None` means: score with the lexical judge."""

    adapter: str
    adapter_version: int
    files: list[Path]
    model: str
    conversations: list[Conversation]
    suites: list[Suite]
    rubrics: list[Rubric]  # rubrics of the imported verdicts and labels (bundled or imported)
    judge: JudgeRecord | None = None
    version: str | None = None
    name: str | None = None
    group: dict[str, str | None] = field(default_factory=dict)  # file content that splits runs
    reference_labeller: str | None = None  # adjudicated labels calibrate should measure against
    warnings: list[str] = field(default_factory=list)
    notes: dict[str, object] = field(default_factory=dict)  # adapter facts kept in the manifest


@dataclass(frozen=True)
class ImportResult:
    run_dir: Path
    manifest: Manifest
    created: bool  # False: the same data was already stored; nothing was written
    labels_added: int = 0


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed once per version of the file: an import asks for it for the
    run identity and again for the manifest of every batch the file splits into."""
    stat = path.stat()
    return _sha256(path.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _sha256(path: Path, _mtime_ns: int, _size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def slug(text: str, *, limit: int = 40) -> str:
    return (re.sub(r"[^A-Za-z0-9.+\-]+", "-", text).strip("-.") or "import")[:limit]


def import_identity(batch: ImportBatch) -> tuple[str, str]:
    """(spec hash, run id). The hash covers the adapter and the files' bytes, never --name or
    --model: `find_import` looks runs up by it, so a re-import under other options is a no-op."""
    spec_hash = content_hash(
        {
            "adapter": batch.adapter,
            "adapter_version": batch.adapter_version,
            "files": [file_sha256(path) for path in batch.files],
            "group": batch.group,
        }
    )
    return spec_hash, f"import-{slug(batch.adapter, limit=12)}-{slug(batch.model)}-{spec_hash[:10]}"


def lexical_judge_record() -> JudgeRecord:
    """The same judge record `character run --judge lexical` writes, so the runs are comparable."""
    spec = resolve_judge("lexical")
    return JudgeRecord(kind="lexical", id=spec.id, prompt_hash=spec.prompt_hash)


def imported_judge_record(judge_id: str, definition: object) -> JudgeRecord:
    """An imported judge: `definition` (names, scales, mapping) is hashed as its 'prompt'."""
    return JudgeRecord(kind="imported", id=judge_id, prompt_hash=content_hash(definition))


# --------------------------------------------------------------------------------------------
# Rows


def chat_messages(messages: list[Message]) -> list[ChatMessage]:
    built: list[ChatMessage] = []
    for m in messages:
        if m.role == "system":
            built.append(ChatMessageSystem(content=m.content))
        elif m.role == "user":
            meta = {SIMULATED_USER_KEY: "imported"} if m.simulated else None
            built.append(ChatMessageUser(content=m.content, metadata=meta))
        else:
            meta = {SCRIPTED_KEY: True} if m.scripted else None
            built.append(ChatMessageAssistant(content=m.content, metadata=meta))
    return built


def exchanges_of(conversation: Conversation) -> list[Exchange]:
    return exchanges_from_messages(chat_messages(conversation.messages))


def stored_exchanges(messages_json: str | None) -> list[Exchange]:
    """A stored transcript (transcripts.parquet `messages`: a JSON list of {role, content,
    scripted, simulated}) as numbered exchanges. ValueError if it is not such a list (a damaged
    or hand-edited table; the caller names the file)."""
    items = json.loads(messages_json or "[]")
    if not isinstance(items, list) or not all(
        isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
        and isinstance(m.get("content"), str)
        for m in items
    ):
        raise ValueError("messages is not a list of {role, content} objects")
    messages = [
        Message(m["role"], m["content"], bool(m.get("scripted")), bool(m.get("simulated")))
        for m in items
    ]
    return exchanges_from_messages(chat_messages(messages))


def _base(run_id: str, conversation: Conversation) -> dict:
    probe = conversation.probe
    return {
        "run_id": run_id,
        "suite": conversation.suite,
        "probe_id": probe.id,
        "kind": probe.kind,
        "category": probe.category,
        "epoch": conversation.epoch,
        "pair": probe.pair,
        "hard_constraint": probe.hard_constraint,
    }


def dimension_verdict_row(
    base: dict, verdict: Verdict, dimension: Dimension, *, judge: str, judge_kind: str
) -> dict:
    return verdict_row(
        base,
        verdict,
        scale=dimension.scale.type,
        worse=dimension.worse,
        gating=dimension.gating,
        judge=judge,
        judge_kind=judge_kind,
    )


def marker_rows(base: dict, exchanges: list[Exchange]) -> list[dict]:
    found = markers(exchanges) + shape_markers(exchanges)
    return [marker_row(base, marker, judge=DEFAULT_MARKERS) for marker in found]


def transcript_row(base: dict, conversation: Conversation) -> dict:
    probe = conversation.probe
    messages = [
        {
            "role": m.role,
            "content": m.content,
            "scripted": m.scripted,
            **({"simulated": m.simulated} if m.role == "user" else {}),
        }
        for m in conversation.messages
    ]
    replies = [m.content for m in conversation.messages if m.role == "assistant" and not m.scripted]
    return {
        **{k: base[k] for k in ("run_id", "suite", "probe_id", "kind", "category", "epoch")},
        "tags": ",".join(probe.tags),
        "n_turns": sum(1 for m in conversation.messages if m.role == "user"),
        "response_chars": sum(map(len, replies)) / len(replies) if replies else 0.0,
        "error": None,
        "model_calls": 0,  # nothing was called: the replies were imported
        "retries": 0,
        "messages": json.dumps(messages, ensure_ascii=False),
        "text": "\n".join(m.content for m in conversation.messages).lower(),
        **reply_columns(messages),
    }


def _dimension_index(rubrics: list[Rubric]) -> dict[tuple[str, str], Dimension]:
    return {(r.name, d.name): d for r in rubrics for d in r.dimensions}


def _lexical_rows(
    base: dict, conversation: Conversation, exchanges: list[Exchange]
) -> list[dict]:
    rubrics = [load_rubric(name) for name in conversation.probe.rubrics]  # parsed once per file
    index = _dimension_index(rubrics)
    if final_generated(exchanges) is None:
        reason = "the imported conversation has no assistant reply"
        verdicts = [
            unscored(r.name, d.name, reason)
            for r in rubrics
            for d in applicable_dimensions(r, conversation.probe)
        ]
    else:
        # a last reply that is empty ("") is target_empty, never scored as if it said something
        verdicts, _unsupported = lexical_with_rules(conversation.probe, exchanges, rubrics)
        verdicts = with_rule_series(
            verdicts, lexical_with_rules, conversation.probe, exchanges, rubrics
        )
    return [
        dimension_verdict_row(
            base, v, index[(v.rubric, v.dimension)], judge=DEFAULT_LEXICAL, judge_kind="lexical"
        )
        for v in verdicts
    ]


def build_rows(batch: ImportBatch, run_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    index = _dimension_index(batch.rubrics)
    score_rows: list[dict] = []
    transcript_rows: list[dict] = []
    for conversation in batch.conversations:
        base = _base(run_id, conversation)
        exchanges = exchanges_of(conversation)
        if batch.judge is None:
            score_rows += _lexical_rows(base, conversation, exchanges)
        for judged in conversation.verdicts:
            dim = index[(judged.verdict.rubric, judged.verdict.dimension)]
            score_rows.append(
                dimension_verdict_row(
                    base, judged.verdict, dim, judge=judged.judge, judge_kind="imported"
                )
            )
        score_rows += marker_rows(base, exchanges)
        transcript_rows.append(transcript_row(base, conversation))
    return frames(score_rows, transcript_rows)


def build_labels(batch: ImportBatch, run_id: str) -> list[Label]:
    return [
        Label(
            run_id=run_id,
            probe_id=c.probe.id,
            epoch=c.epoch,
            rubric=h.rubric,
            dimension=h.dimension,
            value=h.value,
            label=h.label,
            labeller=h.labeller,
            source="import",
            note=h.note,
        )
        for c in batch.conversations
        for h in c.labels
    ]


def _label_key(label: dict) -> tuple:
    return tuple(
        label[k] for k in ("probe_id", "epoch", "rubric", "dimension", "labeller", "value", "label")
    )


def new_labels(folder: Path, labels: list[Label]) -> list[Label]:
    """Labels not already in the run's labels.jsonl: a re-import never appends a line twice."""
    stored = read_labels(folder, latest_only=False)
    seen = {_label_key(row) for row in stored.iter_rows(named=True)}
    fresh = []
    for label in labels:
        key = _label_key(label.model_dump())
        if key not in seen:
            seen.add(key)
            fresh.append(label)
    return fresh


# --------------------------------------------------------------------------------------------
# Manifest


def suite_records(batch: ImportBatch) -> list[SuiteRecord]:
    """Records of the suites the transcripts belong to; `probes` counts the imported ones."""
    probes: dict[str, set[str]] = {}
    for c in batch.conversations:
        probes.setdefault(c.suite, set()).add(c.probe.id)
    return [
        SuiteRecord(
            name=s.name,
            version=s.version,
            hash=s.hash,
            probes=len(probes.get(s.name, ())),
            source=s.source,
            license=s.license,
        )
        for s in sorted(batch.suites, key=lambda s: s.name)
    ]


def rubric_records(batch: ImportBatch) -> list[RubricRecord]:
    if batch.judge is None:
        names = sorted({r for c in batch.conversations for r in c.probe.rubrics})
        rubrics = [load_rubric(name) for name in names]
    else:
        rubrics = batch.rubrics
    return [
        RubricRecord(name=r.name, version=r.version, hash=r.hash)
        for r in sorted({r.name: r for r in rubrics}.values(), key=lambda r: r.name)
    ]


def build_manifest(
    batch: ImportBatch, run_id: str, spec_hash: str, scores: pl.DataFrame, transcripts: pl.DataFrame
) -> Manifest:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    target_hash = content_hash({"model": batch.model, "version": batch.version})
    base_label = batch.name or batch.model.split("/", 1)[-1]
    source = {
        "adapter": batch.adapter,
        "adapter_version": batch.adapter_version,
        "files": [
            {"name": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size}
            for path in batch.files
        ],
        "group": batch.group,
        "reference_labeller": batch.reference_labeller,
        **batch.notes,
    }
    judge = batch.judge or lexical_judge_record()
    return Manifest(
        run_id=run_id,
        status="complete",
        created=now,
        finished=now,
        kind="import",
        imported=True,
        spec_hash=spec_hash,
        code_version=code_version(),
        target=TargetRecord(
            model=batch.model,
            label=f"{base_label}@{target_hash[:8]}",
            hash=target_hash,
            name=batch.name,
            settings={"version": batch.version} if batch.version else {},
        ),
        suites=suite_records(batch),
        rubrics=rubric_records(batch),
        judge=judge,
        epochs=max((c.epoch for c in batch.conversations), default=1),
        counts=count_verdicts(scores, transcripts),
        cost_usd={"target": 0.0, "judge": 0.0, "total": 0.0},  # an import calls no model
        warnings=list(batch.warnings),
        **{IMPORT_KEY: source},
    )


# --------------------------------------------------------------------------------------------
# Writing


@dataclass
class _Planned:
    """One batch ready to store: everything computed, nothing written yet."""

    batch: ImportBatch
    run_id: str
    spec_hash: str
    existing: Path | None
    scores: pl.DataFrame | None = None
    transcripts: pl.DataFrame | None = None
    manifest: Manifest | None = None


def _plan(store: Path, batch: ImportBatch) -> _Planned:
    if not batch.conversations:
        raise CharacterError(
            "nothing to import: the file holds no conversations",
            file=batch.files[0] if batch.files else None,
        )
    spec_hash, run_id = import_identity(batch)
    run_dir(store, run_id)  # a valid id, not a symlink out of the store
    existing = find_import(store, spec_hash)
    if existing is not None:
        return _Planned(batch, run_id, spec_hash, existing)
    scores, transcripts = build_rows(batch, run_id)
    manifest = build_manifest(batch, run_id, spec_hash, scores, transcripts)
    return _Planned(batch, run_id, spec_hash, None, scores, transcripts, manifest)


def write_import(store: Path, batch: ImportBatch) -> ImportResult:
    """Store the batch as a run; if the same data is already stored, return it untouched."""
    return write_imports(store, [batch])[0]


def write_imports(store: Path, batches: list[ImportBatch]) -> list[ImportResult]:
    """Store every batch of one file, or none of them.

    Every batch is built (rows, labels, manifest) before anything is written, so a problem in the
    second model's conversations stores nothing of the first. The manifests, which make the runs
    visible, are written last, all together; if writing fails part-way, the runs this import
    created are removed again. (A process killed between two manifests leaves the runs before it
    complete and the rest invisible; importing the file again completes it.)
    """
    planned = [_plan(store, batch) for batch in batches]
    results: list[ImportResult | None] = [None] * len(planned)
    created: list[Path] = []
    written: list[Path] = []
    with contextlib.ExitStack() as locks:
        try:
            fresh = []
            for index, plan in enumerate(planned):
                if plan.existing is not None:
                    results[index] = ImportResult(plan.existing, read_manifest(plan.existing), created=False)
                    continue
                folder = run_dir(store, plan.run_id)
                if not folder.exists():
                    created.append(folder)
                ensure_dir(folder)
                locks.enter_context(exclusive_lock(folder / LOCK, what=f"run {plan.run_id}"))
                if (folder / MANIFEST).is_file():  # another process finished it while we waited
                    results[index] = ImportResult(folder, read_manifest(folder), created=False)
                    continue
                labels = _write_run_files(folder, plan)
                fresh.append((index, folder, labels))
            for index, folder, labels in fresh:
                plan = planned[index]
                assert plan.manifest is not None
                write_manifest(folder, plan.manifest)
                written.append(folder / MANIFEST)
                results[index] = ImportResult(folder, plan.manifest, created=True, labels_added=labels)
        except BaseException:
            for manifest in written:
                manifest.unlink(missing_ok=True)
            for folder in created:
                shutil.rmtree(folder, ignore_errors=True)
            raise
    return [result for result in results if result is not None]


def _write_run_files(folder: Path, plan: _Planned) -> int:
    """probes.jsonl, the tables and new labels of a planned batch; returns the labels added."""
    assert plan.scores is not None and plan.transcripts is not None
    probes = {c.probe.id: c.probe for c in plan.batch.conversations}
    atomic_write_text(
        folder / PROBES,
        "".join(p.model_dump_json() + "\n" for _, p in sorted(probes.items())),
        root=folder,
    )
    write_source(folder, plan.batch)  # what `character rebuild` rebuilds the tables from
    write_tables(folder, plan.scores, plan.transcripts)
    labels = new_labels(folder, build_labels(plan.batch, plan.run_id))
    append_labels(folder, labels)
    return len(labels)


def find_import(store: Path, spec_hash: str) -> Path | None:
    """The stored import of the same data, whatever --model or --name it was given then."""
    for folder in list_run_dirs(store):
        named_alike = folder.name.startswith("import-") and folder.name.endswith(spec_hash[:10])
        if not named_alike:
            continue
        try:
            if read_manifest(folder).spec_hash == spec_hash:
                return folder
        except CharacterError:
            continue  # a damaged run is not the stored import; `character runs` shows it as damaged
    return None


def read_probes(folder: Path) -> dict[str, Probe]:
    """The probes stored with an imported run (empty for runs that keep them in inspect logs)."""
    path = Path(folder) / PROBES
    if not path.is_file():
        return {}
    no_symlink(path, what="probes file")
    data = read_bytes(path, cap=STORED_LINES_MAX, what="probes file")
    probes = []
    for number, offset, raw in jsonl_lines(data, path):
        if raw.strip():
            text = decode_line(raw, path, offset=offset, number=number)
            try:
                probes.append(Probe.model_validate_json(text or ""))
            except ValidationError as exc:
                raise validation_error(exc, file=path, item=f"line {number}") from None
    return {p.id: p for p in probes}
