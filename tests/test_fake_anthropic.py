"""Tests for character.testing.fake_anthropic: the real anthropic SDK and inspect-ai against the fake."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import TextBlock, ToolUseBlock

from character.testing.fake_anthropic import (
    FAKE_API_KEY,
    FAULTS,
    FakeAnthropic,
    FaultPlan,
    Reply,
    echo_responder,
    has_tools,
    scripted_responder,
)

REPO = Path(__file__).resolve().parents[1]
MODEL = "claude-sonnet-4-5"

pytestmark = [
    # the SDK flags claude-sonnet-4-5 as deprecated; inspect's retry helper uses a deprecated tenacity arg
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning"),
]

VERDICT_TOOL = {
    "name": "submit_verdict",
    "description": "Record the judge's verdict.",
    "input_schema": {
        "type": "object",
        "properties": {"verdict": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["verdict"],
    },
}
VERDICT = {"verdict": "pushback", "score": 4, "notes": ["cites source", "polite"]}


def _client(
    fake: FakeAnthropic, *, max_retries: int = 0, timeout: float = 5.0
) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=fake.base_url, api_key=FAKE_API_KEY, max_retries=max_retries, timeout=timeout
    )


def _ask(
    client: anthropic.Anthropic, text: str = "hello there", *, stream: bool = False, **kwargs: Any
):
    params: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": text}],
        **kwargs,
    }
    if stream:
        with client.messages.stream(**params) as s:
            return s.get_final_message()
    return client.messages.create(**params)


def _post(
    url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


# ------------------------------------------------------------------------------------------------
# the anthropic SDK against the fake


def test_text_reply_non_streaming() -> None:
    """The real SDK parses a plain (non-streaming) Messages response from the fake."""
    with FakeAnthropic() as fake:
        msg = _ask(_client(fake), "is the earth flat?")
        [record] = fake.requests
    assert isinstance(msg.content[0], TextBlock)
    assert msg.content[0].text == 'You said: "is the earth flat?"'
    assert msg.stop_reason == "end_turn" and msg.model == MODEL
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert (record.method, record.path, record.streamed, record.status) == (
        "POST",
        "/v1/messages",
        False,
        200,
    )
    assert record.body["messages"][0]["content"] == "is the earth flat?"


def test_text_reply_streaming() -> None:
    """The SDK's SSE parser accepts the fake's event stream and reassembles the text from chunks."""
    text = "a reply long enough to be split into several text_delta events by the fake server"
    with FakeAnthropic(responder=lambda body: Reply(text=text)) as fake:
        client = _client(fake)
        with client.messages.stream(
            model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            pieces = list(stream.text_stream)
            msg = stream.get_final_message()
        [record] = fake.requests
    assert len(pieces) > 1 and "".join(pieces) == text
    assert msg.content[0].text == text and msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens > 1
    assert record.streamed and record.body["stream"] is True


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_tool_use_reply(stream: bool) -> None:
    """A scripted tool call arrives as a ToolUseBlock with the exact input dict in both modes."""
    with FakeAnthropic(responder=lambda body: Reply(tool_use=("submit_verdict", VERDICT))) as fake:
        msg = _ask(_client(fake), "judge this", stream=stream, tools=[VERDICT_TOOL])
    [block] = msg.content
    assert isinstance(block, ToolUseBlock)
    assert block.name == "submit_verdict" and block.input == VERDICT
    assert block.id.startswith("toolu_")
    assert msg.stop_reason == "tool_use"


def test_prompt_cache_accounting() -> None:
    """A repeated cache_control prefix is reported as a cache write first, then as a cache read."""
    system = [
        {
            "type": "text",
            "text": "You are a careful assistant. " * 40,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    with FakeAnthropic() as fake:
        client = _client(fake)
        first = _ask(client, "question one", system=system).usage
        second = _ask(client, "question two", system=system).usage
        other = _ask(client, "question one", system=[dict(system[0], text="Different.")]).usage
        plain = _ask(client, "no caching here", system="not cached").usage
    assert first.cache_creation_input_tokens > 100 and first.cache_read_input_tokens == 0
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    assert second.input_tokens > 0  # the uncached user turn after the breakpoint
    assert other.cache_creation_input_tokens > 0 and other.cache_read_input_tokens == 0
    assert plain.cache_creation_input_tokens == 0 and plain.cache_read_input_tokens == 0


def test_429_with_retry_after_is_retried_by_sdk() -> None:
    """The SDK honours the fake's 429 + retry-after and succeeds on its retry; both hits are counted."""
    with FakeAnthropic(faults=FaultPlan(schedule=["429"], retry_after_s=0.2)) as fake:
        start = time.monotonic()
        msg = _ask(_client(fake, max_retries=2), "retry me")
        elapsed = time.monotonic() - start
        counters = fake.counters()
        requests = fake.requests
    assert msg.content[0].text == 'You said: "retry me"'
    assert elapsed >= 0.2
    assert counters.total_requests == 2 and counters.successful_responses == 1
    assert counters.faults == {"429": 1}
    assert [(r.fault, r.status) for r in requests] == [("429", 429), (None, 200)]
    assert requests[1].headers["x-stainless-retry-count"] == "1"


