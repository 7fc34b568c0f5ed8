"""How alike two probes' wordings are: near-duplicate detection for `check` and `expand`.

The measure is difflib's ratio over word sequences (2 x matching words / total words, in order),
so a paraphrase that only swaps a name scores high and a reworded question scores low. It is
cheap enough to compare every pair of a suite: most pairs are ruled out by an exact upper bound
(length, then `quick_ratio`) before the full match is computed.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from difflib import SequenceMatcher

# Wordings at least this alike are the same probe twice. On the bundled suites (2,000 probes,
# many templated) no two distinct probes reach it; at 0.9 one-word swaps of short templated
# prompts ("the first electric iron" / "toothbrush") would be flagged, which are different probes.
NEAR_DUPLICATE = 0.95
# `character expand` asks more of a variant: it must differ from its seed and its siblings by more
# than a word or two, or it adds a probe that is not a new test.
VARIANT_DISTINCT = 0.9

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> tuple[str, ...]:
    """Lower-cased word tokens (punctuation and spacing do not make two texts different)."""
    return tuple(_WORD.findall(text.lower()))


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Ratio in [0, 1] of words two token sequences share in order (1: identical)."""
    if not a and not b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def near_duplicates(
    items: Sequence[tuple[Hashable, Sequence[str]]],
    *,
    threshold: float = NEAR_DUPLICATE,
    skip: set[frozenset] | None = None,
) -> list[tuple[Hashable, Hashable, float]]:
    """Pairs (key_a, key_b, similarity) of items at least `threshold` alike, in input order.

    `skip` holds pairs ({key_a, key_b}) that are alike on purpose (e.g. stance-flipped twins).
    """
    found: list[tuple[Hashable, Hashable, float]] = []
    for j in range(1, len(items)):
        key_b, seq_b = items[j]
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(seq_b)  # b's word counts are built once and reused for every a
        for i in range(j):
            key_a, seq_a = items[i]
            if skip and frozenset((key_a, key_b)) in skip:
                continue
            total = len(seq_a) + len(seq_b)
            if total == 0:
                found.append((key_a, key_b, 1.0))
                continue
            if 2 * min(len(seq_a), len(seq_b)) / total < threshold:
                continue  # even a perfect match of the shorter one could not reach the threshold
            matcher.set_seq1(seq_a)
            if matcher.quick_ratio() < threshold:
                continue
            score = matcher.ratio()
            if score >= threshold:
                found.append((key_a, key_b, score))
    return found
