"""`character compare | gate | report`: compare two versions, gate a pull request, write reports.

Exit codes (documented for CI): compare 0 (any verdict) or 2 (invalid comparison or error);
gate 0 PASS / WARN, 1 FAIL (regression or hard constraint; WARN too with --fail-on-warn),
2 invalid comparison, NOT GATED (no dimension gates), CANNOT FAIL (a gating dimension's test
cannot reach alpha with these probes and epochs) or any error; report 0 or 2.
"""

from __future__ import annotations

from pathlib import Path

import click

from character.analysis.change_report import ChangeSections, change_sections
from character.analysis.compare import Comparison, compare_runs
from character.analysis.gate import EXIT_INVALID, ArmRun, exit_code, find_or_run
from character.analysis.reports import REPORT_FILES, render, report_name, write_reports
from character.analysis.transcript_links import viewer_linker
from character.boundary import values
from character.cli.options import Bounded
from character.cli.output import echo
from character.cli.run_commands import SIMULATOR_BANNER, default_display, target_from_options
from character.domain.config import Config, GateConfig, ViewerConfig, load_config
from character.domain.targets import Target
from character.errors import CharacterError
from character.store.files import atomic_write_text
from character.store.layout import resolve_run
from character.store.manifest import read_manifest

DEFAULT_REPORTS = Path("reports")


def gate_settings(config: Config, fail_on_warn: bool) -> GateConfig:
    settings = config.gate
    if fail_on_warn:
        settings = settings.model_copy(update={"fail_on_warn": True})
    return settings


def viewer_url_option(command):  # noqa: ANN001, ANN201 - a click decorator
    return click.option(
        "--viewer-url", metavar="URL",
        help="Address of the character viewer (e.g. http://localhost:8501): reports link each top "
             "mover and failed hard constraint into it (default: [viewer] url in character.toml).",
    )(command)


def viewer_url_from(option: str | None, config: Config) -> str | None:
    """--viewer-url when given (checked as [viewer] url is), else [viewer] url, else None."""
    if option is None:
        return config.viewer.url
    try:
        return ViewerConfig(url=option).url
    except ValueError:
        raise CharacterError(
            f"'{option}' is not a viewer address", field="--viewer-url",
            remedy="pass http(s)://host[:port][/path], e.g. http://localhost:8501, "
                   "with no query, fragment, quote or space",
        ) from None


def summariser_model(summarise: bool, summariser: str | None) -> str | None:
    """The summary model asked for (None: no summary): a provider/model id whose API key is set."""
    if not (summarise or summariser):
        return None
    from character.run.judges import DEFAULT_JUDGE_MODEL, check_model_id

    return check_model_id(summariser or DEFAULT_JUDGE_MODEL, field="--summariser", what="summariser",
                          example=DEFAULT_JUDGE_MODEL)


def what_changed(base_dir: Path, cand_dir: Path, comparison: Comparison, *,
                 summariser: str | None = None, sample: int = 40,
                 viewer_url: str | None = None) -> ChangeSections:
    """Distinctive phrases (always; offline) and, with a summariser, its checked summary; their
    example turns link into the viewer when its address is known."""
    if summariser and comparison.valid:
        echo(f"summarising the change with {summariser} (one call)", err=True)
    return change_sections(base_dir, cand_dir, comparison, summariser=summariser,
                           summary_sample=sample, link=viewer_linker(viewer_url))


def report_dir(root: Path, comparison: Comparison) -> Path:
    return root / report_name(comparison)


def echo_written(paths: dict[str, Path]) -> None:
    click.echo("reports: " + ", ".join(str(p) for p in paths.values()), err=True)


@click.command()
@click.argument("baseline_ref", metavar="BASELINE")
@click.argument("candidate_ref", metavar="CANDIDATE")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Report folder (default: reports/<baseline>__vs__<candidate>).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="character.toml ([gate] margins, gating dimensions, alpha).")
@viewer_url_option
@click.option("--summarise", is_flag=True,
              help="Add a model's summary of what changed, each finding checked against the data "
                   "(one call to --summariser; needs its API key).")
