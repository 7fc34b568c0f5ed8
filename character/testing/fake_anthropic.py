"""A local fake of the Anthropic Messages API, for tests that must run without internet.

The fake speaks enough of the real wire protocol that the real `anthropic` SDK and inspect-ai's
anthropic provider work against it unchanged: point `ANTHROPIC_BASE_URL` (or `base_url=`) at
`fake.base_url` and use any API key.

    with FakeAnthropic(responder=scripted_responder([(has_tools, judge_reply)])) as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key=FAKE_API_KEY)
        ...
        assert fake.counters().successful_responses == 1

Served routes:

* ``POST /v1/messages`` -- non-streaming JSON, or server-sent events when the body has
  ``"stream": true`` (message_start, content_block_start, ping, content_block_delta...,
  content_block_stop, message_delta, message_stop).
* ``POST /v1/messages/count_tokens`` -- ``{"input_tokens": n}``.
* anything else -- 404 ``not_found_error``.

Token usage is an estimate (about four characters a token). Prompt caching is simulated: a
request whose tools, system or message blocks carry ``cache_control`` (or that has a top-level
``cache_control``, which marks its last block) writes the prefix up to each marked block; a later
request with an identical prefix reads it back as ``cache_read_input_tokens``.

Faults (`FaultPlan`) are injected only on ``POST /v1/messages``, decided deterministically from
the seed and the request's sequence number, so a run is reproducible however threads interleave.

Stdlib only: `http.server.ThreadingHTTPServer` on a background thread. Also runnable as a
process: ``python -m character.testing.fake_anthropic --port 0`` prints its base URL on the first
line of stdout and serves until SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.server
import json
import math
import random
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FAKE_API_KEY",
    "FAULTS",
    "Counters",
    "ErrorReply",
    "FakeAnthropic",
    "FaultPlan",
    "RecordedRequest",
    "Reply",
    "echo_responder",
    "has_tools",
    "is_continuation",
    "last_user_text",
    "scripted_responder",
    "system_text",
]

FAKE_API_KEY = "sk-ant-fake-test-key"
REDACTED = "***"
# header values that may carry credentials; they are never stored
_SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})

# fault names, as used by `FaultPlan.schedule`, `RecordedRequest.fault` and `Counters.faults`
FAULT_429 = "429"
FAULT_529 = "529"
FAULT_500 = "500"
FAULT_DROP = "drop_midstream"
FAULT_STALL = "stall"
FAULT_MALFORMED = "malformed"
# an overloaded_error delivered as an SSE `error` event inside a 200 stream, as the real API does
# when it runs out of capacity mid-answer (a plain 529 for non-streaming requests)
FAULT_STREAM_ERROR = "stream_error"
FAULTS = (
    FAULT_429,
    FAULT_529,
    FAULT_500,
    FAULT_DROP,
    FAULT_STALL,
    FAULT_MALFORMED,
    FAULT_STREAM_ERROR,
)
# schedule entries meaning "no fault for this request"
_NO_FAULT = frozenset({"", "none", "ok"})

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

_TEXT_CHUNK_CHARS = 16
_JSON_CHUNK_CHARS = 12


# --------------------------------------------------------------------------------------------
# replies and responders


@dataclass(frozen=True)
class Reply:
    """What the fake model answers, in any shape the real Messages API sends.

    * text, a tool call, or text followed by a tool call (the happy shapes);
    * ``thinking``: a (signed) thinking block before the rest; ``Reply(thinking="...")`` alone is a
      reply with only thinking and no text;
    * ``stop_reason``: the API's stop reason, e.g. ``"max_tokens"`` with the text cut mid-sentence,
      ``"refusal"`` with no content at all (the provider's safety system stopped the model), or
      ``"pause_turn"`` (the API paused a long turn: the client sends the reply back to continue);
    * ``Reply(stop_reason="end_turn")`` with nothing else: an empty reply (content ``[]``);
      ``text=""`` sends one empty text block instead.
    """

    text: str | None = None
    tool_use: tuple[str, Mapping[str, Any]] | None = None
    stop_reason: str | None = None
    thinking: str | None = None

    def __post_init__(self) -> None:
        if (
            self.text is None
            and self.tool_use is None
            and self.thinking is None
            and self.stop_reason is None
        ):
            raise ValueError("Reply needs text, tool_use, thinking or an explicit stop_reason")
        if self.tool_use is not None:
            name, args = self.tool_use
            if not isinstance(name, str) or not isinstance(args, Mapping):
                raise TypeError("Reply.tool_use must be (name: str, input: dict)")

    @property
    def resolved_stop_reason(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if self.tool_use is not None else "end_turn"


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error the responder wants sent instead of a message (e.g. a rejected key).

    ``status`` 401 sends an ``authentication_error``, 403 a ``permission_error``, and so on.
    With ``echo_key`` the message ends with the API key the request carried, as some proxies and
    gateways do: the case a client must never print or store.
    """

    status: int
    message: str
    echo_key: bool = False


Responder = Callable[[dict[str, Any]], "Reply | ErrorReply | str"]


def _block_text(block: Any) -> str:
    """Text of one content block (text, or the text inside a tool_result)."""
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    if block.get("type") == "text":
        return str(block.get("text", ""))
    if block.get("type") == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            return "\n".join(_block_text(b) for b in content)
        return str(content or "")
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(t for t in (_block_text(b) for b in content) if t)
    return _block_text(content)


def last_user_text(body: Mapping[str, Any]) -> str:
    """Text of the last user message in a Messages API request body ("" if none)."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def system_text(body: Mapping[str, Any]) -> str:
    """The system prompt of a request body as plain text ("" if none)."""
    return _content_text(body.get("system") or "")


def is_continuation(body: Mapping[str, Any]) -> bool:
    """Predicate: the request continues a paused turn (its last message is the assistant's)."""
    messages = body.get("messages") or []
    return (
        bool(messages)
        and isinstance(messages[-1], dict)
        and messages[-1].get("role") == "assistant"
    )


def has_tools(body: Mapping[str, Any]) -> bool:
    """Predicate: the request offers tools (how a judge/grader request is usually recognised)."""
    return isinstance(body, Mapping) and bool(body.get("tools"))


def echo_responder(body: dict[str, Any]) -> Reply:
    """Default responder: a text reply quoting the last user message."""
    return Reply(text=f'You said: "{last_user_text(body)}"')


def scripted_responder(
    rules: Mapping[Any, Any] | Iterable[tuple[Any, Any]],
    default: Responder | None = echo_responder,
) -> Responder:
    """A responder driven by rules, checked in order; the first match answers.

    Each rule maps a matcher to an answer. A matcher is a substring looked for in the last user
    message or the system prompt, or a predicate ``(body) -> bool`` (e.g. `has_tools`). An answer
    is a `Reply`, a plain string (a text reply) or a callable ``(body) -> Reply | str``. When no
    rule matches, `default` answers; with ``default=None`` the request gets a 500 api_error.
    """
    items = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
    for matcher, _answer in items:
        if not (isinstance(matcher, str) or callable(matcher)):
            raise TypeError(f"rule matcher must be a substring or a predicate, got {matcher!r}")

    def respond(body: dict[str, Any]) -> Reply | str:
        user, system = last_user_text(body), system_text(body)
        for matcher, answer in items:
            matched = (
                (matcher in user or matcher in system)
                if isinstance(matcher, str)
                else bool(matcher(body))
            )
            if matched:
                return answer(body) if callable(answer) else answer
        if default is None:
            raise LookupError(f"no scripted rule matched last user message {user[:80]!r}")
        return default(body)

    return respond


# --------------------------------------------------------------------------------------------
# faults, records, counters


@dataclass(frozen=True)
class FaultPlan:
    """Which faults to inject on ``POST /v1/messages``.

    Rates are probabilities per request (their sum must be at most 1). The decision for the
    n-th request (0-based, in arrival order) depends only on ``seed`` and ``n``. ``schedule``
    overrides the rates for the first ``len(schedule)`` requests: each entry is a fault name
    from `FAULTS` or None / "none" / "ok" for a normal answer.

    The faults, by name:

    * ``"429"`` -- rate_limit_error with ``retry-after`` (and ``retry-after-ms``) of
      ``retry_after_s``.
    * ``"529"`` -- overloaded_error.  ``"500"`` -- api_error.
    * ``"drop_midstream"`` -- a 200 whose body (or event stream, cut after about half of the
      content deltas) stops part-way and the connection is closed.
    * ``"stall"`` -- the answer is held back ``stall_s`` seconds (meant to exceed the client's
      timeout); the wait ends early when the server closes.
    * ``"malformed"`` -- a 200 whose body (or first SSE event) is not valid JSON.
    * ``"stream_error"`` -- a streamed answer that starts, then ends with an SSE ``error`` event
      carrying overloaded_error (a 529 for a non-streaming request).
    """

    rate_429: float = 0.0
    rate_529: float = 0.0
    rate_500: float = 0.0
    rate_drop_midstream: float = 0.0
    rate_stall: float = 0.0
    stall_s: float = 30.0
    rate_malformed: float = 0.0
    retry_after_s: float = 0.1
    seed: int = 0
    schedule: Sequence[str | None] | None = None
    rate_stream_error: float = 0.0

    def __post_init__(self) -> None:
        rates = self._rates()
        if any(rate < 0 or rate > 1 for _, rate in rates):
            raise ValueError("fault rates must be between 0 and 1")
        if sum(rate for _, rate in rates) > 1 + 1e-9:
            raise ValueError("fault rates must sum to at most 1")
        for entry in self.schedule or ():
            if entry is not None and entry.lower() not in _NO_FAULT and entry not in FAULTS:
                raise ValueError(f"unknown fault {entry!r} in schedule; known: {', '.join(FAULTS)}")

    def _rates(self) -> list[tuple[str, float]]:
        return [
            (FAULT_429, self.rate_429),
            (FAULT_529, self.rate_529),
            (FAULT_500, self.rate_500),
            (FAULT_DROP, self.rate_drop_midstream),
            (FAULT_STALL, self.rate_stall),
            (FAULT_MALFORMED, self.rate_malformed),
            (FAULT_STREAM_ERROR, self.rate_stream_error),
        ]

    def decide(self, n: int) -> str | None:
        """The fault for the n-th request (None for a normal answer). Pure: same n, same answer."""
        if self.schedule is not None and n < len(self.schedule):
            entry = self.schedule[n]
            return None if entry is None or entry.lower() in _NO_FAULT else entry
        u = random.Random(f"{self.seed}:{n}").random()
        cumulative = 0.0
        for name, rate in self._rates():
            cumulative += rate
            if rate > 0 and u < cumulative:
                return name
        return None


@dataclass
class RecordedRequest:
    """One request as the fake saw it. Credentials in headers are replaced by "***"."""

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    streamed: bool
    fault: str | None
    timestamp: float
    status: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)


@dataclass(frozen=True)
class Counters:
    """A snapshot of what the fake has served."""

    total_requests: int
    successful_responses: int
    faults: dict[str, int]


def _redact(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers:
        k = key.lower()
        out[k] = REDACTED if k in _SECRET_HEADERS else value
    return out


# --------------------------------------------------------------------------------------------
# token accounting


def estimate_tokens(chars: int) -> int:
    """The fake's token count for `chars` characters: about 4 per token (bench/judge_cost reuses it)."""
    return max(1, math.ceil(chars / 4)) if chars > 0 else 0


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _strip_cache_control(block: Any) -> Any:
    if isinstance(block, dict):
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def prompt_segments(body: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The prompt as cacheable blocks in API prefix order (tools, system, messages).

    Each segment is (canonical JSON without cache_control, whether it carries cache_control).
    """
    segments: list[tuple[str, bool]] = []
    for tool in body.get("tools") or []:
        segments.append(
            (
                _canonical(["tool", _strip_cache_control(tool)]),
                isinstance(tool, dict) and "cache_control" in tool,
            )
        )
    system = body.get("system")
    if isinstance(system, str) and system:
        segments.append((_canonical(["system", system]), False))
    elif isinstance(system, list):
        for block in system:
            segments.append(
                (
                    _canonical(["system", _strip_cache_control(block)]),
                    isinstance(block, dict) and "cache_control" in block,
                )
            )
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        if isinstance(content, list):
            for block in content:
                segments.append(
                    (
                        _canonical([role, _strip_cache_control(block)]),
                        isinstance(block, dict) and "cache_control" in block,
                    )
                )
        else:
            segments.append((_canonical([role, content]), False))
    return segments


class PromptCache:
    """Remembers hashed prompt prefixes written at cache breakpoints."""

    def __init__(self, min_tokens: int = 0) -> None:
        self._lock = threading.Lock()
        self._prefixes: set[str] = set()
        self.min_tokens = min_tokens

    def clear(self) -> None:
        with self._lock:
            self._prefixes.clear()

    def usage(self, body: Mapping[str, Any]) -> tuple[int, int, int]:
        """(input_tokens, cache_creation_input_tokens, cache_read_input_tokens) for a request."""
        segments = prompt_segments(body)
        digest = hashlib.sha256(str(body.get("model", "")).encode())
        hashes: list[str] = []
        cumulative: list[int] = []
        chars = 0
        for text, _ in segments:
            digest.update(text.encode())
            digest.update(b"\x00")
            hashes.append(digest.copy().hexdigest())
            chars += len(text)
            cumulative.append(chars)
        total = max(1, estimate_tokens(chars))

        breakpoints = [i for i, (_, marked) in enumerate(segments) if marked]
        if body.get("cache_control") and segments:
            breakpoints.append(len(segments) - 1)
        # like the real API, a prefix shorter than the minimum cacheable length is not cached
        breakpoints = [i for i in breakpoints if estimate_tokens(cumulative[i]) >= self.min_tokens]
        if not breakpoints:
            return total, 0, 0
        breakpoints = sorted(set(breakpoints))

        with self._lock:
            read_at = next((i for i in reversed(breakpoints) if hashes[i] in self._prefixes), None)
            read = estimate_tokens(cumulative[read_at]) if read_at is not None else 0
            last = breakpoints[-1]
            created = 0
            if read_at != last:
                created = estimate_tokens(cumulative[last]) - read
                self._prefixes.update(hashes[i] for i in breakpoints)
        return max(0, total - read - created), created, read


# --------------------------------------------------------------------------------------------
# the HTTP server


def _error_body(status: int, message: str, request_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": request_id,
    }


def _validate_messages_body(body: Any, *, need_max_tokens: bool) -> str | None:
    """An invalid_request_error message for a malformed request, or None if it is acceptable."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "model: Field required"
    if need_max_tokens:
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            return "max_tokens: Field required"
        if max_tokens < 1:
            return "max_tokens: must be greater than or equal to 1"
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages: Field required"
    if not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages.{i}: Input should be an object"
        if message.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if not isinstance(message.get("content"), str | list):
            return f"messages.{i}.content: Field required"
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        return "system: Input should be a valid string or list of text blocks"
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return "tools: Input should be a valid list"
    return None


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # seconds an idle keep-alive connection is kept open
    server_version = "FakeAnthropic/1.0"
    sys_version = ""
    server: _Server  # type: ignore[assignment]

    # -- plumbing -------------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.fake.verbose:
            super().log_message(format, *args)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length > 0 else b""
        if len(data) < length:
            # the client hung up mid-body (a run cancelling its in-flight requests): the real API
            # never sees such a request, so it is not recorded either
            raise ValueError("request body cut short")
        return data

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self._send_bytes(status, data, "application/json", headers)

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", self._request_id)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send_json(status, _error_body(status, message, self._request_id), headers)

    @contextlib.contextmanager
    def _counted_if(self, success: bool) -> Iterator[None]:
        """Count a successful response *before* its last bytes go out (so a client that has its
        answer always sees the count), taking it back if the write fails."""
        fake = self.server.fake
        if success:
            fake._count_success()
        try:
            yield
        except BaseException:
            if success:
                fake._count_success(-1)
            raise

    def _abort(self) -> None:
        """Close the connection abruptly, mid-response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- routing --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._request_id = f"req_fake_{uuid.uuid4().hex[:20]}"
        self._route("GET", b"")

    def do_POST(self) -> None:
        self._request_id = f"req_fake_{uuid.uuid4().hex[:20]}"
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        self._route("POST", raw)

    def _route(self, method: str, raw: bytes) -> None:
        fake = self.server.fake
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        headers = _redact(self.headers.items())
        body: Any = None
        parse_error: str | None = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as ex:
                parse_error = f"There was an error parsing the body: {ex}"
        streamed = isinstance(body, dict) and body.get("stream") is True

        if path.startswith("/v1/") and not (
            self.headers.get("x-api-key") or self.headers.get("authorization")
        ):
            record = fake._record(method, path, headers, body, streamed, None)
            fake._finish(record, 401)
            self._send_error(401, "x-api-key header is required")
        elif path.startswith("/v1/") and self._sent_key() in fake.key_errors:
            # a revoked key (or one without access) is refused on every route
            record = fake._record(method, path, headers, body, streamed, None)
            self._send_error_reply(record, fake.key_errors[self._sent_key()])
        elif method == "POST" and path == "/v1/messages":
            fault = fake._next_fault()
            record = fake._record(method, path, headers, body, streamed, fault)
            self._messages(record, body, parse_error)
        elif method == "POST" and path == "/v1/messages/count_tokens":
            record = fake._record(method, path, headers, body, False, None)
            self._count_tokens(record, body, parse_error)
        else:
            record = fake._record(method, path, headers, body, False, None)
            fake._finish(record, 404)
            self._send_error(404, f"Not found: {method} {path}")

    def _send_error_reply(self, record: RecordedRequest, reply: ErrorReply) -> None:
        text = f"{reply.message}: {self._sent_key()}" if reply.echo_key else reply.message
        self.server.fake._finish(record, reply.status)
        self._send_error(reply.status, text)

    def _sent_key(self) -> str:
        """The API key of the request being answered, as sent (x-api-key or a bearer token)."""
        key = self.headers.get("x-api-key") or self.headers.get("authorization") or ""
        return key.removeprefix("Bearer ").strip()

    def _count_tokens(self, record: RecordedRequest, body: Any, parse_error: str | None) -> None:
        fake = self.server.fake
        problem = parse_error or _validate_messages_body(body, need_max_tokens=False)
        if problem:
            fake._finish(record, 400)
            self._send_error(400, problem)
            return
        total = max(1, estimate_tokens(sum(len(text) for text, _ in prompt_segments(body))))
        fake._finish(record, 200, success=True)
        self._send_json(200, {"input_tokens": total})

    def _messages(self, record: RecordedRequest, body: Any, parse_error: str | None) -> None:
        fake = self.server.fake
        plan = fake.faults
        fault = record.fault

        if fake.latency_s > 0 and fake._shutdown.wait(fake.latency_s):
            self._abort()
            return

        if fault == FAULT_429:
            fake._finish(record, 429)
            retry_after = f"{plan.retry_after_s:g}"
            self._send_error(
                429,
                "Number of request tokens has exceeded your per-minute rate limit (fake)",
                {"retry-after": retry_after, "retry-after-ms": f"{plan.retry_after_s * 1000:g}"},
            )
            return
        if fault == FAULT_529 or (fault == FAULT_STREAM_ERROR and not record.streamed):
            fake._finish(record, 529)
            self._send_error(529, "Overloaded")
            return
        if fault == FAULT_500:
            fake._finish(record, 500)
            self._send_error(500, "Internal server error")
            return

        problem = parse_error or _validate_messages_body(body, need_max_tokens=True)
        if problem:
            fake._finish(record, 400)
            self._send_error(400, problem)
            return

        try:
            reply = fake.responder(body)
            if isinstance(reply, str):
                reply = Reply(text=reply)
            if not isinstance(reply, Reply | ErrorReply):
                raise TypeError(
                    f"responder returned {type(reply).__name__}, expected Reply, ErrorReply or str"
                )
        except Exception as ex:  # a broken responder is reported to the client, not swallowed
            fake._finish(record, 500)
            self._send_error(500, f"fake responder failed: {type(ex).__name__}: {ex}")
            return

        if isinstance(reply, ErrorReply):
            self._send_error_reply(record, reply)
            return

        if fault == FAULT_STALL and fake._shutdown.wait(plan.stall_s):
            self._abort()
            return

        message = fake._message(body, reply)
        fake._finish(record, 200)
        if record.streamed:
            self._stream(record, message, reply)
        else:
            self._plain(record, message)

    def _plain(self, record: RecordedRequest, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode()
        if record.fault == FAULT_MALFORMED:
            self._send_bytes(200, data[: max(1, len(data) // 2)], "application/json")
            return
        if record.fault == FAULT_DROP:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("request-id", self._request_id)
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self._abort()
            return
        with self._counted_if(record.fault is None):
            self._send_bytes(200, data, "application/json")

    def _stream(self, record: RecordedRequest, message: dict[str, Any], reply: Reply) -> None:
        events = self._stream_events(message, reply)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", self._request_id)
        self.end_headers()

        def write_chunk(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        if record.fault == FAULT_MALFORMED:
            write_chunk(b'event: message_start\ndata: {"type":"message_start","message":{"id":\n\n')
            write_chunk(b"")
            return
        if record.fault == FAULT_STREAM_ERROR:
            # the message starts, then the API gives up with an error event and ends the stream
            for name, data in events[:2]:
                write_chunk(_sse(name, data))
            error = _error_body(529, "Overloaded", self._request_id)
            write_chunk(_sse("error", {"type": "error", "error": error["error"]}))
            write_chunk(b"")
            return
        if record.fault == FAULT_DROP:
            # everything up to half of the content deltas, then the connection goes away
            deltas = [i for i, (name, _) in enumerate(events) if name == "content_block_delta"]
            cut = deltas[(len(deltas) - 1) // 2] + 1 if deltas else 2
            for name, data in events[:cut]:
                write_chunk(_sse(name, data))
            self._abort()
            return
        for name, data in events[:-1]:
            write_chunk(_sse(name, data))
        last, terminator = _sse(*events[-1]), b"0\r\n\r\n"
        with self._counted_if(record.fault is None):
            self.wfile.write(f"{len(last):x}\r\n".encode() + last + b"\r\n" + terminator)
            self.wfile.flush()

    @staticmethod
    def _stream_events(message: dict[str, Any], reply: Reply) -> list[tuple[str, dict[str, Any]]]:
        usage = message["usage"]
        start = dict(message, content=[], stop_reason=None, stop_sequence=None)
        start["usage"] = dict(usage, output_tokens=1)
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start})
        ]
        if not message["content"]:
            events.append(("ping", {"type": "ping"}))
        for index, block in enumerate(message["content"]):
            if block["type"] == "thinking":
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                        },
                    )
                )
                if index == 0:
                    events.append(("ping", {"type": "ping"}))
                for kind, key, piece in [
                    *(
                        ("thinking_delta", "thinking", p)
                        for p in _chunks(block["thinking"], _TEXT_CHUNK_CHARS)
                    ),
                    ("signature_delta", "signature", block["signature"]),
                ]:
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": index,
                                "delta": {"type": kind, key: piece},
                            },
                        )
                    )
            elif block["type"] == "text":
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {"type": "text", "text": ""},
                        },
                    )
                )
                if index == 0:
                    events.append(("ping", {"type": "ping"}))
                for piece in _chunks(block["text"], _TEXT_CHUNK_CHARS):
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": index,
                                "delta": {"type": "text_delta", "text": piece},
                            },
                        )
                    )
            else:
                start_block = dict(block, input={})
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": start_block,
                        },
                    )
                )
                if index == 0:
                    events.append(("ping", {"type": "ping"}))
                pieces = [""] + _chunks(json.dumps(block["input"]), _JSON_CHUNK_CHARS)
                for piece in pieces:
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": piece},
                            },
                        )
                    )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                    "usage": {
                        "input_tokens": usage["input_tokens"],
                        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                        "cache_read_input_tokens": usage["cache_read_input_tokens"],
                        "output_tokens": usage["output_tokens"],
                    },
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default backlog of 5 makes clients at 32+ connections retry connects, which
    # would look like faults the fake never injected.
    request_queue_size = 128
    fake: FakeAnthropic


# --------------------------------------------------------------------------------------------
# the public fake


class FakeAnthropic:
    """A fake Anthropic Messages API server on loopback, run on a background thread.

    Use as a context manager (or call `start()` / `close()`). `base_url` is what to hand the SDK
    or inspect (``base_url=`` or ``ANTHROPIC_BASE_URL``); `env()` gives both variables.

    Args:
        responder: answers each valid ``/v1/messages`` body with a `Reply` (or a str).
        faults: which faults to inject (none by default).
        latency_s: fixed delay before every ``/v1/messages`` answer.
        host, port: where to listen; port 0 picks a free port.
        request_log: a JSON-lines file every request (redacted) is appended to.
        key_errors: API key -> the `ErrorReply` every request carrying that key gets, on every
            route (a revoked key: 401; a key without access: 403).
        min_cache_tokens: prefixes shorter than this are not cached (the real API's minimum
            is 1024+ tokens; 0 caches everything, which small test prompts need).
        verbose: log each HTTP request to stderr.

    Any non-empty ``x-api-key`` or ``Authorization`` header is accepted; a request with neither
    gets a 401 authentication_error. The anthropic SDK 2.x sends ``Authorization: Bearer <key>``.
    """

    def __init__(
        self,
        responder: Responder = echo_responder,
        faults: FaultPlan | None = None,
        latency_s: float = 0.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        request_log: str | Path | None = None,
        min_cache_tokens: int = 0,
        verbose: bool = False,
        key_errors: Mapping[str, ErrorReply] | None = None,
    ) -> None:
        self.responder = responder
        self.key_errors = dict(key_errors or {})
        self.faults = faults or FaultPlan()
        self.latency_s = float(latency_s)
        self.host = host
        self.port = port
        self.request_log = Path(request_log) if request_log is not None else None
        self.verbose = verbose

        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._fault_counter = 0
        self._successes = 0
        self._fault_counts: dict[str, int] = {}
        self._message_counter = 0
        self._cache = PromptCache(min_cache_tokens)
        self._shutdown = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeAnthropic:
        """Bind and start serving (idempotent). Returns self."""
        if self._server is not None:
            return self
        self._shutdown.clear()
        server = _Server((self.host, self.port), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-anthropic:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving promptly, even with stalled requests in flight (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._shutdown.set()  # wakes stalled / delayed handlers
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # unblocks keep-alive handlers waiting for a next request
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(
                "FakeAnthropic is not running; use it as a context manager or call start()"
            )
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point the SDK and inspect at this fake."""
        return {"ANTHROPIC_BASE_URL": self.base_url, "ANTHROPIC_API_KEY": FAKE_API_KEY}

    # -- inspection -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def message_requests(self) -> list[RecordedRequest]:
        """Only the ``POST /v1/messages`` requests."""
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/messages"]

    def counters(self) -> Counters:
        """Total requests, successful (un-faulted, fully sent 200) responses, and faults by name."""
        with self._lock:
            return Counters(len(self._requests), self._successes, dict(self._fault_counts))

    def wait_for_requests(self, n: int, timeout_s: float = 5.0) -> bool:
        """Wait until at least n requests have arrived; True if they did in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self._requests) >= n:
                    return True
            time.sleep(0.01)
        with self._lock:
            return len(self._requests) >= n

    def reset(self) -> None:
        """Forget recorded requests, counters and the prompt cache (the fault sequence restarts)."""
        with self._lock:
            self._requests.clear()
            self._fault_counter = 0
            self._successes = 0
            self._fault_counts.clear()
        self._cache.clear()

    # -- used by the handler --------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _next_fault(self) -> str | None:
        with self._lock:
            n = self._fault_counter
            self._fault_counter += 1
        return self.faults.decide(n)

    def _record(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
        streamed: bool,
        fault: str | None,
    ) -> RecordedRequest:
        with self._lock:
            record = RecordedRequest(
                index=len(self._requests),
                method=method,
                path=path,
                headers=headers,
                body=body,
                streamed=streamed,
                fault=fault,
                timestamp=time.time(),
            )
            self._requests.append(record)
            if fault is not None:
                self._fault_counts[fault] = self._fault_counts.get(fault, 0) + 1
        return record

    def _finish(self, record: RecordedRequest, status: int, *, success: bool = False) -> None:
        """Note the status a request is answered with; append it to the request log."""
        record.status = status
        if success:
            self._count_success()
        if self.request_log is not None:
            line = record.to_json() + "\n"
            with self._lock, open(self.request_log, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()

    def _count_success(self, delta: int = 1) -> None:
        with self._lock:
            self._successes += delta

    def _message(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        with self._lock:
            self._message_counter += 1
            n = self._message_counter
        content: list[dict[str, Any]] = []
        output = ""
        if reply.thinking is not None:
            signature = hashlib.sha256(reply.thinking.encode()).hexdigest()
            content.append({"type": "thinking", "thinking": reply.thinking, "signature": signature})
            output += reply.thinking
        if reply.text is not None:
            content.append({"type": "text", "text": reply.text})
            output += reply.text
        if reply.tool_use is not None:
            name, args = reply.tool_use
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_fake{n:06d}{uuid.uuid4().hex[:12]}",
                    "name": name,
                    "input": dict(args),
                }
            )
            output += json.dumps(dict(args))
        input_tokens, created, read = self._cache.usage(body)
        return {
            "id": f"msg_fake{n:06d}{uuid.uuid4().hex[:12]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": reply.resolved_stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": estimate_tokens(len(output)),
                "cache_creation_input_tokens": created,
                "cache_read_input_tokens": read,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": created,
                    "ephemeral_1h_input_tokens": 0,
                },
                "service_tier": "standard",
            },
        }


# --------------------------------------------------------------------------------------------
# command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m character.testing.fake_anthropic",
        description="Serve a fake Anthropic Messages API on loopback (prints the base URL first).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every /v1/messages answer"
    )
    parser.add_argument(
        "--reply", default=None, help="fixed text reply (default: echo the last user message)"
    )
    parser.add_argument("--fault-rate-429", type=float, default=0.0)
    parser.add_argument("--fault-rate-529", type=float, default=0.0)
    parser.add_argument("--fault-rate-500", type=float, default=0.0)
    parser.add_argument(
        "--fault-rate-drop", type=float, default=0.0, help="cut the response off mid-way"
    )
    parser.add_argument("--fault-rate-stall", type=float, default=0.0)
    parser.add_argument("--fault-rate-malformed", type=float, default=0.0)
    parser.add_argument(
        "--fault-rate-stream-error", type=float, default=0.0, help="overloaded_error mid-stream"
    )
    parser.add_argument("--stall-s", type=float, default=30.0)
    parser.add_argument(
        "--retry-after", type=float, default=0.1, help="retry-after seconds sent with 429s"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--schedule",
        default=None,
        help=f"comma-separated faults for the first requests ({', '.join(FAULTS)}, ok)",
    )
    parser.add_argument(
        "--request-log", default=None, help="append every request (redacted) as a JSON line here"
    )
    parser.add_argument("--verbose", action="store_true", help="log each HTTP request to stderr")
    args = parser.parse_args(argv)

    plan = FaultPlan(
        rate_429=args.fault_rate_429,
        rate_529=args.fault_rate_529,
        rate_500=args.fault_rate_500,
        rate_drop_midstream=args.fault_rate_drop,
        rate_stall=args.fault_rate_stall,
        stall_s=args.stall_s,
        rate_malformed=args.fault_rate_malformed,
        rate_stream_error=args.fault_rate_stream_error,
        retry_after_s=args.retry_after,
        seed=args.seed,
        schedule=[s.strip() for s in args.schedule.split(",")] if args.schedule else None,
    )
    reply_text = args.reply
    responder: Responder = (
        (lambda _body: Reply(text=reply_text)) if reply_text is not None else echo_responder
    )

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    with FakeAnthropic(
        responder,
        plan,
        args.latency,
        host=args.host,
        port=args.port,
        request_log=args.request_log,
        verbose=args.verbose,
    ) as fake:
        print(fake.base_url, flush=True)
        while not stop.wait(0.2):
            pass
        counters = fake.counters()
    print(
        f"served {counters.total_requests} requests, {counters.successful_responses} ok, faults {counters.faults}",
        file=sys.stderr,
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
