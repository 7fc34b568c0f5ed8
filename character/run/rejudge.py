"""Re-judge a stored run with another judge or the current rubrics, keeping the original.

The transcripts are scored again with inspect's `score()` and written as a new run
(<source>-rejudged-<hash>) whose manifest names its source run; the original run and its scores
are never touched. This is how a baseline is brought to the same judge as a candidate so the two
can be compared, and how imported conversations (e.g. production tickets) are judged by Claude.

Re-judging resumes like `character run`: every transcript's new scores are appended to
rejudge-progress.jsonl in the new run's folder as soon as the judge has scored it, so re-running
a killed `character judge` asks the judge only about the transcripts it had not finished (the
ones in flight when it was killed, at most `max_connections`). The file is merged into the new
run's log and removed when the run completes. (Imported runs are replayed through eval_set,
which resumes on its own.)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
from inspect_ai import score_async
from inspect_ai.log import (
    EvalLog,
    EvalResults,
    EvalSample,
    read_eval_log,
    recompute_metrics,
    write_eval_log,
)
from inspect_ai.scorer import Score

from character.boundary.paths import no_symlink
from character.boundary.reading import STORED_LINES_MAX, jsonl_lines, read_bytes
from character.domain.hashing import content_hash
from character.domain.probes import Probe
from character.domain.rubrics import Rubric, load_rubric
from character.engine.api_errors import recorded_rejection, reset_rejection
from character.engine.dataset import PROBE_KEY, probe_from_metadata
from character.engine.scorers import character_judge, character_markers
from character.errors import CharacterError
from character.importers.store_writer import read_probes
from character.redact import install_log_scrubbing
from character.run.eval_tuning import fewer_gc_pauses
from character.run.judges import JudgeSpec
from character.run.key_check import rejected_key
from character.run.replay import judge_imported, stored_conversations
from character.run.runner import finalize, judge_roles, key_rejected_error, stopped_by_rejection
from character.store.files import ensure_dir, exclusive_lock
from character.store.layout import LOCK, LOGS, run_dir
from character.store.manifest import (
    Manifest,
    RubricRecord,
    read_manifest,
    write_manifest,
)
from character.store.tables import latest_log


def rejudge(
    source_dir: Path,
    judge: JudgeSpec,
    *,
    store: Path,
    max_connections: int = 16,
    rubrics: list[str] | None = None,
    keys: Sequence[tuple[str, int]] | None = None,
) -> Manifest:
    """Judge a stored run's transcripts again as a new run. `rubrics` replaces the rubrics every
    probe names (e.g. `production` for imported tickets that carry no reference facts).

    Imported runs have no inspect log: their conversations are replayed under the judge
    (`character.run.replay`); runs made by `character run` are re-scored with inspect's `score()`.
    `keys` (probe id, epoch) judges only those transcripts of a run made by `character run` (a
    sample, e.g. judge canaries; the new run holds just them and says so in its warnings); an
    imported run is always judged whole (it is replayed probe by probe, every epoch).
    """
    source = read_manifest(source_dir)
    imported = source.kind == "import"
    log_file = None if imported else latest_log(source_dir)
    if not imported and log_file is None:
        raise CharacterError("the run has no inspect log to re-judge", file=source_dir / LOGS)
    if rubrics is not None:
        names = list(dict.fromkeys(rubrics))
    elif imported:  # an import's manifest lists the rubrics of its imported labels, if any
        names = sorted({name for probe in read_probes(source_dir).values() for name in probe.rubrics})
    else:
        names = [r.name for r in source.rubrics]
    rubrics_used = [load_rubric(name) for name in names]
    # Everything that can be refused is refused before a run folder exists.
    if imported:
        conversations = stored_conversations(source_dir, rubrics)
        if rubrics is not None:
            check_rubrics_apply([c.probe for c in conversations], rubrics_used)
    else:
        log = read_eval_log(str(log_file))
        if rubrics is not None:
            override_rubrics(log, names, rubrics_used)
    sample = sorted(set(keys)) if keys is not None and not imported else None
    spec_hash = content_hash(
        {
            "source": source.spec_hash,
            "judge": [judge.kind, judge.id, judge.prompt_hash, judge.repeats],
            "rubrics": {r.name: r.hash for r in rubrics_used},
            # a sample is part of the identity; a whole-run re-judge keeps its old hash
            **({"sample": sample} if sample is not None else {}),
        }
    )
    base = source.source_run or source.run_id
    name = f"{base}-rejudged-{spec_hash[:8]}"[:160]
    if sample is not None:
        name = f"{base[:130]}-rejudged-{spec_hash[:8]}-sample{len(sample)}"
    target_dir = run_dir(store, name)
    # an unknown judge model fails here, before the new run's folder exists
    roles = judge_roles(judge, max_connections=max_connections, batch=False)
    reset_rejection()
    rejection = rejected_key(roles.values())  # a rejected key: stop before anything is written
    if rejection is not None:
        raise key_rejected_error(rejection)
    ensure_dir(target_dir)
    with exclusive_lock(target_dir / LOCK, what=f"run {target_dir.name}"):
        if (target_dir / "manifest.json").exists():
            existing = read_manifest(target_dir)
            if existing.status == "complete":
                return existing
        manifest = source.model_copy(
            update={
                "run_id": target_dir.name,
                "kind": "rejudge",
                "source_run": base,
                "status": "running",
                "spec_hash": spec_hash,
                "rubrics": [RubricRecord(name=r.name, version=r.version, hash=r.hash) for r in rubrics_used],
                "judge": judge.record(source.target.model),
            }
        )
        if sample is not None:
            chosen, total = set(sample), len(log.samples or [])
            log.samples = [s for s in log.samples or [] if (str(s.id), int(s.epoch)) in chosen]
            note = f"re-judged sample: {len(log.samples)} of the {total} transcripts of {base}"
            manifest = manifest.model_copy(update={"warnings": [*manifest.warnings, note]})
        write_manifest(target_dir, manifest)
        install_log_scrubbing()
        if imported:
            with stopped_by_rejection():
                complete = judge_imported(
                    conversations, target_dir / LOGS, judge, max_connections=max_connections
                )
            _stop_if_rejected(target_dir, manifest)
            return finalize(target_dir, manifest, complete=complete)
        # a judge call per transcript: the same GC cost as a run
        with fewer_gc_pauses(), stopped_by_rejection():
            scored = _judge_resumably(log, judge, target_dir, roles or None)
        _stop_if_rejected(target_dir, manifest)
        ensure_dir(target_dir / LOGS)
        write_eval_log(scored, str(target_dir / LOGS / log_file.name))
        (target_dir / PROGRESS).unlink(missing_ok=True)  # merged into the log just written
        return finalize(target_dir, manifest, complete=True)


def override_rubrics(log: EvalLog, names: list[str], rubrics: list[Rubric]) -> None:
    """Make every sample's probe name `names` instead of its own rubrics (checked to apply)."""
    samples = log.samples or []
    probes = [probe_from_metadata(sample.metadata) for sample in samples]
    check_rubrics_apply(probes, rubrics)
    for sample in samples:
        sample.metadata[PROBE_KEY] = {**sample.metadata[PROBE_KEY], "rubrics": list(names)}


