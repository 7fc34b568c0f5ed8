"""Checks on the probe suites shipped in character/suites/.

The pydantic models only check the shape of a single probe. These tests check what a judge and a
comparison rely on across probes: every probe is scored by at least one rubric dimension, the
facts a dimension's question refers to are filled in, mirroring twins really are twins, and ids
are unique everywhere (scores are keyed by probe id).
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from character.domain.probes import Probe, Suite, bundled_suite_paths, load_suite
from character.domain.rubrics import Rubric, load_rubric

# The hand-written suites and the probe kinds each one must contain.
CORE_SUITES: dict[str, set[str]] = {
    "sycophancy": {"feedback", "answer", "mirroring"},
    "pushback": {"challenged_answer", "valid_correction", "false_premise"},
    "refusals": {"safe_request", "harmful_request"},
}
MIN_PROBES = 30

PATHS: dict[str, Path] = bundled_suite_paths()
SUITE_NAMES = sorted(PATHS)


@cache
def suite(name: str) -> Suite:
    return load_suite(PATHS[name])


@cache
def rubric(name: str) -> Rubric:
    return load_rubric(name)


def probes_of(kind: str) -> list[Probe]:
    return [p for name in SUITE_NAMES for p in suite(name).probes if p.kind == kind]


def ids(probes: list[Probe]) -> list[str]:
    return [p.id for p in probes]


def test_core_suites_are_bundled() -> None:
    """The three hand-written suites exist, so the parametrised tests below never pass vacuously."""
    missing = set(CORE_SUITES) - set(PATHS)
    assert not missing, f"bundled suites missing: {sorted(missing)}"


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_suite_loads_and_is_named_after_its_file(name: str) -> None:
    """load_suite validates every probe; the suite name is what `character run NAME` resolves."""
    loaded = suite(name)
    assert loaded.name == name, f"{PATHS[name]}: name '{loaded.name}' != file stem '{name}'"


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_suite_is_large_enough(name: str) -> None:
    """Below ~30 probes a per-suite rate is too noisy to compare versions (METHODS.md, Power)."""
    assert len(suite(name).probes) >= MIN_PROBES


@pytest.mark.parametrize("name", sorted(CORE_SUITES))
def test_core_suite_covers_its_kinds(name: str) -> None:
    """Each hand-written suite exercises every situation it is meant to measure."""
    kinds = Counter(p.kind for p in suite(name).probes)
    assert set(kinds) == CORE_SUITES[name], kinds
    assert min(kinds.values()) >= 8, f"too few probes of some kind: {kinds}"


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_probe_ids_carry_the_suite_name(name: str) -> None:
    """Probe.suite is derived from the id prefix, so it must match the file the probe lives in."""
    wrong = [p.id for p in suite(name).probes if p.suite != name]
    assert not wrong, f"ids not prefixed '{name}.': {wrong[:5]}"


def test_probe_ids_are_unique_across_suites() -> None:
    """Scores, comparisons and labels are keyed by probe id; a clash would merge two probes."""
    counts = Counter(p.id for name in SUITE_NAMES for p in suite(name).probes)
    duplicates = sorted(pid for pid, n in counts.items() if n > 1)
    assert not duplicates, duplicates[:10]


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_every_probe_is_scored_by_each_rubric_it_names(name: str) -> None:
    """A rubric none of whose dimensions applies to the probe's kind would silently score nothing."""
    problems = []
    for probe in suite(name).probes:
        for rubric_name in probe.rubrics:
            dims = rubric(rubric_name).dimensions
            if not any(dim.applies(probe.kind) for dim in dims):
                problems.append(f"{probe.id}: no '{rubric_name}' dimension applies to {probe.kind}")
    assert not problems, problems[:10]


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_every_probe_describes_good_behaviour(name: str) -> None:
    """The judge and human labellers compare the transcript against good_behaviour."""
    empty = [p.id for p in suite(name).probes if len(p.good_behaviour.strip()) < 20]
    assert not empty, empty[:10]


# -- facts the rubric questions refer to, per kind ------------------------------------------------


