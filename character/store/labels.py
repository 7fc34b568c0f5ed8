"""Human labels: append-only JSONL next to the run (labels.jsonl), one line per judgement.

Labels are never edited or deleted; a researcher who changes their mind adds a newer line, and
readers take the latest line per (labeller, probe, epoch, dimension). Appends are single writes
under an advisory lock, so two viewer sessions labelling at once do not interleave lines.
"""

from __future__ import annotations

import errno
import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from character.boundary.errors import validation_error
from character.boundary.ids import Labeller, ProbeId
from character.boundary.paths import no_symlink
from character.boundary.reading import (
    STORED_LINES_MAX,
    decode_line,
    jsonl_lines,
    parse_json,
    read_bytes,
)
from character.boundary.values import EPOCH, TURN
from character.errors import CharacterError
from character.store.layout import LABELS

Epoch = EPOCH.pydantic()
Turn = TURN.pydantic()

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
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    run_id: str  # on reading, the run folder's name (the folder is the run's identity)
    probe_id: ProbeId
    epoch: Epoch
    rubric: str
    dimension: str
    value: float | None = None  # binary 0/1 or ordinal level
    label: str | None = None  # categorical
    # per-turn dimensions: the turn at which the behaviour first appeared (as the judge's `turn`)
    turn: Turn | None = None
    labeller: Labeller
    source: Literal["viewer", "import"] = "viewer"
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    note: str | None = None


def append_labels(run_dir: Path, labels: list[Label]) -> None:
    """Append labels as whole lines, under an exclusive lock, in one write.

    If the file ends in a line torn by a crash mid-append (no newline at its end), the torn bytes
    are first closed with a newline in the same write, so the new labels start a line of their
    own instead of being glued to the fragment (and lost with it: a reader skips the fragment).
    labels.jsonl may not be a symlink: a write through it would land wherever it points.
    """
    if not labels:
        return
    path = Path(run_dir) / LABELS
    payload = "".join(label.model_dump_json() + "\n" for label in labels).encode("utf-8")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            no_symlink(path, what="labels file")
        raise CharacterError(f"cannot write labels ({exc.strerror})", file=path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            payload = b"\n" + payload  # close the torn line: the fragment stays, skipped on read
        os.write(fd, payload)
        os.fsync(fd)
    except OSError as exc:
        raise CharacterError(f"cannot write labels ({exc.strerror})", file=path) from None
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_labels(run_dir: Path, *, latest_only: bool = True) -> pl.DataFrame:
    """All labels of a run; by default the latest per labeller x probe x epoch x dimension.

    Lines are split on "\n" only (a note may hold U+2028). A line torn by a crash mid-append is
    not JSON and is skipped (later appends follow it on their own line). A line that is JSON but
    not a label (a hand edit, a field from another version), or bytes that are not UTF-8, are an
    error naming the line: dropping it silently would lose someone's judgement.
    """
    folder = Path(run_dir)
    path = folder / LABELS
    rows: list[dict] = []
    if path.exists() or path.is_symlink():
        no_symlink(path, what="labels file")
        data = read_bytes(path, cap=STORED_LINES_MAX, what="labels file")
        for number, offset, raw in jsonl_lines(data, path):
            text = decode_line(raw, path, offset=offset, number=number)
            if text is None or not text.strip():
                continue
            try:
                item = parse_json(text, file=path, where=f"line {number}")
            except CharacterError as exc:
                if exc.message.startswith(f"line {number}: not valid JSON"):
                    continue  # a torn line
                raise
            if isinstance(item, dict):
                item["run_id"] = folder.name
            try:
                rows.append(Label.model_validate(item).model_dump())
            except ValidationError as exc:
                raise validation_error(exc, file=path, item=f"line {number}") from None
    frame = pl.DataFrame(rows, schema=LABEL_SCHEMA)
    if latest_only and frame.height:
        keys = ["labeller", "probe_id", "epoch", "rubric", "dimension"]
        frame = frame.sort("created").unique(subset=keys, keep="last", maintain_order=True)
    return frame
