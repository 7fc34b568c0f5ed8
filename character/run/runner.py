"""Run suites against a target on inspect-ai and store the result in transcripts/<run_id>/.

The run id is derived from everything that defines the run (suite, rubric and judge hashes,
target hash, epochs, limit), so re-running the same command after an interruption finds the same
folder and inspect's eval_set resumes it, reusing every finished conversation. `fresh=True` adds a
nonce for a deliberately new sample of the same configuration (e.g. nightly).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from inspect_ai import eval_set
from inspect_ai.log import read_eval_log
from inspect_ai.model import GenerateConfig, Model, get_model

from character.domain.hashing import content_hash
from character.domain.probes import Suite, load_suite, resolve_suite
from character.domain.rubrics import Rubric, load_suite_rubrics
from character.domain.targets import Target
from character.engine.api_errors import KeyRejected, recorded_rejection, reset_rejection
from character.engine.judge_coverage import unscorable, unscorable_message, unscorable_remedy
from character.engine.task import character as character_task
from character.errors import CharacterError
from character.redact import filtered_output, install_log_scrubbing, scrub_log_files
from character.run.eval_tuning import (  # EVAL_RETRIES, SAMPLE_RETRIES: read here by tests
    DEFAULT_MAX_RETRIES,
    EVAL_RETRIES,  # noqa: F401
    SAMPLE_RETRIES,  # noqa: F401
    eval_set_options,
    fewer_gc_pauses,
)
from character.run.judges import DEFAULT_JUDGE_MODEL, JudgeSpec, require_credentials
from character.run.key_check import rejected_key
from character.run.pricing import Price, cost_usd
from character.run.provenance import code_version
from character.store.files import ensure_dir, exclusive_lock
from character.store.layout import LOCK, LOGS, check_run_id, check_tables
from character.store.layout import run_dir as run_path
from character.store.manifest import (
    Manifest,
    RubricRecord,
    SuiteRecord,
    TargetRecord,
    read_manifest,
    write_manifest,
)
from character.store.tables import build_tables, count_verdicts, latest_log, write_tables

Display = Literal["full", "rich", "plain", "log", "none"]



@dataclass
class RunRequest:
    suites: list[str]
    target: Target
    judge: JudgeSpec
    store: Path
    epochs: int = 1
    limit: int | None = None
    max_connections: int = 16
    run_id: str | None = None
    fresh: bool = False
    display: Display = "rich"
    batch: bool = False
    model_args: dict[str, Any] = field(default_factory=dict)
    prices: dict[str, Price] = field(default_factory=dict)  # overrides for cost estimates
    # How hard to try each API call. Not part of the run's identity: re-running with other values
    # resumes the same run. Bounded by default, so an outage ends a nightly job instead of hanging it.
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout: int | None = None  # seconds for one call including its retries
    attempt_timeout: int | None = None  # seconds for one attempt (a stalled connection is retried)


@dataclass
class PreparedRun:
    request: RunRequest
    suites: list[Suite]
    rubrics: list[Rubric]
    spec_hash: str
    run_id: str
    # built (and so checked) by prepare, before anything is stored
    target_model: Model | None = None
    judge_roles: dict[str, Model] = field(default_factory=dict)
    # said at the start of the run and kept in the manifest (e.g. dimensions the judge cannot score)
    warnings: list[str] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return run_path(self.request.store, self.run_id)


def prepare(request: RunRequest) -> PreparedRun:
    """Validate everything before any model call: suites, rubrics, models, keys."""
    if request.epochs < 1:
        raise CharacterError(
            "epochs must be at least 1", field="--epochs", remedy="pass --epochs 1 or more"
        )
    for name, value, least in (
        ("--max-retries", request.max_retries, 0),
        ("--timeout", request.timeout, 1),
        ("--attempt-timeout", request.attempt_timeout, 1),
        ("--max-connections", request.max_connections, 1),
    ):
        if value is not None and value < least:
            raise CharacterError(
                f"must be at least {least}, got {value}", field=name, remedy=f"pass {name} {least} or more"
            )
    paths = [resolve_suite(name) for name in request.suites]
    suites = [load_suite(path) for path in paths]
    names = [s.name for s in suites]
    if len(set(names)) != len(names):
        raise CharacterError("a suite is named twice", field="SUITE", remedy="name each suite once")
    by_name = {
        rubric.name: rubric
        for suite, path in zip(suites, paths, strict=True)
        for rubric in load_suite_rubrics(suite, path)
    }
    rubrics = [by_name[name] for name in sorted(by_name)]
    if not request.target.simulated:
        require_credentials(
            request.target.model, field=request.target.model_field, file=request.target.origin_file
        )
    spec = {
        "suites": {s.name: s.hash for s in suites},
        "rubrics": {r.name: r.hash for r in rubrics},
        "target": request.target.hash,
        "judge": [request.judge.kind, request.judge.id, request.judge.prompt_hash, request.judge.repeats],
        "epochs": request.epochs,
        "limit": request.limit,
        "model_args": request.model_args,
        "nonce": datetime.now(UTC).isoformat() if request.fresh else None,
    }
    spec_hash = content_hash(spec)
    run_id = check_run_id(
        request.run_id or default_run_id(names, request.target, spec_hash), field="--run-id"
    )
    warnings = [
        f"{unscorable_message(item)} (fix: {unscorable_remedy(DEFAULT_JUDGE_MODEL)})"
        for item in unscorable(request.judge.kind, rubrics, suites)
    ]
    # An unknown provider or model fails here, not after an empty run folder has been stored.
    return PreparedRun(
        request, suites, rubrics, spec_hash, run_id, warnings=warnings,
        target_model=_target_model(request),
        judge_roles=judge_roles(
            request.judge,
            max_connections=request.max_connections,
            batch=request.batch,
            retry=_retry_config(request),
        ),
    )


def default_run_id(suite_names: list[str], target: Target, spec_hash: str) -> str:
    suites = _slug("+".join(suite_names))[:40]
    who = _slug(target.name or target.model.split("/", 1)[-1])[:32]
    return f"{suites}-{who}-{spec_hash[:10]}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+\-]+", "-", text).strip("-") or "run"


def execute(prepared: PreparedRun) -> Manifest:
    """Run (or resume) the eval, then write tables and the manifest. Returns the manifest."""
    request, folder = prepared.request, prepared.dir
    reset_rejection()
    if not _finished(folder):  # about to call the API: is each key accepted? (nothing written yet)
        rejection = rejected_key([prepared.target_model, *prepared.judge_roles.values()])
        if rejection is not None:
            raise key_rejected_error(rejection)
    ensure_dir(folder)
    with exclusive_lock(folder / LOCK, what=f"run {prepared.run_id}"):
        manifest = _draft_manifest(prepared)
        previous = _previous_manifest(folder)
        if previous is None and (folder / "manifest.json").exists():
            manifest.warnings.append("manifest.json was damaged; it was rebuilt from the logs")
        if previous is not None:
            if previous.spec_hash != prepared.spec_hash:
                raise CharacterError(
                    f"run id '{prepared.run_id}' already holds a different run",
                    file=folder,
                    remedy="choose another --run-id (stored runs are never overwritten)",
                )
            if previous.status == "complete":
                if _tables_readable(folder):
                    return previous
                # the tables are derived from the logs: rebuild them (a damaged or lost copy)
                return finalize(folder, previous, complete=True, prices=request.prices)
            manifest = manifest.model_copy(update={"created": previous.created})
        write_manifest(folder, manifest)
        success = _eval(prepared)
        rejection = recorded_rejection()
        finished = finalize(
            folder,
            manifest,
            complete=success and rejection is None,
            prices=request.prices,
            stopped_by=rejection.message if rejection else None,
        )
        if rejection is not None:
            raise key_rejected_error(rejection)
        return finished


def _finished(folder: Path) -> bool:
    """A complete run with readable tables is stored there: nothing to call."""
    previous = _previous_manifest(folder)
    return previous is not None and previous.status == "complete" and _tables_readable(folder)


def _previous_manifest(folder: Path) -> Manifest | None:
    """The stored manifest; None if there is none or it is damaged (the logs are the record)."""
    if not (folder / "manifest.json").exists():
        return None
    try:
        return read_manifest(folder)
    except CharacterError:
        return None


def _tables_readable(folder: Path) -> bool:
    try:
        check_tables(folder)
    except CharacterError:
        return False
    return True


def _target_model(request: RunRequest) -> Model:
    return _model(
        request.target.model,
        GenerateConfig(
            **request.target.settings,
            **_retry_config(request),
            max_connections=request.max_connections,
            batch=request.batch or None,
        ),
        request.model_args,
        field=request.target.model_field,
        file=request.target.origin_file,
    )


def _eval(prepared: PreparedRun) -> bool:
    request = prepared.request
    target_model = prepared.target_model or _target_model(request)
    roles = prepared.judge_roles
    task = character_task(
        suites=request.suites,
        judge=request.judge.scorer_choice,
        system_prompt=request.target.system_prompt,
        judge_repeats=request.judge.repeats,
        judge_attempts=request.judge.attempts,
    )
    probes = sum(len(suite.probes) for suite in prepared.suites)
    conversations = min(probes, request.limit or math.inf) * request.epochs
    install_log_scrubbing()
    with fewer_gc_pauses(), stopped_by_rejection(), quiet_after_rejection():
        success, _logs = eval_set(
            task,
            log_dir=str(prepared.dir / LOGS),
            model=target_model,
            model_roles=roles or None,
            epochs=request.epochs,
            limit=request.limit,
            display=request.display,
            # flush about 100 times per run: a killed run loses at most 1% of its finished
            # conversations, and flushing stays linear in the run's size (see eval_tuning)
            **eval_set_options(conversations),  # type: ignore[arg-type]
        )
    return success and recorded_rejection() is None


@contextmanager
def stopped_by_rejection() -> Iterator[None]:
    """A rejected key ends inspect's eval; should it escape inspect, it ends here, recorded."""
    try:
        yield
    except BaseException as exc:
        if recorded_rejection() is None or not _is_rejection(exc):
            raise


