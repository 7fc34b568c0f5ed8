"""How `character run` drives inspect: log flushes stay linear, GC thresholds are restored."""

from __future__ import annotations

import gc

import pytest

from character.domain.targets import make_target
from character.run import runner
from character.run.eval_tuning import EVAL_GC_THRESHOLD, fewer_gc_pauses, log_buffer_for
from character.run.judges import resolve_judge


@pytest.mark.parametrize(
    ("conversations", "buffer"),
    [(1, 1), (20, 1), (100, 1), (101, 2), (705, 8), (2_250, 23), (20_000, 200)],
)
def test_a_run_is_flushed_about_a_hundred_times_whatever_its_size(conversations: int, buffer: int) -> None:
    assert log_buffer_for(conversations) == buffer
    # never more than ~100 flushes (linear cost), never more than 1% of the run unflushed
    assert conversations / buffer <= 100 or buffer == 1
    assert buffer - 1 <= conversations / 100


def test_gc_thresholds_are_raised_inside_and_restored_after_even_on_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_gc_pauses():
        assert gc.get_threshold() == EVAL_GC_THRESHOLD
        raise RuntimeError("eval failed")
    assert gc.get_threshold() == before


def test_the_runner_passes_the_flush_size_for_probes_times_epochs(monkeypatch, tmp_path) -> None:
    seen = {}

    def fake_eval_set(*args, **kwargs):
        seen.update(kwargs, gc=gc.get_threshold())
        return True, []

    monkeypatch.setattr(runner, "eval_set", fake_eval_set)
    request = runner.RunRequest(
        suites=["pushback"], target=make_target("sim/assistant-v1"), judge=resolve_judge("lexical"),
        store=tmp_path, epochs=5,
    )
    assert runner._eval(runner.prepare(request)) is True
    assert seen["log_buffer"] == log_buffer_for(50 * 5) == 3
    assert seen["gc"] == EVAL_GC_THRESHOLD
