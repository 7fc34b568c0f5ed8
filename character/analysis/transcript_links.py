"""Pointers to one turn of one stored transcript, and how reports show them and model text.

A `TranscriptRef` (run, probe, epoch, turn) is what distinctive-phrase examples, summary findings
and judge-diff flips link to. Reports show it as text that also works in a terminal
(`character show RUN PROBE --epoch E`); when a `Linker` is given (e.g. one that builds the viewer's
transcript URL), Markdown and HTML reports link it.

Model and user text in a report is untrusted: `md_text` makes it render as itself in Markdown
(GitHub, the terminal), `html_text` does so in HTML; both mark hidden characters as the boundary
does (`character.boundary.text`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from character.boundary.text import mark_hidden, markdown_text


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


def md_text(text: Any, *, limit: int | None = None) -> str:
    """`text` as inline Markdown that renders as the text itself (the boundary's Markdown escape,
    `boundary.text.markdown_text`: hidden characters marked, nothing can form a link, image, tag,
    emphasis or table cell), on one line, cut to `limit` characters first."""
    raw = " ".join(("" if text is None else str(text)).split())
    if limit is not None and len(raw) > limit:
        raw = raw[: limit - 1].rstrip() + "…"
    return markdown_text(raw)


def html_text(text: Any) -> str:
    """`text` for an HTML page: hidden characters marked, then escaped (as the HTML report does)."""
    return html.escape(mark_hidden("" if text is None else str(text)), quote=True)


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
    return md_text(ref.label)


def html_ref(ref: TranscriptRef, link: Linker | None = None) -> str:
    """A transcript turn in HTML: a link when `link` gives a URL, else the label; the terminal
    command that prints it is its tooltip."""
    url = link(ref) if link else None
    title = html_text(ref.show_command)
    label = html_text(ref.label)
    if url:
        return f'<a href="{html.escape(url, quote=True)}" title="{title}">{label}</a>'
    return f'<code title="{title}">{label}</code>'