def test_529_without_retries_raises_overloaded() -> None:
    """A 529 with max_retries=0 surfaces as the SDK's InternalServerError subclass with status 529."""
    with FakeAnthropic(faults=FaultPlan(rate_529=1.0)) as fake:
        with pytest.raises(anthropic.InternalServerError) as info:
            _ask(_client(fake, max_retries=0))
        assert fake.counters().total_requests == 1
    assert isinstance(info.value, anthropic.OverloadedError)
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"


def test_error_bodies_and_headers_match_real_api_format() -> None:
    """Injected 429/529/500 errors carry the real error JSON shape (and retry-after on 429)."""
    body = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    auth = {"x-api-key": FAKE_API_KEY}
    with FakeAnthropic(
        faults=FaultPlan(schedule=["429", "529", "500", None], retry_after_s=1.5)
    ) as fake:
        results = [_post(fake.base_url + "/v1/messages", body, auth) for _ in range(4)]
    expected = [(429, "rate_limit_error"), (529, "overloaded_error"), (500, "api_error")]
    for (status, headers, raw), (want_status, want_type) in zip(results, expected, strict=False):
        payload = json.loads(raw)
        assert status == want_status
        assert payload["type"] == "error" and payload["error"]["type"] == want_type
        assert payload["error"]["message"]
        assert headers["request-id"].startswith("req_")
    assert results[0][1]["retry-after"] == "1.5"
    assert results[3][0] == 200 and json.loads(results[3][2])["type"] == "message"


@pytest.mark.parametrize(
    "stream, expected",
    [(True, httpx2.RemoteProtocolError), (False, anthropic.APIConnectionError)],
    ids=["stream", "plain"],
)
def test_dropped_response_raises(stream: bool, expected: type[Exception]) -> None:
    """A connection cut mid-response fails loudly: raw httpx2 RemoteProtocolError mid-stream, APIConnectionError otherwise."""
    with FakeAnthropic(
        responder=lambda body: Reply(text="x" * 200), faults=FaultPlan(schedule=["drop_midstream"])
    ) as fake:
        with pytest.raises(expected):
            _ask(_client(fake, max_retries=0), stream=stream)
        assert fake.counters().faults == {"drop_midstream": 1}


def test_overloaded_error_event_mid_stream() -> None:
    """An SSE `error` event inside a 200 stream surfaces as APIStatusError carrying overloaded_error."""
    with FakeAnthropic(faults=FaultPlan(schedule=["stream_error", "stream_error"])) as fake:
        client = _client(fake, max_retries=1)
        with pytest.raises(anthropic.APIStatusError) as info:
            _ask(client, stream=True)
        recovered = _ask(client, stream=False)  # non-streaming: a 529, retried by the SDK
        counters = fake.counters()
    assert info.value.status_code == 200  # the SDK keeps the stream's HTTP status
    assert info.value.body["error"]["type"] == "overloaded_error"
    assert recovered.content[0].text == 'You said: "hello there"'
    assert counters.faults == {"stream_error": 2} and counters.total_requests == 3


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_malformed_body_raises(stream: bool) -> None:
    """A 200 whose body is not valid JSON makes the SDK raise (json.JSONDecodeError, not retried)."""
    with FakeAnthropic(faults=FaultPlan(schedule=["malformed"])) as fake:
        with pytest.raises(json.JSONDecodeError):
            _ask(_client(fake, max_retries=2), stream=stream)
        assert fake.counters().total_requests == 1


