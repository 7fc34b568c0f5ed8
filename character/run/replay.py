"""Judge an imported run's conversations with any judge, through inspect's eval.

`rejudge` calls this for imported runs (which have no inspect log to re-score): the stored
transcripts and probes are replayed (`character.engine.replay`) under the judge role, and the
.eval log is written into the new run's logs folder, where `finalize` reads it like a run's.
Running the same command again resumes it (eval_set), reusing every judged conversation.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from inspect_ai import eval_set

from character.domain.probes import Probe
from character.engine.replay import StoredConversation, replay_task
from character.errors import CharacterError
from character.importers.store_writer import read_probes
from character.run.eval_tuning import eval_set_options, fewer_gc_pauses
from character.run.judges import JudgeSpec
from character.run.runner import judge_roles
from character.store.cells import stored_messages, where_of
from character.store.layout import TRANSCRIPTS

# No target is called when conversations are replayed; inspect still wants a model for the task.
NO_TARGET = "none/none"


def stored_conversations(
    run_dir: Path, rubrics: list[str] | None = None
) -> list[StoredConversation]:
    """Every conversation of an imported run, grouped by probe, with its epochs.

    `rubrics` replaces the rubrics each probe names (e.g. `production` for tickets that carry no
    reference facts). Raises CharacterError if the epochs are uneven across probes (inspect plays
    every sample the same number of epochs).
    """
    probes = read_probes(run_dir)
    if not probes:
        raise CharacterError(
            "the imported run has no probes.jsonl to judge its conversations by",
            file=run_dir,
            remedy="import the file again (`character import FILE`)",
        )
    table = pl.read_parquet(
        Path(run_dir) / TRANSCRIPTS, columns=["suite", "probe_id", "epoch", "messages"]
    )
    grouped: dict[str, dict[int, list[dict]]] = {}
    suites: dict[str, str] = {}
    for row in table.iter_rows(named=True):
        grouped.setdefault(row["probe_id"], {})[int(row["epoch"])] = stored_messages(
            row["messages"], file=Path(run_dir) / TRANSCRIPTS, where=where_of(row)
        )
        suites[row["probe_id"]] = row["suite"]
    epoch_sets = {tuple(sorted(epochs)) for epochs in grouped.values()}
    if len(epoch_sets) > 1 or (
        epoch_sets and next(iter(epoch_sets)) != tuple(range(1, len(next(iter(epoch_sets))) + 1))
    ):
        shown = ", ".join(f"{p}: {sorted(e)}" for p, e in list(grouped.items())[:3])
        raise CharacterError(
            f"the imported conversations have uneven epochs ({shown}, ...), which a judge run "
            "cannot replay",
            file=run_dir,
            remedy="import each epoch count as its own file, or number every conversation's epochs 1..K",
        )
    conversations = []
    for probe_id, epochs in sorted(grouped.items()):
        probe: Probe = probes[probe_id]
        if rubrics is not None:
            probe = probe.model_copy(update={"rubrics": list(rubrics)})
        conversations.append(StoredConversation(probe, suites[probe_id], None, epochs))
    return conversations


def judge_imported(
    conversations: list[StoredConversation],
    log_dir: Path,
    judge: JudgeSpec,
    *,
    max_connections: int = 16,
) -> bool:
    """Judge stored conversations (`stored_conversations`) into `log_dir`; True when every
    sample finished."""
    epochs = max((max(c.epochs) for c in conversations), default=1)
    task = replay_task(
        conversations,
        judge=judge.scorer_choice,
        judge_repeats=judge.repeats,
        judge_attempts=judge.attempts,
    )
    roles = judge_roles(judge, max_connections=max_connections, batch=False)
    with fewer_gc_pauses():
        success, _logs = eval_set(
            task,
            log_dir=str(log_dir),
            model=NO_TARGET,
            model_roles=roles or None,
            epochs=epochs,
            display="none",
            **eval_set_options(len(conversations) * epochs),  # type: ignore[arg-type]
        )
    return success
