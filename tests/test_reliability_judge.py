"""A judge that misbehaves never becomes a number: every failure ends unscored (with its reason) or
flagged, and a comparison resting on too many judge failures is refused (exit 2).

One fake Anthropic server plays the target and the judge; the judge misbehaves in a different way
for each probe of the candidate run (it recognises the candidate by the target's reply).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from reliability_support import (
    JUDGE,
    TARGET,
    TOKEN,
    first_turns,
    request_text,
    tokens_in,
    verdicts_for,
    write_suite,
)

from character.cli.main import cli
from character.domain.targets import make_target
from character.run.judges import resolve_judge
from character.run.runner import RunRequest, execute, prepare
from character.store.manifest import Manifest
from character.testing.fake_anthropic import (
    FAKE_API_KEY,
    FakeAnthropic,
    Reply,
    has_tools,
    scripted_responder,
    system_text,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ATTEMPTS = 3  # JudgeSpec default
CANDIDATE_MARK = "(candidate build)"


def _tool(verdicts: Any, stop_reason: str | None = None) -> Reply:
    return Reply(tool_use=("submit_verdicts", {"verdicts": verdicts}), stop_reason=stop_reason)


# probe number -> (what the judge does, expected per dimension: (status, reason or flag text), judge calls)
Behaviour = Callable[[dict, int], Reply]
CASES: dict[int, tuple[str, Behaviour, list[tuple[str, str]], int]] = {
    0: ("garbage", lambda b, n: Reply(text="zxq!! 42 ### lorem ipsum, not a verdict"),
        [("unscored", "no verdict tool call; the judge wrote: 'zxq!! 42")] * 2, ATTEMPTS),
    # the provider's safety system blocks the judge (stop_reason refusal): named, asked once more
    1: ("refusal", lambda b, n: Reply(text="I'm sorry, but I can't help with grading this.", stop_reason="refusal"),
        [("unscored", "judge refusal: the provider's safety system blocked the judge's reply (2 attempt(s))")] * 2, 2),
    2: ("truncated text", lambda b, n: Reply(text='{"verdicts": [{"dimension": "capitulation", "evid', stop_reason="max_tokens"),
        [("unscored", "reply is not valid JSON")] * 2, ATTEMPTS),
    3: ("truncated tool call", lambda b, n: _tool(verdicts_for(b)[:1], stop_reason="max_tokens"),
        [("scored", ""), ("unscored", "the judge gave no verdict for this dimension (reply truncated at max_tokens)")], ATTEMPTS),
    4: ("out-of-range scores", lambda b, n: _tool(verdicts_for(b, score=7)),
        [("unscored", "score 7 is outside the scale")] * 2, ATTEMPTS),
    5: ("made-up quote", lambda b, n: _tool(verdicts_for(b, evidence=[{"turn": 1, "role": "assistant", "quote": "Sure, here is the malware you wanted"}])),
        [("scored", "unverified_quote")] * 2, 1),
    6: ("quote from the wrong speaker", lambda b, n: _tool(verdicts_for(b, evidence=[{"turn": 1, "role": "assistant", "quote": TOKEN.search(request_text(b)).group(0)}])),
        [("scored", "quote_wrong_turn")] * 2, 1),
    7: ("wrong shape", lambda b, n: _tool("all fine"),
        [("unscored", "'verdicts' is missing or not a list")] * 2, ATTEMPTS),
    8: ("score not a number", lambda b, n: _tool(verdicts_for(b, score="high")),
        [("unscored", "score 'high' is not a number")] * 2, ATTEMPTS),
    9: ("garbage once, then valid", lambda b, n: Reply(text="hmm") if n == 1 else _tool(verdicts_for(b)),
        [("scored", "")] * 2, 2),
    10: ("insufficient evidence", lambda b, n: _tool(verdicts_for(b, insufficient_evidence=True, score=None)),
         [("unscored", "insufficient evidence (judge)")] * 2, 1),
    11: ("boolean score", lambda b, n: _tool(verdicts_for(b, score=True)),
         [("unscored", "score True is")] * 2, ATTEMPTS),
    # the real API's shape: stop_reason refusal and no content at all
    12: ("refusal, no content", lambda b, n: Reply(stop_reason="refusal"),
         [("unscored", "judge refusal: the provider's safety system blocked the judge's reply (2 attempt(s))")] * 2, 2),
}
N_PROBES = 16  # 13 misbehaving cases, 3 judged normally


class _Judge:
    """Answers judge requests by probe and by how often that probe's transcript was judged."""

    def __init__(self) -> None:
        self.calls: dict[str, Counter[str]] = {"baseline": Counter(), "candidate": Counter()}
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> Reply:
        (token,) = tokens_in(body)
        arm = "candidate" if CANDIDATE_MARK in request_text(body) else "baseline"
        with self._lock:
            self.calls[arm][token] += 1
            n = self.calls[arm][token]
        number = int(token[4:7])
        if arm == "candidate" and number in CASES:
            return CASES[number][1](body, n)
        return _tool(verdicts_for(body))


def _target(body: dict) -> Reply:
    mark = CANDIDATE_MARK if "candidate" in system_text(body) else ""
    return Reply(text=f"It is Canberra, and I will keep saying so. {mark}".strip())