@click.option("--summariser", metavar="MODEL", default=None,
              help="Model that writes the summary (implies --summarise; default anthropic/claude-sonnet-5-5).")
@click.option("--summary-sample", default=40, show_default=True, type=Bounded(values.SUMMARY_SAMPLE),
              help="Changed transcript pairs the summariser reads.")
@click.pass_context
def compare(ctx: click.Context, baseline_ref: str, candidate_ref: str, out: Path | None,
            config_path: Path | None, viewer_url: str | None, summarise: bool,
            summariser: str | None, summary_sample: int) -> None:
    """Compare two stored runs (ids, id prefixes or folders): print the verdict, write reports.

    Exits 0 whatever the verdict (use `character gate` to fail a CI job), 2 if the runs cannot
    be compared (different suites, rubrics, judge or probes) or on error.
    """
    store = ctx.obj["store"]
    config = load_config(config_path)
    link_base = viewer_url_from(viewer_url, config)
    model = summariser_model(summarise, summariser)
    base_dir, cand_dir = resolve_run(store, baseline_ref), resolve_run(store, candidate_ref)
    comparison = compare_runs(base_dir, cand_dir, config.gate)
    changes = what_changed(base_dir, cand_dir, comparison, summariser=model, sample=summary_sample,
                           viewer_url=link_base)
    paths = write_reports(comparison, out or report_dir(DEFAULT_REPORTS, comparison),
                          viewer_url=link_base, changes=changes)
    echo(render("markdown", comparison, link_base, changes))  # stored text: terminal-safe
    echo_written(paths)
    if not comparison.valid:
        raise click.exceptions.Exit(EXIT_INVALID)


