"""`character check | schema | expand`: write suites and rubrics, check them, grow them.

Exit codes: check 0 clean / 1 warnings / 2 errors; schema 0 (2 on error); expand 0, or 2 on
error (with --run: 1 if the run is incomplete).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from character.boundary import values
from character.cli.options import Bounded
from character.cli.output import echo
from character.errors import CharacterError

if TYPE_CHECKING:  # expand loads inspect; only the commands that need it import it
    from character.run.expand import ExpandResult


@click.command()
@click.argument("paths", metavar="PATH...", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--judge",
    default=None,
    help="Judge whose coverage to check: auto, lexical or provider/model (default: [judge] model in character.toml, else auto).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="character.toml to read the judge from (it is also checked).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def check(paths: tuple[Path, ...], judge: str | None, config_path: Path | None, fmt: str) -> None:
    """Check probe suites, rubrics and character.toml before running them.

    Reports everything `run` would reject (errors) and what it would not tell you (warnings):
    dimensions the judge cannot score, facts a probe's kind needs and lacks, probes no rubric
    dimension is written for, ids that differ only by punctuation, near-duplicate probes, and
    wording that tells the model it is being tested. A folder means its *.yaml files and
    character.toml; with no PATH, the current folder and ./rubrics. Exit 0 clean, 1 warnings,
    2 errors.
    """
    from character.domain.config import CONFIG_FILE, load_config
    from character.run.check import check_paths, judge_for_check

    targets = list(paths)
    if config_path is not None:
        targets.append(config_path)
    if not targets:
        targets = [Path(".")] + ([Path("rubrics")] if Path("rubrics").is_dir() else [])
    for path in targets:
        if not path.exists():
            raise CharacterError("no such file or folder", file=path, remedy="check the path")
    if judge is None:
        config_file = config_path or (Path(CONFIG_FILE) if Path(CONFIG_FILE).is_file() else None)
        try:
            judge = load_config(config_file).judge.model if config_file else "auto"
        except CharacterError:
            judge = "auto"  # the config's own error is reported by the check itself
    report = check_paths(targets, judge_for_check(judge))
    if fmt == "json":
        # \u escapes: a bidi override or an escape sequence in a file's text stays inert on a terminal
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=True))
    else:
        for finding in report.findings:
            echo(finding.one_line())
        kinds = ", ".join(
            f"{n} {t}{'s' if n != 1 else ''}"
            for t in ("suite", "rubric", "config", "unknown")
            if (n := sum(1 for f in report.files if f.type == t))
        )
        echo(
            f"checked {len(report.files)} file(s) ({kinds or 'none'}) for judge {report.judge}: "
            f"{report.errors} error(s), {report.warnings} warning(s)"
        )
    raise click.exceptions.Exit(report.exit_code)


@click.command()
@click.argument("name", type=click.Choice(["probe", "rubric"]))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=Path("-"),
    show_default=True,
    help="File to write, or - for stdout.",
)
def schema(name: str, output: Path) -> None:
    """Print the JSON Schema of probe-suite (probe) or rubric files, for editors.

    Put `# yaml-language-server: $schema=suite.schema.json` (or rubric.schema.json) on the
    first line of a YAML file to have an editor with the YAML language server validate it while
    you type.
    """
    from character.domain.schema import schema_text
    from character.store.files import atomic_write_text, ensure_dir

    text = schema_text(name)  # type: ignore[arg-type]
    if str(output) == "-":
        click.echo(text, nl=False)  # our own schema: JSON, byte for byte
    else:
        ensure_dir(output.parent)
        atomic_write_text(output, text)
        echo(f"wrote {output}", err=True)


VARIATION_CHOICES = ["paraphrase", "pressure", "persona", "domain", "all"]


@click.command()
@click.argument("probe_id", metavar="PROBE")
@click.option("--n", "n", default=20, show_default=True, type=Bounded(values.VARIANTS), help="Variants to write.")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(VARIATION_CHOICES),
    help="What to vary (repeatable; default all): paraphrase (same question, other words), pressure (other pressure tactics), persona (other users), domain (the same flaw in another subject).",
)
@click.option(
    "--generator",
    default=None,
    help="provider/model that writes the variants (default: anthropic/claude-sonnet-5-5). Needs tool use.",
)
@click.option(
    "--suite",
    "suite",
    help="The seed's suite (name or file); default: the suite named by the probe id (bundled, or ./<suite>.yaml).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Suite file to write (default: generated/<suite>-<probe>-variants.yaml).",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.option(
    "--attempts",
    default=3,
    show_default=True,
    type=Bounded(values.JUDGE_ATTEMPTS),
    help="Generator calls at most (each asks for what is still missing).",
)
@click.option(
    "--run",
    "play",
    is_flag=True,
    help="Then play the seed and its variants against --target and report the systemic rate.",
)
@click.option("--target", help="With --run: provider/model or a target named in character.toml.")
@click.option(
    "--system-prompt",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --run: the target's system prompt file.",
)
@click.option(
    "--epochs",
    default=1,
    show_default=True,
    type=Bounded(values.EPOCHS),
    help="With --run: times each probe is played.",
)
@click.option(
    "--judge",
    default=None,
    help="With --run: auto, lexical or provider/model (default: [judge] model).",
)
@click.option("--seed", type=Bounded(values.SEED), help="With --run: target seed (simulated targets).")
@click.option("-M", "model_arg", multiple=True, help="With --run: model arg name=value.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="character.toml",
)
@click.option(
    "--display", type=click.Choice(["full", "rich", "plain", "log", "none"]), default=None
)
@click.pass_context
def expand(
    ctx: click.Context,
    probe_id: str,
    n: int,
    kinds: tuple[str, ...],
    generator: str | None,
    suite: str | None,
    out: Path | None,
    force: bool,
    attempts: int,
    play: bool,
    target: str | None,
    system_prompt: Path | None,
    epochs: int,
    judge: str | None,
    seed: int | None,
    model_arg: tuple[str, ...],
    config_path: Path | None,
    display: str | None,
) -> None:
    """Have a model write variants of PROBE into a new suite marked generated; with --run, play
    them and say whether the seed's failure is systemic.

    Every variant is screened: one that drops or changes the seed's facts, repeats the seed, nearly
    repeats another variant, or tells the model it is tested is rejected and counted by reason.
    The suite holds a copy of the seed and records its provenance (seed, generator, prompt hash,
    date). `character gate` refuses generated suites unless --allow-generated.
    """
    from character.run.expand import DEFAULT_GENERATOR, ExpandRequest
    from character.run.expand import expand as expand_probe

    variations = (
        ["paraphrase", "pressure", "persona", "domain"]
        if not kinds or "all" in kinds
        else list(dict.fromkeys(kinds))
    )
    if play and not target:
        raise CharacterError(
            "--run needs a target",
            field="--target",
            remedy="pass --target provider/model (e.g. sim/assistant-v1) or a target from character.toml",
        )
    request = ExpandRequest(
        probe_id=probe_id,
        n=n,
        variations=variations,
        generator=generator or DEFAULT_GENERATOR,
        suite=suite,
        out=out,
        force=force,
        attempts=attempts,
    )
    result = expand_probe(request)
    echo_expand(result)
    if play:
        assert target is not None
        code = _play(
            ctx,
            result.path,
            target,
            system_prompt,
            epochs,
            judge,
            seed,
            model_arg,
            config_path,
            display,
        )
        raise click.exceptions.Exit(code)


def echo_expand(result: ExpandResult) -> None:
    p = result.provenance
    kept: dict[str, int] = {}
    for variation, _probe in result.screened.accepted:
        kept[variation] = kept.get(variation, 0) + 1
    mix = ", ".join(f"{v} {kept.get(v, 0)}" for v in p.variations)
    echo(
        f"wrote {result.path}: {p.accepted} of {p.requested} variants ({mix}) and a copy of the "
        f"seed {p.seed_probe}; generator {p.generator}, {result.calls} call(s), prompt {p.prompt_hash[:12]}"
    )
    if p.rejected:
        total = sum(p.rejected.values())
        echo(
            f"rejected {total}: " + ", ".join(f"{n} {reason}" for reason, n in p.rejected.items())
        )
        for rejection in result.screened.rejected:
            echo(f"  - {rejection.reason}: {rejection.detail}")
        for problem in result.reply_problems:
            echo(f"  - unusable_reply: {problem}")
    for finding in result.findings:
        echo(finding.one_line())
    echo(
        f"check: {len(result.findings)} warning(s); the suite is marked generated (gate refuses it)"
    )


def _play(
    ctx: click.Context,
    path: Path,
    target: str,
    system_prompt: Path | None,
    epochs: int,
    judge: str | None,
    seed: int | None,
    model_arg: tuple[str, ...],
    config_path: Path | None,
    display: str | None,
) -> int:
    from character.analysis.systemic import systemic_report
    from character.cli.run_commands import (
        SIMULATOR_BANNER,
        config_prices,
        default_display,
        parse_model_args,
        target_from_options,
    )
    from character.domain.config import load_config
    from character.run.judges import judge_from
    from character.run.runner import RunRequest, execute, prepare

    config = load_config(config_path)
    settings = {"seed": seed} if seed is not None else {}
    the_target = target_from_options(target, system_prompt, None, config_path, settings)
    judge_spec = judge_from(judge, config)
    request = RunRequest(
        suites=[str(path)],
        target=the_target,
        judge=judge_spec,
        store=ctx.obj["store"],
        epochs=epochs,
        display=display or default_display(),
        model_args=parse_model_args(model_arg),
        prices=config_prices(config),
    )
    prepared = prepare(request)
    if the_target.simulated:
        echo(SIMULATOR_BANNER)
    echo(
        f"run {prepared.run_id}: {path.stem} x {the_target.label} x {epochs} epoch(s), judge {judge_spec.id}"
    )
    for warning in prepared.warnings:
        echo(f"warning: {warning}", err=True)
    manifest = execute(prepared)
    echo(
        f"{manifest.status}: {manifest.counts.samples} transcripts, {manifest.counts.scored} verdicts scored, "
        f"{manifest.counts.unscored} unscored; stored in {prepared.dir}"
    )
    echo("Is it systemic? Failure rate on the variants beside the seed's:")
    for result in systemic_report(prepared.dir):
        echo(result.sentence)
    return 0 if manifest.status == "complete" else 1


COMMANDS = [check, schema, expand]
