"""Untrusted text on its way out: to a terminal, into Markdown, into HTML.

Model, user, judge and file text may hold characters that act instead of showing: an escape
sequence that rewrites the terminal line (`\\x1b[2K\\r`), a right-to-left override that makes the
stored "SEY ,devorppa" display as "approved, YES", a zero-width space that hides inside a word.
Each such character is replaced by a visible marker naming its code point, `⟨U+202E⟩`, so what a
reader sees is what is stored. Markdown and HTML escaping build on the same marking.

Marked: every control character (Unicode category Cc) except tab and (where asked) newline; every
format character (Cf: bidi controls, zero-width characters, soft hyphen, tag characters); the line
and paragraph separators (Zl, Zp); and the blank-looking filler letters. A zero-width joiner or
non-joiner between two non-ASCII characters is left alone: that is how emoji sequences and Indic
and Persian scripts are written, and hiding there reorders nothing.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Letters and symbols that render as blank space though they are not spaces.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_JOINERS = frozenset("\u200c\u200d")
_ESCAPE_PREFIX = "\u27e8U+"  # ⟨U+XXXX⟩
_ESCAPE_SUFFIX = "\u27e9"


def marker(char: str) -> str:
    """The visible stand-in for one hidden character, e.g. ⟨U+202E⟩."""
    return f"{_ESCAPE_PREFIX}{ord(char):04X}{_ESCAPE_SUFFIX}"


@lru_cache(maxsize=4096)
def _hidden(char: str) -> bool:
    if char in _BLANK_LOOKING:
        return True
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def _is_plain(char: str) -> bool:
    """A character next to which a joiner is suspicious: ASCII, a space, or nothing at all."""
    return char == "" or char.isascii() or char.isspace()


def mark_hidden(text: str, *, keep: str = "\t\n") -> str:
    """`text` with every hidden character (see module doc) replaced by its marker.

    `keep`: control characters left as they are (tab and newline by default).
    """
    if text.isascii() and text.isprintable():
        return text  # the common case, checked at C speed
    out: list[str] = []
    for index, char in enumerate(text):
        if char in keep or not _hidden(char):
            out.append(char)
        elif char in _JOINERS:
            before = text[index - 1] if index else ""
            after = text[index + 1] if index + 1 < len(text) else ""
            out.append(marker(char) if _is_plain(before) or _is_plain(after) else char)
        else:
            out.append(marker(char))
    return "".join(out)


def terminal_safe(text: object, *, keep_newlines: bool = True) -> str:
    """Stored text as it may be printed: no escape sequence, carriage return or bidi control acts.

    With `keep_newlines=False` (one-line output: a listing row, an error line) a newline is
    marked too, so the text cannot start a line of its own.
    """
    return mark_hidden("" if text is None else str(text), keep="\t\n" if keep_newlines else "\t")


# Markdown: characters that can start a construct anywhere in a line (emphasis, code, links and
# images, tables, strikethrough, math) are backslash-escaped; '<' and '&' only where they could
# open a tag, an autolink or an entity, so a p-value "<0.001" stays readable in a terminal.
_MD_ESCAPED = frozenset("\\`*_[]|~$")
_TAG_OPENER = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY_OPENER = re.compile(r"&(?=[#A-Za-z])")


def _intraword_underscore(text: str, index: int) -> bool:
    """An underscore between two letters or digits (over_refusal) can never open or close emphasis."""
    return (
        text[index] == "_"
        and 0 < index < len(text) - 1
        and text[index - 1].isalnum()
        and text[index + 1].isalnum()
    )


class Markdown(str):
    """Markdown that character itself built (a link to the viewer from checked parts): a report
    passes it through `markdown_text` unchanged. Never wrap text read from a file in it."""


def markdown_text(text: object) -> str:
    """Untrusted text for a Markdown report line or table cell: shows literally, forms nothing.

    Hidden characters are marked, line breaks become spaces (a cell or list item stays one
    line), and no emphasis, code span, link, image, table cell, raw HTML tag or entity can form.
    A `Markdown` value is character's own markup and is returned as it is.
    """
    if isinstance(text, Markdown):
        return str(text)
    value = mark_hidden("" if text is None else str(text), keep="\t\n\r")
    value = value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    value = "".join(
        "\\" + char if char in _MD_ESCAPED and not _intraword_underscore(value, index) else char
        for index, char in enumerate(value)
    )
    value = _ENTITY_OPENER.sub("&amp;", value)
    return _TAG_OPENER.sub("&lt;", value)


def visible(text: str) -> str:
    """`text` without whitespace or hidden characters: empty when nothing would show."""
    return "".join(char for char in text if not char.isspace() and not _hidden(char))
