"""Cost estimates from token counts, in US dollars per million tokens.

Prices change; this table is an estimate that says so in every report. Unknown models are
reported as unpriced, never as free.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_write: float
    cache_read: float


# Public list prices per MTok (Anthropic pricing page, 2025). Batch API: half of these. Newer
# models are unpriced until their price is given in character.toml:
#   [prices.claude-sonnet-5-5]
#   input = 3.0
#   output = 15.0
#   cache_write = 3.75
#   cache_read = 0.30
PRICES: dict[str, Price] = {
    "claude-opus-4": Price(15.0, 75.0, 18.75, 1.50),
    "claude-opus-4-1": Price(15.0, 75.0, 18.75, 1.50),
    "claude-opus-4-5": Price(5.0, 25.0, 6.25, 0.50),
    "claude-sonnet-4": Price(3.0, 15.0, 3.75, 0.30),
    "claude-sonnet-4-5": Price(3.0, 15.0, 3.75, 0.30),
    "claude-3-7-sonnet": Price(3.0, 15.0, 3.75, 0.30),
    "claude-haiku-4-5": Price(1.0, 5.0, 1.25, 0.10),
    "claude-3-5-haiku": Price(0.80, 4.0, 1.0, 0.08),
}
FREE_PROVIDERS = ("sim", "local", "mockllm", "lexical")  # local: runs on this machine


def price_for(model: str, overrides: dict[str, Price] | None = None) -> Price | None:
    """Price per MTok; `overrides` (from character.toml [prices]) win over the built-in table."""
    provider, _, name = model.partition("/")
    if provider in FREE_PROVIDERS:
        return Price(0.0, 0.0, 0.0, 0.0)
    table = {**PRICES, **(overrides or {})}
    # Longest matching prefix, so dated ids (claude-sonnet-4-5-20250929) find their family.
    matches = [key for key in table if name.startswith(key)]
    return table[max(matches, key=len)] if matches else None


def cost_usd(
    model: str,
    usage: dict[str, int],
    *,
    batch: bool = False,
    overrides: dict[str, Price] | None = None,
) -> float | None:
    price = price_for(model, overrides)
    if price is None:
        return None
    total = (
        usage.get("input_tokens", 0) * price.input
        + usage.get("output_tokens", 0) * price.output
        + usage.get("cache_write_tokens", 0) * price.cache_write
        + usage.get("cache_read_tokens", 0) * price.cache_read
    ) / 1_000_000
    return round(total * (0.5 if batch else 1.0), 6)
