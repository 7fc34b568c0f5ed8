"""JUnit XML: one test case per gating dimension, so CI systems show the gate natively.

REGRESSION is a <failure>; INCONCLUSIVE passes with its warning in <system-out> (a <failure> with
`fail_on_warn`); an invalid comparison is one <error> case naming every problem. Hard-constraint
probes get their own suite, one case each. ElementTree escapes all text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import polars as pl

from character.analysis.compare import Comparison
from character.analysis.stats import DriftClass
from character.boundary.text import mark_hidden


def _suite(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, "testsuite", name=name)


def _count(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", "0")


def render_junit(comparison: Comparison) -> str:
    root = ET.Element("testsuites", name=f"character gate: {comparison.title}")
    gate = _suite(root, "character.gate")
    props = ET.SubElement(gate, "properties")
    for name, value in (("verdict", comparison.verdict), ("simulated", str(comparison.simulated).lower()),
                        ("baseline", comparison.baseline.run_id), ("candidate", comparison.candidate.run_id)):
        ET.SubElement(props, "property", name=name, value=value)
    if not comparison.valid:
        case = ET.SubElement(gate, "testcase", classname="character.gate", name="valid comparison")
        error = ET.SubElement(case, "error", message="invalid comparison", type="InvalidComparison")
        error.text = "\n".join(comparison.problems)
    for row in comparison.dimensions.filter(pl.col("gating")).iter_rows(named=True):
        case = ET.SubElement(gate, "testcase", classname=f"character.{row['rubric']}", name=row["dimension"])
        drift = row["class"]
        warn_fails = comparison.settings.fail_on_warn and drift == DriftClass.INCONCLUSIVE.value
        if drift == DriftClass.REGRESSION.value or warn_fails:
            failure = ET.SubElement(case, "failure", message=drift or "", type=drift or "")
            failure.text = row["sentence"]
        else:
            ET.SubElement(case, "system-out").text = row["sentence"]
    _count(gate)
    if comparison.hard_constraints.height:
        hard = _suite(root, "character.hard_constraints")
        for row in comparison.hard_constraints.iter_rows(named=True):
            case = ET.SubElement(hard, "testcase", classname="character.hard_constraint", name=row["probe_id"])
            if not row["passed"] and row["enforced"]:
                ET.SubElement(case, "failure", message="hard constraint failed", type="HardConstraint").text = row["sentence"]
            else:
                ET.SubElement(case, "system-out").text = row["sentence"]
        _count(hard)
    suites = root.findall("testsuite")
    for attr in ("tests", "failures", "errors"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in suites)))
    ET.indent(root)
    # control characters are not allowed in XML 1.0 at all, escaped or not: show them as markers
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + mark_hidden(ET.tostring(root, encoding="unicode")) + "\n"
