"""manifest.json: everything needed to explain a run from what is stored.

Target and its hash, suite/rubric/judge-prompt hashes, judge model, code version, time, token use,
cost, and the counts of scored and unscored items.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from character.boundary.errors import validation_error
from character.boundary.ids import RUN_ID, RunId
from character.boundary.paths import no_symlink
from character.boundary.reading import STORED_FILE_MAX, read_json
from character.errors import CharacterError
from character.redact import scrub
from character.store.files import atomic_write_text
from character.store.layout import MANIFEST

MANIFEST_SCHEMA = 1


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class SuiteRecord(Loose):
    name: str
    version: int
    hash: str
    probes: int
    source: str | None = None
    license: str | None = None
    generated: bool = False  # written by `character expand`: exploratory, never gating


class RubricRecord(Loose):
    name: str
    version: int
    hash: str


class TargetRecord(Loose):
    model: str
    label: str
    hash: str
    name: str | None = None
    system_prompt_hash: str | None = None
    system_prompt_file: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    simulated: bool = False


class JudgeRecord(Loose):
    kind: Literal["model", "lexical", "imported"]
    id: str  # model id ("anthropic/claude-...") or lexical version
    prompt_hash: str
    temperature: float | None = None
    repeats: int = 1
    attempts: int = 1
    same_as_target: bool = False


class Counts(Loose):
    samples: int = 0
    samples_errored: int = 0
    verdicts: int = 0
    scored: int = 0
    unscored: int = 0
    unscored_judge_error: int = 0
    unscored_insufficient_evidence: int = 0
    # unscored because of what the target's last reply was (never judge failures)
    unscored_target_refused: int = 0
    unscored_target_truncated: int = 0
    unscored_target_empty: int = 0
    # the conversation failed before the judge saw it: the target's call, the user model's
    # call, or something else (never judge failures)
    unscored_target_error: int = 0
    unscored_user_error: int = 0
    unscored_sample_error: int = 0
    flagged_quotes: int = 0
    unscored_reasons: dict[str, int] = Field(default_factory=dict)
    # generated target replies, and how many were cut at the token limit, blocked by the
    # provider's safety system, or empty
    target_turns: int = 0
    turns_truncated: int = 0
    turns_blocked: int = 0
    turns_empty: int = 0


class Manifest(Loose):
    schema_version: int = Field(default=MANIFEST_SCHEMA, ge=1)
    run_id: RunId  # always the run folder's name when read (see read_manifest)
    status: Literal["running", "complete", "incomplete", "failed"] = "running"
    created: str
    finished: str | None = None
    kind: Literal["run", "rejudge", "import"] = "run"
    source_run: RunId | None = None  # rejudge: the run whose transcripts were re-judged
    spec_hash: str
    code_version: dict[str, str | None]
    target: TargetRecord
    suites: list[SuiteRecord]
    rubrics: list[RubricRecord]
    judge: JudgeRecord
    epochs: int
    limit: int | None = None
    counts: Counts = Field(default_factory=Counts)
    usage: dict[str, dict[str, int]] = Field(default_factory=dict)  # role -> token counts
    cost_usd: dict[str, float | None] = Field(default_factory=dict)
    retries: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    logs: list[str] = Field(default_factory=list)
    simulated: bool = False
    imported: bool = False
    batch: bool = False  # sent through the provider's batch API: priced at half
    # Adaptive probes: the model that played the user (inspect's `user` role). Both runs of a
    # comparison must have faced the same one.
    user_model: str | None = None

    @property
    def marks(self) -> list[str]:
        """What a listing must say about where the probes and transcripts came from: simulated,
        imported, generated (a suite written by `character expand`)."""
        return [
            mark
            for mark, present in (
                ("simulated", self.simulated or self.target.simulated),
                ("imported", self.imported),
                ("generated", any(suite.generated for suite in self.suites)),
                ("simulated user", (self.user_model or "").startswith("sim/")),
            )
            if present
        ]


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    # an error text echoing an API key must not reach the file (character.redact)
    atomic_write_text(run_dir / MANIFEST, scrub(manifest.model_dump_json(indent=2)) + "\n")


_REMEDY = "re-run the command that made this run (it resumes from the logs)"


def read_manifest(run_dir: Path) -> Manifest:
    """The run's manifest, its `run_id` set to the folder's name.

    The folder is the run's identity: a manifest copied with its folder, or edited to claim
    another run's id (or `../../outside`), names nothing but its own folder. A manifest of a
    newer schema is refused rather than read as this one; a damaged, oversized, deeply nested or
    non-UTF-8 one is a CharacterError naming the file (a listing shows the run as damaged).
    """
    folder = Path(run_dir)
    path = folder / MANIFEST
    if not path.exists() and not path.is_symlink():
        raise CharacterError("run has no manifest.json", file=path, remedy="is this a run folder?")
    no_symlink(path, what="manifest")
    try:
        data = read_json(path, cap=STORED_FILE_MAX, what="manifest")
    except CharacterError as exc:
        raise CharacterError(f"manifest is damaged ({exc.message})", file=path, remedy=_REMEDY) from None
    if not isinstance(data, dict):
        raise CharacterError("manifest is damaged (not a JSON object)", file=path, remedy=_REMEDY)
    version = data.get("schema_version", MANIFEST_SCHEMA)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CharacterError(
            "manifest is damaged (schema_version is not a whole number)", file=path,
            field="schema_version", value=version, remedy=_REMEDY,
        )
    if version > MANIFEST_SCHEMA:
        raise CharacterError(
            f"manifest schema_version {version} was written by a newer version of character "
            f"(this one reads {MANIFEST_SCHEMA})",
            file=path,
            field="schema_version",
            value=version,
            remedy="upgrade character (pip install -U character)",
        )
    if not RUN_ID.matches(folder.name):
        raise CharacterError(
            f"the folder name {folder.name!r} is not a run id", file=folder,
            remedy="rename the folder to letters, digits, '.', '_', '+' and '-' only",
        )
    data["run_id"] = folder.name
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        error = validation_error(exc, file=path)
        raise CharacterError(
            f"manifest is damaged ({error.message})", file=path, field=error.field, remedy=_REMEDY
        ) from None