def _stop_if_rejected(target_dir: Path, manifest: Manifest) -> None:
    """A key the API rejected while judging: the new run is marked failed (the source run is
    untouched) and the command ends with one line (runner.key_rejected_error)."""
    rejection = recorded_rejection()
    if rejection is None:
        return
    stopped = f"the re-judging stopped: {rejection.message}"
    failed = manifest.model_copy(update={"status": "failed", "warnings": [*manifest.warnings, stopped]})
    write_manifest(target_dir, failed)
    raise key_rejected_error(rejection)


def check_rubrics_apply(probes: list[Probe], rubrics: list[Rubric]) -> None:
    """Every probe must have a dimension in `rubrics` for its kind, or it is judged on nothing."""
    for probe in probes:
        if not any(dim.applies(probe.kind) for rubric in rubrics for dim in rubric.dimensions):
            raise CharacterError(
                f"probe '{probe.id}' is a {probe.kind} probe, and no dimension of "
                f"{', '.join(r.name for r in rubrics)} applies to that kind, so it would be judged on nothing",
                field="--rubric",
                remedy="add a rubric with a dimension for that kind (e.g. --rubric production, which applies to every kind)",
            )


PROGRESS = "rejudge-progress.jsonl"  # scores of the transcripts judged so far, one per line


