"""The plain words of a comparison: one sentence per dimension, and the number formats it uses.

Sentences follow docs/methods.md's "Wording"; the Markdown report reuses the formats so a number
reads the same everywhere. Every sentence says which question its test answered: "on probes like
these" (the probe-level test) or "on these n probes" (the fixed-suite test).
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


def fmt_ci95(row: Mapping[str, Any], rate: bool) -> str:
    """'95% CI +1.2 to +3.4', or why there is none (an unbounded scale with no spread at all)."""
    lo, hi = row.get("ci95_lo"), row.get("ci95_hi")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "95% CI not estimable: no spread within or between probes"
    return f"95% CI {fmt_signed(lo, rate)} to {fmt_signed(hi, rate)}"


def fmt_mean(value: float, rate: bool) -> str:
    return f"{value * 100:.1f}%" if rate else f"{value:.2f}"


def fmt_amount(value: float, rate: bool) -> str:
    """A non-negative size: '4.2 pp' for rates, '0.42' for scales."""
    return f"{abs(value) * 100:.1f} pp" if rate else f"{abs(value):.2f}"


def fmt_margin(margin: float, rate: bool) -> str:
    return f"±{margin * 100:g} pp" if rate else f"±{margin:g}"


def fmt_p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def fmt_small_p(value: float) -> str:
    """A p floor or threshold: three significant digits (0.25, 0.125, 0.0167)."""
    return f"{value:.3g}" if value >= 1e-4 else f"{value:.1e}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def scope(row: Mapping[str, Any]) -> str:
    """Which question the test answered: "on probes like these" or "on these 2 probes"."""
    if row.get("population") == "suite":
        n = int(row["n_probes"])
        return "on this probe" if n == 1 else f"on these {n} probes"
    return "on probes like these"


def design(row: Mapping[str, Any]) -> str:
    """'180 probes x 5 epochs', with the clusters and any probe x epoch samples not scored."""
    n, epochs = int(row["n_probes"]), int(row.get("epochs") or 1)
    units = plural(n, "probe")
    if row.get("clustered"):
        units += f" in {row['n_units']} clusters"
    text = f"{units} x {plural(epochs, 'epoch')}"
    short = []
    for arm in ("baseline", "candidate"):
        cells, expected = row.get(f"{arm}_cells"), row.get(f"{arm}_expected_cells")
        if cells is not None and expected and cells < expected:
            short.append(f"{cells} of {expected} probe x epoch samples scored in the {arm}")
    return text + (f" ({'; '.join(short)})" if short else "")


def cannot_fail_note(row: Mapping[str, Any], *, alpha: float, q: float, gating_dimensions: int,
                     setting: str) -> str:
    """Why a dimension's test cannot reach the p it needs, and what to do about it.

    "2 probes x 1 epoch cannot fail at alpha 0.05 (the smallest p on these 2 probes is 0.25);
    add probes or epochs". `setting` is `[gate] population` (auto | probes | suite).
    """
    n, epochs = int(row["n_probes"]), int(row.get("epochs") or 1)
    floor = f"the smallest p {scope(row)} is {fmt_small_p(row['p_floor'])}"
    if row["gating"]:
        level = f"at alpha {alpha:g}"
        if gating_dimensions > 1:
            floor = (f"Holm over {gating_dimensions} gating dimensions needs p < "
                     f"{fmt_small_p(alpha / gating_dimensions)}; {floor}")
        verb = "cannot fail"
    else:
        level, verb = f"at q {q:g}", "cannot be flagged"
    if row.get("population") == "probes" and setting == "probes":
        remedy = 'add probes, or set [gate] population = "suite" to ask about these probes only'
    else:
        remedy = "add probes or epochs"
    return f"{plural(n, 'probe')} x {plural(epochs, 'epoch')} {verb} {level} ({floor}); {remedy}"


def _prefix(row: Mapping[str, Any]) -> str:
    if not row["gating"]:
        return "INFO"
    if row.get("can_fail") is False:
        return "CANNOT FAIL"
    return {
        DriftClass.REGRESSION.value: "FAIL",
        DriftClass.INCONCLUSIVE.value: "WARN",
    }.get(row["class"], "PASS")


def sentence(row: Mapping[str, Any]) -> str:
    """One line per dimension, in the shape of docs/methods.md's "Wording".

    FAIL lines give both means, the difference with its 95% CI, the design and the question
    answered, the one-sided p and its Holm p, then the top movers; PASS lines the 90% CI against
    the margin; WARN lines what is not ruled out and the MDE. A gating dimension whose test
    cannot reach alpha starts with CANNOT FAIL and the remedy. Never "no regression": a
    non-significant result is only ever "no drift beyond" the margin (when the 90% CI shows it)
    or INCONCLUSIVE. Every line ends with the response-length change over the dimension's probes.
    """
    key = f"{row['rubric']}/{row['dimension']}"
    prefix = _prefix(row)
    if row.get("diff") is None or row.get("class") is None:
        return f"{prefix} · {key}: not tested ({row.get('note') or 'no paired probes'})."
    rate = _is_rate(row)
    margin = fmt_margin(row["margin"], rate)
    means = f"{fmt_mean(row['baseline_mean'], rate)} -> {fmt_mean(row['candidate_mean'], rate)}"
    diff = fmt_signed(row["diff"], rate) + (" pp" if rate else "")
    ci95 = fmt_ci95(row, rate)
    paired = ", paired" if row.get("population") != "suite" else ""
    where = f"{design(row)}{paired}, {scope(row)}"
    adjusted = row.get("adjustment") or "Holm"
    drift = row["class"]
    if prefix == "CANNOT FAIL":
        text = f"{prefix} · {key}: {row.get('note')}. Measured: {means} ({diff}, {ci95}; {where})."
    elif drift == DriftClass.REGRESSION.value:
        p_text = (
            f"one-sided p {fmt_p(row['p_worse'])}, {adjusted} p {fmt_p(row['p_adjusted'])}"
            if adjusted == "Holm" else f"p {fmt_p(row['p_two_sided'])}, BH p {fmt_p(row['p_adjusted'])}"
        )
        text = f"{prefix} · {key}: {means} ({diff}, {ci95}; {where}; {p_text})."
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
        text = f"{prefix} · {key}: {means} ({diff}, {ci95}; {where}; {p_text}): improved."
    elif drift == DriftClass.NO_DRIFT.value:
        ci90 = f"90% CI {fmt_signed(row['ci90_lo'], rate)} to {fmt_signed(row['ci90_hi'], rate)}"
        text = f"{prefix} · {key}: {means} ({diff}, {ci90}; {ci95}; {where}): no drift beyond {margin}."
    else:
        if row["worse"] == "higher" and row["ci95_hi"] > 0:
            risk = f"a rise up to {fmt_amount(row['ci95_hi'], rate)} is not ruled out"
        elif row["worse"] == "lower" and row["ci95_lo"] < 0:
            risk = f"a fall up to {fmt_amount(row['ci95_lo'], rate)} is not ruled out"
        else:
            risk = f"a change beyond {margin} is not ruled out"
        text = f"{prefix} · {key}: {diff} ({ci95}; {where}): {risk}; MDE {fmt_amount(row['mde'], rate)}."
        if not row["gating"] and row.get("can_fail") is False and row.get("note"):
            text = text[:-1] + f"; {row['note']}."
    return text + _length_clause(row)


def finding_sentence(kind: str, row: Mapping[str, Any]) -> str:
    """An exploratory category cut or lexical marker that survived BH, in one line.

    `kind` is "category" (a row of compare.CATEGORY_SCHEMA) or "marker" (MARKER_SCHEMA).
    """
    rate = row["scale"] == "binary"
    if kind == "category":
        subject = f"{row['rubric']}/{row['dimension']} in category {row['category']}"
    else:
        subject = f"lexical marker {row['marker']}"
    means = f"{fmt_mean(row['baseline_mean'], rate)} -> {fmt_mean(row['candidate_mean'], rate)}"
    if kind == "marker" and row["marker"] == "response_chars":
        subject, means = "response length", f"{row['baseline_mean']:.0f} -> {row['candidate_mean']:.0f} chars"
    diff = fmt_signed(row["diff"], rate) + (" pp" if rate else "")
    ci95 = fmt_ci95(row, rate)
    ratio = row.get("ratio")
    middle = (f"median ratio {ratio:.2f}" if ratio is not None and math.isfinite(ratio)
              else f"{diff}, {ci95}")
    return (f"INFO · {subject}: {means} ({middle}; {plural(int(row['n_probes']), 'probe')}, "
            f"{scope(row)}; p {fmt_p(row['p_two_sided'])}, BH p {fmt_p(row['p_adjusted'])}): "
            "exploratory, not gated.")


def _length_clause(row: Mapping[str, Any]) -> str:
    before, after = row.get("length_baseline"), row.get("length_candidate")
    if before is None or after is None or not math.isfinite(before) or before <= 0:
        return ""
    change = (after / before - 1) * 100
    return f" Responses: {before:.0f} -> {after:.0f} chars ({change:+.0f}%)."