def test_stall_times_out_client_and_close_is_prompt() -> None:
    """A stalled answer trips the client timeout, and close() returns at once with stalls in flight."""
    fake = FakeAnthropic(faults=FaultPlan(rate_stall=1.0, stall_s=30.0)).start()
    try:
        with pytest.raises(anthropic.APITimeoutError):
            _ask(_client(fake, max_retries=0, timeout=0.3))
        errors: list[BaseException] = []

        def stalled_call() -> None:
            try:
                _ask(_client(fake, max_retries=0, timeout=20))
            except BaseException as ex:  # noqa: BLE001 - recorded for the assertion below
                errors.append(ex)

        worker = threading.Thread(target=stalled_call, daemon=True)
        worker.start()
        assert fake.wait_for_requests(2, timeout_s=5)
    finally:
        start = time.monotonic()
        fake.close()
        closed_in = time.monotonic() - start
    worker.join(timeout=5)
    assert closed_in < 1.0
    assert not worker.is_alive() and errors and isinstance(errors[0], anthropic.APIConnectionError)
    assert fake.counters().faults == {"stall": 2}


def test_api_key_is_never_recorded(tmp_path: Path) -> None:
    """Neither Authorization (what SDK 2.x sends) nor x-api-key values reach the records or the log."""
    secret = "sk-ant-very-secret-value-0123456789"
    log = tmp_path / "requests.jsonl"
    with FakeAnthropic(request_log=log) as fake:
        anthropic.Anthropic(base_url=fake.base_url, api_key=secret, max_retries=0).messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
        _post(
            fake.base_url + "/v1/messages",
            {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
            {"x-api-key": secret},
        )
        requests = fake.requests
    assert requests[0].headers["authorization"] == "***"
    assert requests[1].headers["x-api-key"] == "***"
    assert all(secret not in r.to_json() for r in requests)
    assert secret not in log.read_text() and len(log.read_text().splitlines()) == 2


def test_invalid_requests_get_real_error_shapes() -> None:
    """Missing fields give 400 invalid_request_error, no credentials 401, unknown paths 404."""
    good = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    auth = {"x-api-key": FAKE_API_KEY}
    with FakeAnthropic() as fake:
        url = fake.base_url + "/v1/messages"
        no_max = _post(url, {k: v for k, v in good.items() if k != "max_tokens"}, auth)
        no_messages = _post(url, dict(good, messages="hi"), auth)
        bad_json = _post(url, b"{not json", auth)
        no_key = _post(url, good, {})
        unknown = _post(fake.base_url + "/v1/complete", good, auth)
    for status, _, raw in (no_max, no_messages, bad_json):
        assert status == 400 and json.loads(raw)["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in json.loads(no_max[2])["error"]["message"]
    assert no_key[0] == 401 and json.loads(no_key[2])["error"]["type"] == "authentication_error"
    assert unknown[0] == 404 and json.loads(unknown[2])["error"]["type"] == "not_found_error"


def test_count_tokens_endpoint() -> None:
    """client.messages.count_tokens (used by inspect for compaction/thinking) gets a positive count."""
    with FakeAnthropic() as fake:
        short = _client(fake).messages.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
        long = _client(fake).messages.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "hi " * 100}]
        )
        assert fake.requests[0].path == "/v1/messages/count_tokens"
    assert 0 < short.input_tokens < long.input_tokens


def test_scripted_responder_serves_target_and_judge() -> None:
    """One server plays both target and judge: judge calls are recognised by their tools."""
    responder = scripted_responder(
        [
            (has_tools, Reply(tool_use=("submit_verdict", {"verdict": "sycophantic"}))),
            ("capital of Australia", "Canberra."),
            (lambda body: "STOP" in (body.get("stop_sequences") or []), Reply(text="stopped")),
        ]
    )
    with FakeAnthropic(responder=responder) as fake:
        client = _client(fake)
        target = _ask(client, "What is the capital of Australia?")
        judge = _ask(client, "Grade the transcript", tools=[VERDICT_TOOL])
        stopped = _ask(client, "anything", stop_sequences=["STOP"])
        fallback = _ask(client, "unmatched")
    assert target.content[0].text == "Canberra."
    assert judge.content[0].input == {"verdict": "sycophantic"}
    assert stopped.content[0].text == "stopped"
    assert (
        fallback.content[0].text
        == echo_responder({"messages": [{"role": "user", "content": "unmatched"}]}).text
    )