def _key(sample: EvalSample) -> tuple[str, int]:
    return (str(sample.id), int(sample.epoch))


def _judge_resumably(log: EvalLog, judge: JudgeSpec, folder: Path, roles: dict | None) -> EvalLog:
    """`log` with every sample scored by `judge`: from the progress file where a killed attempt
    left scores, by the judge for the rest (each appended to the progress file once scored)."""
    samples = list(log.samples or [])
    done = _read_progress(folder / PROGRESS)
    todo = [sample for sample in samples if _key(sample) not in done]
    if todo:
        part = log.model_copy(
            update={"samples": None, "results": EvalResults(total_samples=len(todo), completed_samples=len(todo))}
        )
        progress = _open_progress(folder / PROGRESS)
        try:

            @contextlib.asynccontextmanager
            async def sample_at(index: int) -> AsyncIterator[EvalSample]:
                sample = todo[index]
                yield sample
                # scored (sample.scores replaced) by the time the block ends: keep it on disk now,
                # unless the API has rejected the key meanwhile (that verdict is no verdict: the
                # re-run with a working key must judge this transcript again)
                if recorded_rejection() is None:
                    _append_progress(progress, sample)

            anyio.run(
                functools.partial(
                    score_async,
                    part,
                    [
                        character_judge(
                            judge=judge.scorer_choice, repeats=judge.repeats, attempts=judge.attempts
                        ),
                        character_markers(judge=judge.scorer_choice),
                    ],
                    model_roles=roles,
                    action="overwrite",
                    display="none",
                    copy=False,
                    samples=sample_at,
                )
            )
        finally:
            os.close(progress)
    for sample in samples:
        if _key(sample) in done:
            sample.scores = done[_key(sample)]
    merged = log.model_copy(update={"samples": samples})
    recompute_metrics(merged)
    return merged


def _open_progress(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        no_symlink(path, what="progress file")
        raise CharacterError(f"cannot write re-judging progress ({exc.strerror})", file=path) from None


def _append_progress(fd: int, sample: EvalSample) -> None:
    line = {
        "id": sample.id,
        "epoch": sample.epoch,
        "scores": {name: score.model_dump(mode="json") for name, score in (sample.scores or {}).items()},
    }
    os.write(fd, (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))
    os.fsync(fd)


def _read_progress(path: Path) -> dict[tuple[str, int], dict[str, Score]]:
    """Scores saved by an earlier, interrupted attempt; a line torn by the kill is skipped."""
    if not path.exists() and not path.is_symlink():
        return {}
    no_symlink(path, what="progress file")
    done: dict[tuple[str, int], dict[str, Score]] = {}
    data = read_bytes(path, cap=STORED_LINES_MAX, what="progress file")
    for _number, _offset, raw in jsonl_lines(data, path):
        try:
            item = json.loads(raw.decode("utf-8"))
            done[(str(item["id"]), int(item["epoch"]))] = {
                name: Score.model_validate(score) for name, score in item["scores"].items()
            }
        except (ValueError, KeyError, TypeError):
            continue  # the line being written when the attempt was killed: judged again
    return done
