"""A rejected API key ends the run at the first 401/403 with one line, and no key is ever
printed or stored, even when an endpoint echoes it back in an error body.

Against the fake Messages API with the real SDK and inspect provider: a revoked key (every
route answers 401), a key refused only when generating (the check passes, the run then meets the
401), a judge model the key has no access to (403), and endpoints that echo the key in a 500
and a 401 error body while the run goes on. Files are scanned as tests/test_secrets.py does.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from reliability_support import (
    JUDGE,
    TARGET,
    TOKEN,
    cli_env,
    judge_reply,
    request_text,
    run_cli,
    write_suite,
)
from test_secrets import _texts, leaks

from character.cli.main import cli
from character.store.manifest import read_manifest
from character.testing.fake_anthropic import (
    ErrorReply,
    FakeAnthropic,
    Reply,
    has_tools,
    scripted_responder,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

KEY = f"sk-ant-api03-CANARY{secrets.token_hex(20)}"
FIX = "then run the same command again: finished conversations are kept)"


def _target(body: dict) -> Reply:
    return Reply(text="It is Canberra, and I will keep saying so.")


def _run(store: Path, suite: Path, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return CliRunner().invoke(
        cli,
        [
            "--store",
            str(store),
            "run",
            str(suite),
            "--target",
            TARGET,
            "--judge",
            JUDGE,
            "--display",
            "none",
        ],
    )


def _conversation_calls(fake: FakeAnthropic) -> Counter[str]:
    """Target calls per conversation ([rk-NNN] token of its first turn)."""
    return Counter(
        TOKEN.search(request_text(r.body)).group(0)
        for r in fake.message_requests()
        if not has_tools(r.body)
    )


def test_revoked_key_stops_before_any_conversation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every route answers 401 (echoing the key): one free token count, no message, no folder,
    one line naming the variable and the status, exit 2; the key is not printed."""
    suite = write_suite(tmp_path, 6)
    revoked = {KEY: ErrorReply(401, "invalid x-api-key", echo_key=True)}
    with FakeAnthropic(
        scripted_responder([(has_tools, judge_reply)], default=_target), key_errors=revoked
    ) as fake:
        result = _run(tmp_path / "store", suite, fake, monkeypatch)
        requests = fake.requests
    assert result.exit_code == 2, result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert error_lines == [
        "error: the API rejected ANTHROPIC_API_KEY (401) (fix: check ANTHROPIC_API_KEY (revoked, "
        f"mistyped, or without access to {TARGET}), {FIX}"
    ]
    assert "Traceback" not in result.output and KEY[:24] not in result.output
    assert [(r.path, r.status) for r in requests] == [("/v1/messages/count_tokens", 401)]
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_key_rejected_mid_run_stops_at_once_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token count passes but generating answers 401: the run stops at the first rejection
    (no conversation is tried twice, none is judged), exit 2 with one line; the run is stored as
    incomplete, and the same command with a working key resumes and completes it."""
    suite = write_suite(tmp_path, 8)
    store = tmp_path / "store"
    refuse = ErrorReply(401, "invalid x-api-key", echo_key=True)
    with FakeAnthropic(scripted_responder([], default=lambda body: refuse)) as fake:
        result = _run(store, suite, fake, monkeypatch)
        calls = _conversation_calls(fake)
        judged = [r for r in fake.message_requests() if has_tools(r.body)]
    assert result.exit_code == 2, result.output
    assert (
        result.output.strip()
        .splitlines()[-1]
        .startswith("error: the API rejected ANTHROPIC_API_KEY (401) (fix: check ANTHROPIC_API_KEY")
    )
    assert calls and max(calls.values()) == 1, calls  # not 12 tries per conversation
    assert not judged
    [folder] = [p for p in store.iterdir() if p.is_dir()]
    manifest = read_manifest(folder)
    assert manifest.status == "incomplete"
    assert "the run stopped: the API rejected ANTHROPIC_API_KEY (401)" in manifest.warnings
    # stored, never scored: the conversations were cancelled when the run stopped (sample
    # error), or, when their own call was the one refused first, failed at the target (target
    # error; how many depends on timing); never a judge failure
    counts = manifest.counts
    assert counts.unscored_judge_error == 0
    assert counts.unscored_sample_error + counts.unscored_target_error == counts.unscored > 0
    assert leaks(store, KEY) == [] and KEY[:24] not in result.output

    with FakeAnthropic(scripted_responder([(has_tools, judge_reply)], default=_target)) as fake:
        again = _run(store, suite, fake, monkeypatch)
    assert again.exit_code == 0, again.output
    resumed = read_manifest(folder)
    assert resumed.status == "complete" and resumed.counts.unscored == 0
    assert resumed.counts.samples == 8


def test_judge_without_access_stops_the_run_with_403(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The judge model answers 403 permission_error: the run stops at the first one; the judge
    is not asked 3 times per rubric, and nothing ends as a judge error."""
    suite = write_suite(tmp_path, 6)
    denied = ErrorReply(403, "Your API key does not have permission to use the specified resource")
    with FakeAnthropic(
        scripted_responder([(has_tools, lambda body: denied)], default=_target)
    ) as fake:
        result = _run(tmp_path / "store", suite, fake, monkeypatch)
        judge_calls = [r for r in fake.message_requests() if has_tools(r.body)]
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == (
        "error: the API rejected ANTHROPIC_API_KEY (403) (fix: check ANTHROPIC_API_KEY (revoked, "
        f"mistyped, or without access to {JUDGE}), {FIX}"
    )
    tokens = Counter(TOKEN.search(request_text(r.body)).group(0) for r in judge_calls)
    assert tokens and max(tokens.values()) == 1, tokens


