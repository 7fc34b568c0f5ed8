"""Human labels: append-only JSONL next to the run (labels.jsonl), one line per judgement.

Labels are never edited or deleted; a researcher who changes their mind adds a newer line, and
readers take the latest line per (labeller, probe, epoch, dimension). Appends are single writes
under an advisory lock, so two viewer sessions labelling at once do not interleave lines.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from character.domain.yaml_loading import validation_error
from character.errors import CharacterError
from character.store.layout import LABELS

LABEL_SCHEMA = {
    "run_id": pl.String,
    "probe_id": pl.String,
    "epoch": pl.Int32,
    "rubric": pl.String,
    "dimension": pl.String,
    "value": pl.Float64,
    "label": pl.String,
    "turn": pl.Int32,
    "labeller": pl.String,
    "source": pl.String,
    "created": pl.String,
    "note": pl.String,
}


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    probe_id: str
    epoch: int = Field(ge=1)
    rubric: str
    dimension: str
    value: float | None = None  # binary 0/1 or ordinal level
    label: str | None = None  # categorical
    # per-turn dimensions: the turn at which the behaviour first appeared (as the judge's `turn`)
    turn: int | None = Field(default=None, ge=1)
    labeller: str = Field(min_length=1)
    source: Literal["viewer", "import"] = "viewer"
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    note: str | None = None


def append_labels(run_dir: Path, labels: list[Label]) -> None:
    if not labels:
        return
    path = Path(run_dir) / LABELS
    payload = "".join(label.model_dump_json() + "\n" for label in labels).encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as exc:
        raise CharacterError(f"cannot write labels ({exc.strerror})", file=path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, payload)
        os.fsync(fd)
    except OSError as exc:
        raise CharacterError(f"cannot write labels ({exc.strerror})", file=path) from None
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_labels(run_dir: Path, *, latest_only: bool = True) -> pl.DataFrame:
    """All labels of a run; by default the latest per labeller x probe x epoch x dimension.

    A line torn by a crash mid-append is not JSON and is skipped (later appends may follow it). A
    line that is JSON but not a label (a hand edit, a field from another version) is an error
    naming the line: dropping it silently would lose someone's judgement.
    """
    path = Path(run_dir) / LABELS
    rows: list[dict] = []
    if path.exists():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            try:
                rows.append(Label.model_validate(data).model_dump())
            except ValidationError as exc:
                raise validation_error(exc, file=path, item=f"line {number}") from None
    frame = pl.DataFrame(rows, schema=LABEL_SCHEMA)
    if latest_only and frame.height:
        keys = ["labeller", "probe_id", "epoch", "rubric", "dimension"]
        frame = frame.sort("created").unique(subset=keys, keep="last", maintain_order=True)
    return frame