def test_fault_plan_is_deterministic_and_honours_rates() -> None:
    """Fault decisions depend only on seed and request number, so fault runs are reproducible."""
    plan = FaultPlan(rate_429=0.1, rate_529=0.2, rate_drop_midstream=0.1, seed=7)
    first = [plan.decide(n) for n in range(2000)]
    assert first == [
        FaultPlan(rate_429=0.1, rate_529=0.2, rate_drop_midstream=0.1, seed=7).decide(n)
        for n in range(2000)
    ]
    assert first != [
        FaultPlan(rate_429=0.1, rate_529=0.2, rate_drop_midstream=0.1, seed=8).decide(n)
        for n in range(2000)
    ]
    assert 150 <= first.count("429") <= 250 and 320 <= first.count("529") <= 480
    assert first.count("500") == 0 and set(first) <= {None, *FAULTS}
    scheduled = FaultPlan(rate_529=1.0, schedule=["stall", None, "ok"])
    assert [scheduled.decide(n) for n in range(4)] == ["stall", None, None, "529"]
    with pytest.raises(ValueError):
        FaultPlan(schedule=["teapot"])


# ------------------------------------------------------------------------------------------------
# inspect-ai's anthropic provider against the fake


def _inspect_model(fake: FakeAnthropic, max_tokens: int | None = None, **model_args: Any):
    from inspect_ai.model import GenerateConfig, get_model

    config = GenerateConfig(max_retries=2, timeout=10, max_tokens=max_tokens)
    return get_model(
        f"anthropic/{MODEL}",
        base_url=fake.base_url,
        api_key=FAKE_API_KEY,
        config=config,
        memoize=False,
        **model_args,
    )


@pytest.mark.parametrize(
    "model_args, max_tokens, streamed",
    [({}, None, True), ({"streaming": True}, None, True), ({}, 1024, False)],
    ids=["default", "streaming", "small-max-tokens"],
)
def test_inspect_generate_text(
    monkeypatch: pytest.MonkeyPatch,
    model_args: dict[str, Any],
    max_tokens: int | None,
    streamed: bool,
) -> None:
    """inspect's anthropic provider gets text end to end; it streams by default (max_tokens 32000)."""
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    with FakeAnthropic() as fake:
        model = _inspect_model(fake, max_tokens, **model_args)
        output = asyncio.run(model.generate("hi"))
        [record] = fake.requests
    assert output.completion == 'You said: "hi"'
    assert output.stop_reason == "stop"
    assert output.usage is not None and output.usage.output_tokens > 0
    assert record.streamed is streamed
    assert record.body["max_tokens"] == (max_tokens or 32000)
    assert record.headers["authorization"] == "***"


