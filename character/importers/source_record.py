"""An import's conversations as stored with it: what `character rebuild` rebuilds its tables from.

A run's tables are derived from its inspect log; an import has no log, so `write_import` also
writes `conversations.jsonl` into the run folder: a header line (format, the rubrics its
imported verdicts use) and one line per conversation (suite, epoch, probe id, messages, imported
judge verdicts). With the run's probes.jsonl and manifest that is everything `build_rows` needs,
so the tables can be rebuilt from the import alone, with the code of the day, whatever happened
to the parquet files (run/rebuild.py). Human labels live in labels.jsonl and are not touched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from character.boundary.paths import no_symlink
from character.boundary.reading import (
    STORED_LINES_MAX,
    decode_line,
    jsonl_lines,
    parse_json,
    read_bytes,
)
from character.errors import CharacterError
from character.store.files import atomic_write_text

if TYPE_CHECKING:  # store_writer calls write_source: no import cycle at run time
    from character.importers.store_writer import ImportBatch

SOURCE = "conversations.jsonl"
SOURCE_FORMAT = 1


def write_source(folder: Path, batch: ImportBatch) -> None:
    """Store the batch's conversations (and the rubrics of its imported verdicts) in `folder`."""
    header = {
        "format": SOURCE_FORMAT,
        "rubrics": [rubric.model_dump(mode="json") for rubric in batch.rubrics],
    }
    lines = [json.dumps(header, ensure_ascii=False)]
    for conversation in batch.conversations:
        lines.append(
            json.dumps(
                {
                    "suite": conversation.suite,
                    "epoch": conversation.epoch,
                    "probe_id": conversation.probe.id,
                    "messages": [
                        {"role": m.role, "content": m.content, "scripted": m.scripted}
                        for m in conversation.messages
                    ],
                    "verdicts": [
                        {"judge": judged.judge, "verdict": judged.verdict.model_dump(mode="json")}
                        for judged in conversation.verdicts
                    ],
                },
                ensure_ascii=False,
            )
        )
    atomic_write_text(folder / SOURCE, "\n".join(lines) + "\n")


def read_source(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, conversation rows) of the import stored in `folder`.

    Raises CharacterError naming the file when the import predates stored conversations or the
    file is not JSON lines.
    """
    path = Path(folder) / SOURCE
    if not path.is_file():
        raise CharacterError(
            "this import was stored before character kept its conversations, so its tables "
            "cannot be rebuilt from the store alone",
            file=path,
            remedy=(
                "import the original file again into an empty store (character --store NEW "
                "import FILE); copy labels.jsonl across to keep the human labels"
            ),
        )
    no_symlink(path, what="stored conversations file")
    items = []
    try:
        data = read_bytes(path, cap=STORED_LINES_MAX, what="stored conversations file")
        for number, offset, raw in jsonl_lines(data, path):  # split on "\n" only
            if not raw.strip():
                continue
            text = decode_line(raw, path, offset=offset, number=number)
            if text is None:
                raise CharacterError(f"line {number} is cut short")
            items.append(parse_json(text, file=path, where=f"line {number}"))
    except CharacterError as exc:
        raise damaged(path, Exception(exc.message)) from None
    if not items or not isinstance(items[0], dict):
        raise damaged(path, Exception("no header line"))
    header, *rows = items
    return header, rows


def damaged(path: Path, exc: Exception) -> CharacterError:
    return CharacterError(
        f"stored conversations are damaged ({str(exc).splitlines()[0][:160]})",
        file=path,
        remedy="import the original file again into an empty store",
    )
