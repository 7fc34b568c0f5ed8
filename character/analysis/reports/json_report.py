"""JSON report with a versioned schema, for dashboards and other tools.

Schema version 2 (bump on any breaking change; adding a key is not breaking):
{schema_version, kind: "character.comparison", created, verdict, valid, exit_code, simulated,
 problems[], reasons[], findings[], notes[], settings{}, baseline{}, candidate{},
 unscored{baseline, candidate}, coverage{baseline, candidate}, dimensions[], hard_constraints[],
 categories[], movers[], markers[], and, when computed, changes{distinctive_phrases, summary}
 (character.analysis.change_report)}; table rows use the column names of
`compare.DIMENSION_SCHEMA` etc. Non-finite numbers are written as null.

Version 2 (from 1): `verdict` may also be "NOT GATED" or "CANNOT FAIL" (exit code 2); dimension,
category and marker rows carry `population` ("probes" | "suite"); dimension rows carry p_floor,
p_needed, can_fail, se_within and the probe x epoch sample counts; `coverage` per arm holds
epochs, expected, present and missing[{probe_id, epoch}]; `findings` lists the exploratory
findings that survived BH.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import polars as pl

from character.analysis.compare import Comparison
from character.analysis.gate import exit_code
from character.analysis.json_values import json_safe
from character.analysis.viewer_links import ReportLinks
from character.store.manifest import Manifest

if TYPE_CHECKING:
    from character.analysis.change_report import ChangeSections

SCHEMA_VERSION = 2
KIND = "character.comparison"


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [json_safe(row) for row in frame.to_dicts()]


def _arm(manifest: Manifest) -> dict[str, Any]:
    return {
        "run_id": manifest.run_id,
        "status": manifest.status,
        "simulated": manifest.simulated,
        "target": manifest.target.model_dump(mode="json"),
        "judge": manifest.judge.model_dump(mode="json"),
        "suites": [s.model_dump(mode="json") for s in manifest.suites],
        "rubrics": [r.model_dump(mode="json") for r in manifest.rubrics],
        "epochs": manifest.epochs,
        "limit": manifest.limit,
        "counts": manifest.counts.model_dump(mode="json"),
        "created": manifest.created,
    }


def comparison_dict(
    comparison: Comparison,
    *,
    viewer_url: str | None = None,
    changes: ChangeSections | None = None,
) -> dict[str, Any]:
    """The report as a dict; with `viewer_url`, movers and failed hard constraints carry a
    `viewer_url` key (a link into the viewer; null for a passed constraint); with `changes`, a
    "changes" key holds the distinctive phrases and checked summary."""
    settings = comparison.settings
    links = ReportLinks.of(comparison, viewer_url)
    movers, hard = _rows(comparison.movers), _rows(comparison.hard_constraints)
    for rows, urls in ((movers, links.movers), (hard, links.hard_constraints)):
        for row, url in zip(rows, urls or [], strict=False):
            row["viewer_url"] = url
    return json_safe({
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "created": comparison.created,
        "verdict": comparison.verdict,
        "valid": comparison.valid,
        "exit_code": exit_code(comparison.verdict, invalid=not comparison.valid,
                               fail_on_warn=settings.fail_on_warn),
        "simulated": comparison.simulated,
        "problems": comparison.problems,
        "reasons": comparison.verdict_reasons,
        "findings": comparison.findings,
        "notes": comparison.notes,
        "settings": settings.model_dump(mode="json"),
        "baseline": _arm(comparison.baseline),
        "candidate": _arm(comparison.candidate),
        "unscored": comparison.unscored,
        "coverage": comparison.coverage,
        "dimensions": _rows(comparison.dimensions),
        "hard_constraints": hard,
        "categories": _rows(comparison.categories),
        "movers": movers,
        "markers": _rows(comparison.markers),
        "survival": [s.as_dict() for s in comparison.survival],
        **({"changes": changes.as_dict()} if changes is not None else {}),
    })


def render_json(
    comparison: Comparison,
    *,
    viewer_url: str | None = None,
    changes: ChangeSections | None = None,
) -> str:
    data = comparison_dict(comparison, viewer_url=viewer_url, changes=changes)
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
