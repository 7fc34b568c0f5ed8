"""The `local/<model>` provider: a GGUF model run in-process by llama.cpp, no network.

Registered with inspect-ai (see `_registry.py`), so `character run ... --target local/smollm2` and
`inspect eval character/character --model local/smollm2` both work. Which file a model id names,
and how it is loaded, is in `local_runtime.py`; tool calls are constrained JSON (`local_tools.py`).

- The conversation goes through the model's own chat template (llama.cpp applies the one stored
  in the GGUF); the system prompt is the template's system turn.
- temperature, top_p, top_k, seed, max_tokens, stop_seqs, frequency and presence penalties are
  passed on. max_tokens defaults to 512 (small models can loop until the context is full).
- Reproducibility: with a seed (and any temperature) the same conversation gives the same reply,
  whatever the thread count and whatever ran before or alongside it: no prompt is served from
  another request's cache (that costs prompt time, not generation time). In a character run each epoch gets its own seed derived from the
  given one (epoch 1 uses it as is), so K epochs are K samples rather than K copies.
- Stop reasons: llama.cpp's `length` is `max_tokens`, or `model_length` when the context window
  was what ran out; a prompt longer than the window is `model_length` with no reply.
- Usage is llama.cpp's own token count; prompt tokens it reused from its cache are recorded as
  cache reads.
- Model args (`-M`, or `n_threads` / `n_ctx` in a character.toml target): n_threads (default 1)
  and n_ctx (default 4096, or the model's trained context if smaller; more than that is refused).
- The file is loaded when the model is built, so a file llama.cpp cannot load fails before a
  run stores anything.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import anyio
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    StopReason,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from character.engine import local_runtime
from character.engine.local_tools import ToolConstraint, parse_tool_reply, tool_constraint
from character.engine.solver import PROBE_CONTEXT_KEY

DEFAULT_MAX_TOKENS = 512


class LocalModel(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(
            model_name=model_name,
            base_url=base_url,
            api_key=api_key,
            config=config or GenerateConfig(),
        )
        # Everything a user can get wrong is checked here, when the model is built (before a run
        # stores anything), down to llama.cpp loading the file: a file it cannot load, or a
        # context it cannot hold, is one line and exit 2, not a stored run of failed samples.
        # The load is cached per file (local_runtime), so the first call does not load again.
        settings = local_runtime.LocalSettings.from_model_args(model_args)
        local_runtime.require_runtime()
        self.path, self.display_name = local_runtime.resolve_model_file(model_name)
        self.settings = local_runtime.fit_context(
            settings,
            local_runtime.trained_context(self.path),
            given="n_ctx" in model_args,
            name=self.display_name,
        )
        local_runtime.load(self.path, self.settings)

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        # Generation is serialized per model (local_runtime); more connections only queue.
        return 4

    def connection_key(self) -> str:
        return str(self.path)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        constraint = tool_constraint(tools, tool_choice)
        request = chat_request(input, config, constraint)
        loaded = local_runtime.load(self.path, self.settings)
        response = await anyio.to_thread.run_sync(loaded.chat, request)
        return model_output(
            response, constraint, model=f"local/{self.model_name}", n_ctx=self.settings.n_ctx
        )


def chat_request(
    messages: list[ChatMessage], config: GenerateConfig, constraint: ToolConstraint | None
) -> dict[str, Any]:
    """The OpenAI-shaped request llama.cpp's chat endpoint takes."""
    chat = [_message(m) for m in messages]
    if constraint is not None:
        if chat and chat[0]["role"] == "system":
            chat[0] = {
                "role": "system",
                "content": f"{chat[0]['content']}\n\n{constraint.instructions}",
            }
        else:
            chat.insert(0, {"role": "system", "content": constraint.instructions})
    request: dict[str, Any] = {
        "messages": chat,
        "max_tokens": config.max_tokens or DEFAULT_MAX_TOKENS,
        # Every prompt is computed afresh. Reusing another request's cached prefix changes the
        # floating-point path, so a seeded reply would depend on which conversations ran before.
        "cache_prompt": False,
    }
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
    ):
        value = getattr(config, ours)
        if value is not None:
            request[theirs] = value
    if config.stop_seqs:
        request["stop"] = list(config.stop_seqs)
    if config.seed is not None:
        request["seed"] = epoch_seed(config.seed, _epoch(messages))
    if constraint is not None:
        request["response_format"] = {
            "type": "json_schema",
            "json_schema": {"schema": constraint.schema},
        }
    return request


