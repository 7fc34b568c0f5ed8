"""What a run says about its probes comes from the probes it plays (--limit, probe subsets).

The user model of adaptive probes, the "[simulated user]" mark, the lexical judge's
"cannot score" warning and compare's "adaptive probes" note are about the conversations played,
not every probe of the suites. Run ids of unlimited runs and of suites without adaptive probes
are unchanged by this (the user model was and is only in the id when one is played).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from character.cli.main import cli
from character.domain.hashing import content_hash
from character.run.judges import resolve_judge
from character.run.runner import RunRequest, default_run_id, model_args, prepare
from character.store.manifest import read_manifest
from tests.conftest import FIXTURES, make_target

ADAPTIVE = FIXTURES / "adaptive.yaml"  # two adaptive probes, then one long scripted probe
MINI = FIXTURES / "mini.yaml"  # scripted probes only


def _prepared(suite: Path, limit: int | None = None, probe_ids: tuple[str, ...] | None = None):
    return prepare(
        RunRequest(
            suites=[str(suite)],
            target=make_target("sim/assistant-v1", settings={"seed": 0}),
            judge=resolve_judge("lexical"),
            store=Path("/nonexistent-store"),
            limit=limit,
            probe_ids=probe_ids,
            display="none",
        )
    )


def _id_as_before(suite: Path, limit: int | None, user_model: str | None) -> str:
    """The run id the runner made before probe selection existed: the same spec, with the user
    model in it exactly when the suites hold an adaptive probe (now: when one is played)."""
    prepared = _prepared(suite, limit)
    request = prepared.request
    spec = {
        "suites": {s.name: s.hash for s in prepared.suites},
        "rubrics": {r.name: r.hash for r in prepared.rubrics},
        "target": request.target.hash,
        "judge": [
            request.judge.kind,
            request.judge.id,
            request.judge.prompt_hash,
            request.judge.repeats,
        ],
        "epochs": request.epochs,
        "limit": request.limit,
        "model_args": model_args(request),
        "nonce": None,
    }
    if user_model is not None:
        spec["user_model"] = user_model
    return default_run_id([s.name for s in prepared.suites], request.target, content_hash(spec))


@pytest.mark.parametrize(
    ("suite", "limit", "user_model"),
    [
        (MINI, None, None),
        (MINI, 2, None),
        (ADAPTIVE, None, "sim/user"),
        (ADAPTIVE, 3, "sim/user"),  # every probe: as unlimited
        (ADAPTIVE, 1, "sim/user"),  # plays an adaptive probe
    ],
)
def test_run_ids_that_play_what_they_did_before_keep_their_id(
    suite: Path, limit: int | None, user_model: str | None
) -> None:
    """Runs that play an adaptive probe, and runs of suites without one, keep the id they had
    (so a rerun resumes them); computed from the spec, so a judge or rubric change that moves
    every id does not break this check of the selection logic."""
    assert _prepared(suite, limit).run_id == _id_as_before(suite, limit, user_model)


def test_a_limit_that_plays_only_scripted_probes_has_no_user_model() -> None:
    """The probe subset ends before the adaptive probes: no user model, no unscorable
    simulated_user dimension; the same subset with an adaptive probe has both, counted on the
    probes played (1, not the suites' 2)."""
    scripted = _prepared(ADAPTIVE, probe_ids=("adaptive.long-scripted",))
    assert scripted.user_model is None and scripted.warnings == []
    assert "user" not in scripted.judge_roles
    one = _prepared(ADAPTIVE, limit=1)
    assert one.user_model == "sim/user"
    assert one.warnings[0].startswith(
        "the lexical judge (lexical-v2) cannot score simulated_user/unrealistic_user_turn "
        "(1 probe(s), e.g. adaptive.capital)"
    )


def test_limit_on_a_suite_starting_with_scripted_probes_says_nothing_of_a_simulated_user(
    tmp_path: Path,
) -> None:
    """The tester's case: `stability --limit 3` plays three scripted probes."""
    store = tmp_path / "store"
    result = CliRunner().invoke(
        cli,
        [
            "--store",
            str(store),
            "run",
            "stability",
            "--target",
            "sim/assistant-v1",
            "--limit",
            "3",
            "--display",
            "none",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "SIMULATED USER" not in result.output
    assert "cannot score simulated_user" not in result.output
    [run] = [p for p in store.iterdir() if p.is_dir()]
    manifest = read_manifest(run)
    assert manifest.user_model is None
    assert manifest.marks == ["simulated"]
    listing = CliRunner().invoke(cli, ["--store", str(store), "runs"])
    assert listing.exit_code == 0 and "[simulated user]" not in listing.output
    logs = list((run / "logs").glob("*.eval"))
    from inspect_ai.log import read_eval_log

    header = read_eval_log(str(logs[0]), header_only=True)
    assert not (header.eval.model_roles or {}).get("user")  # no user model was built


def test_compare_notes_no_adaptive_probes_for_limited_runs_without_them(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for model in ("sim/assistant-v1", "sim/assistant-v2"):
        result = CliRunner().invoke(
            cli,
            [
                "--store",
                str(store),
                "run",
                "stability",
                "--target",
                model,
                "--limit",
                "2",
                "--name",
                model.split("/")[1],
                "--display",
                "none",
            ],
        )
        assert result.exit_code == 0, result.output
    runs = sorted(p.name for p in store.iterdir() if p.is_dir())
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        cli, ["--store", str(store), "compare", runs[0], runs[1], "--out", str(out)]
    )
    assert result.exit_code in (0, 1), result.output
    report = json.loads((out / "report.json").read_text())
    assert "adaptive probes" not in json.dumps(report)
    assert "adaptive probes" not in (out / "report.md").read_text()