_ANSI_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@contextmanager
def quiet_after_rejection() -> Iterator[None]:
    """Once a key is rejected, inspect's report of the aborted eval (an error panel with a
    traceback per attempt) is held back: the run ends with one line saying what happened, and
    the log keeps the details. Terminal control codes (cursor, line clearing) still pass, so a
    live progress display leaves the terminal as it found it."""

    def held_back(text: str) -> str:
        if recorded_rejection() is None:
            return text
        return "".join(_ANSI_CONTROL.findall(text))

    with filtered_output(held_back):
        yield


def _is_rejection(exc: BaseException) -> bool:
    if isinstance(exc, KeyRejected):
        return True
    inner = getattr(exc, "exceptions", None)  # an exception group from inspect's task group
    return bool(inner) and all(_is_rejection(e) for e in inner)


def key_rejected_error(rejection: KeyRejected) -> CharacterError:
    """One line for the user: which key the API refused, with what status, and what to do."""
    return CharacterError(
        rejection.message,
        remedy=(
            f"check {rejection.variable} (revoked, mistyped, or without access to "
            f"{rejection.model}), then run the same command again: finished conversations are kept"
        ),
    )


def judge_roles(
    judge: JudgeSpec,
    *,
    max_connections: int,
    batch: bool,
    retry: dict[str, int | None] | None = None,
) -> dict[str, Model]:
    """The inspect `judge` role for a model judge (pinned temperature, cacheable prompt).

    `retry`: max_retries / timeout / attempt_timeout for the judge's calls (default: bounded).
    """
    if judge.kind != "model" or not judge.model:
        return {}
    config = GenerateConfig(
        temperature=judge.temperature,
        max_tokens=judge.max_tokens,
        **(retry if retry is not None else {"max_retries": DEFAULT_MAX_RETRIES}),
        max_connections=max_connections,
        cache_prompt=True,
        batch=batch or None,
    )
    return {"judge": _model(judge.model, config, {}, field="--judge")}


