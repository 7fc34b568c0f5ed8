"""A conversation as numbered exchanges: the form the judge reads and quotes from.

Exchange k is the k-th user message and the assistant reply to it. A reply pre-filled by the probe
(e.g. a scripted mistake the user then corrects) is kept and marked, so the judge knows the
assistant did not write it in this run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only a type here: `character check` reads exchanges without loading inspect
    from inspect_ai.model import ChatMessage

SCRIPTED_KEY = "character_scripted"


@dataclass
class Exchange:
    turn: int
    user: str
    assistant: str = ""
    scripted: bool = False  # the reply was pre-filled by the probe, not generated


def exchanges_from_messages(messages: list[ChatMessage]) -> list[Exchange]:
    exchanges: list[Exchange] = []
    for message in messages:
        if message.role == "user":
            exchanges.append(Exchange(turn=len(exchanges) + 1, user=message.text))
        elif message.role == "assistant" and exchanges:
            current = exchanges[-1]
            current.assistant = f"{current.assistant}\n{message.text}".strip()
            current.scripted = bool((message.metadata or {}).get(SCRIPTED_KEY))
    return exchanges


def render_transcript(exchanges: list[Exchange]) -> str:
    """Plain-text transcript with turn indices, as the judge sees it."""
    lines: list[str] = []
    for ex in exchanges:
        lines.append(f"[turn {ex.turn} user]\n{ex.user}\n")
        note = " (scripted earlier reply, not written in this run)" if ex.scripted else ""
        lines.append(f"[turn {ex.turn} assistant{note}]\n{ex.assistant or '(no reply)'}\n")
    return "\n".join(lines).strip()


def normalise(text: str) -> str:
    """Case-, whitespace- and quote-style-insensitive form for matching quotes and phrases."""
    table = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-"})
    return " ".join(text.translate(table).lower().split())


def quote_occurs(quote: str, exchanges: list[Exchange], turn: int, role: str) -> bool:
    """Does the quote occur verbatim (modulo case and whitespace) in that turn's text?"""
    needle = normalise(quote.strip().strip('"').strip("'").strip("."))
    if not needle:
        return False
    for ex in exchanges:
        if ex.turn == turn:
            haystack = ex.user if role == "user" else ex.assistant
            return needle in normalise(haystack)
    return False
