"""Re-judge a stored run with another judge or the current rubrics, keeping the original.

The transcripts are scored again with inspect's `score()` and written as a new run
(<source>-rejudged-<hash>) whose manifest names its source run; the original run and its scores
are never touched. This is how a baseline is brought to the same judge as a candidate so the two
can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from inspect_ai import score as inspect_score
from inspect_ai.log import read_eval_log, write_eval_log

from character.domain.hashing import content_hash
from character.domain.rubrics import load_rubric
from character.engine.scorers import character_judge, character_markers
from character.errors import CharacterError
from character.run.eval_tuning import fewer_gc_pauses
from character.run.judges import JudgeSpec
from character.run.runner import finalize, judge_roles
from character.store.files import exclusive_lock
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
    keys: Sequence[tuple[str, int]] | None = None,
) -> Manifest:
    """Re-judge every transcript of a stored run, or only the (probe id, epoch) `keys` (a
    sample, e.g. judge canaries: the new run then holds just those transcripts and says so in
    its warnings). A complete stored re-judge with the same judge, rubrics and sample is reused."""
    source = read_manifest(source_dir)
    if source.kind == "import":
        raise CharacterError(
            "imported runs keep their imported scores and cannot be re-judged here",
            file=source_dir,
            remedy="import the transcripts again, or judge a run made by `character run`",
        )
    log_file = latest_log(source_dir)
    if log_file is None:
        raise CharacterError("the run has no inspect log to re-judge", file=source_dir / LOGS)
    rubrics = [load_rubric(r.name) for r in source.rubrics]
    spec_hash = content_hash(
        {
            "source": source.spec_hash,
            "judge": [judge.kind, judge.id, judge.prompt_hash, judge.repeats],
            "rubrics": {r.name: r.hash for r in rubrics},
            # a sample is part of the identity; a whole-run re-judge keeps its old hash
            **({"sample": sorted(set(keys))} if keys is not None else {}),
        }
    )
    base = source.source_run or source.run_id
    name = f"{base}-rejudged-{spec_hash[:8]}"[:160]
    if keys is not None:
        name = f"{base[:130]}-rejudged-{spec_hash[:8]}-sample{len(set(keys))}"
    target_dir = run_dir(store, name)
    target_dir.mkdir(parents=True, exist_ok=True)
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
                "rubrics": [RubricRecord(name=r.name, version=r.version, hash=r.hash) for r in rubrics],
                "judge": judge.record(source.target.model),
            }
        )
        write_manifest(target_dir, manifest)
        log = read_eval_log(str(log_file))
        if keys is not None:
            chosen, total = set(keys), len(log.samples or [])
            log.samples = [s for s in log.samples or [] if (str(s.id), int(s.epoch)) in chosen]
            manifest = manifest.model_copy(update={"warnings": [
                *manifest.warnings,
                f"re-judged sample: {len(log.samples)} of the {total} transcripts of {base}",
            ]})
            write_manifest(target_dir, manifest)
        with fewer_gc_pauses():  # a judge call per transcript: the same GC cost as a run
            scored = inspect_score(
                log,
                scorers=[
                    character_judge(judge=judge.kind, repeats=judge.repeats, attempts=judge.attempts),
                    character_markers(),
                ],
                model_roles=judge_roles(judge, max_connections=max_connections, batch=False) or None,
                action="overwrite",
                display="none",
            )
        (target_dir / LOGS).mkdir(exist_ok=True)
        write_eval_log(scored, str(target_dir / LOGS / log_file.name))
        return finalize(target_dir, manifest, complete=True)
