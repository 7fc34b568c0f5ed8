"""Reading untrusted files: size caps, text decoding, JSON depth, strict YAML, TOML, JSONL and CSV.

Every reader names the file in its errors, and says what to do:

* a size cap per kind of file, checked before reading where the size is known and while reading
  where it is not (a pipe, `/dev/zero` given as a suite or a system prompt);
* a decode error gives the byte offset and, for text saved by a spreadsheet or an old editor,
  the encoding it looks like (Windows-1252, UTF-16), with the fix: re-save as UTF-8. A UTF-8
  byte-order mark is accepted and dropped;
* JSON nested deeper than `MAX_DEPTH` is refused before it is parsed (Python's parser would
  raise RecursionError), and so is YAML or TOML that its parser cannot descend;
* YAML mapping keys must be unique: a second `rubrics:` in a probe silently replaced the first;
* JSONL lines are split on "\\n" only (str.splitlines also splits inside a string at U+2028,
  U+0085 and other separators a JSON string may hold unescaped);
* CSV files may use ',' ';' tab or '|' between fields (a spreadsheet in many locales saves ';').
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import stat
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from character.errors import CharacterError, os_error

MiB = 1 << 20
# Caps per kind of file. Far above real files (the largest bundled suite is 256 KiB; a 200,000-
# label file is about 60 MiB), far below what would exhaust memory.
USER_FILE_MAX = 16 * MiB  # a suite, rubric, config or system prompt
STORED_FILE_MAX = 64 * MiB  # manifest.json
STORED_LINES_MAX = 1024 * MiB  # labels.jsonl, probes.jsonl
IMPORT_FILE_MAX = 1024 * MiB  # a file given to `character import`
DEVICE_MAX = 64 * MiB  # a pipe or device (`<(...)`, /dev/zero): read at most this much
MAX_DEPTH = 64  # nesting of JSON / YAML / TOML values
MAX_YAML_NODES = 2_000_000  # values after expanding YAML aliases (a "billion laughs" file)

UTF8_FIX = (
    "re-save the file as UTF-8 (in a spreadsheet: Save as CSV UTF-8; in an editor: encoding UTF-8)"
)


def _size_text(size: int) -> str:
    return f"{size / MiB:.1f} MiB" if size >= MiB else f"{size:,} bytes"


def read_bytes(
    path: Path, *, cap: int, what: str = "file", remedy: str = "check the path"
) -> bytes:
    """The file's bytes, at most `cap` of them; a missing, unreadable or larger file is a CharacterError."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise CharacterError(f"{what} is a folder", file=path, remedy="pass a file")
            if stat.S_ISREG(info.st_mode):
                if info.st_size > cap:
                    raise _too_large(path, what, info.st_size, cap)
            else:
                cap = min(cap, DEVICE_MAX)  # a device or pipe has no size to check first
            data = handle.read(cap + 1)  # read one byte past the cap to know it was passed
    except FileNotFoundError:
        raise CharacterError(f"{what} not found", file=path, remedy=remedy) from None
    except IsADirectoryError:
        raise CharacterError(f"{what} is a folder", file=path, remedy="pass a file") from None
    except OSError as exc:
        raise os_error(exc, path) from None
    if len(data) > cap:
        raise _too_large(path, what, None, cap)
    return data


def _too_large(path: Path, what: str, size: int | None, cap: int) -> CharacterError:
    told = f" ({_size_text(size)})" if size is not None else ""
    return CharacterError(
        f"{what} is larger than the {_size_text(cap)} character reads{told}",
        file=path,
        remedy="pass the right file (is it a device, a log or a binary?), or split it",
    )