@click.command()
@click.argument("baseline_ref", metavar="BASELINE")
@click.argument("candidate_ref", metavar="CANDIDATE")
@click.option("--format", "fmt", type=click.Choice(sorted(REPORT_FILES)), default="markdown",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              default=Path("-"), show_default=True, help="File to write, or - for stdout.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path))
@viewer_url_option
@click.pass_context
def report(ctx: click.Context, baseline_ref: str, candidate_ref: str, fmt: str, output: Path,
           config_path: Path | None, viewer_url: str | None) -> None:
    """Render one report format for two stored runs (e.g. Markdown for a PR comment)."""
    store = ctx.obj["store"]
    config = load_config(config_path)
    link_base = viewer_url_from(viewer_url, config)
    base_dir, cand_dir = resolve_run(store, baseline_ref), resolve_run(store, candidate_ref)
    comparison = compare_runs(base_dir, cand_dir, config.gate)
    text = render(fmt, comparison, link_base,
                  what_changed(base_dir, cand_dir, comparison, viewer_url=link_base))
    if str(output) == "-":
        click.echo(text, nl=False)  # the report itself, byte for byte (a JSON or XML file)
    else:
        atomic_write_text(output, text)
        click.echo(f"wrote {output}", err=True)


def _arm_target(model: str | None, prompt: Path | None, seed: int | None, config_path: Path | None,
                *, fallback: Target | None, arm: str) -> Target:
    settings = {"seed": seed} if seed is not None else {}
    if model is None:
        if fallback is None:
            raise CharacterError(
                f"no {arm} given", field=f"--{arm}-target",
                remedy=f"pass --{arm} RUN or --{arm}-target MODEL (with --{arm}-prompt FILE)",
            )
        return target_from_options(fallback.model, prompt or _prompt_path(fallback), fallback.name,
                                   config_path, {**fallback.settings, **settings}
                                   ).model_copy(update={"model_args": fallback.model_args})
    return target_from_options(model, prompt, None, config_path, settings)


def _prompt_path(target: Target) -> Path | None:
    return Path(target.system_prompt_file) if target.system_prompt_file else None


def _arm(ctx: click.Context, ref: str | None, target: Target | None, request_args: dict,
         arm: str) -> ArmRun:
    store = ctx.obj["store"]
    if ref is not None:
        folder = resolve_run(store, ref)
        click.echo(f"{arm}: stored run {folder.name}", err=True)
        return ArmRun(folder, read_manifest(folder), reused=True)
    assert target is not None
    if target.simulated:
        click.echo(SIMULATOR_BANNER, err=True)
    from character.run.runner import RunRequest  # inspect loads only when an arm must be run

    result = find_or_run(RunRequest(target=target, store=store, **request_args))
    how = "reused stored run" if result.reused else "ran"
    click.echo(f"{arm}: {how} {result.dir.name} ({target.label})", err=True)
    return result


@click.command()
@click.option("--baseline", "baseline_ref", metavar="RUN", help="A stored baseline run (id, prefix or folder).")
@click.option("--baseline-target", metavar="MODEL", help="Baseline provider/model, or a target name from character.toml.")
@click.option("--baseline-prompt", type=click.Path(dir_okay=False, path_type=Path), help="Baseline system prompt file (e.g. the file at the merge base).")
@click.option("--candidate", "candidate_ref", metavar="RUN", help="A stored candidate run.")
@click.option("--candidate-target", metavar="MODEL", help="Candidate model (default: the baseline's).")
@click.option("--candidate-prompt", type=click.Path(dir_okay=False, path_type=Path), help="Candidate system prompt file (the PR's version).")
@click.option("--suites", help="Comma-separated suites (default: [gate] suites).")
@click.option("--epochs", type=Bounded(values.EPOCHS), help="Epochs per probe (default: [gate] epochs, 5).")
@click.option("--limit", type=Bounded(values.LIMIT), help="Only the first N probes (smoke tests; lowers power).")
@click.option("--seed", type=Bounded(values.SEED), help="Target seed for both arms (used by simulated targets).")
@click.option("--judge", default=None, help="auto, lexical (= lexical-v2), lexical-v1, or provider/model (default: [judge] model).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="character.toml")
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_REPORTS / "gate", show_default=True, help="Where report.md/.html/.json and junit.xml go.")
@click.option("--fail-on-warn", is_flag=True, help="Exit 1 (not 0) when a gating dimension is INCONCLUSIVE.")
@click.option("--allow-generated", is_flag=True, help="Gate on suites written by `character expand` (refused by default).")
@click.option("--max-connections", default=16, show_default=True, type=Bounded(values.MAX_CONNECTIONS))
@click.option("--display", type=click.Choice(["full", "rich", "plain", "log", "none"]), default=None)
@viewer_url_option
@click.option("--user-model", default=None, help="Adaptive probes: provider/model that plays the user in both arms (default: the probes' user.model).")
@click.pass_context
def gate(ctx: click.Context, baseline_ref: str | None, baseline_target: str | None,
         baseline_prompt: Path | None, candidate_ref: str | None, candidate_target: str | None,
         candidate_prompt: Path | None, suites: str | None, epochs: int | None, limit: int | None,
         seed: int | None, judge: str | None, config_path: Path | None, reports_dir: Path,
         fail_on_warn: bool, allow_generated: bool, max_connections: int, display: str | None,
         viewer_url: str | None, user_model: str | None) -> None:
    """Gate a prompt or model change: run what is missing, compare, write reports, exit 0/1/2.

    Each arm is a stored run (--baseline/--candidate) or a target to play; a stored run with the
    same suites, rubrics, judge, target, epochs and limit is reused instead of run again.
    Exit 0: PASS (or WARN); 1: FAIL (a gating regression or a failed hard-constraint probe);
    2: the comparison is invalid, NOT GATED (no dimension gates), CANNOT FAIL (a gating
    dimension cannot reach alpha with these probes and epochs), or any error.
    """
    try:
        code = _gate(ctx, baseline_ref, baseline_target, baseline_prompt, candidate_ref,
                     candidate_target, candidate_prompt, suites, epochs, limit, seed, judge,
                     config_path, reports_dir, fail_on_warn, max_connections, display,
                     allow_generated, viewer_url, user_model)
    except (CharacterError, OSError, click.exceptions.Exit, click.ClickException):
        raise  # the main handler's one line (a disk or permission problem included), exit 2
    except Exception as exc:  # a CI gate must never report a crash as exit 1 ("regression")
        from character.cli.main import echo_internal_error  # main imports this module

        echo_internal_error(ctx, exc)  # traceback in <store>/_logs, terminal-safe line
        raise click.exceptions.Exit(EXIT_INVALID) from None
    raise click.exceptions.Exit(code)


def _gate(ctx: click.Context, baseline_ref: str | None, baseline_target: str | None,
          baseline_prompt: Path | None, candidate_ref: str | None, candidate_target: str | None,
          candidate_prompt: Path | None, suites: str | None, epochs: int | None, limit: int | None,
          seed: int | None, judge: str | None, config_path: Path | None, reports_dir: Path,
          fail_on_warn: bool, max_connections: int, display: str | None,
          allow_generated: bool = False, viewer_url: str | None = None,
          user_model: str | None = None) -> int:
    from character.run.judges import judge_from

    config = load_config(config_path)
    link_base = viewer_url_from(viewer_url, config)
    settings = gate_settings(config, fail_on_warn)
    if baseline_ref is None and baseline_target is None:
        raise CharacterError("no baseline given", field="--baseline-target",
                             remedy="pass --baseline RUN or --baseline-target MODEL [--baseline-prompt FILE]")
    request_args = {
        "suites": [s.strip() for s in suites.split(",") if s.strip()] if suites else list(settings.suites),
        "judge": judge_from(judge, config),
        "epochs": epochs or settings.epochs,
        "limit": limit,
        "max_connections": max_connections,
        "display": display or default_display(),
        "user_model": user_model,
    }
    base_target = None
    if baseline_ref is None:
        base_target = _arm_target(baseline_target, baseline_prompt, seed, config_path, fallback=None, arm="baseline")
    cand_target = None
    if candidate_ref is None:
        fallback = base_target
        if candidate_target is None and fallback is None:
            raise CharacterError("no candidate given", field="--candidate-target",
                                 remedy="pass --candidate RUN or --candidate-target MODEL")
        cand_target = _arm_target(candidate_target, candidate_prompt, seed, config_path,
                                  fallback=None if candidate_target else fallback, arm="candidate")
    if baseline_ref is None or candidate_ref is None:  # suites to play: refuse before paying
        _generated_check(request_args["suites"], [], allow_generated)
    baseline = _arm(ctx, baseline_ref, base_target, request_args, "baseline")
    candidate = _arm(ctx, candidate_ref, cand_target, request_args, "candidate")
    stored = [arm.manifest for arm, ref in ((baseline, baseline_ref), (candidate, candidate_ref)) if ref]
    if stored:
        _generated_check([], stored, allow_generated)
    comparison = compare_runs(baseline.dir, candidate.dir, settings)
    changes = what_changed(baseline.dir, candidate.dir, comparison, viewer_url=link_base)
    paths = write_reports(comparison, reports_dir, viewer_url=link_base, changes=changes)
    echo(render("markdown", comparison, link_base, changes))  # stored text: terminal-safe
    echo_written(paths)
    return exit_code(comparison.verdict, invalid=not comparison.valid, fail_on_warn=settings.fail_on_warn)


def _generated_check(suites: list[str], manifests: list, allow: bool) -> None:
    """Suites written by `character expand` never gate unless --allow-generated."""
    from character.domain.variants import generated_flags, refuse_generated

    pairs = generated_flags(suites) + [(r.name, r.generated) for m in manifests for r in m.suites]
    for warning in refuse_generated(pairs, allow=allow, field="--suites"):
        click.echo(f"warning: {warning}", err=True)


COMMANDS = [compare, gate, report]
