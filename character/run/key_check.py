"""Before a run calls anything: is each API key accepted? One free request per Anthropic model.

A revoked or mistyped key is the common case of a 401/403, and it fails from the first call. The
Messages API's token counting endpoint is free and checks the key like any other request, so one
count per Anthropic model (target and judge) finds a rejected key before any conversation starts
or any folder is written: "the API rejected ANTHROPIC_API_KEY (401)", exit 2. Other providers
count tokens locally (no request, so nothing to learn); for them, and for a key revoked mid-run,
the run itself stops at the first rejection (engine/api_errors.py).

Any other failure of the check (a rate limit, an overload, a network fault) is left to the run,
which retries and reports such faults itself: the check never blocks a run it cannot judge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from inspect_ai.model import GenerateConfig, Model

from character.engine.api_errors import KeyRejected, record_rejection

# providers whose inspect `count_tokens` asks the API (and so checks the key) at no cost
CHECKED_PROVIDERS = frozenset({"anthropic"})


def rejected_key(models: Iterable[Model | None]) -> KeyRejected | None:
    """The first rejection among `models`' keys, or None (recorded for the process if found)."""
    seen: set[str] = set()
    for model in models:
        if model is None or str(model) in seen:
            continue
        seen.add(str(model))
        if str(model).split("/", 1)[0] not in CHECKED_PROVIDERS:
            continue
        try:
            asyncio.run(model.count_tokens("ping", config=GenerateConfig(max_retries=0)))
        except Exception as exc:
            rejection = record_rejection(exc, model)
            if rejection is not None:
                return rejection
    return None
