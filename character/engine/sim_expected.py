"""What the simulator should score on a given set of probes, computed from its own draws.

A persona's rate (e.g. capitulate 0.20) is the mean over an unlimited pool of probes: each probe
gets its own propensity `min(1, rate * 2u)` (see `sim_provider.probe_propensity`). On a fixed set
of probes the expected rate is the mean of those propensities, which is not the pool's rate; and
one seed is one draw around it. This module answers, for the behaviours a rubric dimension scores:

- `expected_rate`: the mean over seeds on these probes (exact, no sampling);
- `seed_rate`: what the simulator did at one seed (what a judge that never errs would score);
- `seed_spread` / `difference_spread`: `seed_rate` (or a paired difference between two personas
  on the same seed) over many seeds, for "where does this seed land" statements.

Only dimensions whose score is exactly "the behaviour happened" are listed (tests check that the
lexical judge scores each simulated transcript as predicted here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from character.domain.probes import Probe
from character.engine.personas import Propensities
from character.engine.sim_provider import happens, probe_propensity, uniform


@dataclass(frozen=True)
class SimBehaviour:
    kind: str  # the probe kind the behaviour belongs to
    propensity: str  # the Propensities field
    draw: str  # the behaviour name sim_provider draws with


# rubric/dimension -> the simulated behaviour it scores
BEHAVIOURS: dict[str, SimBehaviour] = {
    "pushback/capitulation": SimBehaviour("challenged_answer", "capitulate", "capitulate"),
    "sycophancy/flattery": SimBehaviour("feedback", "flatter", "flatter"),
    "sycophancy/adopts_wrong_belief": SimBehaviour("answer", "adopt_wrong_belief", "adopt"),
    "sycophancy/mirrors_stance": SimBehaviour("mirroring", "mirror", "mirror"),
}


def _scored(probes: Iterable[Probe], behaviour: SimBehaviour) -> list[Probe]:
    return [probe for probe in probes if probe.kind == behaviour.kind]


def _visible(probe: Probe, behaviour: SimBehaviour, caved_at: int) -> bool:
    """Capitulation is drawn for turn 2 or 3; it shows only if the probe has that many replies."""
    return behaviour.propensity != "capitulate" or caved_at <= len(probe.user_turns)


def expected_rate(persona: Propensities, dimension: str, probes: Sequence[Probe]) -> float | None:
    """Mean over seeds of the dimension's rate on these probes; None if none of them applies."""
    behaviour = BEHAVIOURS[dimension]
    scored = _scored(probes, behaviour)
    if not scored:
        return None
    rate = getattr(persona, behaviour.propensity)
    total = 0.0
    for probe in scored:
        # the cave turn is 2 or 3 with equal chance, independent of whether it caves
        shown = (_visible(probe, behaviour, 2) + _visible(probe, behaviour, 3)) / 2
        total += probe_propensity(rate, probe.id) * shown
    return total / len(scored)


def seed_rate(
    persona: Propensities, dimension: str, probes: Sequence[Probe], *, seed: int, epochs: int
) -> float | None:
    """The rate the simulator produced at `seed` over `epochs` (mean over probes of epoch means)."""
    behaviour = BEHAVIOURS[dimension]
    scored = _scored(probes, behaviour)
    if not scored:
        return None
    rate = getattr(persona, behaviour.propensity)
    total = 0.0
    for probe in scored:
        for epoch in range(1, epochs + 1):
            if happens(seed, probe.id, epoch, behaviour.draw, rate):
                caved_at = 2 + int(uniform(seed, probe.id, epoch, "cave-turn") * 2)
                total += _visible(probe, behaviour, caved_at)
    return total / (len(scored) * epochs)


def seed_spread(
    persona: Propensities,
    dimension: str,
    probes: Sequence[Probe],
    *,
    epochs: int,
    seeds: Iterable[int] = range(1000),
) -> list[float]:
    """`seed_rate` at each of `seeds` (sorted), for percentiles and ranges."""
    rates = [seed_rate(persona, dimension, probes, seed=seed, epochs=epochs) for seed in seeds]
    return sorted(r for r in rates if r is not None)


def difference_spread(
    baseline: Propensities,
    candidate: Propensities,
    dimension: str,
    probes: Sequence[Probe],
    *,
    epochs: int,
    seeds: Iterable[int] = range(1000),
) -> list[float]:
    """Candidate minus baseline rate at each seed, both versions on the same seed (sorted)."""
    differences = []
    for seed in seeds:
        before = seed_rate(baseline, dimension, probes, seed=seed, epochs=epochs)
        after = seed_rate(candidate, dimension, probes, seed=seed, epochs=epochs)
        if before is not None and after is not None:
            differences.append(after - before)
    return sorted(differences)


def percentile(value: float, spread: Sequence[float]) -> float:
    """Mid-rank percentile of `value` among `spread` (ties count half), in percent."""
    below = sum(v < value for v in spread)
    ties = sum(v == value for v in spread)
    return 100.0 * (below + ties / 2) / len(spread)


def central_range(spread: Sequence[float], coverage: float = 0.95) -> tuple[float, float]:
    """The central `coverage` range of a sorted spread (e.g. the 2.5th to 97.5th percentile)."""
    tail = (1 - coverage) / 2
    low = spread[int(tail * (len(spread) - 1))]
    high = spread[int(round((1 - tail) * (len(spread) - 1)))]
    return low, high
