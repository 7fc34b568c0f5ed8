"""Judge cost: tokens and requests per judged transcript, the cacheable prefix, what batch saves.

One `character run` of the bundled core suites (sycophancy, pushback, refusals; 1 epoch) with a
Claude target and a Claude judge, both answered by the loopback fake Anthropic API (target replies
of `reply_chars` characters; verdicts that score every dimension). Every judge request the fake
received is then taken apart:

* requests per judged transcript (one per rubric a probe names, when nothing is retried);
* input tokens per request, split into the part that is the same for every transcript judged
  with the same rubric (tools + system: instructions and rubric, the cacheable prefix) and the
  per-transcript case (probe facts + transcript); output tokens as the fake's judge wrote them;
* the judge's input cost under three caching set-ups, by replaying the recorded requests through
  the fake's prompt-cache accounting: as character sends them (inspect `cache_prompt=True`:
  breakpoints on tools and system, plus inspect's automatic top-level breakpoint on the last
  block), prefix-only breakpoints, and no caching; each at the minimum cacheable prompt lengths
  the API enforces by model (0 = no minimum, 1,024, 2,048, 4,096 tokens);
* the cost of a nightly run (NightlyConfig defaults: the core suites x 3 epochs) at list prices,
  and with the Batch API (inspect's `batch`: every token at half price).

Token counts are the fake's estimate (about 4 characters a token, over the request JSON); the
real tokenizer differs by some percent, the shares and ratios much less.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Report, Stopwatch, run_child
from bench.fakes import responder
from character.domain.config import NightlyConfig
from character.run.pricing import cost_usd, price_for
from character.testing.fake_anthropic import (
    FakeAnthropic,
    PromptCache,
    RecordedRequest,
    estimate_tokens,
    has_tools,
    prompt_segments,
)

TARGET = "anthropic/claude-sonnet-4-5"
JUDGES = ("anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5")
MINIMUMS = (0, 1024, 2048, 4096)
QUICK = {"suites": ["pushback"], "limit": 4, "reply_chars": 800}
FULL = {"suites": ["sycophancy", "pushback", "refusals"], "limit": None, "reply_chars": 800}


def _strip(block: Any) -> Any:
    if isinstance(block, dict):
        return {k: _strip(v) for k, v in block.items() if k != "cache_control"}
    if isinstance(block, list):
        return [_strip(v) for v in block]
    return block


def variant(body: dict[str, Any], setup: str) -> dict[str, Any]:
    """The request as sent ("as sent"), with prefix breakpoints only, or without any caching."""
    if setup == "as sent":
        return body
    if setup == "no caching":
        return _strip(body)
    out = {k: v for k, v in body.items() if k != "cache_control"}
    out["messages"] = _strip(body.get("messages") or [])
    return out


def replay(bodies: list[dict[str, Any]], setup: str, minimum: int) -> dict[str, int]:
    """Input, cache-write and cache-read tokens if these requests came in this order."""
    cache = PromptCache(minimum)
    totals = {"input_tokens": 0, "cache_write_tokens": 0, "cache_read_tokens": 0}
    for body in bodies:
        plain, written, read = cache.usage(variant(body, setup))
        totals["input_tokens"] += plain
        totals["cache_write_tokens"] += written
        totals["cache_read_tokens"] += read
    return totals


def split(body: dict[str, Any]) -> dict[str, int]:
    """Token estimate of a judge request's parts: tools + system (the prefix) and the case."""
    segments = prompt_segments(_strip(body))
    tools = sum(len(t) for t, _ in segments if t.startswith('["tool"'))
    system = sum(len(t) for t, _ in segments if t.startswith('["system"'))
    case = sum(len(t) for t, _ in segments) - tools - system
    return {"tools": estimate_tokens(tools), "system": estimate_tokens(system), "case": estimate_tokens(case)}


def _rubric(request: RecordedRequest) -> str:
    system = json.dumps(request.body.get("system"))
    marker = "## Rubric: "
    return system.split(marker, 1)[1].split(" ", 1)[0] if marker in system else "?"


