"""Acknowledged nightly alarms: who accepted a new level, or froze a new reference, and when.

docs/methods.md "Nightly": after an alarm a person decides. `character nightly ack TARGET
[--dimension D]` appends one line to `<store>/_nightly/acks.jsonl`:

* mode "level": the level since the alarm began is accepted. The CUSUM of the acknowledged series
  restarts after that night, and later nights are measured against the accepted level (z =
  (delta - level) / SE) instead of the reference's, so a shift that is now wanted stops alarming
  while a further one is caught as before.
* mode "restart": the shift was transient (a judge glitch that is over): the sums restart after
  that night against the same level as before.
* mode "reference": the target's latest nightly run becomes its frozen reference; new series (and
  sums) start with it. A reference pinned in `[nightly.reference]` is only replaced while the pin
  still names the reference the acknowledgement replaced (edit the pin and it wins again).

The file is append-only (who and when are the record); a malformed line is an error naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from character.errors import CharacterError
from character.store.files import atomic_write_text

ACKS_FILE = "acks.jsonl"

AckMode = Literal["level", "restart", "reference"]


class Ack(BaseModel):
    """One acknowledgement, as stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    kind: Literal["model", "canary"] = "model"
    dimension: str | None = None
    """rubric/dimension, or None for every dimension of the target."""
    after_night: str
    """The last night the person saw (UTC date): the sums restart after it."""
    by: str
    at: str
    """UTC timestamp of the acknowledgement."""
    mode: AckMode = "level"
    reference_run_id: str
    """The series' reference at the time ("level"), or the reference replaced ("reference")."""
    new_reference: str | None = None
    note: str | None = None

    def covers(self, target: str, kind: str, key: str, reference: str) -> bool:
        """Whether this acknowledgement applies to the series (target, kind, key, reference)."""
        return (
            self.mode in ("level", "restart")
            and self.target == target
            and self.kind == kind
            and self.reference_run_id == reference
            and self.dimension in (None, key)
        )


def acks_file(nightly_dir: Path) -> Path:
    return Path(nightly_dir) / ACKS_FILE


def read_acks(path: Path) -> list[Ack]:
    """Every acknowledgement in file order; [] when there is no file."""
    path = Path(path)
    if not path.is_file():
        return []
    acks: list[Ack] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            acks.append(Ack.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise CharacterError(
                f"line {number} is not an acknowledgement ({str(exc).splitlines()[0]})",
                file=path,
                remedy="fix or delete that line (the file is written by `character nightly ack`)",
            ) from None
    return acks


def append_ack(path: Path, ack: Ack) -> None:
    """Add one acknowledgement (the whole file is rewritten by rename, so it is never half-written)."""
    path = Path(path)
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    atomic_write_text(path, existing + ack.model_dump_json(exclude_none=True) + "\n")


def current_reference(start: str | None, target: str, acks: Iterable[Ack]) -> str | None:
    """The reference after following "reference" acknowledgements from `start` in order."""
    reference = start
    for ack in acks:
        if ack.mode == "reference" and ack.target == target and ack.reference_run_id == reference:
            reference = ack.new_reference
    return reference
