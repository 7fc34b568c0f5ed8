"""How character drives inspect: bounded retries, and what keeps long runs and re-judging fast.

Two costs grow faster than the run if left at their defaults:

* Log flushes. Every flush of an .eval log closes the zip, copies the whole file to its
  destination and re-reads its central directory, so a flush costs time in proportion to the
  conversations already written. Flushing after every conversation makes a run quadratic: 2,250
  simulated conversations took 97 s flushed one by one and 31 s flushed in groups of 23.
  `log_buffer_for` flushes about 100 times per run instead, whatever its size; a killed run then
  pays again for at most 1% of its conversations (plus those in flight), never more.
* Garbage collection. inspect and pydantic allocate many short-lived objects per model call,
  and with Python's default thresholds the collector made a full pass over the whole heap (every
  imported module's objects) about once per 70 calls, 200 ms each: 3.4 s of 13 s of eval CPU at
  C = 32. `fewer_gc_pauses` collects less often for the eval's duration: 1 full pass, 1.1 s.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager

# How often a failing API call is tried, bounded at every level so an outage ends a run (which
# re-running resumes) instead of hanging a nightly job:
# - the provider SDK retries a few times itself (anthropic: 2, short backoff, honours retry-after);
# - inspect retries rate limits, overloads, 5xx, dropped connections and timeouts `max_retries`
#   times with exponential backoff (3 s, 6 s, 12 s ...: about 3-6 min in all for 6 retries);
# - a conversation that still errors is replayed SAMPLE_RETRIES times within the eval;
# - eval_set then retries the errored conversations EVAL_RETRIES more times.
DEFAULT_MAX_RETRIES = 6
SAMPLE_RETRIES = 2
EVAL_RETRIES = 3

FLUSHES_PER_RUN = 100
# gen0 threshold 10,000 (default 700) and 10 / 10 for the older generations: full passes become
# rare (one in the C = 32 benchmark instead of 14) while cyclic garbage is still reclaimed; peak
# memory rose 1% in the same benchmark.
EVAL_GC_THRESHOLD = (10_000, 10, 10)


def eval_set_options(conversations: int) -> dict[str, object]:
    """The eval_set settings every character eval shares (runs, and judging imported runs).

    Flush about 100 times per run (`log_buffer_for`); no realtime sample buffer (it only feeds
    inspect view's live display and cost 21% of eval CPU per request, bench/throughput; resume
    relies on the flushed log); bounded retries of errored conversations; a run with more than
    20% of its conversations failed stops, and is finished by running the command again.
    """
    return {
        "log_buffer": log_buffer_for(conversations),
        "log_realtime": False,
        "retry_attempts": EVAL_RETRIES,
        "retry_wait": 1,
        "retry_on_error": SAMPLE_RETRIES,
        "fail_on_error": 0.2,
        "continue_on_fail": True,
        "log_level": "warning",
        "score_display": False,
    }


def log_buffer_for(conversations: int) -> int:
    """Conversations per log flush: 1 for runs of up to 100, then 1% of the run (rounded up)."""
    return max(1, math.ceil(conversations / FLUSHES_PER_RUN))


@contextmanager
def fewer_gc_pauses() -> Iterator[None]:
    """Raise the collector's thresholds while the block runs; restore them afterwards."""
    previous = gc.get_threshold()
    gc.set_threshold(*EVAL_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