def _retry_config(request: RunRequest) -> dict[str, int | None]:
    return {
        "max_retries": request.max_retries,
        "timeout": request.timeout,
        "attempt_timeout": request.attempt_timeout,
    }


def _model(
    model: str,
    config: GenerateConfig,
    model_args: dict[str, Any],
    *,
    field: str,
    file: str | None = None,
) -> Model:
    try:
        return get_model(model, config=config, memoize=False, **model_args)
    except CharacterError:
        raise
    except Exception as exc:  # inspect raises ValueError/PrerequisiteError for unknown providers
        raise CharacterError(
            f"cannot use model '{model}': {str(exc).splitlines()[0][:200]}",
            file=file,
            field=field,
            remedy="check the provider/model id (e.g. anthropic/claude-sonnet-4-5, sim/assistant-v1)",
        ) from None


def _draft_manifest(prepared: PreparedRun) -> Manifest:
    request, target, judge = prepared.request, prepared.request.target, prepared.request.judge
    warnings = list(prepared.warnings)
    if judge.kind == "model" and judge.model == target.model:
        warnings.append(
            "the judge model is the model under test: self-preference bias is possible; "
            "prefer a different judge model"
        )
    return Manifest(
        run_id=prepared.run_id,
        created=_now(),
        spec_hash=prepared.spec_hash,
        code_version=code_version(),
        target=TargetRecord(
            model=target.model,
            label=target.label,
            hash=target.hash,
            name=target.name,
            system_prompt_hash=target.system_prompt_hash,
            system_prompt_file=target.system_prompt_file,
            settings=target.settings,
            simulated=target.simulated,
        ),
        suites=[
            SuiteRecord(
                name=s.name, version=s.version, hash=s.hash, probes=len(s.probes),
                source=s.source, license=s.license, generated=s.generated is not None,
            )
            for s in prepared.suites
        ],
        rubrics=[RubricRecord(name=r.name, version=r.version, hash=r.hash) for r in prepared.rubrics],
        judge=judge.record(target.model),
        epochs=request.epochs,
        limit=request.limit,
        warnings=warnings,
        simulated=target.simulated,
        batch=request.batch,
    )


