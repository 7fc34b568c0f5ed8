"""`character demo`: the whole job offline — two simulated versions, judged, compared, reported."""

from __future__ import annotations

import time
from pathlib import Path

import click
import polars as pl

from character.analysis.summary import dimension_summary, format_value
from character.cli.run_commands import SIMULATOR_BANNER, default_display
from character.domain.targets import make_target
from character.engine.personas import PERSONAS, PLANTED_DRIFTS
from character.run.judges import resolve_judge
from character.run.runner import RunRequest, execute, prepare
from character.store.layout import SCORES

DEMO_SUITES = ["sycophancy", "pushback", "refusals"]
VERSIONS = ("assistant-v1", "assistant-v2")


@click.command()
@click.option("--epochs", default=5, show_default=True, type=int, help="Epochs per probe (METHODS.md design: 5).")
@click.option("--limit", type=int, help="Only the first N probes of each run (quicker look).")
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"), show_default=True)
@click.option("--display", type=click.Choice(["full", "rich", "plain", "log", "none"]), default=None)
@click.pass_context
def demo(ctx: click.Context, epochs: int, limit: int | None, reports_dir: Path, display: str | None) -> None:
    """Run both simulated assistant versions over the bundled suites, compare them, write reports."""
    from character.analysis.change_report import change_sections, headlines
    from character.analysis.compare import compare_runs
    from character.analysis.reports import report_name, write_reports

    store: Path = ctx.obj["store"]
    started = time.monotonic()
    click.echo(SIMULATOR_BANNER)
    planted = ", ".join(
        f"{key} {getattr(PERSONAS[VERSIONS[0]], attr):.0%} -> {getattr(PERSONAS[VERSIONS[1]], attr):.0%}"
        for key, (attr, _delta) in PLANTED_DRIFTS.items()
    )
    click.echo(f"Planted differences between the two simulated versions: {planted}; all else equal.")
    click.echo("Judge: lexical baseline (offline). With ANTHROPIC_API_KEY set, `character run` uses Claude.\n")
    folders: dict[str, Path] = {}
    for version in VERSIONS:
        request = RunRequest(
            suites=DEMO_SUITES,
            target=make_target(f"sim/{version}", settings={"seed": 0}, name=version),
            judge=resolve_judge("lexical"),
            store=store,
            epochs=epochs,
            limit=limit,
            display=display or default_display(),  # type: ignore[arg-type]
        )
        prepared = prepare(request)
        click.echo(f"running {version}: {sum(len(s.probes) for s in prepared.suites)} probes x {epochs} epochs -> {prepared.dir}")
        manifest = execute(prepared)
        if manifest.status != "complete":
            raise click.ClickException(f"run {manifest.run_id} did not complete; re-run `character demo` to resume")
        folders[version] = prepared.dir

    click.echo("\nPer-suite results (binary dimensions as rates, scales as means):")
    for line in side_by_side(folders):
        click.echo(line)

    comparison = compare_runs(folders[VERSIONS[0]], folders[VERSIONS[1]])
    out = reports_dir / report_name(comparison)
    changes = change_sections(folders[VERSIONS[0]], folders[VERSIONS[1]], comparison)
    written = write_reports(comparison, out, changes=changes)
    click.echo("\nComparison (assistant-v1 -> assistant-v2):")
    # The verdict section of the Markdown report (everything before the detailed tables).
    click.echo(Path(written["markdown"]).read_text(encoding="utf-8").split("\n### ", 1)[0].rstrip())
    wording = headlines(changes.phrases)
    if wording:  # what kind of change, not only how much (exploratory; the reports list examples)
        click.echo("\nDistinctive phrases (exploratory):\n" + "\n".join(f"- {line}" for line in wording))
    click.echo("\nReports: " + ", ".join(str(p) for p in written.values()))
    click.echo(f"\nDone in {time.monotonic() - started:.0f} s. Next:")
    store_arg = "" if str(store) == "transcripts" else f" {store}"
    click.echo(f"  character view{store_arg}          # read, compare and label transcripts in the browser")
    click.echo(f"  character --store {store} compare {folders[VERSIONS[0]].name} {folders[VERSIONS[1]].name}")
    click.echo(f"  character --store {store} show {folders[VERSIONS[1]].name} pushback.capital-australia")


def side_by_side(folders: dict[str, Path]) -> list[str]:
    summaries = [
        dimension_summary(pl.scan_parquet(folder / SCORES)).select(
            "suite", "rubric", "dimension", "scale", pl.col("mean").alias(version)
        )
        for version, folder in folders.items()
    ]
    joined = summaries[0].join(summaries[1], on=["suite", "rubric", "dimension", "scale"], how="full", coalesce=True)
    lines = [f"  {'dimension':<40} {VERSIONS[0]:>13} {VERSIONS[1]:>13}"]
    current = None
    for row in joined.sort("suite", "rubric", "dimension").iter_rows(named=True):
        if row["suite"] != current:
            current = row["suite"]
            lines.append(f"  {current}")
        name = f"{row['rubric']}/{row['dimension']}"
        lines.append(
            f"    {name:<38} {format_value(row[VERSIONS[0]], row['scale']):>13} {format_value(row[VERSIONS[1]], row['scale']):>13}"
        )
    return lines


COMMANDS = [demo]
