"""A rejected API key ends the whole run at the first 401/403, not after retries per conversation.

A 401 (authentication_error) or 403 (permission_error) will not get better by asking again: every
conversation of the run would fail the same way, each after its replays. The first rejection
seen by the scripted user or the judge is recorded for the process; every later call checks the
record and stops before it reaches the API. The runner then reports one line, "the API rejected
ANTHROPIC_API_KEY (401)", and exits 2. Finished conversations stay in the log: re-running the
same command with a valid key resumes.

`KeyRejected` is a BaseException on purpose: inspect turns an ordinary exception into a sample
error and replays the sample; this one ends the eval at once (inspect records the eval as
errored, and eval_set's retries stop at the recorded rejection without calling the API).
Provider-neutral: any exception in the chain with an HTTP `status_code` of 401 or 403 counts
(the anthropic and openai SDKs, and httpx, all carry one).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import anyio

REJECTED_STATUSES = (401, 403)

_lock = threading.Lock()
_recorded: KeyRejected | None = None
_last_raised = 0.0
RAISE_INTERVAL_S = 0.5


class KeyRejected(BaseException):  # noqa: N818 - it names the event, as inspect's LimitExceededError does
    """The API refused the credentials for `model` with HTTP `status`."""

    def __init__(self, *, status: int, variable: str, model: str) -> None:
        self.status = status
        self.variable = variable
        self.model = model
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"the API rejected {self.variable} ({self.status})"


def rejected_status(exc: BaseException) -> int | None:
    """401 or 403 when `exc` (or an exception it wraps) is an HTTP rejection of the credentials."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        status = _status_code(current)
        if status in REJECTED_STATUSES:
            return status
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += list(getattr(current, "exceptions", ()) or ())  # exception groups
        last_attempt = getattr(current, "last_attempt", None)  # tenacity's RetryError
        if last_attempt is not None and getattr(last_attempt, "failed", False):
            pending.append(last_attempt.exception())
    return None


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def key_variable(model: Any) -> str:
    """The environment variable holding the key `model` (an inspect Model) used."""
    candidates = list(getattr(getattr(model, "api", None), "api_key_vars", None) or [])
    for name in candidates:
        if os.environ.get(name):
            return name
    return candidates[0] if candidates else "the API key"


def record_rejection(exc: BaseException, model: Any) -> KeyRejected | None:
    """If `exc` is a 401/403, record it for the process (first one wins) and return it."""
    global _recorded
    if isinstance(exc, KeyRejected):
        return exc
    status = rejected_status(exc)
    if status is None:
        return None
    with _lock:
        if _recorded is None:
            _recorded = KeyRejected(status=status, variable=key_variable(model), model=str(model))
        return _recorded


async def raise_if_rejected(exc: BaseException, model: Any) -> None:
    """If `exc` is a 401/403: record it and end the eval. The first conversation to see one
    raises it; others (their calls were already in flight) wait to be cancelled with it."""
    global _last_raised
    if rejected_status(exc) is None:
        return
    first = _recorded is None
    rejection = record_rejection(exc, model)
    if first and rejection is not None:
        _last_raised = time.monotonic()
        raise rejection
    await check_no_rejection()


async def check_no_rejection() -> None:
    """After a rejection, no call is made with the key: one conversation at a time raises the
    recorded rejection (which ends inspect's eval); the others wait to be cancelled with it.

    One raiser per eval attempt keeps inspect's report of the aborted eval to one exception
    instead of one per conversation in flight; a later attempt (eval_set retries) gets its own.
    """
    global _last_raised
    while (recorded := _recorded) is not None:
        now = time.monotonic()
        if now - _last_raised > RAISE_INTERVAL_S:
            _last_raised = now
            raise KeyRejected(
                status=recorded.status, variable=recorded.variable, model=recorded.model
            )
        await anyio.sleep(RAISE_INTERVAL_S / 5)


def recorded_rejection() -> KeyRejected | None:
    return _recorded


def reset_rejection() -> None:
    """Forget a recorded rejection (a new run in the same process starts with a clean slate)."""
    global _recorded, _last_raised
    with _lock:
        _recorded = None
        _last_raised = 0.0