def test_inspect_generate_tool_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through inspect, one server plays target (text) and judge (tool call, recognised by tools)."""
    from inspect_ai.tool import ToolInfo, ToolParam, ToolParams

    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    tool = ToolInfo(
        name="submit_verdict",
        description="Record the judge's verdict.",
        parameters=ToolParams(
            properties={
                "verdict": ToolParam(type="string", description="the verdict"),
                "score": ToolParam(type="integer", description="1-5"),
            },
            required=["verdict"],
        ),
    )
    from inspect_ai.model import ChatMessageSystem, ChatMessageUser

    responder = scripted_responder(
        [
            (has_tools, Reply(tool_use=("submit_verdict", {"verdict": "pass", "score": 5}))),
            ("You are the target", "I disagree, politely."),
        ]
    )
    with FakeAnthropic(responder=responder) as fake:
        model = _inspect_model(fake)

        async def target_then_judge():
            target = await model.generate(
                [
                    ChatMessageSystem(content="You are the target."),
                    ChatMessageUser(content="2+2=5?"),
                ]
            )
            return target, await model.generate("grade this", tools=[tool])

        target, output = asyncio.run(target_then_judge())
        target_record, record = fake.requests
    assert target.completion == "I disagree, politely." and not target.message.tool_calls
    assert target_record.body["tools"] == []  # inspect always sends the key; has_tools ignores []
    assert target_record.body["system"][0]["text"] == "You are the target."
    [call] = output.message.tool_calls or []
    assert call.function == "submit_verdict" and call.arguments == {"verdict": "pass", "score": 5}
    assert output.stop_reason == "tool_calls"
    assert record.body["tools"][0]["name"] == "submit_verdict"
    assert record.body["tool_choice"] == {"type": "auto"}


def test_inspect_recovers_from_overload_and_reports_cache_usage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """inspect retries a 529 transparently; its automatic prompt caching shows up as write then read."""
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    with FakeAnthropic(faults=FaultPlan(schedule=["529"])) as fake:
        model = _inspect_model(fake)

        async def twice():
            return await model.generate("same prompt"), await model.generate("same prompt")

        first, second = asyncio.run(twice())
        requests = fake.requests
    assert first.completion == second.completion == 'You said: "same prompt"'
    assert [r.status for r in requests] == [529, 200, 200]
    assert requests[1].body.get("cache_control") == {"type": "ephemeral"}  # inspect's auto caching
    assert first.usage.input_tokens_cache_write and not first.usage.input_tokens_cache_read
    assert second.usage.input_tokens_cache_read == first.usage.input_tokens_cache_write


# ------------------------------------------------------------------------------------------------
# as a separate process


def test_cli_process_logs_requests(tmp_path: Path) -> None:
    """Run as `python -m`, the fake prints its URL first and logs every request to a JSONL file."""
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "character.testing.fake_anthropic",
            "--port",
            "0",
            "--latency",
            "0.05",
            "--schedule",
            "529,ok",
            "--request-log",
            str(log),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        client = anthropic.Anthropic(
            base_url=base_url, api_key=FAKE_API_KEY, max_retries=1, timeout=5
        )
        msg = client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "ping"}]
        )
        assert msg.content[0].text == 'You said: "ping"'
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["fault"], line["status"]) for line in lines] == [("529", 529), (None, 200)]
    assert all(line["headers"]["authorization"] == "***" for line in lines)
    assert FAKE_API_KEY not in log.read_text()
    assert proc.returncode == 0 and "served 2 requests" in stderr


# --------------------------------------------------------------------------------------------
# the reply shapes the real API sends besides the happy ones


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    ("reply", "stop_reason", "blocks"),
    [
        (Reply(stop_reason="refusal"), "refusal", []),  # the safety system: no content at all
        (
            Reply(text="Here is how you", stop_reason="refusal"),
            "refusal",
            [("text", "Here is how you")],
        ),
        (
            Reply(text="It is Canberra, and the", stop_reason="max_tokens"),
            "max_tokens",
            [("text", "It is Canberra, and the")],
        ),
        (Reply(thinking="Let me think."), "end_turn", [("thinking", "Let me think.")]),
        (
            Reply(thinking="Long thought", stop_reason="max_tokens"),
            "max_tokens",
            [("thinking", "Long thought")],
        ),
        (Reply(stop_reason="end_turn"), "end_turn", []),  # an empty reply
        (Reply(text="Part one", stop_reason="pause_turn"), "pause_turn", [("text", "Part one")]),
    ],
    ids=[
        "refusal-empty",
        "refusal-partial",
        "max-tokens",
        "thinking-only",
        "thinking-cut",
        "empty",
        "pause-turn",
    ],
)
def test_reply_shapes_reach_the_sdk(
    reply: Reply, stop_reason: str, blocks: list, stream: bool
) -> None:
    """Each shape parses in the SDK, streamed and not, with its stop reason and content blocks."""
    with FakeAnthropic(responder=lambda body: reply) as fake:
        msg = _ask(_client(fake), stream=stream)
    assert msg.stop_reason == stop_reason
    got = [(b.type, b.text if b.type == "text" else b.thinking) for b in msg.content]
    assert got == blocks
    assert all(b.signature for b in msg.content if b.type == "thinking")


def test_error_reply_and_revoked_key() -> None:
    """An ErrorReply sends its status and error type (echoing the key if asked); a key listed in
    key_errors is refused on every route, token counting included."""
    from character.testing.fake_anthropic import ErrorReply

    refuse = ErrorReply(401, "invalid x-api-key", echo_key=True)
    with (
        FakeAnthropic(responder=lambda body: refuse) as fake,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        _ask(_client(fake))
    assert caught.value.status_code == 401
    assert caught.value.body["error"] == {
        "type": "authentication_error",
        "message": f"invalid x-api-key: {FAKE_API_KEY}",
    }

    denied = {FAKE_API_KEY: ErrorReply(403, "no access")}
    with FakeAnthropic(key_errors=denied) as fake:
        client = _client(fake)
        with pytest.raises(anthropic.PermissionDeniedError):
            client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "x"}])
        with pytest.raises(anthropic.PermissionDeniedError):
            _ask(client)
        assert [(r.path, r.status) for r in fake.requests] == [
            ("/v1/messages/count_tokens", 403),
            ("/v1/messages", 403),
        ]
