"""Transcript and judge text as Markdown that any renderer shows literally, with highlights.

Model, user and judge text is untrusted: a transcript may hold `<script>`, an `<img onerror>`, or
a Markdown image pointing at a remote host. Every character that HTML or Markdown gives a meaning
is neutralised: `& < > " '` become HTML entities (as `html.escape` does) and every other ASCII
punctuation character is backslash-escaped (CommonMark: any ASCII punctuation may be escaped and
then stands for itself). No link, image, emphasis, code span, heading, list, table, math or raw
HTML can form from the text; the only Markup in the output is the highlight this module adds
around escaped text. Nothing here needs `unsafe_allow_html`.

Streamlit's Markdown (remark-gfm) also turns bare URLs, `www.` names and e-mail addresses into
links after parsing, whatever their escaping; an invisible WORD JOINER inside "://" and "www."
and after the "@" of an address stops that, so a URL in a transcript stays text (nothing is fetched either way).
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterable

from character.boundary.text import mark_hidden

_HTML_SPECIAL = frozenset("&<>\"'")
_MARKDOWN_PUNCTUATION = frozenset(string.punctuation) - _HTML_SPECIAL
_LEADING_BLANKS = re.compile(r"^[ \t]+", re.MULTILINE)
WORD_JOINER = "\u2060"
_AUTOLINK_TRIGGERS = re.compile(r"(://|www(?=\.)|@(?=[-\w]+\.\w))", re.IGNORECASE)
# Streamlit's own Markdown directive for a coloured background; its label is parsed as Markdown,
# so the escaped text inside stays literal.
HIGHLIGHT_OPEN = ":orange-background["
DIFF_REMOVED = ":red-background["  # words only the baseline's reply has
DIFF_ADDED = ":green-background["  # words only the candidate's reply has
HIGHLIGHT_CLOSE = "]"
_QUOTE_CLASSES = ("'\u2018\u2019", '"\u201c\u201d', "-\u2013\u2014")
_QUOTE_STYLES = {char: f"[{re.escape(group)}]" for group in _QUOTE_CLASSES for char in group}


def _escape_char(char: str) -> str:
    if char in _HTML_SPECIAL:
        return html.escape(char)
    if char in _MARKDOWN_PUNCTUATION:
        return "\\" + char
    return char


def _escape_inline(text: str) -> str:
    # bidi overrides and zero-width characters first become visible markers (⟨U+202E⟩), so the
    # stored "SEY ,devorppa" with a right-to-left override cannot display as "approved, YES"
    unlinkable = _AUTOLINK_TRIGGERS.sub(
        lambda m: m.group(0)[:1] + WORD_JOINER + m.group(0)[1:], mark_hidden(text, keep="\t\n\r")
    )
    return "".join(map(_escape_char, unlinkable))


def _keep_layout(markdown: str) -> str:
    """Line breaks stay line breaks; leading blanks stay visible instead of starting a code block."""
    markdown = _LEADING_BLANKS.sub(lambda m: "\u00a0" * len(m.group(0).expandtabs(4)), markdown)
    return "  \n".join(markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def escape_markdown(text: str) -> str:
    """`text` as Markdown that renders exactly as the text, and nothing else."""
    return _keep_layout(_escape_inline(text))


def quote_pattern(quote: str) -> re.Pattern[str] | None:
    """Find a judge's quote the way quotes are verified: ignoring case, spacing and quote style."""
    core = quote.strip().strip('"').strip("'").strip(".").strip()
    if not core:
        return None
    parts = []
    for word in core.split():
        parts.append("".join(_QUOTE_STYLES.get(char, re.escape(char)) for char in word))
    return re.compile(r"\s+".join(parts), re.IGNORECASE)


def highlight_spans(text: str, quotes: Iterable[str]) -> tuple[list[tuple[int, int]], list[str]]:
    """Merged (start, end) spans of every quote found in `text`, and the quotes not found."""
    spans: list[tuple[int, int]] = []
    missing: list[str] = []
    for quote in quotes:
        pattern = quote_pattern(quote)
        found = [m.span() for m in pattern.finditer(text)] if pattern else []
        if found:
            spans.extend(found)
        else:
            missing.append(quote)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged, missing


def highlighted_markdown(text: str, quotes: Iterable[str]) -> tuple[str, list[str]]:
    """Escaped Markdown of `text` with the quoted passages highlighted; and quotes not found."""
    spans, missing = highlight_spans(text, quotes)
    return marked_markdown(text, [(start, end, HIGHLIGHT_OPEN) for start, end in spans]), missing


def marked_markdown(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """Escaped Markdown of `text`, each (start, end, opener) span wrapped in `opener...]`.

    `opener` is one of Streamlit's background directives (HIGHLIGHT_OPEN, DIFF_REMOVED,
    DIFF_ADDED); spans are sorted and must not overlap. Text inside a span is escaped like the
    rest, so it stays literal.
    """
    pieces: list[str] = []
    position = 0
    for start, end, opener in sorted(spans):
        pieces.append(_escape_inline(text[position:start]))
        # A highlight never spans a line break: the directive is inline, so each line gets its own.
        lines = [_escape_inline(line) for line in text[start:end].split("\n")]
        pieces.append(
            "\n".join(
                f"{opener}{line}{HIGHLIGHT_CLOSE}" if line.strip() else line for line in lines
            )
        )
        position = end
    pieces.append(_escape_inline(text[position:]))
    return _keep_layout("".join(pieces))
