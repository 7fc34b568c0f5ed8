"""Run suites against a target on inspect-ai and store the result in transcripts/<run_id>/.

The run id is derived from everything that defines the run (suite, rubric and judge hashes,
target hash, epochs, limit), so re-running the same command after an interruption finds the same
folder and inspect's eval_set resumes it, reusing every finished conversation. `fresh=True` adds a
nonce for a deliberately new sample of the same configuration (e.g. nightly).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from inspect_ai import eval_set
from inspect_ai.log import read_eval_log
from inspect_ai.model import GenerateConfig, Model, get_model

from character.boundary import values
from character.boundary.ids import distinct_slug
from character.domain.hashing import content_hash
from character.domain.probes import Suite, bundled_suite_paths, load_suite, resolve_suite
from character.domain.rubrics import Rubric, load_suite_rubrics
from character.domain.targets import Target
from character.engine.adaptive_user import (
    USER_ROLE,
    adaptive_probes,
    check_user_model,
    user_model_field,
    user_model_for,
)
from character.engine.api_errors import KeyRejected, recorded_rejection, reset_rejection
from character.engine.judge_coverage import unscorable, unscorable_message, unscorable_remedy
from character.engine.local_runtime import same_model
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
    # Only these probe ids (a fixed subset, e.g. the demo's real-model section); with `limit`,
    # the first N of them. None: every probe of the suites.
    probe_ids: tuple[str, ...] | None = None
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
    # Adaptive probes: the model playing the user, overriding the probes' user.model.
    user_model: str | None = None


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
    user_model: str | None = None  # adaptive probes: the model bound to the `user` role
    # said at the start of the run and kept in the manifest (e.g. dimensions the judge cannot score)
    warnings: list[str] = field(default_factory=list)
    # the suites as the inspect task is given them (bundled names, or absolute paths): part of
    # the task's identity in its log, so a re-run must spell them the same way to resume
    task_suites: list[str] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return run_path(self.request.store, self.run_id)


def prepare(request: RunRequest) -> PreparedRun:
    """Validate everything before any model call or write: values, suites, rubrics, models, keys.

    Every value is range-checked here too (the CLI checks its options already; gate and nightly
    build requests from config), so nothing is stored for a request that cannot run.
    """
    for name, bounds, value in (
        ("--epochs", values.EPOCHS, request.epochs),
        ("--limit", values.LIMIT, request.limit),
        ("--max-retries", values.MAX_RETRIES, request.max_retries),
        ("--timeout", values.TIMEOUT, request.timeout),
        ("--attempt-timeout", values.TIMEOUT, request.attempt_timeout),
        ("--max-connections", values.MAX_CONNECTIONS, request.max_connections),
        ("--judge-repeats", values.JUDGE_REPEATS, request.judge.repeats),
    ):
        if value is not None:
            bounds.check(value, field=name)
    if not request.suites:
        raise CharacterError("no suite given", field="SUITE", remedy="name at least one suite")
    paths = [resolve_suite(name) for name in request.suites]
    suites = [load_suite(path) for path in paths]
    _check_distinct(suites, paths)
    names = [s.name for s in suites]
    by_name = {
        rubric.name: rubric
        for suite, path in zip(suites, paths, strict=True)
        for rubric in load_suite_rubrics(suite, path)
    }
    rubrics = [by_name[name] for name in sorted(by_name)]
    if request.probe_ids is not None:
        known = {probe.id for suite in suites for probe in suite.probes}
        missing = [pid for pid in request.probe_ids if pid not in known]
        if missing or not request.probe_ids:
            raise CharacterError(
                f"probe(s) not in the suites: {', '.join(missing) or '(none given)'}",
                field="probes",
                remedy="name probe ids of the given suites (`character show RUN` lists them)",
            )
    # The user model, its checks and the judge's coverage are about the probes this run plays
    # (--limit and probe subsets included), not every probe of the suites.
    played = played_suites(suites, request.limit, request.probe_ids)
    user_model = user_model_for(played, request.user_model)
    user_field = user_model_field(played, request.user_model)
    check_user_model(user_model, request.target.model, user_field)
    if not request.target.simulated:
        require_credentials(
            request.target.model, field=request.target.model_field, file=request.target.origin_file
        )
    if user_model is not None and not user_model.startswith("sim/"):
        require_credentials(user_model, field=user_field)
    spec = {
        "suites": {s.name: s.hash for s in suites},
        "rubrics": {r.name: r.hash for r in rubrics},
        "target": request.target.hash,
        "judge": [request.judge.kind, request.judge.id, request.judge.prompt_hash, request.judge.repeats],
        "epochs": request.epochs,
        "limit": request.limit,
        "model_args": model_args(request),
        # only when set, so the ids of runs stored before probe subsets existed do not change
        **({"probe_ids": list(request.probe_ids)} if request.probe_ids is not None else {}),
        "nonce": datetime.now(UTC).isoformat() if request.fresh else None,
    }
    if user_model is not None:  # only then, so runs without adaptive probes keep their ids
        spec["user_model"] = user_model
    spec_hash = content_hash(spec)
    run_id = check_run_id(
        request.run_id or default_run_id(names, request.target, spec_hash), field="--run-id"
    )
    warnings = [
        f"{unscorable_message(item)} (fix: {unscorable_remedy(DEFAULT_JUDGE_MODEL)})"
        for item in unscorable(request.judge.kind, rubrics, played)
    ]
    # An unknown provider or model fails here, not after an empty run folder has been stored.
    return PreparedRun(
        request, suites, rubrics, spec_hash, run_id, warnings=warnings,
        task_suites=[_task_suite(name, path) for name, path in zip(request.suites, paths, strict=True)],
        target_model=_target_model(request),
        judge_roles={
            **judge_roles(
                request.judge,
                max_connections=request.max_connections,
                batch=request.batch,
                retry=_retry_config(request),
            ),
            **user_role(user_model, request, user_field),
        },
        user_model=user_model,
    )


def played_suites(
    suites: list[Suite], limit: int | None, probe_ids: tuple[str, ...] | None
) -> list[Suite]:
    """The suites cut down to the probes a run plays, in the order inspect plays them.

    With `probe_ids`, those probes (the first `limit` of the ids); else the first `limit`
    probes of the suites in order (the task's dataset order, which inspect's limit takes).
    A suite none of whose probes is played is left out. For what a run says about its probes
    (user model, judge coverage); the run's identity keeps the whole suites' hashes.
    """
    if probe_ids is not None:
        chosen = set(probe_ids[:limit] if limit is not None else probe_ids)
    else:
        order = [probe.id for suite in suites for probe in suite.probes]
        chosen = set(order[:limit] if limit is not None else order)
    cut = []
    for suite in suites:
        probes = [probe for probe in suite.probes if probe.id in chosen]
        if probes:
            whole = len(probes) == len(suite.probes)
            cut.append(suite if whole else suite.model_copy(update={"probes": probes}))
    return cut


def _check_distinct(suites: list[Suite], paths: list[Path]) -> None:
    """Two suites of one run may share neither a name nor a probe id: a sample is keyed by its
    probe id, so a shared id would silently merge (or crash) two conversations."""
    seen_names: dict[str, Path] = {}
    seen_ids: dict[str, tuple[str, Path]] = {}
    for suite, path in zip(suites, paths, strict=True):
        if suite.name in seen_names:
            raise CharacterError(
                f"suite '{suite.name}' is given twice (also as {seen_names[suite.name]})",
                file=path, field="SUITE", remedy="name each suite once",
            )
        seen_names[suite.name] = path
        for index, probe in enumerate(suite.probes):
            if probe.id in seen_ids:
                other, other_path = seen_ids[probe.id]
                raise CharacterError(
                    f"probe id '{probe.id}' is also in suite '{other}' ({other_path})",
                    file=path, field=f"probes[{index}].id",
                    remedy="give the probe an id of its own, or run the suites separately",
                )
            seen_ids[probe.id] = (suite.name, path)


def _task_suite(name: str, path: Path) -> str:
    """How the task is given a suite: a bundled name as it is, a file by its absolute path.

    The spelling is part of the task's identity in inspect's log: `mini.yaml` and
    `/work/tests/mini.yaml` must be one task, or a re-run cannot resume the killed run.
    """
    if bundled_suite_paths().get(name) == path:
        return name
    return str(Path(path).resolve())


def user_role(
    user_model: str | None, request: RunRequest, field: str = "--user-model"
) -> dict[str, Model]:
    """The inspect `user` role of adaptive probes (seed and temperature are set per call)."""
    if user_model is None:
        return {}
    config = GenerateConfig(**_retry_config(request), max_connections=request.max_connections)
    return {USER_ROLE: _model(user_model, config, {}, field=field)}


def default_run_id(suite_names: list[str], target: Target, spec_hash: str) -> str:
    """`suites-who-hash`. The suites and the model are in the spec hash, so their slugs may lose
    characters; a --name is not, so a name that loses any ('日本' and '한국' both became 'run',
    and the second run resumed the first) is tagged with a hash of itself (`distinct_slug`)."""
    suites = _slug("+".join(suite_names))[:40]
    if target.name:
        readable = unicodedata.normalize("NFKD", target.name).encode("ascii", "ignore").decode()
        who = distinct_slug(target.name, _slug(readable), kept=target.name, limit=32)
    else:
        who = _slug(target.model.split("/", 1)[-1])[:32]
    return f"{suites}-{who}-{spec_hash[:10]}"


def _slug(text: str) -> str:
    # A run of dots becomes one: '..' is refused in a run id (it is a folder name), and a --name
    # such as "v1..v2" was refused as an invalid --run-id the user never typed.
    slug = re.sub(r"[^A-Za-z0-9.+\-]+", "-", text).strip("-")
    return re.sub(r"\.{2,}", ".", slug) or "run"


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
        task_suites = _resumable_task_suites(prepared)
        if previous is not None:
            if previous.spec_hash != prepared.spec_hash:
                raise CharacterError(
                    f"run id '{prepared.run_id}' already holds a different run",
                    file=folder,
                    remedy="choose another --run-id (stored runs are never overwritten)",
                )
            if previous.target.name != request.target.name:
                # a --name whose cleaned form equals another name's ('a-b-<tag>' vs 'a b') maps
                # to the same id: resuming would list the run under a name it was not given
                raise CharacterError(
                    f"run id '{prepared.run_id}' already holds the run named "
                    f"'{previous.target.name}', not '{request.target.name}'",
                    file=folder,
                    field="--name",
                    remedy="choose another --name or --run-id (stored runs are never overwritten)",
                )
            if previous.status == "complete":
                if _tables_readable(folder):
                    return previous
                # the tables are derived from the logs: rebuild them (a damaged or lost copy)
                return finalize(folder, previous, complete=True, prices=request.prices)
            manifest = manifest.model_copy(update={"created": previous.created})
        write_manifest(folder, manifest)
        try:
            success = _eval(prepared, task_suites)
        except BaseException as exc:
            # never leave a run marked 'running' that nothing is running: record how it stopped
            interrupted = isinstance(exc, KeyboardInterrupt)
            stopped = manifest.model_copy(update={
                "status": "incomplete" if interrupted else "failed",
                "finished": _now(),
                "warnings": [*manifest.warnings, "interrupted (re-run the same command to resume)"
                             if interrupted else f"stopped by an error: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200] if str(exc) else ''}"],
            })
            write_manifest(folder, stopped)
            raise
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


def _resumable_task_suites(prepared: PreparedRun) -> list[str]:
    """The suite spelling to give the task: the one the run's existing log recorded when it names
    the same suites (an older version stored paths as typed), else ours. A log whose suites
    cannot be matched is refused here, before the manifest is touched."""
    ours = prepared.task_suites
    log = latest_log(prepared.dir)
    if log is None:
        return ours
    try:
        recorded = read_eval_log(str(log), header_only=True).eval.task_args.get("suites")
    except Exception:  # an unreadable log: eval_set decides what to do with it
        return ours
    recorded = [recorded] if isinstance(recorded, str) else list(recorded or [])
    if recorded == ours or not recorded:
        return ours
    try:
        hashes = sorted(load_suite(resolve_suite(name)).hash for name in recorded)
    except CharacterError:
        hashes = None
    if hashes == sorted(s.hash for s in prepared.suites):
        return recorded
    raise CharacterError(
        f"the run was started with the suites given as {', '.join(recorded)}, which cannot be "
        "found from here with the same content",
        file=prepared.dir,
        field="SUITE",
        remedy="re-run from the folder the run was started in, or pass --fresh for a new run",
    )


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


def model_args(request: RunRequest) -> dict[str, Any]:
    """The target's provider arguments (character.toml) overridden by the run's (`-M`)."""
    return {**request.target.model_args, **request.model_args}


def _target_model(request: RunRequest) -> Model:
    return _model(
        request.target.model,
        GenerateConfig(
            **request.target.settings,
            **_retry_config(request),
            max_connections=request.max_connections,
            batch=request.batch or None,
        ),
        model_args(request),
        field=request.target.model_field,
        file=request.target.origin_file,
    )


def _eval(prepared: PreparedRun, task_suites: list[str] | None = None) -> bool:
    """Run (or resume) the eval; `task_suites`: the suites as the task gets them (default: ours)."""
    request = prepared.request
    target_model = prepared.target_model or _target_model(request)
    roles = prepared.judge_roles
    task = character_task(
        suites=task_suites or prepared.task_suites,
        judge=request.judge.scorer_choice,
        system_prompt=request.target.system_prompt,
        judge_repeats=request.judge.repeats,
        judge_attempts=request.judge.attempts,
        user_model=prepared.user_model,
        # a run that plays none of its suites' adaptive probes binds no user model (only then
        # passed: the task's arguments are part of a resumable run's identity in its log)
        **(
            {"bind_user": False}
            if prepared.user_model is None and adaptive_probes(prepared.suites)
            else {}
        ),
    )
    probes = len(request.probe_ids) if request.probe_ids else sum(len(s.probes) for s in prepared.suites)
    conversations = min(probes, request.limit or math.inf) * request.epochs
    # inspect's eval forbids sample_id with limit: a limit on a subset is applied to the ids here
    sample_ids = list(request.probe_ids)[: request.limit] if request.probe_ids else None
    install_log_scrubbing()
    with fewer_gc_pauses(), stopped_by_rejection(), quiet_after_rejection():
        success, _logs = eval_set(
            task,
            log_dir=str(prepared.dir / LOGS),
            model=target_model,
            model_roles=roles or None,
            epochs=request.epochs,
            limit=None if sample_ids else request.limit,
            sample_id=sample_ids,
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
    return {"judge": _model(judge.model, config, {}, field=judge.origin, file=judge.origin_file)}


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
    except CharacterError as exc:
        if exc.field is None and exc.file is None:  # a provider's error: say which option named it
            raise CharacterError(exc.message, file=file, field=field, remedy=exc.remedy) from None
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
    if judge.kind == "model" and judge.model and same_model(judge.model, target.model):
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
        user_model=prepared.user_model,
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
    if manifest.user_model is not None and not manifest.user_model.startswith("sim/"):
        cost[USER_ROLE] = cost_usd(manifest.user_model, usage.get(USER_ROLE, {}), batch=batch, overrides=prices)
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
    user = (stats.role_usage or {}).get(USER_ROLE)
    totals: dict[str, int] = {}
    for usage in (stats.model_usage or {}).values():
        for key, value in _tokens(usage).items():
            totals[key] = totals.get(key, 0) + value
    judge_tokens = _tokens(judge) if judge else {}
    user_tokens = _tokens(user) if user else {}
    target_tokens = {
        k: v - judge_tokens.get(k, 0) - user_tokens.get(k, 0) for k, v in totals.items()
    }
    usage = {"target": target_tokens, "judge": judge_tokens}
    if user_tokens:
        usage[USER_ROLE] = user_tokens
    return usage


def _tokens(usage: Any) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens or 0,
        "output_tokens": usage.output_tokens or 0,
        "cache_write_tokens": usage.input_tokens_cache_write or 0,
        "cache_read_tokens": usage.input_tokens_cache_read or 0,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
