"""`character check | schema | expand`: write suites and rubrics, check them, grow them.

Exit codes: check 0 clean / 1 warnings / 2 errors; schema 0 (2 on error); expand 0, or 2 on
error (with --run: 1 if the run is incomplete).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from character.errors import CharacterError


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
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        for finding in report.findings:
            click.echo(finding.one_line())
        kinds = ", ".join(
            f"{n} {t}{'s' if n != 1 else ''}"
            for t in ("suite", "rubric", "config", "unknown")
            if (n := sum(1 for f in report.files if f.type == t))
        )
        click.echo(
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
    from character.store.files import atomic_write_text

    text = schema_text(name)  # type: ignore[arg-type]
    if str(output) == "-":
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(f"wrote {output}", err=True)


COMMANDS = [check, schema]
