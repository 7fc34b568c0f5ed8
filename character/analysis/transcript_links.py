"""Pointers to one turn of one stored transcript, and how reports show them and model text.

A `TranscriptRef` (run, probe, epoch, turn) is what distinctive-phrase examples, summary findings
and judge-diff flips link to. Reports show it as text that also works in a terminal
(`character show RUN PROBE --epoch E`); when a `Linker` is given (e.g. one that builds the viewer's
transcript URL), Markdown and HTML reports link it.

Model and user text in a report is untrusted: `md_text` makes it render as itself in Markdown
(GitHub, the terminal), `html.escape` does so in HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TranscriptRef:
    run_id: str
    probe_id: str
    epoch: int
    turn: int | None = (
        None  # exchange index (1-based, as judges number turns); None: whole transcript
    )

    @property
    def label(self) -> str:
        turn = f" turn {self.turn}" if self.turn is not None else ""
        return f"{self.probe_id} epoch {self.epoch}{turn}"

    @property
    def show_command(self) -> str:
        """The terminal command that prints this transcript."""
        return f"character show {self.run_id} {self.probe_id} --epoch {self.epoch}"

    def as_dict(self, link: Linker | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "probe_id": self.probe_id,
            "epoch": self.epoch,
            "turn": self.turn,
        }
        url = link(self) if link else None
        if url:
            out["url"] = url
        return out


Linker = Callable[[TranscriptRef], "str | None"]
"""Builds a URL for a transcript turn (e.g. the viewer's Transcripts page), or None."""

# Characters that could make untrusted text more than text in (GitHub-flavoured) Markdown: links
# and images ([ ]), raw HTML (< >), table cells (|), emphasis and code (* _ ` ~), escapes (\\).
_MD_ACTIVE = frozenset("\\[]|<>*_`~")
_AUTOLINK = re.compile(r"(://|www(?=\.)|@(?=[-\w]+\.\w))", re.IGNORECASE)
WORD_JOINER = "\u2060"


def md_text(text: Any, *, limit: int | None = None) -> str:
    """`text` as inline Markdown that renders as the text itself and stays readable raw.

    Every character that could start a link, an image (which GitHub would fetch when it renders
    the report), raw HTML, a table cell break, emphasis or code is backslash-escaped (CommonMark
    lets any ASCII punctuation be escaped); a word joiner stops GitHub autolinking bare URLs and
    addresses; newlines become spaces, so the text cannot start a heading or a list.
    """
    raw = "" if text is None else str(text)
    raw = " ".join(raw.split())
    if limit is not None and len(raw) > limit:
        raw = raw[: limit - 1].rstrip() + "…"
    raw = _AUTOLINK.sub(lambda m: m.group(0)[:1] + WORD_JOINER + m.group(0)[1:], raw)
    return "".join("\\" + char if char in _MD_ACTIVE else char for char in raw)


def viewer_linker(base: str | None) -> Linker | None:
    """Links to the viewer's Transcripts page with the turn's transcript open, when the viewer's
    address is configured (`--viewer-url`, `[viewer] url`); None otherwise."""
    if not base:
        return None
    from character.analysis.viewer_links import transcript_url

    return lambda ref: transcript_url(base, ref.run_id, ref.probe_id, ref.epoch)


def md_ref(ref: TranscriptRef, link: Linker | None = None) -> str:
    """A transcript turn in Markdown: a link when `link` gives a URL, else the label as code."""
    url = link(ref) if link else None
    if url:
        return f"[{md_text(ref.label)}](<{url.replace('>', '%3E').replace(' ', '%20')}>)"
    return f"`{ref.label.replace('`', '')}`"


def html_ref(ref: TranscriptRef, link: Linker | None = None) -> str:
    """A transcript turn in HTML: a link when `link` gives a URL, else the label; the terminal
    command that prints it is its tooltip."""
    url = link(ref) if link else None
    title = html.escape(ref.show_command, quote=True)
    label = html.escape(ref.label)
    if url:
        return f'<a href="{html.escape(url, quote=True)}" title="{title}">{label}</a>'
    return f'<code title="{title}">{label}</code>'
