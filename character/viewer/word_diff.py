"""Word-level differences between two versions' replies to the same turn (difflib).

Both replies are split into words and single punctuation marks (whitespace is not compared, so a
re-wrapped line is no change); difflib's SequenceMatcher aligns the two token lists. Words only the baseline has are marked red in the
baseline's reply, words only the candidate has green in the candidate's. The marking goes through
render.marked_markdown, so the text itself is escaped exactly like every other transcript text.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from character.viewer.render import DIFF_ADDED, DIFF_REMOVED, escape_markdown, marked_markdown

_TOKEN = re.compile(r"\w+|[^\w\s]")
# difflib is quadratic in the worst case: replies longer than this are shown without marks.
MAX_TOKENS = 6000

Span = tuple[int, int, str]


@dataclass(frozen=True)
class ReplyDiff:
    baseline: str  # Markdown of the baseline reply, removed words marked
    candidate: str  # Markdown of the candidate reply, added words marked
    changed: bool  # whether the words differ at all (whitespace-only changes do not count)
    marked: bool  # False when the replies were too long to compare word by word


def _tokens(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN.finditer(text)]


def _spans(
    text: str, tokens: list[tuple[int, int]], start: int, end: int, opener: str
) -> list[Span]:
    """Marks for tokens[start:end]; neighbours on one line share a mark."""
    spans: list[Span] = []
    for first, last in tokens[start:end]:
        if (
            spans
            and not text[spans[-1][1] : first].strip()
            and "\n" not in text[spans[-1][1] : first]
        ):
            spans[-1] = (spans[-1][0], last, opener)  # join neighbouring words into one mark
        else:
            spans.append((first, last, opener))
    return spans


def reply_diff(baseline: str, candidate: str) -> ReplyDiff:
    """Both replies as escaped Markdown, with the words that differ marked."""
    left, right = _tokens(baseline), _tokens(candidate)
    if len(left) > MAX_TOKENS or len(right) > MAX_TOKENS:
        return ReplyDiff(
            escape_markdown(baseline), escape_markdown(candidate), baseline != candidate, False
        )
    words_a = [baseline[a:b] for a, b in left]
    words_b = [candidate[a:b] for a, b in right]
    matcher = difflib.SequenceMatcher(None, words_a, words_b, autojunk=False)
    removed: list[Span] = []
    added: list[Span] = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            removed += _spans(baseline, left, a0, a1, DIFF_REMOVED)
        if tag in ("insert", "replace"):
            added += _spans(candidate, right, b0, b1, DIFF_ADDED)
    return ReplyDiff(
        marked_markdown(baseline, removed),
        marked_markdown(candidate, added),
        bool(removed or added),
        True,
    )
