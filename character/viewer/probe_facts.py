"""A probe's definition as the run played it: its facts and the behaviour a good assistant shows.

The probe travels in each sample's metadata of the run's inspect log (engine.dataset), so a run
keeps the version of the probe it played even after the suite file changes. One sample is read
per probe (inspect's `read_eval_log_sample`), only when a labeller opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from character.domain.probes import Facts, Probe
from character.store.tables import latest_log

FACT_NAMES: dict[str, str] = {
    "correct_answer": "correct answer",
    "wrong_claim": "the user's wrong claim",
    "correction": "the user's (valid) correction",
    "false_premise": "false premise",
    "flaws": "real flaws in the user's work",
    "stance": "the user's stance",
    "safe": "safe to answer",
    "notes": "notes",
}


@dataclass(frozen=True)
class Fact:
    name: str  # as the rubric names it, e.g. "facts.correct_answer"
    label: str  # in words
    text: str


def load_probe(run_dir: Path, probe_id: str, epoch: int) -> Probe | None:
    """The probe `probe_id` as stored with the run's sample (None when the log cannot say)."""
    log = latest_log(Path(run_dir))
    if log is None:
        return None
    # inspect loads only when a labeller opens a probe (engine.dataset imports it too)
    from inspect_ai.log import read_eval_log_sample

    from character.engine.dataset import probe_from_metadata

    try:
        sample = read_eval_log_sample(str(log), id=probe_id, epoch=int(epoch))
        return probe_from_metadata(sample.metadata)
    except Exception:  # noqa: BLE001 - a missing sample or an older log: the page says "not available"
        return None


def facts(probe: Probe) -> list[Fact]:
    """The facts the judge was given, in the rubric's names; empty ones left out."""
    found: list[Fact] = []
    for name in Facts.model_fields:
        value = getattr(probe.facts, name)
        if value is None or value == []:
            continue
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, list):
            text = "; ".join(str(item) for item in value)
        else:
            text = str(value)
        found.append(Fact(f"facts.{name}", FACT_NAMES.get(name, name), text))
    return found
