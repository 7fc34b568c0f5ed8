"""Probes become inspect `Sample`s; the probe travels in the sample metadata.

Besides the whole probe (nested, under "probe"), the fields people filter on are repeated as flat
keys: suite, kind, category and tags (a list). Tools that filter on sample metadata by key
(inspect-scout's `-F "sample_metadata.kind = 'challenged_answer'"`, `inspect view`) reach them
without knowing character's probe schema.
"""

from __future__ import annotations

from inspect_ai.dataset import MemoryDataset, Sample

from character.domain.probes import Probe, Suite

PROBE_KEY = "probe"


def probe_sample(probe: Probe, suite: Suite) -> Sample:
    return Sample(
        id=probe.id,
        input=probe.user_turns[0],
        metadata={
            PROBE_KEY: probe.model_dump(mode="json"),
            "suite": suite.name,
            "suite_hash": suite.hash,
            "kind": probe.kind,
            "category": probe.category,
            "tags": list(probe.tags),
        },
    )


def suites_dataset(suites: list[Suite], *, name: str) -> MemoryDataset:
    samples = [probe_sample(probe, suite) for suite in suites for probe in suite.probes]
    return MemoryDataset(samples=samples, name=name)


def probe_from_metadata(metadata: dict) -> Probe:
    return Probe.model_validate(metadata[PROBE_KEY])
