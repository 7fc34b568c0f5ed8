"""A conversation as numbered exchanges: the form the judge reads and quotes from.

Exchange k is the k-th user message and the assistant reply to it. A reply pre-filled by the probe
(e.g. a scripted mistake the user then corrects) is kept and marked, so the judge knows the
assistant did not write it in this run. A generated reply keeps its stop reason, so the judge is
told when a reply was cut at the token limit, blocked by the provider or empty.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from character.engine.reply_shapes import (
    STOP_REASON_KEY,
    Shape,
    shape_of,
    stop_note,
    user_turn_note,
)

if TYPE_CHECKING:  # only a type here: `character check` reads exchanges without loading inspect
    from inspect_ai.model import ChatMessage

SCRIPTED_KEY = "character_scripted"
# Message metadata on a user turn written by the user model of an adaptive probe (its model id).
SIMULATED_USER_KEY = "character_simulated_user"


@dataclass
class Exchange:
    turn: int
    user: str
    assistant: str = ""
    scripted: bool = False  # the reply was pre-filled by the probe, not generated
    simulated_user: bool = False  # the user turn was written by a user model (adaptive probe)
    user_stop_reason: str | None = None  # set when the user model's token limit cut the turn
    replied: bool = False  # an assistant message exists for this turn (it may be empty)
    stop_reason: str | None = None  # how a generated reply ended (reply_shapes.STOP_REASONS)

    @property
    def generated(self) -> bool:
        """The target wrote (or tried to write) this turn's reply in this run."""
        return self.replied and not self.scripted

    @property
    def shape(self) -> Shape | None:
        """complete / truncated / blocked / empty for a generated reply; None otherwise."""
        return shape_of(self.stop_reason, self.assistant) if self.generated else None


def exchanges_from_messages(messages: list[ChatMessage]) -> list[Exchange]:
    exchanges: list[Exchange] = []
    for message in messages:
        if message.role == "user":
            simulated = bool((message.metadata or {}).get(SIMULATED_USER_KEY))
            exchanges.append(
                Exchange(
                    turn=len(exchanges) + 1,
                    user=message.text,
                    simulated_user=simulated,
                    user_stop_reason=(message.metadata or {}).get(STOP_REASON_KEY),
                )
            )
        elif message.role == "assistant" and exchanges:
            current = exchanges[-1]
            metadata = message.metadata or {}
            current.assistant = f"{current.assistant}\n{message.text}".strip()
            current.scripted = bool(metadata.get(SCRIPTED_KEY))
            current.replied = True
            current.stop_reason = metadata.get(STOP_REASON_KEY)
    return exchanges


def final_generated(exchanges: list[Exchange]) -> Exchange | None:
    """The last reply the target generated (None when it generated none)."""
    return next((ex for ex in reversed(exchanges) if ex.generated), None)


def render_transcript(exchanges: list[Exchange], *, unplayed: int = 0) -> str:
    """Plain-text transcript with turn indices, as the judge sees it.

    A generated reply that did not end normally is followed by a bracketed note ("[reply cut at
    the token limit]", "[blocked by the provider's safety system]", "[empty reply]"); `unplayed`
    user turns that were never sent (the conversation ended at such a reply) are announced.
    """
    lines: list[str] = []
    for ex in exchanges:
        who = "user (simulated: written by a user model)" if ex.simulated_user else "user"
        cut = user_turn_note(ex.user_stop_reason) if ex.simulated_user else None
        lines.append(f"[turn {ex.turn} {who}]\n{ex.user}\n" + (f"[{cut}]\n" if cut else ""))
        label = " (scripted earlier reply, not written in this run)" if ex.scripted else ""
        note = stop_note(ex.stop_reason, ex.assistant) if ex.generated else None
        if not ex.replied:
            body = "(no reply)"
        elif note is None:
            body = ex.assistant
        else:
            body = f"{ex.assistant}\n[{note}]".strip()
        lines.append(f"[turn {ex.turn} assistant{label}]\n{body}\n")
    if unplayed > 0:
        lines.append(
            f"[the conversation ended here: the remaining {unplayed} user turn(s) were not sent]"
        )
    return "\n".join(lines).strip()


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str | None]:
    """Format characters (Unicode category Cf: soft hyphen, zero-width space, joiners, bidi
    marks) are dropped; every dash and minus becomes "-", every quotation mark ' or "."""
    table: dict[int, str | None] = {}
    # every format character and dash lies in these planes (the rest are unassigned or private)
    for code in (*range(0x20000), *range(0xE0000, 0xE1000)):
        category = unicodedata.category(chr(code))
        if category == "Cf":
            table[code] = None
        elif category == "Pd" or code in (0x2212, 0x2043, 0xFE63, 0xFF0D):
            table[code] = "-"
    for char in "\u2018\u2019\u201a\u201b\u2032\u2035\u0060\u00b4\uff07":
        table[ord(char)] = "'"
    for char in "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\uff02":
        table[ord(char)] = '"'
    return table


def normalise(text: str) -> str:
    """The form quotes and phrases are matched in: NFKC (composed accents, compatibility forms),
    format characters removed, dashes and quotation marks folded, case-folded, whitespace
    collapsed. Only for matching: the original text is what is stored and shown."""
    stripped = text.translate(_fold_table())
    folded = unicodedata.normalize("NFKC", stripped).translate(_fold_table())
    return " ".join(folded.casefold().split())


def quote_occurs(quote: str, exchanges: list[Exchange], turn: int, role: str) -> bool:
    """Does the quote occur in that turn's text, up to Unicode form, case and whitespace?"""
    needle = normalise(quote).strip().strip('"').strip("'").strip(".").strip()
    if not needle:
        return False
    for ex in exchanges:
        if ex.turn == turn:
            haystack = ex.user if role == "user" else ex.assistant
            return needle in normalise(haystack)
    return False
