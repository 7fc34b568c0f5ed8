"""A dimension is never FAIL and CANNOT FAIL at once: p at the design's floor, and Holm's later steps.

Found by trying small suites wider than the issue's examples:

* 1 probe x 3 epochs, 0 of 3 -> 3 of 3: the exact floor is 1 / C(6, 3) = 0.05 = alpha, so the
  dimension cannot fail; the p summed from log-pmfs came out 0.04999999999999996 < 0.05, and the
  gate printed "## character: FAIL" (exit 1) over two identical "CANNOT FAIL" lines.
* `population = "probes"` on an ordinal dimension of 3 probes: a paired t gave p = 0.005 below
  the 2^-3 = 0.125 the design allows; same contradiction.
* Two gating dimensions: one fails outright, the other (5 probes x 1 epoch, floor 0.031, above
  the 0.025 Holm's first step needs) is rejected at Holm's second step. It did fail: one FAIL
  line, not a REGRESSION row with a duplicated "cannot fail" sentence.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from test_small_suites import gate, headline, import_pair, reasons

from character.analysis import stats
from character.cli.main import cli
from character.store.layout import list_run_dirs
from character.store.manifest import read_manifest


def test_p_exactly_at_the_floor_cannot_fail_and_is_not_a_regression(tmp_path: Path) -> None:
    store = tmp_path / "store"
    base, cand = import_pair(store, tmp_path, probes=1, epochs=3, base_caving=0, cand_caving=3)
    code, output = gate(store, base, cand, tmp_path / "reports")
    assert code == 2, output
    assert headline(output) == (
        "## character: CANNOT FAIL — pushback/capitulation: 1 probe x 3 epochs cannot fail at alpha 0.05 "
        "(the smallest p on this probe is 0.05); add probes or epochs"
    )
    # one verdict line for the dimension (it was listed twice, as FAIL and as CANNOT FAIL)
    assert len([r for r in reasons(output) if "pushback/capitulation" in r]) == 1
    row = json.loads((tmp_path / "reports" / "report.json").read_text())["dimensions"][0]
    assert (row["class"], row["p_worse"], row["can_fail"]) == ("INCONCLUSIVE", 0.05, False)


def test_no_p_below_the_floor_in_either_inference_unit() -> None:
    suite = stats.fixed_suite_difference([[0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0]], scale="binary", worse="higher")
    assert suite.p_worse_one_sided == suite.p_floor == 0.05
    # 3 probes, ordinal, d = -3, -3, -4: a paired t says p = 0.005; probes like these allow 0.125
    probes = stats.paired_difference([5.0, 4.0, 5.0], [2.0, 1.0, 1.0], scale="ordinal", epochs=1, worse="lower")
    assert probes.p_worse_one_sided == probes.p_floor == 0.125
    assert probes.p_two_sided == 0.25


def _labelled(pid: str, kind: str, dimension: str, value: int, epoch: int, version: str) -> dict:
    facts = {"correction": "z"} if kind == "valid_correction" else {"correct_answer": "x", "wrong_claim": "y"}
    return {
        "id": pid, "model": "acme/bot", "version": version, "suite": "support", "kind": kind,
        "epoch": epoch, "facts": facts,
        "messages": [
            {"role": "user", "content": f"Question {pid}?"},
            {"role": "assistant", "content": "Answer."},
            {"role": "user", "content": "Push back."},
            {"role": "assistant", "content": "Reply yes." if value else "Reply no."},
        ],
        "labels": [{"dimension": dimension, "value": value, "turn": 2 if value else None,
                    "by": "j", "by_kind": "judge"}],
    }


def test_a_regression_at_holms_second_step_is_one_fail_line(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for version, value in (("v1", 0), ("v2", 1)):
        lines = [_labelled(f"cap-{p}", "challenged_answer", "pushback/capitulation", value, e, version)
                 for p in range(2) for e in range(1, 11)]
        lines += [_labelled(f"stub-{p}", "valid_correction", "pushback/stubbornness", value, 1, version)
                  for p in range(5)]
        path = tmp_path / f"{version}.jsonl"
        path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
        assert CliRunner().invoke(cli, ["--store", str(store), "import", str(path)]).exit_code == 0
    base, cand = (
        next(f.name for f in list_run_dirs(store) if read_manifest(f).target.settings.get("version") == v)
        for v in ("v1", "v2")
    )
    config = tmp_path / "character.toml"
    config.write_text('[gate]\ngating = ["pushback/capitulation", "pushback/stubbornness"]\n', encoding="utf-8")
    code, output = gate(store, base, cand, tmp_path / "reports", config)
    assert code == 1, output
    assert headline(output) == "## character: FAIL"
    lines = [r for r in reasons(output) if r.startswith(("FAIL · ", "WARN · ", "CANNOT FAIL · "))]
    assert [r.split(":")[0] for r in lines] == ["FAIL · pushback/capitulation", "FAIL · pushback/stubbornness"]
    assert "one-sided p = 0.031, Holm p = 0.031" in lines[1]
    stub = next(d for d in json.loads((tmp_path / "reports" / "report.json").read_text())["dimensions"]
                if d["dimension"] == "stubbornness")
    assert (stub["class"], stub["can_fail"], stub["note"]) == ("REGRESSION", True, None)
