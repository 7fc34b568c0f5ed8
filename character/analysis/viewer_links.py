"""Links into the viewer: the one place that knows its pages' URL paths and query parameters.

Reports (Markdown, HTML, JSON) and nightly pages link each top mover, failed hard constraint and
alarm to the viewer when a base URL is configured (`--viewer-url`, or `[viewer] url` in
character.toml). The viewer's pages parse the same parameter names from `st.query_params`
(character.viewer.url_state imports them from here), so a link written by a report and the state
a page puts in the address bar cannot drift apart.

A link is `<base>/<page>?<name>=<value>&...`; every value is percent-encoded, so a probe id or a
dimension name can never close an HTML attribute, a Markdown link or start a new parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import polars as pl

if TYPE_CHECKING:
    from character.analysis.compare import Comparison

# Page URL paths: st.Page(url_path=...) in character.viewer.navigation uses these constants.
RUNS_PAGE = "runs"
TRANSCRIPTS_PAGE = "transcripts"
COMPARE_PAGE = "compare"
SEARCH_PAGE = "search"
LABELS_PAGE = "labels"

# Query parameter names.
RUN = "run"  # Transcripts, Labels: one run id
BASELINE = "baseline"  # Compare: the baseline run id
CANDIDATE = "candidate"  # Compare: the candidate run id
PROBE = "probe"  # a probe id
EPOCH = "epoch"  # 1-based epoch
DIMENSION = "dimension"  # "rubric/dimension"
SCORE = "score"  # repeatable: score texts of the chosen dimension ("1", "4", a label)
SUITE = "suite"  # repeatable
CATEGORY = "category"  # repeatable
TAG = "tag"  # repeatable
UNSCORED = "unscored"  # all | unscored | scored
QUERY = "q"  # words to find in the conversation
CHANGE = "change"  # Compare queue: worse | better | any
FIELD = "field"  # Search: text | probe | tag
QUEUE = "queue"  # Labels: unlabelled | random | judge
JUDGE_SAID = "judge_said"  # Labels: the judge's score text to queue on (with dimension)

ParamValue = str | int | Sequence[str] | None


def page_url(base: str, page: str, params: Mapping[str, ParamValue]) -> str:
    """`<base>/<page>?...` with params in the given order; None and empty values are left out.

    A sequence value repeats its name (`score=0&score=1`), as `st.query_params.get_all` reads it.
    """
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None or value == "":
            continue
        if isinstance(value, str | int):
            pairs.append((name, str(value)))
        else:
            pairs.extend((name, str(item)) for item in value if str(item) != "")
    query = urlencode(pairs, quote_via=quote, safe="")
    return f"{base.rstrip('/')}/{page}" + (f"?{query}" if query else "")


def transcript_url(
    base: str,
    run_id: str,
    probe_id: str | None = None,
    epoch: int | None = None,
    dimension: str | None = None,
    scores: Iterable[str] = (),
) -> str:
    """One run's Transcripts page: the list filtered on `dimension` (and its `scores`), with the
    transcript `probe_id` x `epoch` open (the first one that passes the filters when not given)."""
    return page_url(
        base,
        TRANSCRIPTS_PAGE,
        {RUN: run_id, DIMENSION: dimension, SCORE: list(scores), PROBE: probe_id, EPOCH: epoch},
    )


def compare_url(
    base: str,
    baseline: str,
    candidate: str,
    probe_id: str | None = None,
    epoch: int | None = None,
    dimension: str | None = None,
) -> str:
    """The Compare page for two runs, side by side on `probe_id` (at `epoch`; without one, the
    first epoch whose verdict on `dimension` changed, else epoch 1)."""
    return page_url(
        base,
        COMPARE_PAGE,
        {
            BASELINE: baseline,
            CANDIDATE: candidate,
            DIMENSION: dimension,
            PROBE: probe_id,
            EPOCH: epoch,
        },
    )


def mover_links(base: str, baseline: str, candidate: str, movers: pl.DataFrame) -> list[str]:
    """One Compare link per row of a comparison's movers table (probe_id, rubric, dimension)."""
    return [
        compare_url(
            base, baseline, candidate, row["probe_id"], None, f"{row['rubric']}/{row['dimension']}"
        )
        for row in movers.select("probe_id", "rubric", "dimension").iter_rows(named=True)
    ]


def hard_constraint_links(
    base: str, baseline: str, candidate: str, constraints: pl.DataFrame
) -> list[str | None]:
    """Per row of a hard-constraint table: a Compare link to the first failed (or unverified)
    epoch on the first failed dimension; None for a probe that passed."""
    links: list[str | None] = []
    for row in constraints.iter_rows(named=True):
        if row["passed"]:
            links.append(None)
            continue
        epochs = list(row["failed_epochs"] or []) or list(row["unverified_epochs"] or [])
        dimensions = list(row["failed_dimensions"] or [])
        links.append(
            compare_url(
                base,
                baseline,
                candidate,
                row["probe_id"],
                epochs[0] if epochs else None,
                dimensions[0] if dimensions else None,
            )
        )
    return links


def alarm_link(base: str, row: Mapping[str, object]) -> str | None:
    """A nightly history row's link: the night's run against its reference on the row's dimension.

    A judge-canary row (kind "canary") names the canary run as its reference and the judge as its
    run: it links to the canary run's transcripts on that dimension. None without a run to name.
    """
    dimension = f"{row.get('rubric')}/{row.get('dimension')}" if row.get("dimension") else None
    run_id, reference = row.get("run_id"), row.get("reference_run_id")
    if row.get("kind") == "canary":
        return transcript_url(base, str(reference), dimension=dimension) if reference else None
    if not run_id:
        return None
    if not reference or reference == run_id:
        return transcript_url(base, str(run_id), dimension=dimension)
    return compare_url(base, str(reference), str(run_id), dimension=dimension)


@dataclass(frozen=True)
class ReportLinks:
    """The links a comparison report adds, aligned with its tables' rows (None: no links)."""

    movers: list[str] | None = None
    hard_constraints: list[str | None] | None = None

    @classmethod
    def of(cls, comparison: Comparison, base: str | None) -> ReportLinks:
        if not base or not comparison.valid:
            return cls()
        baseline, candidate = comparison.baseline.run_id, comparison.candidate.run_id
        return cls(
            movers=mover_links(base, baseline, candidate, comparison.movers),
            hard_constraints=hard_constraint_links(
                base, baseline, candidate, comparison.hard_constraints
            ),
        )
