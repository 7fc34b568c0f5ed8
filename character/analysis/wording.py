"""The plain words of a comparison: one sentence per dimension, and the number formats it uses.

Sentences follow METHODS.md's "Wording to aim for"; the Markdown report reuses the formats so a
number reads the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from character.analysis.stats import DriftClass


def _is_rate(row: Mapping[str, Any]) -> bool:
    return row["scale"] == "binary"


def fmt_signed(value: float, rate: bool) -> str:
    scaled = value * 100 if rate else value
    digits = 1 if rate else 2
    text = f"{scaled:+.{digits}f}"
    return text.replace("-0.0", "+0.0") if float(text) == 0 else text


def fmt_mean(value: float, rate: bool) -> str:
    return f"{value * 100:.1f}%" if rate else f"{value:.2f}"


def fmt_amount(value: float, rate: bool) -> str:
    """A non-negative size: '4.2 pp' for rates, '0.42' for scales."""
    return f"{abs(value) * 100:.1f} pp" if rate else f"{abs(value):.2f}"


def fmt_margin(margin: float, rate: bool) -> str:
    return f"±{margin * 100:g} pp" if rate else f"±{margin:g}"


def fmt_p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def _prefix(row: Mapping[str, Any]) -> str:
    if not row["gating"]:
        return "INFO"
    return {
        DriftClass.REGRESSION.value: "FAIL",
        DriftClass.INCONCLUSIVE.value: "WARN",
    }.get(row["class"], "PASS")


def sentence(row: Mapping[str, Any]) -> str:
    """One line per dimension, in the shape of METHODS.md's "Wording to aim for".

    FAIL lines give both means, the difference with its 95% CI, the design, the one-sided p and
    its Holm p, then the top movers; PASS lines the 90% CI against the margin; WARN lines what is
    not ruled out and the MDE. Never "no regression": a non-significant result is only ever
    "no drift beyond" the margin (when the 90% CI shows it) or INCONCLUSIVE. Every line ends
    with the response-length change over the dimension's probes.
    """
    key = f"{row['rubric']}/{row['dimension']}"
    prefix = _prefix(row)
    if row.get("diff") is None or row.get("class") is None:
        return f"{prefix} · {key}: not tested ({row.get('note') or 'no paired probes'})."
    rate = _is_rate(row)
    margin = fmt_margin(row["margin"], rate)
    means = f"{fmt_mean(row['baseline_mean'], rate)} -> {fmt_mean(row['candidate_mean'], rate)}"
    diff = fmt_signed(row["diff"], rate) + (" pp" if rate else "")
    ci95 = f"95% CI {fmt_signed(row['ci95_lo'], rate)} to {fmt_signed(row['ci95_hi'], rate)}"
    units = (
        f"{row['n_probes']} probes in {row['n_units']} clusters" if row["clustered"]
        else f"{row['n_probes']} probes"
    )
    design = f"{units} x {row['epochs']} epochs, paired"
    adjusted = row.get("adjustment") or "Holm"
    drift = row["class"]
    if drift == DriftClass.REGRESSION.value:
        p_text = (
            f"one-sided p {fmt_p(row['p_worse'])}, {adjusted} p {fmt_p(row['p_adjusted'])}"
            if adjusted == "Holm" else f"p {fmt_p(row['p_two_sided'])}, BH p {fmt_p(row['p_adjusted'])}"
        )
        text = f"{prefix} · {key}: {means} ({diff}, {ci95}; {design}; {p_text})."
        if not row["gating"]:
            text = text[:-1] + ": worse (exploratory, not gated)."
        if row["material"]:
            text += f" Material: the 95% CI lies beyond the {margin} margin."
        if row.get("top_movers"):
            text += f" Top movers: {', '.join(row['top_movers'])}."
    elif drift == DriftClass.IMPROVEMENT.value:
        p_text = (
            f"one-sided p {fmt_p(row['p_better'])}, Holm p {fmt_p(row['p_adjusted_better'])}"
            if adjusted == "Holm" else f"p {fmt_p(row['p_two_sided'])}, BH p {fmt_p(row['p_adjusted'])}"
        )
        text = f"{prefix} · {key}: {means} ({diff}, {ci95}; {design}; {p_text}): improved."
    elif drift == DriftClass.NO_DRIFT.value:
        ci90 = f"90% CI {fmt_signed(row['ci90_lo'], rate)} to {fmt_signed(row['ci90_hi'], rate)}"
        text = f"{prefix} · {key}: {means} ({diff}, {ci90}; {ci95}): no drift beyond {margin}."
    else:
        if row["worse"] == "higher" and row["ci95_hi"] > 0:
            risk = f"a rise up to {fmt_amount(row['ci95_hi'], rate)} is not ruled out"
        elif row["worse"] == "lower" and row["ci95_lo"] < 0:
            risk = f"a fall up to {fmt_amount(row['ci95_lo'], rate)} is not ruled out"
        else:
            risk = f"a change beyond {margin} is not ruled out"
        text = f"{prefix} · {key}: {diff} ({ci95}): {risk}; MDE {fmt_amount(row['mde'], rate)}."
    return text + _length_clause(row)


def _length_clause(row: Mapping[str, Any]) -> str:
    before, after = row.get("length_baseline"), row.get("length_candidate")
    if before is None or after is None or not math.isfinite(before) or before <= 0:
        return ""
    change = (after / before - 1) * 100
    return f" Responses: {before:.0f} -> {after:.0f} chars ({change:+.0f}%)."
