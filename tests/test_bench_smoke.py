"""Every benchmark in bench/ runs end to end at toy sizes and produces its table and result files.

These check behaviour (what was run, counted and written), never timings: the figures themselves
come from `python -m bench ...` on a quiet machine (BENCHMARKS.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import decisions, judge_cost, phrases, scale, throughput, viewer
from bench.__main__ import main


def _saved(out: Path, name: str) -> dict:
    """The JSON a benchmark wrote, after checking its Markdown twin names the machine."""
    markdown = (out / f"{name}.md").read_text()
    assert "Machine:" in markdown and "cores" in markdown
    payload = json.loads((out / f"{name}.json").read_text())
    assert payload["machine"]["nproc"] and payload["machine"]["date"] and payload["machine"]["python"]
    assert payload["tables"], "every benchmark prints at least one table"
    return payload


def test_throughput_counts_every_request_for_character_and_plain_inspect(tmp_path: Path) -> None:
    """Both runs play the same conversations: N x T target calls plus one judge call each, none failed."""
    report = throughput.run(quick=True, out_dir=tmp_path, latency=0.05, turns=1, concurrency=[2], waves=1)
    [result] = _saved(tmp_path, "throughput")["data"]["results"]
    expected = result["conversations"] * (result["turns"] + 1)
    for arm in ("character", "plain"):
        assert result[arm]["requests"] == expected, arm
        assert result[arm]["failed_requests"] == 0
        assert result[arm]["span_s"] > 0 and result[arm]["wall_s"] >= result[arm]["span_s"]
    assert result["ideal_s"] == pytest.approx(expected * 0.05 / 2)
    assert {"import", "eval", "finalize"} <= set(result["character"]["phases"])
    assert any("overhead" in h["figure"] for h in report.headline)


def test_judge_cost_splits_prefix_and_case_and_prices_each_caching_setup(tmp_path: Path) -> None:
    """One judge call per transcript; the prefix is part of the input; batch halves the nightly bill."""
    report = judge_cost.run(quick=True, out_dir=tmp_path, suites=["pushback"], limit=2)
    data = _saved(tmp_path, "judge-cost")["data"]
    assert data["judge_requests"] == data["transcripts"] > 0
    assert 0 < data["prefix_tokens"] < data["input_tokens"]
    assert data["output_tokens"] > 0
    costs = {(c["setup"], c["minimum"]): c for c in data["costs"]}
    uncached = {c["tokens"]["input_tokens"] for (setup, _), c in costs.items() if setup == "no caching"}
    assert len(uncached) == 1, "without cache_control the minimum length changes nothing"
    sent = costs[("as sent", 0)]["tokens"]
    assert sent["cache_read_tokens"] > 0, "requests after the first read the rubric prefix back"
    assert data["nightly"]["batch"] == pytest.approx(data["nightly"]["standard"] / 2, rel=1e-3)
    assert any("batch" in h["figure"] for h in report.headline)


def test_decisions_run_the_real_gate_and_the_naive_rules(tmp_path: Path) -> None:
    """Each simulated pair goes through compare_tables + gate.decide; every rule gets a rate."""
    decisions.run(quick=True, out_dir=tmp_path, sizes=[12], replicates=3, workers=1)
    [cell] = _saved(tmp_path, "decisions")["data"]["results"]
    for scenario in ("a_a", "rise"):
        assert set(decisions.RULES) <= set(cell[scenario])
        assert all(0.0 <= rate <= 1.0 for rate in cell[scenario].values())
    outcome = decisions.simulate_one(decisions.Scenario(12, decisions.RISE, False, 99), replicate=0)
    assert set(outcome) == {*decisions.RULES, "gate_warn"}
    assert not (outcome["gate"] and outcome["gate_warn"]), "FAIL and WARN are exclusive"


def test_decisions_small_suites_compare_both_inference_modes_with_todays_rule(tmp_path: Path) -> None:
    """2 probes x 10 epochs: today's rule can never fail; the probe-level test says it cannot (exit 2);
    the fixed-suite test (and auto, the default) can. Every mode reports exit-code shares."""
    decisions.run(quick=True, out_dir=tmp_path, sizes=[12], replicates=2, workers=1,
                  small_sizes=[2], small_replicates=4)
    payload = _saved(tmp_path, "decisions")
    [cell] = payload["data"]["small_suites"]
    assert cell["probes"] == 2 and cell["epochs"] == 10
    for scenario in ("a_a", "rise", "mixed"):
        assert set(decisions.MODES) <= set(cell[scenario])
        assert all(sum(cell[scenario][mode].values()) == pytest.approx(1.0) for mode in decisions.MODES)
        assert cell[scenario]["today's rule"]["1"] == 0.0 and cell[scenario]["probes"]["2"] == 1.0
        assert cell[scenario]["auto"] == cell[scenario]["suite"]
    outcome = decisions.simulate_small(decisions.Scenario(2, 0.2, False, 99, epochs=10), replicate=0)
    assert outcome["today's rule"] in (0, 1) and outcome["probes"] == 2
    assert any("| inference " in str(table) for table in payload["tables"])


def test_wilson_interval_covers_zero_and_one() -> None:
    low, high = decisions.wilson(0.0, 100)
    assert low == 0.0 and 0.0 < high < 0.05
    low, high = decisions.wilson(1.0, 100)
    assert high == 1.0 and 0.95 < low < 1.0


def test_scale_compares_and_writes_every_report(tmp_path: Path) -> None:
    """Synthetic runs load, compare validly and produce the four report files."""
    scale.run(quick=True, out_dir=tmp_path, sizes=[100])
    [result] = _saved(tmp_path, "scale")["data"]["results"]
    assert result["load"]["rows"] > 0
    compare = result["compare"]
    assert compare["valid"] is True and compare["verdict"] in {"PASS", "WARN", "FAIL"}
    assert set(compare["report_bytes"]) == {"markdown", "html", "json", "junit"}
    assert all(size > 0 for size in compare["report_bytes"].values())


def test_viewer_times_its_pages_on_synthetic_runs(tmp_path: Path) -> None:
    viewer.run(quick=True, out_dir=tmp_path, sizes=[100])
    result = _saved(tmp_path, "viewer")["data"]["results"]["100"]
    assert result["shown"] == "100 of 100 transcripts"
    assert {"runs (first)", "runs (cached)", "transcripts (first)", "transcripts (cached)", "compare (first)",
            "compare queue + side by side (first)"} <= set(result["times"])
    assert 0 < result["queue"] <= result["verdicts"] and result["queue_shown"] == result["queue"]


def test_command_line_runs_a_benchmark_and_writes_its_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["decisions", "--quick", "--out", str(tmp_path), "--sizes", "10", "--replicates", "2", "--workers", "1"])
    assert code == 0
    assert (tmp_path / "decisions.json").is_file() and (tmp_path / "decisions.md").is_file()
    assert "| rule" in capsys.readouterr().out


def test_throughput_interleaves_repeats_in_fresh_stores_and_reports_medians(monkeypatch, tmp_path: Path) -> None:
    """c, p, p, c, c, p: load drift hits both arms alike; each run its own store (no resuming)."""
    calls = []

    def fake_measure(fake, what, suite, out, connections, **options):
        calls.append((what, out.name))
        wall = {"character": [10.0, 30.0, 20.0], "plain": [11.0, 12.0, 13.0]}[what][len([c for c in calls if c[0] == what]) - 1]
        return {"wall_s": wall, "requests": 8, "phases": {"eval": wall / 2}, "target": "x"}

    monkeypatch.setattr(throughput, "measure", fake_measure)
    runs = throughput.measure_repeats(None, tmp_path / "s.yaml", tmp_path, 4, 3)
    assert [what for what, _ in calls] == ["character", "plain", "plain", "character", "character", "plain"]
    assert len({out for _, out in calls}) == 6
    median = throughput.median_run(runs["character"])
    assert median["wall_s"] == 20.0 and median["phases"]["eval"] == 10.0 and median["target"] == "x"


def test_phrases_times_the_demo_pair_and_synthetic_runs(tmp_path: Path) -> None:
    """The demo pair (toy size) and one synthetic pair go through distinctive_phrases."""
    phrases.run(quick=True, out_dir=tmp_path, limit=4, sizes=[200])
    data = _saved(tmp_path, "phrases")["data"]
    assert data["demo"]["transcripts"] > 0 and data["demo"]["seconds"] > 0
    assert data["synthetic_200"]["transcripts"] == 400 and data["synthetic_200"]["phrases_tested"] > 0