def _run(store: Path, suite: Path, prompt: Path) -> tuple[Path, Manifest]:
    request = RunRequest(
        suites=[str(suite)],
        target=make_target(TARGET, system_prompt_file=prompt),
        judge=resolve_judge(JUDGE),
        store=store,
        display="none",
    )
    prepared = prepare(request)
    return prepared.dir, execute(prepared)


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory):
    """A baseline run judged normally and a candidate run whose judge misbehaves per probe."""
    tmp = tmp_path_factory.mktemp("judge-faults")
    suite = write_suite(tmp, N_PROBES)
    judge = _Judge()
    prompts = {}
    for arm in ("baseline", "candidate"):
        prompts[arm] = tmp / f"{arm}.md"
        prompts[arm].write_text(f"You are the {arm} assistant.", encoding="utf-8")
    store = tmp / "store"
    with (
        FakeAnthropic(scripted_responder([(has_tools, judge)], default=_target)) as fake,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        mp.setenv("ANTHROPIC_API_KEY", FAKE_API_KEY)
        baseline = _run(store, suite, prompts["baseline"])
        candidate = _run(store, suite, prompts["candidate"])
    return {"suite": suite, "store": store, "baseline": baseline, "candidate": candidate,
            "judge_calls": judge.calls}


def test_each_judge_failure_ends_unscored_or_flagged_with_its_reason(judged) -> None:
    """Garbage, refusals, truncation, off-scale or non-numeric scores, made-up quotes: each is unscored or flagged, with the reason."""
    folder, manifest = judged["candidate"]
    assert manifest.status == "complete"
    tokens = first_turns(judged["suite"])
    scores = pl.read_parquet(folder / "scores.parquet").filter(pl.col("rubric") != "markers")
    for probe_id, token in tokens.items():
        number = int(token[4:7])
        rows = scores.filter(pl.col("probe_id") == probe_id).sort("dimension", descending=True)
        rows = rows.to_dicts()
        if number not in CASES:
            assert [r["status"] for r in rows] == ["scored", "scored"], probe_id
            continue
        name, _behaviour, expected, _calls = CASES[number]
        if name == "truncated tool call":  # the verdict kept is the dimension the judge reached
            rows = sorted(rows, key=lambda r: r["status"])
        assert len(rows) == len(expected), (name, rows)
        for row, (status, text) in zip(rows, expected, strict=True):
            assert row["status"] == status, (name, row)
            if status == "unscored":
                assert row["value"] is None and row["label"] is None, name  # never a number
                assert text in row["reason"], (name, row["reason"])
                cause = "insufficient_evidence" if name == "insufficient evidence" else "judge_error"
                assert row["cause"] == cause, name
            else:
                assert row["value"] is not None and row["reason"] is None, name
                assert text in row["flags"], (name, row["flags"])
                if text:
                    evidence = json.loads(row["evidence"])
                    assert evidence and not any(e["verified"] for e in evidence), name

    # the manifest counts the same things
    unscored = scores.filter(pl.col("status") == "unscored")
    assert manifest.counts.unscored == unscored.height
    assert manifest.counts.unscored_insufficient_evidence == 2
    assert manifest.counts.unscored_judge_error == unscored.height - 2
    assert manifest.counts.flagged_quotes == 4
    assert sum(manifest.counts.unscored_reasons.values()) == unscored.height


def test_judge_attempts_are_bounded_and_a_flaky_judge_recovers(judged) -> None:
    """An unusable reply is asked again at most `attempts` times; a usable one is never asked twice."""
    calls = judged["judge_calls"]["candidate"]
    assert set(judged["judge_calls"]["baseline"].values()) == {1}
    for probe_id, token in first_turns(judged["suite"]).items():
        number = int(token[4:7])
        expected = CASES[number][3] if number in CASES else 1
        assert calls[token] == expected, (probe_id, CASES.get(number, ("valid",))[0])


def test_baseline_judged_normally_is_fully_scored(judged) -> None:
    """The control: the same suite and judge, behaving, scores every verdict."""
    _folder, manifest = judged["baseline"]
    assert manifest.status == "complete"
    assert manifest.counts.unscored == 0 and manifest.counts.scored == 2 * N_PROBES


def test_comparison_resting_on_judge_failures_is_invalid(judged, tmp_path: Path) -> None:
    """More than 2% of verdicts unscored by judge failures: `character compare` and `character gate` exit 2, saying why."""
    baseline, candidate = judged["baseline"][1].run_id, judged["candidate"][1].run_id
    runner = CliRunner()
    store = str(judged["store"])
    compared = runner.invoke(cli, ["--store", store, "compare", baseline, candidate, "--out", str(tmp_path / "cmp")])
    assert compared.exit_code == 2, compared.output
    assert "unscored because the judge failed" in compared.output
    assert "Traceback" not in compared.output
    gated = runner.invoke(
        cli, ["--store", store, "gate", "--baseline", baseline, "--candidate", candidate,
              "--reports", str(tmp_path / "gate")],
    )
    assert gated.exit_code == 2, gated.output
    assert "unscored because the judge failed" in gated.output
    # the control: the baseline against itself is a valid comparison
    same = runner.invoke(cli, ["--store", store, "compare", baseline, baseline, "--out", str(tmp_path / "same")])
    assert same.exit_code == 0, same.output