def test_mirroring_pairs_point_at_each_other_with_opposite_stances() -> None:
    """mirrors_stance is only meaningful if the twin asks the same question with the stance flipped."""
    by_id = {p.id: p for p in probes_of("mirroring")}
    assert by_id, "no mirroring probes bundled"
    for probe in by_id.values():
        assert probe.pair, f"{probe.id}: mirroring probe without a pair"
        twin = by_id.get(probe.pair)
        assert twin is not None, f"{probe.id}: pair {probe.pair} is not a mirroring probe"
        assert twin.pair == probe.id, f"{probe.id} -> {twin.id} -> {twin.pair}: not mutual"
        assert twin.id != probe.id
        assert twin.category == probe.category, f"{probe.id}: twin in another category"
        assert probe.facts.stance and twin.facts.stance, f"{probe.id}: stance missing"
        assert probe.facts.stance.strip().lower() != twin.facts.stance.strip().lower(), (
            f"{probe.id}: twin states the same stance"
        )


@pytest.mark.parametrize("name", ["sycophancy"])
def test_hand_written_mirroring_pairs_are_tagged_for_and_against(name: str) -> None:
    """In the hand-written suite each pair has one stance-for and one stance-against probe."""
    probes = {p.id: p for p in suite(name).probes if p.kind == "mirroring"}
    for probe in probes.values():
        side = {"stance-for", "stance-against"} & set(probe.tags)
        twin_side = {"stance-for", "stance-against"} & set(probes[probe.pair].tags)
        assert len(side) == 1 and len(twin_side) == 1 and side != twin_side, probe.id


def test_challenged_answers_escalate_and_name_both_answers() -> None:
    """capitulation compares replies with correct_answer vs wrong_claim over >= 2 pushback turns."""
    probes = probes_of("challenged_answer")
    assert probes
    for probe in probes:
        assert probe.planned_turns >= 3, f"{probe.id}: needs a question and >= 2 pushbacks"
        right, wrong = probe.facts.correct_answer, probe.facts.wrong_claim
        assert right and wrong, f"{probe.id}: correct_answer and wrong_claim are required"
        assert right.strip().lower() != wrong.strip().lower(), probe.id
        # A wrong claim inside the right answer (or vice versa) makes string matching ambiguous.
        assert wrong.lower() not in right.lower() and right.lower() not in wrong.lower(), probe.id


def test_valid_corrections_script_a_mistake_and_name_the_correction() -> None:
    """stubbornness needs a pre-filled assistant mistake for the user to correct, and the correction."""
    probes = probes_of("valid_correction")
    assert probes
    for probe in probes:
        roles = [turn.role for turn in probe.turns]
        assert "assistant" in roles, f"{probe.id}: no scripted assistant mistake"
        assert probe.facts.correction, f"{probe.id}: facts.correction missing"


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("feedback", ("flaws",)),
        ("answer", ("correct_answer", "wrong_claim")),
        ("false_premise", ("false_premise",)),
    ],
)
def test_kinds_carry_the_facts_their_dimensions_ask_about(
    kind: str, fields: tuple[str, ...]
) -> None:
    """flattery reads facts.flaws, adopts_wrong_belief facts.wrong_claim, and so on."""
    for probe in probes_of(kind):
        for field in fields:
            assert getattr(probe.facts, field), f"{probe.id}: facts.{field} missing"


def test_hand_written_feedback_lists_two_to_four_flaws() -> None:
    """The judge checks whether each listed flaw was named; a long list dilutes the important ones."""
    for probe in suite("sycophancy").probes:
        if probe.kind == "feedback":
            assert 2 <= len(probe.facts.flaws) <= 4, probe.id


def test_safe_flag_matches_refusal_kind() -> None:
    """over_refusal and under_refusal read facts.safe; it must agree with the probe's kind."""
    expected = {"safe_request": True, "harmful_request": False}
    for name in SUITE_NAMES:
        for probe in suite(name).probes:
            if probe.kind in expected:
                assert probe.facts.safe is expected[probe.kind], f"{probe.id}: facts.safe"
            elif name == "refusals":
                pytest.fail(f"{probe.id}: refusals suite holds a {probe.kind} probe")


def test_hard_constraints_are_harmful_requests_in_the_refusals_suite() -> None:
    """Hard constraints skip statistics and fail the gate on one miss: reserve them for the worst."""
    hard = [p for p in suite("refusals").probes if p.hard_constraint]
    assert 1 <= len(hard) <= 6
    assert all(p.kind == "harmful_request" for p in hard)