def decode(data: bytes, path: Path | str, *, start: int = 0) -> str:
    """UTF-8 text (a leading byte-order mark dropped); else an error with the byte offset and the fix.

    `start`: the offset of `data` in its file, so the message gives the file's offset.
    """
    if data.startswith(codecs.BOM_UTF8):
        data, start = data[len(codecs.BOM_UTF8) :], start + len(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise decode_error(data, exc, path, start=start) from None


def decode_error(
    data: bytes, exc: UnicodeDecodeError, path: Path | str, *, start: int = 0
) -> CharacterError:
    offset = start + exc.start
    bad = data[exc.start : exc.start + 1].hex()
    return CharacterError(
        f"not UTF-8 text: byte 0x{bad} at byte offset {offset} ({_looks_like(data)})",
        file=path,
        remedy=UTF8_FIX,
    )


def _looks_like(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "the file is UTF-16 text"
    if data[:4096].count(b"\x00") > len(data[:4096]) // 4:
        return "the file holds NUL bytes: UTF-16 text, or not text at all"
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "the file is not text in any encoding character recognises"
    return (
        "the file looks like Windows-1252 / Latin-1 text, as old editors and spreadsheets save it"
    )


def read_text(
    path: Path, *, cap: int = USER_FILE_MAX, what: str = "file", remedy: str = "check the path"
) -> str:
    """A user-written text file, size-capped and decoded as UTF-8 (see `decode`)."""
    return decode(read_bytes(path, cap=cap, what=what, remedy=remedy), path)


# --------------------------------------------------------------------------------------------
# JSON


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str, *, cap: int = MAX_DEPTH) -> int:
    """How deep the JSON's arrays and objects nest, counted up to `cap + 1` (cheap when shallow)."""
    opened = text.count("[") + text.count("{")
    if opened <= cap:
        return opened  # cannot nest deeper than the brackets it has
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > cap:
                break
    return deepest


def parse_json(
    text: str, *, file: Path | str, where: str | None = None, cap: int = MAX_DEPTH
) -> Any:
    """JSON text, refused (CharacterError) when malformed or nested deeper than `cap`.

    `where` ("line 3") is put before the message, for JSONL.
    """
    prefix = f"{where}: " if where else ""
    if json_depth(text, cap=cap) > cap:
        raise CharacterError(
            f"{prefix}JSON nested more than {cap} levels deep",
            file=file,
            remedy="this is not a file character wrote or reads; pass the right file",
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CharacterError(
            f"{prefix}not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            file=file,
            remedy="fix the JSON, or pass the right file",
        ) from None
    except RecursionError:  # the depth check above makes this unreachable; kept as a backstop
        raise CharacterError(
            f"{prefix}JSON nested too deeply", file=file, remedy="pass the right file"
        ) from None


def read_json(path: Path, *, cap: int = STORED_FILE_MAX, what: str = "file") -> Any:
    return parse_json(read_text(path, cap=cap, what=what), file=path)


# --------------------------------------------------------------------------------------------
# JSONL


def jsonl_lines(data: bytes, path: Path | str) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, raw line) for every line of a JSONL file's bytes.

    Split on b"\\n" only, never on other separators a JSON string may hold; a trailing "\\r"
    (a file saved on Windows) is dropped. The last item is the unterminated tail, if any.
    """
    offset = 0
    if data.startswith(codecs.BOM_UTF8):
        offset = len(codecs.BOM_UTF8)
    number = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        stop = len(data) if end < 0 else end
        number += 1
        yield number, offset, data[offset:stop].removesuffix(b"\r")
        offset = stop + 1


def decode_line(raw: bytes, path: Path | str, *, offset: int, number: int) -> str | None:
    """A JSONL line as text; None for a line cut mid-character (a write killed part-way), an error
    naming line and byte offset for any other bytes that are not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end == len(raw) and "end of data" in exc.reason:
            return None
        error = decode_error(raw, exc, path, start=offset)
        raise CharacterError(
            f"line {number}: {error.message}", file=path, remedy=error.remedy
        ) from None


# --------------------------------------------------------------------------------------------
# YAML


def _yaml_loader_base() -> type:
    # libyaml's parser when PyYAML was built with it: 9x faster on the bundled suites (bench:
    # 3.05 s -> 0.33 s), the same safe subset of YAML.
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictYamlLoader(_yaml_loader_base()):  # type: ignore[misc]
    """The safe loader, refusing a mapping that names the same key twice (the last one won)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # the base class reports unhashable keys
            if key in seen:
                first = seen[key].start_mark
                raise DuplicateKey(key, key_node.start_mark, first)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, mark: Any, first: Any) -> None:
        self.key, self.mark, self.first = key, mark, first
        super().__init__(f"duplicate key {key!r}")


def parse_yaml(text: str, *, file: Path | str) -> Any:
    """YAML text with unique keys, bounded depth and size; errors name line and column."""
    try:
        data = yaml.load(text, Loader=StrictYamlLoader)
    except DuplicateKey as exc:
        raise CharacterError(
            f"key '{exc.key}' appears twice in one mapping, at line {exc.first.line + 1} and line "
            f"{exc.mark.line + 1} (YAML would keep only the last)",
            file=file,
            field=str(exc.key),
            remedy="keep one of them",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        context, started = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and started is not None and (mark is None or started.line != mark.line):
            problem += f" ({context} started at line {started.line + 1})"
        raise CharacterError(
            f"malformed YAML{where}: {problem}", file=file, remedy="fix the YAML syntax"
        ) from None
    except RecursionError:
        raise _too_deep(file) from None
    _check_shape(data, file)
    return data


def _too_deep(file: Path | str) -> CharacterError:
    return CharacterError(
        f"values nested more than {MAX_DEPTH} levels deep",
        file=file,
        remedy="flatten the file (suites, rubrics and configs nest a few levels at most)",
    )


def _check_shape(data: Any, file: Path | str) -> None:
    """Depth and size of the value as it would be expanded (YAML aliases share one object)."""
    nodes = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_YAML_NODES:
            raise CharacterError(
                f"more than {MAX_YAML_NODES:,} values once its aliases are expanded",
                file=file,
                remedy="write the values out instead of repeating aliases",
            )
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                raise _too_deep(file)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                raise _too_deep(file)
            stack.extend((item, depth + 1) for item in value)


def read_yaml(path: Path) -> Any:
    return parse_yaml(read_text(path), file=path)


# --------------------------------------------------------------------------------------------
# TOML


def read_toml(
    path: Path, *, what: str = "config file", remedy: str = "check --config"
) -> dict[str, Any]:
    text = read_text(path, what=what, remedy=remedy)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CharacterError(
            f"malformed TOML: {exc}", file=path, remedy="fix the TOML syntax"
        ) from None
    except RecursionError:
        raise _too_deep(path) from None
    _check_shape(data, path)
    return data


# --------------------------------------------------------------------------------------------
# CSV

DELIMITERS = (",", ";", "\t", "|")


def _header(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error:
        return []


def sniff_delimiter(text: str, columns: Sequence[str] = ()) -> str:
    """The delimiter whose header holds all of `columns`, else the one that splits the header most."""
    headers = {delimiter: _header(text, delimiter) for delimiter in DELIMITERS}
    if columns:
        for delimiter, header in headers.items():
            if all(column in header for column in columns):
                return delimiter
    return max(DELIMITERS, key=lambda d: (len(headers[d]), d == ","))


def csv_header(text: str) -> list[str]:
    """The header row of CSV text, split at the delimiter that splits it most."""
    return _header(text, sniff_delimiter(text))


def csv_text(path: Path, *, cap: int = IMPORT_FILE_MAX) -> str:
    return decode(read_bytes(path, cap=cap), path)


def csv_rows(
    text: str, path: Path | str, columns: Sequence[str]
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(first file line of the record, row)]) with the delimiter sniffed from the header.

    A file missing one of `columns` is refused, naming them and the delimiter that was tried.
    Quoted fields span lines, so a record's position is the file line where it starts.
    """
    delimiter = sniff_delimiter(text, columns)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = list(reader.fieldnames or [])
        missing = [c for c in columns if c not in header]
        if missing:
            shown = {"\t": "tab"}.get(delimiter, f"'{delimiter}'")
            raise CharacterError(
                f"missing column(s) {', '.join(missing)} (the header read with {shown} between "
                f"fields: {', '.join(header[:12]) or 'nothing'})",
                file=path,
                remedy="is this the file the --format expects? (docs/importing.md)",
            )
        rows, start = [], reader.line_num + 1
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise CharacterError(
            f"not a readable CSV file ({exc})", file=path, remedy="re-save it as CSV"
        ) from None
    return header, rows