@pytest.mark.slow  # CLI processes with HOME inside the test folder, so inspect's trace is scanned
def test_key_echoed_in_error_bodies_is_written_nowhere(tmp_path: Path) -> None:
    """An endpoint echoes the key in a 400 body to the judge (asked again, the run completes) and
    then in a 401 body (the run stops): the key is in no file (manifest, both tables, .eval logs, inspect's
    trace log) and in no output; where it was, "[redacted ANTHROPIC_API_KEY]" stands."""
    work = tmp_path / "work"
    work.mkdir()
    suite = write_suite(work, 3)
    seen: Counter[str] = Counter()

    def flaky_judge(body: dict) -> Reply | ErrorReply:
        seen["judge"] += 1
        if seen["judge"] == 1:  # not retried by the SDK or inspect: the judge asks again itself
            return ErrorReply(400, "malformed request from key", echo_key=True)
        return judge_reply(body)

    outputs = []
    with FakeAnthropic(scripted_responder([(has_tools, flaky_judge)], default=_target)) as fake:
        env = cli_env(fake.base_url, KEY, tmp_path, CHARACTER_STORE=str(work / "first"))
        first = run_cli(
            ["run", str(suite), "--target", TARGET, "--judge", JUDGE, "--display", "plain"],
            env,
            cwd=work,
            timeout=300,
        )
    outputs += [first.stdout, first.stderr]
    assert first.returncode == 0, first.stderr[-3000:]
    assert [r.status for r in fake.message_requests()].count(400) == 1
    [run] = [p for p in (work / "first").iterdir() if p.is_dir()]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["unscored"] == 0

    refuse = ErrorReply(401, "invalid x-api-key", echo_key=True)
    with FakeAnthropic(scripted_responder([], default=lambda body: refuse)) as fake:
        env = cli_env(fake.base_url, KEY, tmp_path, CHARACTER_STORE=str(work / "second"))
        second = run_cli(
            ["run", str(suite), "--target", TARGET, "--judge", JUDGE, "--display", "plain"],
            env,
            cwd=work,
            timeout=300,
        )
    outputs += [second.stdout, second.stderr]
    assert second.returncode == 2, second.stderr[-3000:]
    assert "error: the API rejected ANTHROPIC_API_KEY (401)" in second.stderr

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".eval" for p in written) and any("trace" in p.name for p in written)
    assert leaks(tmp_path, KEY) == []
    assert not any(KEY[:24] in text for text in outputs)
    # the echoed key was there, and was replaced where it stood
    log = next((work / "first").rglob("*.eval"))
    assert any(b"key: [redacted ANTHROPIC_API_KEY]" in text for text in _texts(log))
