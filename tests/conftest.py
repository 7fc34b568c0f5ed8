"""Shared fixtures: simulated runs made once per test session, in a temporary store.

Tests that need stored runs use these instead of making their own, so the suite stays fast.
Every fixture run uses the simulator (sim/...) and the lexical judge: fully offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from character.domain.targets import make_target
from character.engine.api_errors import reset_rejection
from character.run.judges import resolve_judge
from character.run.runner import RunRequest, execute, prepare
from character.store.manifest import Manifest

FIXTURES = Path(__file__).parent / "fixtures"
MINI_SUITE = FIXTURES / "mini.yaml"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _offline_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may reach a real API or write into the developer's ./transcripts."""
    for variable in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CHARACTER_STORE", str(tmp_path_factory.mktemp("default-store")))
    monkeypatch.setenv("INSPECT_LOG_DIR", str(tmp_path_factory.mktemp("inspect-logs")))
    # a key rejection is recorded per process (the run stops at the first one); tests that drive
    # the judge without a run must not inherit one from an earlier test in the same worker
    reset_rejection()


def make_run(
    store: Path,
    model: str,
    suites: list[str],
    *,
    epochs: int = 1,
    seed: int | None = None,
    limit: int | None = None,
    model_args: dict | None = None,
    name: str | None = None,
) -> tuple[Path, Manifest]:
    """Run suites on a simulated target with the lexical judge; returns (run folder, manifest)."""
    settings = {"seed": seed} if seed is not None else {}
    request = RunRequest(
        suites=suites,
        target=make_target(model, settings=settings, name=name),
        judge=resolve_judge("lexical"),
        store=store,
        epochs=epochs,
        limit=limit,
        display="none",
        model_args=model_args or {},
    )
    prepared = prepare(request)
    return prepared.dir, execute(prepared)


@pytest.fixture(scope="session")
def sim_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the bundled core suites run on both simulated versions (and an A/A twin).

    runs: v1 (seed 0), v2 (seed 0), v1b (assistant-v1 again with seed 1); 3 epochs each.
    """
    os.environ.pop("ANTHROPIC_API_KEY", None)
    store = tmp_path_factory.mktemp("sim-store")
    suites = ["sycophancy", "pushback", "refusals"]
    make_run(store, "sim/assistant-v1", suites, epochs=3, seed=0, name="v1")
    make_run(store, "sim/assistant-v2", suites, epochs=3, seed=0, name="v2")
    make_run(store, "sim/assistant-v1", suites, epochs=3, seed=1, name="v1b")
    return store


def run_by_name(store: Path, name: str) -> Path:
    """The run folder in `store` whose target name is `name` (v1, v2, v1b)."""
    from character.store.layout import list_run_dirs
    from character.store.manifest import read_manifest

    for folder in list_run_dirs(store):
        if read_manifest(folder).target.name == name:
            return folder
    raise LookupError(name)


@pytest.fixture(scope="session")
def mini_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """The five-probe test suite on assistant-v1, 2 epochs: quick transcripts for unit tests."""
    store = tmp_path_factory.mktemp("mini-store")
    return make_run(store, "sim/assistant-v1", [str(MINI_SUITE)], epochs=2, seed=0, name="mini")
