"""What changed, for compare's reports: distinctive phrases and the checked model summary.

`change_sections(...)` computes the sections for a comparison of two stored runs; a
`ChangeSections` renders itself as Markdown lines, an HTML fragment and a JSON-ready dict, which
the report writers add to report.md, report.html and report.json (the "changes" key). Both
sections are exploratory: they never affect the verdict or the exit code.

Every piece of model or user text (phrases, reply snippets, the summariser's statements and
quotes) is escaped for the format it is written into.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from character.analysis.json_values import json_safe
from character.analysis.phrases import (
    ALL_SCOPE,
    FELL,
    ROSE,
    PhraseReport,
    PhraseSettings,
    distinctive_phrases,
    iter_scopes,
    moved_dimensions,
)
from character.analysis.transcript_links import (
    Linker,
    TranscriptRef,
    html_ref,
    html_text,
    md_ref,
    md_text,
)

if TYPE_CHECKING:
    from character.analysis.change_summary import ChangeSummary, Finding
    from character.analysis.compare import Comparison

PHRASES_NOTE = (
    "Words and phrases (1-3 words) whose rate in the assistant's replies rose or fell most from "
    "baseline to candidate: weighted log-odds ratio with an informative Dirichlet prior (Monroe, "
    "Colaresi & Quinn 2008). Exploratory, never gating: z treats every word as an independent "
    "draw, which replies are not, so it overstates certainty; q is Benjamini-Hochberg over the "
    "scope's phrases. Read the example turns before drawing conclusions."
)
SUMMARY_NOTE = (
    "Each finding was checked before it is shown: its count is recomputed from the stored "
    "verdicts and transcripts (not the model's count), it must hold more often than its "
    "opposite, and its example quotes appear verbatim in the linked turns."
)
HEADLINE_PHRASES = 3
# A phrase is model text: one "word" can be thousands of characters (a base64 blob, a run-on
# token), which would make one headline or table row a page long. Reports show the first
# PHRASE_CHARS characters; report.json keeps the whole phrase.
PHRASE_CHARS = 80
MARKDOWN_ROWS = 5  # per direction and scope in report.md (sized for a PR comment)
# Single function words stay in the tables but do not lead a headline: "for" says less than
# "sorry again for the earlier error".
# fmt: off
FUNCTION_WORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "i",
    "in", "is", "it", "it's", "of", "on", "or", "so", "that", "the", "this", "to", "was", "we",
    "with", "you",
))
# fmt: on


@dataclass(frozen=True)
class ChangeSections:
    """The "what changed" sections of a comparison report (either may be absent)."""

    phrases: PhraseReport | None = None
    summary: ChangeSummary | None = None
    link: Linker | None = None

    def markdown(self) -> list[str]:
        return _summary_markdown(self.summary, self.link) + _phrases_markdown(
            self.phrases, self.link
        )

    def html(self) -> str:
        return _summary_html(self.summary, self.link) + _phrases_html(self.phrases, self.link)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.phrases is not None:
            out["distinctive_phrases"] = _phrases_dict(self.phrases, self.link)
        if self.summary is not None:
            out["summary"] = _summary_dict(self.summary, self.link)
        return json_safe(out)


def change_sections(
    baseline_dir: Path,
    candidate_dir: Path,
    comparison: Comparison,
    *,
    summariser: str | None = None,
    summary_sample: int = 40,
    phrase_settings: PhraseSettings | None = None,
    link: Linker | None = None,
    ask: Any = None,
) -> ChangeSections:
    """Phrases for the whole pair and every moved dimension; with `summariser` (a model id), the
    checked summary too (one model call). Nothing for an invalid comparison."""
    if not comparison.valid:
        return ChangeSections(link=link)
    moved = moved_dimensions(comparison.dimensions)
    phrases = distinctive_phrases(baseline_dir, candidate_dir, moved, phrase_settings)
    summary = None
    if summariser:
        # imported here: the summary path loads inspect-ai, the phrases path does not
        from character.analysis.change_summary import summarise_change

        summary = summarise_change(
            baseline_dir,
            candidate_dir,
            model=summariser,
            ask=ask,
            sample=summary_sample,
            focus=moved,
            seed=comparison.settings.seed,
        )
    return ChangeSections(phrases=phrases, summary=summary, link=link)


# --------------------------------------------------------------------------------------------
# Pieces shared by the formats
# --------------------------------------------------------------------------------------------


def _examples_by_phrase(examples: pl.DataFrame) -> dict[str, list[tuple[TranscriptRef, str]]]:
    out: dict[str, list[tuple[TranscriptRef, str]]] = {}
    for row in examples.iter_rows(named=True):
        ref = TranscriptRef(row["run_id"], row["probe_id"], row["epoch"], row["turn"])
        out.setdefault(row["phrase"], []).append((ref, row["snippet"]))
    return out


def sample_text(row: dict[str, Any]) -> str | None:
    """ "phrases from 2,000 of 10,000 transcripts per version" when a scope was sampled
    (`PhraseSettings.max_transcripts`), None when it read every transcript."""
    sampled = (row.get("sampled_baseline"), row.get("sampled_candidate"))
    held = (row.get("available_baseline"), row.get("available_candidate"))
    if None in sampled or None in held or sampled == held:
        return None
    if sampled[0] == sampled[1] and held[0] == held[1]:
        return f"phrases from {sampled[0]:,} of {held[0]:,} transcripts per version"
    return (
        f"phrases from {sampled[0]:,} of {held[0]:,} baseline and {sampled[1]:,} of "
        f"{held[1]:,} candidate transcripts"
    )


def _scope_title(report: PhraseReport, scope: str) -> str:
    row = report.scopes.filter(pl.col("scope") == scope).row(0, named=True)
    what = "all replies" if scope == ALL_SCOPE else scope
    sample = sample_text(row)
    return (
        f"{what}: {row['transcripts_baseline']} -> {row['transcripts_candidate']} transcripts, "
        f"{row['words_baseline']:,} -> {row['words_candidate']:,} words, "
        f"{row['phrases_tested']:,} phrases tested"
        + (f" ({sample}, chosen by a hash of probe and epoch)" if sample else "")
    )


def shown_phrase(text: str | None) -> str:
    """A phrase cut to PHRASE_CHARS characters for a report or terminal line."""
    text = text or ""
    return text if len(text) <= PHRASE_CHARS else text[: PHRASE_CHARS - 1].rstrip() + "…"


def _phrase_label(row: dict[str, Any]) -> str:
    """The shared wording (span), naming the n-gram that was counted when they differ."""
    if row["span"] and row["span"] != row["phrase"]:
        return f'{shown_phrase(row["span"])} (counted: "{shown_phrase(row["phrase"])}")'
    return shown_phrase(row["phrase"])


def _rate(value: float) -> str:
    return f"{value:.2f}"


def headlines(report: PhraseReport | None) -> list[str]:
    """One plain line per moved dimension: the phrases the candidate uses more and less
    (untrusted text: for a terminal or after escaping)."""
    if report is None:
        return []
    lines = []
    for scope, listed, _ in iter_scopes(report):
        if scope == ALL_SCOPE or listed.height == 0:
            continue
        parts = []
        for direction, word in ((ROSE, "more"), ("less", "less")):
            spans = listed.filter(pl.col("direction") == direction)["span"].to_list()
            top = [s for s in spans if s not in FUNCTION_WORDS][:HEADLINE_PHRASES]
            if top:
                parts.append(f"{word} " + ", ".join(f'"{shown_phrase(p)}"' for p in top))
        lines.append(f"{scope}: the candidate says " + "; ".join(parts))
    return lines


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _phrases_markdown(report: PhraseReport | None, link: Linker | None) -> list[str]:
    if report is None:
        return []
    lines = ["### What changed in the wording (exploratory, not gated)", ""]
    moved = report.scopes.height - 1
    lines += [f"- {md_text(line)}" for line in headlines(report)] or [
        f"- No moved dimension has a phrase that rose or fell by |z| >= {report.settings.min_z:g}."
        if moved
        else "- No dimension was classed REGRESSION or IMPROVEMENT; the whole pair's phrases are below."
    ]
    lines += [
        "",
        "<details><summary>Distinctive phrases, per moved dimension and overall</summary>",
        "",
        md_text(PHRASES_NOTE),
        "",
    ]
    for scope, listed, examples in iter_scopes(report):
        lines += [f"**{md_text(_scope_title(report, scope))}**", ""]
        if listed.height == 0:
            lines += [f"No phrase rose or fell by |z| >= {report.settings.min_z:g}.", ""]
            continue
        by_phrase = _examples_by_phrase(examples)
        lines += [
            "| candidate says | phrase | per 1k words | transcripts | z | q | example |",
            "|---|---|---|---|---|---|---|",
        ]
        # a PR comment has room for the strongest few; the HTML and JSON reports list them all
        shown_rows = pl.concat(
            [listed.filter(pl.col("direction") == d).head(MARKDOWN_ROWS) for d in (ROSE, FELL)]
        )
        for row in shown_rows.iter_rows(named=True):
            example = by_phrase.get(row["phrase"], [])
            shown = (
                f"{md_ref(example[0][0], link)}: {md_text(example[0][1], limit=140)}"
                if example
                else ""
            )
            lines.append(
                f"| {row['direction']} | {md_text(_phrase_label(row))} | "
                f"{_rate(row['rate_baseline'])} -> {_rate(row['rate_candidate'])} | "
                f"{row['transcripts_baseline']} -> {row['transcripts_candidate']} | {row['z']:+.2f} | "
                f"{row['q']:.3f} | {shown} |"
            )
        if shown_rows.height < listed.height:
            lines.append(
                f"\n{listed.height - shown_rows.height} more in report.html / report.json."
            )
        lines.append("")
    lines += ["</details>", ""]
    return lines


def criterion_text(criterion: dict[str, Any]) -> str:
    """What was counted, in words: the statement is the model's, the criterion is what the count
    measures (a statement that describes something else shows here)."""
    more = criterion.get("direction") == "more"
    if criterion.get("kind") == "phrase":
        who = "candidate" if more else "baseline"
        return f'"{criterion.get("phrase")}" in the {who}\'s replies only'
    if criterion.get("label") is not None:
        went = "given" if more else "dropped"
        return f"{criterion.get('dimension')} label {criterion['label']} {went}"
    return f"{criterion.get('dimension')} {'rose' if more else 'fell'}"


def _finding_counts(finding: Finding) -> str:
    return (
        f"{finding.count} of {finding.total} changed transcripts: "
        f"{criterion_text(finding.criterion)}; the other way: {finding.opposite}"
    )


def _dropped_text(summary: ChangeSummary) -> str:
    if not summary.dropped_total:
        return "No finding was dropped."
    reasons = "; ".join(f"{n} {reason}" for reason, n in sorted(summary.dropped.items()))
    return f"{summary.dropped_total} finding(s) dropped as unverifiable ({reasons})."


def _summary_head(summary: ChangeSummary) -> str:
    return (
        f"Summary by {summary.model}: it read {summary.pairs_read} of "
        f"{summary.changed_transcripts} transcript pairs (same probe and epoch) whose verdicts "
        f"changed ({summary.input_tokens:,} input and {summary.output_tokens:,} output tokens)."
    )


def _summary_markdown(summary: ChangeSummary | None, link: Linker | None) -> list[str]:
    if summary is None:
        return []
    lines = [
        "### What changed, summarised by a model (checked against the data; not gated)",
        "",
        md_text(_summary_head(summary)) + " " + md_text(SUMMARY_NOTE),
        "",
    ]
    if summary.problem:
        return lines + [f"- {md_text(summary.problem)}", ""]
    for finding in summary.findings:
        examples = "; ".join(
            f'{md_ref(e.ref, link)} ({e.version}): "{md_text(e.quote, limit=160)}"'
            for e in finding.examples
        )
        lines.append(
            f"- {md_text(finding.statement)} ({md_text(_finding_counts(finding))}), e.g. {examples}"
        )
    if not summary.findings:
        lines.append("- No finding survived the checks.")
    dropped = _dropped_text(summary)
    if summary.examples_dropped:
        dropped += (
            f" {summary.examples_dropped} example quote(s) that did not check out were left out."
        )
    return [*lines, "", md_text(dropped), ""]


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def _phrases_html(report: PhraseReport | None, link: Linker | None) -> str:
    if report is None:
        return ""
    out = [
        "<h2>What changed in the wording (exploratory, not gated)</h2>",
        f"<p>{html_text(PHRASES_NOTE)}</p>",
    ]
    heads = headlines(report)
    if heads:
        out.append("<ul>" + "".join(f"<li>{html_text(h)}</li>" for h in heads) + "</ul>")
    for scope, listed, examples in iter_scopes(report):
        out.append(f"<h3>{html_text(_scope_title(report, scope))}</h3>")
        if listed.height == 0:
            out.append(f"<p>No phrase rose or fell by |z| &gt;= {report.settings.min_z:g}.</p>")
            continue
        by_phrase = _examples_by_phrase(examples)
        rows = []
        for row in listed.iter_rows(named=True):
            shown = "<br>".join(
                f"{html_ref(ref, link)}: {html_text(text)}"
                for ref, text in by_phrase.get(row["phrase"], [])
            )
            variants = ", ".join(shown_phrase(v) for v in row["variants"])
            rows.append(
                f"<tr><td>{html_text(row['direction'])}</td><td><b>{html_text(shown_phrase(row['span'] or row['phrase']))}</b>"
                + f"<br><small>counted: {html_text(shown_phrase(row['phrase']))}"
                + (f"; same turns: {html_text(variants)}" if variants else "")
                + "</small>"
                + f"</td><td>{row['count_baseline']} -> {row['count_candidate']}</td>"
                f"<td>{_rate(row['rate_baseline'])} -> {_rate(row['rate_candidate'])}</td>"
                f"<td>{row['transcripts_baseline']} -> {row['transcripts_candidate']}</td>"
                f"<td>{row['z']:+.2f}</td><td>{row['q']:.3f}</td><td>{shown}</td></tr>"
            )
        head = "".join(
            f"<th>{h}</th>"
            for h in (
                "candidate says",
                "phrase",
                "count",
                "per 1k words",
                "transcripts",
                "z",
                "q",
                "examples",
            )
        )
        out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return "\n".join(out)


def _summary_html(summary: ChangeSummary | None, link: Linker | None) -> str:
    if summary is None:
        return ""
    out = [
        "<h2>What changed, summarised by a model (checked against the data; not gated)</h2>",
        f"<p>{html_text(_summary_head(summary))} {html_text(SUMMARY_NOTE)}</p>",
    ]
    if summary.problem:
        return "\n".join([*out, f"<p>{html_text(summary.problem)}</p>"])
    items = []
    for finding in summary.findings:
        examples = "; ".join(
            f"{html_ref(e.ref, link)} ({html_text(e.version)}): &ldquo;{html_text(e.quote)}&rdquo;"
            for e in finding.examples
        )
        items.append(
            f"<li>{html_text(finding.statement)} ({html_text(_finding_counts(finding))}), e.g. {examples}</li>"
        )
    out.append("<ul>" + ("".join(items) or "<li>No finding survived the checks.</li>") + "</ul>")
    out.append(f"<p>{html_text(_dropped_text(summary))}</p>")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def _phrases_dict(report: PhraseReport, link: Linker | None) -> dict[str, Any]:
    scopes = []
    for scope, listed, examples in iter_scopes(report):
        by_phrase = _examples_by_phrase(examples)
        row = report.scopes.filter(pl.col("scope") == scope).row(0, named=True)
        phrases = [
            {
                **phrase,
                "examples": [
                    {**ref.as_dict(link), "snippet": text}
                    for ref, text in by_phrase.get(phrase["phrase"], [])
                ],
            }
            for phrase in listed.drop("scope").to_dicts()
        ]
        scopes.append({**row, "phrases": phrases})
    return {
        "method": "weighted log-odds ratio, informative Dirichlet prior (Monroe et al. 2008)",
        "note": PHRASES_NOTE,
        "settings": asdict(report.settings),
        "scopes": scopes,
    }


def _summary_dict(summary: ChangeSummary, link: Linker | None) -> dict[str, Any]:
    return {
        "model": summary.model,
        "changed_transcripts": summary.changed_transcripts,
        "pairs_read": summary.pairs_read,
        "problem": summary.problem,
        "findings": [
            {
                "statement": f.statement,
                "criterion": f.criterion,
                "count": f.count,
                "opposite": f.opposite,
                "total": f.total,
                "claimed_count": f.claimed,
                "count_in_pairs_read": f.in_sample,
                "examples": [
                    {**e.ref.as_dict(link), "version": e.version, "quote": e.quote}
                    for e in f.examples
                ],
            }
            for f in summary.findings
        ],
        "dropped": summary.dropped,
        "examples_dropped": summary.examples_dropped,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "note": SUMMARY_NOTE,
    }
