"""The viewer's pages, in menu order. app.py hands them to st.navigation and does nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from character.analysis import viewer_links as links

PAGES_DIR = Path(__file__).resolve().parent / "pages"


@dataclass(frozen=True)
class PageSpec:
    file: str
    title: str
    url_path: str  # the page's address (viewer_links: reports link to these)


# No page icons: Streamlit turns the current page's icon into the favicon, fetched from a font
# CDN, and the viewer must work offline without reaching any remote host.
PAGE_SPECS = (
    PageSpec("runs.py", "Runs", links.RUNS_PAGE),
    PageSpec("transcripts.py", "Transcripts", links.TRANSCRIPTS_PAGE),
    PageSpec("compare.py", "Compare", links.COMPARE_PAGE),
    PageSpec("search.py", "Search", links.SEARCH_PAGE),
    PageSpec("trends.py", "Trends", "trends"),
    PageSpec("labels.py", "Labels", links.LABELS_PAGE),
)


def pages() -> list[st.Page]:
    # Absolute paths: the pages resolve the same whichever script launched the app.
    return [page(spec.url_path) for spec in PAGE_SPECS]


def page(url_path: str) -> st.Page:
    """The page served at `url_path` (for st.page_link / st.switch_page from another page)."""
    for index, spec in enumerate(PAGE_SPECS):
        if spec.url_path == url_path:
            return st.Page(
                PAGES_DIR / spec.file, title=spec.title, url_path=spec.url_path, default=index == 0
            )
    raise KeyError(url_path)
