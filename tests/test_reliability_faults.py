"""Reliability under API faults and interruptions, end to end through the `character` CLI.

The target and the judge are both served by the loopback fake Anthropic API (character.testing.
fake_anthropic), which injects rate limits, overloads, 5xx, dropped streams, stalls past the
timeout and malformed bodies. The real anthropic SDK and inspect's provider do the talking.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner
from inspect_ai.log import read_eval_log_samples
from reliability_support import (
    JUDGE,
    TARGET,
    character_cmd,
    cli_env,
    first_turns,
    read_request_log,
    responder,
    run_cli,
    tokens_in,
    write_suite,
)

from character.cli.main import cli
from character.run.runner import EVAL_RETRIES, SAMPLE_RETRIES
from character.store.layout import list_run_dirs
from character.store.manifest import read_manifest
from character.store.tables import latest_log
from character.testing.fake_anthropic import (
    FAKE_API_KEY,
    FAULTS,
    FakeAnthropic,
    FaultPlan,
    has_tools,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CONVERSATIONS = 100
SDK_RETRIES = 2  # the anthropic SDK's own retries under inspect's (its default max_retries)

# 20% of requests faulted, every kind of fault represented
STORM = FaultPlan(
    rate_429=0.05,
    rate_529=0.03,
    rate_500=0.03,
    rate_drop_midstream=0.03,
    rate_stall=0.02,
    stall_s=30.0,
    rate_malformed=0.02,
    rate_stream_error=0.02,
    retry_after_s=0.05,
    seed=11,
)


def _run_args(store: Path, suite: Path, *extra: str) -> list[str]:
    return [
        "--store", str(store), "run", str(suite), "--target", TARGET, "--judge", JUDGE,
        "--display", "plain", *extra,
    ]


def _calls_needed(suite: Path) -> dict[str, int]:
    """token -> API calls a conversation needs when nothing fails (target turns + one judge call)."""
    tokens = first_turns(suite)
    probes = yaml.safe_load(suite.read_text(encoding="utf-8"))["probes"]
    return {tokens[p["id"]]: len(p["turns"]) + 1 for p in probes}


def _only_run(store: Path) -> Path:
    runs = list_run_dirs(store)
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.slow  # end to end through CLI processes; runs in CI
def test_fault_storm_loses_nothing_and_pays_nothing_twice(tmp_path: Path) -> None:
    """100 conversations with 20% of API requests faulted: all stored once, all scored, retries counted exactly."""
    suite = write_suite(tmp_path, CONVERSATIONS)
    needed = _calls_needed(suite)
    store = tmp_path / "store"
    with FakeAnthropic(responder(), STORM) as fake:
        env = cli_env(fake.base_url, FAKE_API_KEY, tmp_path)
        result = run_cli(
            _run_args(store, suite, "--max-connections", "50", "--attempt-timeout", "5"),
            env, cwd=tmp_path, timeout=200,
        )
        requests = fake.message_requests()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr

    # the storm really happened: a fifth of the requests, every kind of fault
    faulted = [r for r in requests if r.fault]
    assert 0.15 <= len(faulted) / len(requests) <= 0.27
    assert {r.fault for r in faulted} == set(FAULTS)

    # every transcript stored exactly once, every verdict scored (transient faults cost no data)
    folder = _only_run(store)
    manifest = read_manifest(folder)
    transcripts = pl.read_parquet(folder / "transcripts.parquet")
    scores = pl.read_parquet(folder / "scores.parquet").filter(pl.col("rubric") != "markers")
    assert manifest.status == "complete"
    assert transcripts.height == CONVERSATIONS
    assert transcripts.select("probe_id", "epoch").n_unique() == CONVERSATIONS
    assert set(transcripts["probe_id"]) == set(first_turns(suite))
    assert transcripts["error"].null_count() == CONVERSATIONS
    assert manifest.counts.samples == CONVERSATIONS and manifest.counts.samples_errored == 0
    assert scores.height == 2 * CONVERSATIONS and set(scores["status"]) == {"scored"}
    assert manifest.counts.unscored == 0

    # per conversation: every fault is counted once as a retry or a failed call, and (unless the
    # conversation had to be replayed) each needed call was paid for exactly once. This is exact
    # for every conversation without an attempt timeout. A timeout (a stall, or a busy client) can
    # also swallow the SDK's own quick retry of another fault, so conversations with timeouts get
    # bounds instead: at least one timeout per stall, nothing counted that did not happen.
    by_token: dict[str, list] = defaultdict(list)
    # a request the client abandoned while still sending it (its attempt timed out) arrives with
    # no readable body: it cannot be attributed, and it was never answered with a reply
    cut_off = [r for r in requests if not isinstance(r.body, dict)]
    assert all(r.status != 200 for r in cut_off), [(r.fault, r.status) for r in cut_off]
    for request in requests:
        if isinstance(request.body, dict):
            (token,) = tokens_in(request.body)  # each request belongs to exactly one conversation
            by_token[token].append(request)
    timeouts = _attempt_timeouts(latest_log(folder))
    tokens = first_turns(suite)
    replayed_faults = exact = 0
    for row in transcripts.iter_rows(named=True):
        probe_id = row["probe_id"]
        mine, need, timed_out = by_token[tokens[probe_id]], needed[tokens[probe_id]], timeouts[probe_id]
        faults = sum(1 for r in mine if r.fault)
        stalls = sum(1 for r in mine if r.fault == "stall")
        paid = len(mine) - faults
        counted = row["retries"] + row["failed_calls"] + row["sample_retries"]
        if row["sample_retries"]:
            replayed_faults += faults
            assert counted <= faults + timed_out  # the replayed attempt's own retries are gone
        elif timed_out == 0:
            exact += 1
            assert counted == faults, (probe_id, [r.fault for r in mine])
            assert paid == need, (probe_id, [r.fault for r in mine])
        else:
            assert timed_out >= stalls, probe_id
            assert timed_out <= counted <= faults + timed_out - stalls, (probe_id, [r.fault for r in mine])
            assert need <= paid <= need + timed_out - stalls, probe_id
    assert exact >= 0.7 * CONVERSATIONS
    # a malformed target reply is the one fault inspect does not retry: that conversation is
    # replayed from the start (and the replay counted), exactly once per such fault
    malformed_target = sum(
        1 for r in faulted if r.fault == "malformed" and isinstance(r.body, dict) and not has_tools(r.body)
    )
    assert transcripts["sample_retries"].sum() == malformed_target

    # the manifest adds the same figures up, and they account for (nearly) every fault
    retries = manifest.retries
    assert retries["api_retries"] == transcripts["retries"].sum()
    assert retries["failed_calls"] == transcripts["failed_calls"].sum()
    assert retries["sample_retries"] == transcripts["sample_retries"].sum()
    total_counted = retries["api_retries"] + retries["failed_calls"] + retries["sample_retries"]
    spurious_timeouts = sum(timeouts.values()) - sum(1 for r in faulted if r.fault == "stall")
    assert len(faulted) - replayed_faults <= total_counted <= len(faulted) + spurious_timeouts
    assert retries["model_calls"] >= sum(needed.values())

    # the figures quoted in docs/reliability.md (shown with `pytest -rP`)
    print(json.dumps({
        "conversations": CONVERSATIONS, "requests": len(requests), "faulted": len(faulted),
        "faults": dict(Counter(r.fault for r in faulted)), "transcripts_stored": transcripts.height,
        "samples_lost": CONVERSATIONS - transcripts.height, "unscored": manifest.counts.unscored,
        "manifest_retries": retries, "attempt_timeouts": sum(timeouts.values()),
        "exact_conversations": exact,
    }))


def _attempt_timeouts(log: Path) -> Counter:
    """probe id -> model calls abandoned at the attempt timeout (in the stored log)."""
    found: Counter = Counter()
    for sample in read_eval_log_samples(str(log), all_samples_required=False):
        found[sample.id] += sum(
            1 for e in sample.events if e.event == "model" and "AttemptTimeoutError" in (e.error or "")
        )
    return found


@pytest.mark.slow  # end to end through CLI processes; runs in CI
def test_permanent_outage_ends_with_bounded_attempts_and_every_transcript_unscored(tmp_path: Path) -> None:
    """An API that only ever answers 429 ends the run (exit 1) after a known number of attempts, losing no transcript."""
    suite = write_suite(tmp_path, 2)
    store = tmp_path / "store"
    max_retries = 0
    with FakeAnthropic(responder(), FaultPlan(rate_429=1.0, retry_after_s=0.01)) as fake:
        result = CliRunner().invoke(
            cli, _run_args(store, suite, "--max-retries", str(max_retries)), env=fake.env()
        )
        requests = fake.message_requests()
    assert result.exit_code == 1, result.output[-3000:]
    assert "Traceback" not in result.output
    assert "incomplete: 2 transcripts" in result.stdout
    assert "2 conversations failed after every retry (stored, unscored)" in result.stdout

    # bounded: SDK retries x inspect retries x conversation replays x eval_set retries, per conversation
    per_conversation = (SDK_RETRIES + 1) * (max_retries + 1) * (SAMPLE_RETRIES + 1) * (EVAL_RETRIES + 1)
    assert len(requests) == 2 * per_conversation
    assert all(r.fault == "429" for r in requests)

    folder = _only_run(store)
    manifest = read_manifest(folder)
    transcripts = pl.read_parquet(folder / "transcripts.parquet")
    scores = pl.read_parquet(folder / "scores.parquet").filter(pl.col("rubric") != "markers")
    assert manifest.status == "incomplete"
    assert transcripts.height == 2 and transcripts["error"].null_count() == 0
    assert manifest.counts.samples_errored == 2
    assert set(scores["status"]) == {"unscored"} and scores["value"].null_count() == scores.height
    assert manifest.counts.unscored_reasons == {
        "target error: RateLimitError (retries exhausted)": scores.height
    }
    assert manifest.retries["sample_retries"] == 2 * (per_conversation // (SDK_RETRIES + 1) - 1)


def _wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def _server_process(request_log: Path) -> tuple[subprocess.Popen, str]:
    """The fake API (with a valid judge) as its own process, logging every request."""
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "reliability_support.py"), "--port", "0",
         "--latency", "0.05", "--request-log", str(request_log)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    base_url = server.stdout.readline().strip()
    assert base_url.startswith("http://127.0.0.1:"), base_url
    return server, base_url


def _judged(rows: list[dict]) -> set[str]:
    """Conversations (tokens) whose judge request was answered."""
    return {
        t for r in rows
        if isinstance(r["body"], dict) and r["body"].get("tools") and r["status"] == 200 and not r["fault"]
        for t in tokens_in(r["body"])
    }


@pytest.mark.slow  # end to end through CLI processes; runs in CI
def test_sigkill_mid_run_then_rerun_resumes_without_paying_twice(tmp_path: Path) -> None:
    """A run killed with SIGKILL is finished by re-running the same command; no finished conversation is requested again."""
    suite = write_suite(tmp_path, 20)
    tokens = first_turns(suite)
    store = tmp_path / "store"
    args = _run_args(store, suite, "--max-connections", "4")
    # one server process per run, each with its own request log, so a request the killed run had
    # in flight can never be mistaken for one the re-run made
    first_log, second_log = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    servers = []
    try:
        server, base_url = _server_process(first_log)
        servers.append(server)
        first = subprocess.Popen(
            character_cmd(*args), env=cli_env(base_url, FAKE_API_KEY, tmp_path), cwd=tmp_path,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(lambda: len(_judged(read_request_log(first_log))) >= 6, 90, "6 judged conversations")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL

        # what the killed run had finished: the conversations in its log
        folder = _only_run(store)
        assert json.loads((folder / "manifest.json").read_text())["status"] == "running"
        log = latest_log(folder)
        done = {s.id for s in read_eval_log_samples(str(log), all_samples_required=False)}
        assert 0 < len(done) < len(tokens), len(done)

        server, base_url = _server_process(second_log)
        servers.append(server)
        second = subprocess.run(
            character_cmd(*args), env=cli_env(base_url, FAKE_API_KEY, tmp_path), cwd=tmp_path,
            capture_output=True, text=True, timeout=120,
        )
        assert second.returncode == 0, second.stderr[-3000:]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)

    # the re-run asked only about conversations that were not finished...
    asked_again = {t for r in read_request_log(second_log) for t in tokens_in(r["body"] or {})}
    done_tokens = {tokens[probe_id] for probe_id in done}
    assert asked_again and not done_tokens & asked_again, sorted(done_tokens & asked_again)
    # ...and every conversation it reused had really been finished (judged) before the kill.
    # (a 20-conversation run is flushed after every conversation, eval_tuning.log_buffer_for; a
    # larger one may re-pay up to 1% of its finished conversations, but never an unjudged one.)
    reused = set(tokens.values()) - asked_again
    judged_before = _judged(read_request_log(first_log))
    assert done_tokens <= reused <= judged_before, sorted(reused - judged_before)

    # and the final run holds every transcript exactly once, all scored
    manifest = read_manifest(folder)
    transcripts = pl.read_parquet(folder / "transcripts.parquet")
    assert manifest.status == "complete"
    assert transcripts.height == 20 and transcripts["probe_id"].n_unique() == 20
    assert manifest.counts.unscored == 0 and manifest.counts.samples_errored == 0