def finalize(
    folder: Path,
    manifest: Manifest,
    *,
    complete: bool,
    prices: dict[str, Price] | None = None,
    stopped_by: str | None = None,
) -> Manifest:
    """Read the logs into tables; count, price and record; write parquet then the manifest.

    The logs are scrubbed of configured secrets first (an endpoint may have echoed a key into an
    error that inspect logged). `stopped_by` says why an eval was stopped (a rejected key).
    """
    scrub_log_files(folder / LOGS)
    scores, transcripts = build_tables(folder, manifest.run_id)
    write_tables(folder, scores, transcripts)
    counts = count_verdicts(scores, transcripts)
    usage = _usage(folder, manifest)
    batch = manifest.batch
    cost = {
        "target": cost_usd(manifest.target.model, usage.get("target", {}), batch=batch, overrides=prices),
        "judge": cost_usd(manifest.judge.id, usage.get("judge", {}), batch=batch, overrides=prices)
        if manifest.judge.kind == "model"
        else 0.0,
    }
    cost["total"] = None if None in cost.values() else round(sum(cost.values()), 6)  # type: ignore[arg-type]
    log = latest_log(folder)
    updated = manifest.model_copy(
        update={
            "status": "complete" if complete else "incomplete",
            "finished": _now(),
            "counts": counts,
            "usage": usage,
            "cost_usd": cost,
            "retries": {
                "api_retries": int(transcripts["retries"].sum() or 0),
                "failed_calls": int(transcripts["failed_calls"].sum() or 0),
                "sample_retries": int(transcripts["sample_retries"].sum() or 0),
                "model_calls": int(transcripts["model_calls"].sum() or 0),
            },
            "logs": [str(log.relative_to(folder))] if log else [],
            "warnings": [*manifest.warnings, f"the run stopped: {stopped_by}"]
            if stopped_by
            else manifest.warnings,
        }
    )
    write_manifest(folder, updated)
    return updated


def _usage(folder: Path, manifest: Manifest) -> dict[str, dict[str, int]]:
    log = latest_log(folder)
    if log is None:
        return {}
    header = read_eval_log(str(log), header_only=True)
    stats = header.stats
    judge = (stats.role_usage or {}).get("judge")
    totals: dict[str, int] = {}
    for usage in (stats.model_usage or {}).values():
        for key, value in _tokens(usage).items():
            totals[key] = totals.get(key, 0) + value
    judge_tokens = _tokens(judge) if judge else {}
    target_tokens = {k: v - judge_tokens.get(k, 0) for k, v in totals.items()}
    return {"target": target_tokens, "judge": judge_tokens}


def _tokens(usage: Any) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens or 0,
        "output_tokens": usage.output_tokens or 0,
        "cache_write_tokens": usage.input_tokens_cache_write or 0,
        "cache_read_tokens": usage.input_tokens_cache_read or 0,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
