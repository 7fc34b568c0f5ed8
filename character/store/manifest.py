"""manifest.json: everything needed to explain a run from what is stored.

Target and its hash, suite/rubric/judge-prompt hashes, judge model, code version, time, token use,
cost, and the counts of scored and unscored items.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    flagged_quotes: int = 0
    unscored_reasons: dict[str, int] = Field(default_factory=dict)
    # generated target replies, and how many were cut at the token limit, blocked by the
    # provider's safety system, or empty
    target_turns: int = 0
    turns_truncated: int = 0
    turns_blocked: int = 0
    turns_empty: int = 0


class Manifest(Loose):
    schema_version: int = MANIFEST_SCHEMA
    run_id: str
    status: Literal["running", "complete", "incomplete", "failed"] = "running"
    created: str
    finished: str | None = None
    kind: Literal["run", "rejudge", "import"] = "run"
    source_run: str | None = None  # rejudge: the run whose transcripts were re-judged
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
            )
            if present
        ]


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    # an error text echoing an API key must not reach the file (character.redact)
    atomic_write_text(run_dir / MANIFEST, scrub(manifest.model_dump_json(indent=2)) + "\n")


def read_manifest(run_dir: Path) -> Manifest:
    path = Path(run_dir) / MANIFEST
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise CharacterError("run has no manifest.json", file=path, remedy="is this a run folder?") from None
    except (json.JSONDecodeError, ValidationError) as exc:
        raise CharacterError(
            f"manifest is damaged ({str(exc).splitlines()[0]})",
            file=path,
            remedy="re-run the command that made this run (it resumes from the logs)",
        ) from None
    except OSError as exc:
        raise CharacterError(f"cannot read manifest ({exc.strerror})", file=path) from None