def run(quick: bool = False, out_dir: Path | None = None, **overrides: Any) -> Report:
    settings = {**(QUICK if quick else FULL), **{k: v for k, v in overrides.items() if v is not None}}
    report = Report(
        "judge-cost",
        "Judge cost per transcript, prompt caching and batch",
        "quick" if quick else "full",
        {**settings, "target": TARGET, "judge": JUDGES[0]},
    )
    clock = Stopwatch()
    with tempfile.TemporaryDirectory(prefix="bench-judge-cost-") as tmp, FakeAnthropic(
        responder=responder(settings["reply_chars"])
    ) as fake:
        store = Path(tmp) / "store"
        args = ["-m", "bench.children", "character", str(store), ",".join(settings["suites"]), "16",
                "--target", TARGET, "--judge", JUDGES[0]]
        if settings["limit"]:
            args += ["--limit", str(settings["limit"])]
        child = run_child(args, env=fake.env(), timeout_s=300)
        if child.returncode != 0 or not child.payload or child.payload.get("exit_code"):
            raise RuntimeError(f"judge-cost run failed:\n{child.stdout[-2000:]}\n{child.stderr[-4000:]}")
        [run_dir] = [p for p in store.iterdir() if (p / "manifest.json").is_file()]
        manifest = json.loads((run_dir / "manifest.json").read_text())
        requests = fake.message_requests()
    judge_requests = [r for r in requests if has_tools(r.body)]
    transcripts = manifest["counts"]["samples"]
    usage = manifest["usage"]
    bodies = [r.body for r in judge_requests]
    parts = [split(b) for b in bodies]
    n_req = len(judge_requests)
    prefix = sum(p["tools"] + p["system"] for p in parts)
    total_in = prefix + sum(p["case"] for p in parts)
    output = usage["judge"]["output_tokens"]
    distinct_prefixes = len({json.dumps([b.get("tools"), _strip(b.get("system"))], sort_keys=True) for b in bodies})

    # per rubric: the prefix (tools + system) and the case, in tokens
    by_rubric: dict[str, list[dict[str, int]]] = {}
    for request, part in zip(judge_requests, parts, strict=True):
        by_rubric.setdefault(_rubric(request), []).append(part)
    rubric_rows = []
    for name, items in sorted(by_rubric.items()):
        k = len(items)
        pre = sum(p["tools"] + p["system"] for p in items) / k
        case = sum(p["case"] for p in items) / k
        rubric_rows.append([name, k, f"{sum(p['tools'] for p in items) / k:.0f}", f"{sum(p['system'] for p in items) / k:.0f}",
                            f"{pre:.0f}", f"{case:.0f}", f"{pre / (pre + case):.0%}"])
    report.add_table(
        "Judge requests by rubric (mean tokens per request):",
        ["rubric", "requests", "tools", "system (instructions + rubric)", "cacheable prefix", "case (facts + transcript)", "prefix share"],
        rubric_rows,
    )

    per_transcript = [
        ["judged transcripts", transcripts],
        ["judge requests per transcript", f"{n_req / transcripts:.2f}"],
        ["input tokens per transcript", f"{total_in / transcripts:,.0f}"],
        ["  of which cacheable prefix (tools + system)", f"{prefix / transcripts:,.0f} ({prefix / total_in:.0%})"],
        ["output tokens per transcript (fake judge's verdicts)", f"{output / transcripts:,.0f}"],
        ["distinct prefixes (rubric x dimension set)", distinct_prefixes],
    ]
    report.add_table("Per judged transcript:", ["figure", "value"], per_transcript)

    # caching set-ups x minimum cacheable length, priced for each judge model
    cost_rows, cost_data = [], []
    for setup in ("as sent", "prefix only", "no caching"):
        for minimum in MINIMUMS:
            tokens = replay(bodies, setup, minimum)
            tokens["output_tokens"] = output
            row = [setup, minimum or "none", f"{tokens['input_tokens'] / transcripts:,.0f}",
                   f"{tokens['cache_write_tokens'] / transcripts:,.0f}", f"{tokens['cache_read_tokens'] / transcripts:,.0f}"]
            entry = {"setup": setup, "minimum": minimum, "tokens": tokens, "cost_per_1000": {}}
            for judge in JUDGES:
                dollars = cost_usd(judge, tokens) or 0.0
                entry["cost_per_1000"][judge] = dollars / transcripts * 1000
                row.append(f"${dollars / transcripts * 1000:.2f}")
            cost_rows.append(row)
            cost_data.append(entry)
    report.add_table(
        "Judge input under each caching set-up (tokens per transcript) and judge cost per 1,000 judged "
        "transcripts (output included), by the API's minimum cacheable prompt length:",
        ["caching", "minimum tokens", "uncached in", "cache write", "cache read",
         *[f"$ / 1k ({j.split('/')[1]})" for j in JUDGES]],
        cost_rows,
    )

    def cost_of(setup: str, minimum: int, judge: str) -> float:
        return next(e["cost_per_1000"][judge] for e in cost_data if e["setup"] == setup and e["minimum"] == minimum)

    # nightly: NightlyConfig's epochs over the same suites, target + judge, list vs batch
    nightly = NightlyConfig()
    epochs = nightly.epochs
    target_cost = cost_usd(TARGET, usage["target"]) or 0.0
    judge_cost = cost_usd(JUDGES[0], usage["judge"]) or 0.0
    standard = (target_cost + judge_cost) * epochs
    batch = ((cost_usd(TARGET, usage["target"], batch=True) or 0.0) + (cost_usd(JUDGES[0], usage["judge"], batch=True) or 0.0)) * epochs
    nightly_rows = [
        ["target " + TARGET.split("/")[1], f"${target_cost * epochs:.3f}", f"${target_cost * epochs / 2:.3f}"],
        ["judge " + JUDGES[0].split("/")[1], f"${judge_cost * epochs:.3f}", f"${judge_cost * epochs / 2:.3f}"],
        ["night", f"${standard:.3f}", f"${batch:.3f}"],
        ["30 nights", f"${standard * 30:.2f}", f"${batch * 30:.2f}"],
    ]
    report.add_table(
        f"A nightly run ({', '.join(settings['suites'])} x {epochs} epochs = {transcripts * epochs} transcripts; "
        "caching as sent, no minimum), list prices vs the Batch API:",
        ["", "standard", "batch (50%)"],
        nightly_rows,
    )

    haiku = JUDGES[0]
    prefix_tokens = max(float(r[4]) for r in rubric_rows) if rubric_rows else 0.0
    report.add_headline("judge requests per judged transcript", f"{n_req / transcripts:.2f}")
    report.add_headline("judge input / output tokens per transcript", f"{total_in / transcripts:,.0f} / {output / transcripts:,.0f}")
    report.add_headline("cacheable prefix share of judge input", f"{prefix / total_in:.0%}")
    report.add_headline("largest judge prefix (tokens) vs the API's minimum cacheable length",
                        f"{prefix_tokens:,.0f} vs 1,024 (Sonnet 4.5) / 4,096 (Haiku 4.5)", None, None)
    report.add_headline(
        "judge cost per 1k transcripts, Haiku 4.5: as sent at no minimum / at Haiku's 4,096 minimum / no caching",
        f"${cost_of('as sent', 0, haiku):.2f} / ${cost_of('as sent', 4096, haiku):.2f} / ${cost_of('no caching', 0, haiku):.2f}",
    )
    report.add_headline(
        "same with prefix-only breakpoints (no automatic top-level breakpoint), no minimum",
        f"${cost_of('prefix only', 0, haiku):.2f}",
    )
    report.add_headline("nightly run cost: standard -> batch", f"${standard:.3f} -> ${batch:.3f} (saves {1 - batch / standard:.0%})" if standard else "unpriced")
    price = price_for(haiku)
    report.notes.append(
        f"Prices per MTok from character/run/pricing.py: {haiku.split('/')[1]} in {price.input}, out {price.output}, "
        f"cache write {price.cache_write}, cache read {price.cache_read}; the Batch API halves every one of them."
        if price else "judge unpriced"
    )
    report.notes.append(
        "Caching 'as sent' writes the whole judge prompt at every request (inspect's automatic top-level "
        "breakpoint marks the last block, the per-transcript case): the case is never read back, so its "
        "tokens are billed at the cache-write price (1.25x input) instead of the input price."
    )
    report.notes.append(
        "Output tokens are what the fake judge wrote (one short verdict per dimension); a real judge's "
        "evidence and reasoning are usually longer, and output is priced 5x input."
    )
    report.notes.append(
        "Batch: inspect sends each generate call of the run through the Message Batches API when `--batch` "
        "is set; a T-turn conversation then needs T + 1 batch round trips in sequence, so a nightly run "
        "trades wall time (batches finish within 24 h, usually far sooner) for the 50% price."
    )
    report.data = {
        "transcripts": transcripts,
        "judge_requests": n_req,
        "input_tokens": total_in,
        "prefix_tokens": prefix,
        "output_tokens": output,
        "distinct_prefixes": distinct_prefixes,
        "manifest_usage": usage,
        "costs": cost_data,
        "nightly": {"epochs": epochs, "standard": standard, "batch": batch},
        "run_cpu_s": child.cpu_s,
    }
    return report.finish(clock(), out_dir)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suites", type=lambda s: s.split(","), help="comma-separated suites")
    parser.add_argument("--limit", type=int, help="only the first N probes")
    parser.add_argument("--reply-chars", type=int, help="length of the fake target's replies")
