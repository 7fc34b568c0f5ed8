"""Keep API keys out of everything character prints or stores: one scrubbing function.

A key must never reach the terminal, manifest.json, the parquet tables, reports, inspect's .eval
logs or its trace log, even when an endpoint (a proxy, a gateway, a misconfigured server) echoes
the key back in an error body that then travels inside exception messages. `scrub` replaces
every configured secret in a text with `[redacted NAME]`; every exit point calls it:

* `scrub_frame` for the parquet tables (store.tables.write_tables), `scrub` for the manifest
  (store.manifest.write_manifest);
* `scrub_log_files` rewrites inspect's .eval logs of a run when (and only when) one holds a secret;
* `install_log_scrubbing` scrubs every Python log record when it is made, before any handler
  (inspect's terminal display, its trace file, the log's transcript) sees it;
* `scrubbed_terminal` scrubs everything written to stdout and stderr while a CLI command runs
  (and a crash's traceback, printed after it).

Configured secrets: the values of environment variables whose names end in _API_KEY, _TOKEN,
_SECRET, _SECRET_KEY or _ACCESS_KEY (ANTHROPIC_API_KEY, OPENAI_API_KEY, HF_TOKEN,
AWS_SECRET_ACCESS_KEY...), 8 characters or longer. A value of 16+ characters is also caught when
echoed cut short: its first 16 characters followed by more key characters are scrubbed too.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_SECRET_KEY", "_ACCESS_KEY")
MIN_SECRET_CHARS = 8
PREFIX_CHARS = 16  # an echo of at least this much of a key is treated as the key
_KEY_TAIL = r"[A-Za-z0-9_\-+/=]*"


def configured_secrets() -> tuple[tuple[str, str], ...]:
    """(variable, value) of every secret set in the environment, longest value first."""
    found = {
        (name, value.strip())
        for name, value in os.environ.items()
        if name.upper().endswith(SECRET_SUFFIXES) and len(value.strip()) >= MIN_SECRET_CHARS
    }
    return tuple(sorted(found, key=lambda item: (-len(item[1]), item[0])))


@lru_cache(maxsize=8)
def _pattern(secrets: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str], dict[str, str]]:
    alternatives = []
    owners: dict[str, str] = {}
    for name, value in secrets:
        owners.setdefault(value, name)
        owners.setdefault(value[:PREFIX_CHARS], name)
        alternatives.append(re.escape(value))
        if len(value) >= PREFIX_CHARS:
            alternatives.append(re.escape(value[:PREFIX_CHARS]) + _KEY_TAIL)
    return re.compile("|".join(alternatives)), owners


def scrub(text: str) -> str:
    """`text` with every configured secret replaced by `[redacted VARIABLE]`."""
    secrets = configured_secrets()
    if not secrets or not text:
        return text
    pattern, owners = _pattern(secrets)

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        name = owners.get(found) or owners.get(found[:PREFIX_CHARS], "secret")
        return f"[redacted {name}]"

    return pattern.sub(replace, text)


def contains_secret(text: str) -> bool:
    secrets = configured_secrets()
    return bool(secrets) and _pattern(secrets)[0].search(text) is not None


def scrub_frame(frame: Any) -> Any:
    """A polars DataFrame with every secret scrubbed from its text columns."""
    import polars as pl

    secrets = configured_secrets()
    if not secrets or frame.height == 0:
        return frame
    needles = sorted({v for _, v in secrets} | {v[:PREFIX_CHARS] for _, v in secrets})
    dirty = [
        name
        for name, dtype in frame.schema.items()
        if dtype == pl.String
        and frame.select(
            pl.any_horizontal(pl.col(name).str.contains(n, literal=True) for n in needles).any()
        ).item()
    ]
    if not dirty:
        return frame
    return frame.with_columns(
        pl.col(name).map_elements(scrub, return_dtype=pl.String) for name in dirty
    )


def scrub_log_files(folder: Path) -> list[Path]:
    """Rewrite every .eval log under `folder` that holds a secret; returns the files rewritten.

    A log is a zip of JSON documents: each member is scrubbed and the zip is replaced by rename,
    so a crash leaves the old file or the new one, never half of one.
    """
    secrets = configured_secrets()
    if not secrets:
        return []
    rewritten = []
    for path in sorted(Path(folder).rglob("*.eval")):
        if _scrub_zip(path):
            rewritten.append(path)
    return rewritten


def _scrub_zip(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info.filename)) for info in archive.infolist()]
    texts = {
        info.filename: data.decode("utf-8", errors="surrogateescape") for info, data in members
    }
    if not any(contains_secret(text) for text in texts.values()):
        return False
    temporary = path.with_name(f".{path.name}.scrub")
    with zipfile.ZipFile(temporary, "w") as archive:
        for info, _data in members:
            clean = scrub(texts[info.filename]).encode("utf-8", errors="surrogateescape")
            archive.writestr(info, clean, compress_type=info.compress_type)
    os.replace(temporary, path)
    return True


# --------------------------------------------------------------------------------------------
# logging and the terminal

_installed = threading.Lock()
_factory_installed = False


def install_log_scrubbing() -> None:
    """Scrub every log record before any handler writes it (message, extra fields such as the
    error text inspect's trace log stores, and exception text).

    A record factory runs at every log call; it makes sure each handler on the root and inspect
    loggers carries the scrubbing filter (inspect creates its handler when an eval starts), so
    inspect's terminal display, its trace file and the log records it copies into .eval
    transcripts all get the scrubbed text. Idempotent.
    """
    global _factory_installed
    with _installed:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            for name in ("", "inspect_ai"):
                for handler in logging.getLogger(name).handlers:
                    if _FILTER not in handler.filters:
                        handler.addFilter(_FILTER)
            return previous(*args, **kwargs)

        logging.setLogRecordFactory(factory)
        original_hook = sys.excepthook

        def excepthook(kind: Any, value: Any, trace: Any) -> None:
            # an unexpected crash prints its traceback after the command's streams are restored
            text = "".join(traceback.format_exception(kind, value, trace))
            if contains_secret(text):
                sys.stderr.write(scrub(text))
            else:
                original_hook(kind, value, trace)

        sys.excepthook = excepthook
        _factory_installed = True


class _ScrubFilter(logging.Filter):
    """Scrubs a record in place; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not configured_secrets():
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return True
        if contains_secret(message):
            record.msg, record.args = scrub(message), None
        for key, value in list(vars(record).items()):
            if key != "msg" and isinstance(value, str) and contains_secret(value):
                setattr(record, key, scrub(value))
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            if contains_secret(trace):
                # handlers would format the exception again from exc_info: keep only the text
                record.msg = f"{record.msg}\n{scrub(trace)}"
                record.exc_info, record.exc_text = None, None
        return True


_FILTER = _ScrubFilter()


class _FilteredStream:
    """A text stream that passes what is written through `transform`, then on.

    Everything else (isatty, fileno, encoding, errors...) is the wrapped stream's, so click and
    rich treat it as the terminal it wraps.
    """

    def __init__(self, stream: IO[str], transform: Callable[[str], str]) -> None:
        self._stream = stream
        self._transform = transform

    def write(self, text: str) -> int:
        return self._stream.write(self._transform(text) if isinstance(text, str) else text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def filtered_output(transform: Callable[[str], str]) -> Iterator[None]:
    """Pass everything written to stdout and stderr inside the block through `transform`."""
    saved = sys.stdout, sys.stderr
    sys.stdout = _FilteredStream(saved[0], transform)  # type: ignore[assignment]
    sys.stderr = _FilteredStream(saved[1], transform)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


@contextmanager
def scrubbed_terminal() -> Iterator[None]:
    """Scrub secrets from everything written to stdout and stderr inside the block."""
    install_log_scrubbing()
    if not configured_secrets():
        yield
        return
    with filtered_output(scrub):
        yield