def epoch_seed(seed: int, epoch: int | None) -> int:
    """Epoch 1 (or no epoch known) uses the seed as given; later epochs a seed derived from both."""
    if not epoch or epoch == 1:
        return seed
    digest = hashlib.sha256(f"{seed}|epoch|{epoch}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _epoch(messages: list[ChatMessage]) -> int | None:
    for message in messages:
        if message.role == "user" and message.metadata and PROBE_CONTEXT_KEY in message.metadata:
            epoch = message.metadata[PROBE_CONTEXT_KEY].get("epoch")
            return epoch if isinstance(epoch, int) else None
    return None


def _message(message: ChatMessage) -> dict[str, str]:
    if message.role == "tool":
        # Chat templates of small models rarely know a tool role: the result is a user turn.
        label = f"Result of the tool {message.function}" if message.function else "Tool result"
        return {"role": "user", "content": f"{label}:\n{message.text}"}
    if isinstance(message, ChatMessageAssistant) and message.tool_calls:
        calls = [{"name": c.function, "arguments": c.arguments} for c in message.tool_calls]
        text = "\n".join([message.text, *(json.dumps(c) for c in calls)]).strip()
        return {"role": "assistant", "content": text}
    return {"role": message.role, "content": message.text}


def model_output(
    response: dict[str, Any], constraint: ToolConstraint | None, *, model: str, n_ctx: int
) -> ModelOutput:
    """llama.cpp's response (or error object) as an inspect ModelOutput with usage."""
    usage = response.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    model_usage = ModelUsage(
        input_tokens=prompt - cached,
        output_tokens=completion,
        total_tokens=prompt + completion,
        input_tokens_cache_read=cached or None,
    )
    error = response.get("error") if isinstance(response.get("error"), dict) else response
    if "choices" not in response:
        message = str(error.get("message") or error)
        if error.get("type") == "exceed_context_size_error" or "context" in message.lower():
            # the conversation no longer fits the window: the model's own limit, not a failure
            output = ModelOutput.from_content(model=model, content="", stop_reason="model_length")
            output.usage = model_usage
            output.metadata = {"local_error": message[:500]}
            return output
        raise RuntimeError(f"llama.cpp error: {message[:500]}")
    choice = response["choices"][0]
    text = choice.get("message", {}).get("content") or ""
    finish = choice.get("finish_reason")
    stop_reason: StopReason = "stop"
    if finish == "length":
        stop_reason = "model_length" if prompt + completion >= n_ctx else "max_tokens"
    elif finish not in ("stop", None):
        stop_reason = "unknown"
    tool_calls = None
    if constraint is not None:
        text, calls = parse_tool_reply(text, constraint, call_id=f"call_{uuid.uuid4().hex[:12]}")
        tool_calls = calls or None
        if tool_calls and stop_reason == "stop":
            stop_reason = "tool_calls"
    message = ChatMessageAssistant(
        content=text, tool_calls=tool_calls, model=model, source="generate"
    )
    output = ModelOutput(
        model=model,
        choices=[ChatCompletionChoice(message=message, stop_reason=stop_reason)],
        usage=model_usage,
    )
    timings = response.get("timings") or {}
    if timings:
        output.metadata = {
            "prompt_tokens_per_second": timings.get("prompt_per_second"),
            "tokens_per_second": timings.get("predicted_per_second"),
        }
    return output


@modelapi(name=local_runtime.PROVIDER)
def local() -> type[ModelAPI]:
    return LocalModel
