"""`character judge-diff`: what a judge upgrade would change, measured on stored transcripts.

Exit codes: 0 (the report was made, whatever it found), 2 (a user error or a failed re-judge).
"""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from character.analysis.judge_diff import (
    first_probes,
    judge_diff,
    render_json,
    render_markdown,
    report_slug,
)
from character.domain.config import load_config
from character.errors import CharacterError
from character.store.files import atomic_write_text
from character.store.layout import SCORES, TRANSCRIPTS, resolve_run

DEFAULT_REPORTS = Path("reports")


@click.command("judge-diff")
@click.argument("run_ref", metavar="[RUN]", required=False)
@click.option(
    "--judge",
    "judges",
    multiple=True,
    required=True,
    metavar="JUDGE",
    help="The NEW judge; give --judge twice for NEW then OLD (default OLD: the judge "
    "that made RUN's stored scores). lexical, auto or provider/model.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N probes (every epoch).")
@click.option(
    "--all",
    "whole_run",
    is_flag=True,
    help="The whole run, even when RUN is the nightly canary run.",
)
@click.option(
    "--reports",
    "reports_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_REPORTS,
    show_default=True,
    help="Where stored comparison reports are looked up; the judge-diff report goes to "
    "<reports>/judge-diff/.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="character.toml ([judge] repeats and attempts, [nightly] canary_run).",
)
@click.option("--max-connections", default=16, show_default=True, type=int)
@click.pass_context
def judge_diff_command(
    ctx: click.Context,
    run_ref: str | None,
    judges: tuple[str, ...],
    limit: int | None,
    whole_run: bool,
    reports_root: Path,
    config_path: Path | None,
    max_connections: int,
) -> None:
    """Re-judge a stored RUN with a NEW judge and report what would change.

    Per dimension: flip rate, agreement (Cohen's kappa, 95% CI), the shift in mean (paired by
    probe, 95% CI) and the verdicts that flip; and whether the stored comparisons that used RUN
    would reach other conclusions. RUN defaults to [nightly] canary_run, whose canary
    transcripts are the default sample. Re-judged runs are stored and reused.
    """
    from character.analysis.nightly import canary_keys
    from character.run.judges import resolve_judge

    store = ctx.obj["store"]
    config = load_config(config_path)
    if len(judges) > 2:
        raise CharacterError(
            f"--judge was given {len(judges)} times",
            field="--judge",
            remedy="give --judge NEW, or --judge NEW --judge OLD",
        )
    if limit is not None and whole_run:
        raise CharacterError(
            "--limit and --all contradict each other", field="--limit", remedy="use one of them"
        )
    canary = config.nightly.canary_run
    if run_ref is None and canary is None:
        raise CharacterError(
            "no RUN given and no [nightly] canary_run configured",
            field="RUN",
            remedy="pass a run id (see `character runs`) or set [nightly] canary_run",
        )
    folder = resolve_run(store, run_ref or canary)
    is_canary = canary is not None and folder.resolve() == resolve_run(store, canary).resolve()
    specs = [
        resolve_judge(choice, repeats=config.judge.repeats, attempts=config.judge.attempts)
        for choice in judges
    ]
    new, old = specs[0], (specs[1] if len(specs) > 1 else None)

    keys, sample = None, "whole run"
    if limit is not None:
        transcripts = pl.read_parquet(folder / TRANSCRIPTS, columns=["probe_id", "epoch"])
        keys, sample = first_probes(transcripts, limit), f"first {limit} probes (--limit)"
    elif is_canary and not whole_run:
        size = config.nightly.canary_size
        keys = canary_keys(pl.read_parquet(folder / SCORES), size)
        sample = f"judge canaries: {len(keys)} transcripts chosen as nightly does ([nightly] canary_size = {size})"

    diff = judge_diff(
        folder,
        new,
        old,
        store=store,
        reports_root=reports_root,
        keys=keys,
        sample=sample,
        max_connections=max_connections,
        seed=config.gate.seed,
        progress=lambda message: click.echo(message, err=True),
    )
    out = reports_root / "judge-diff" / report_slug(diff)
    markdown = render_markdown(diff)
    atomic_write_text(out / "judge_diff.md", markdown)
    atomic_write_text(out / "judge_diff.json", render_json(diff))
    click.echo(markdown)
    click.echo(f"reports: {out / 'judge_diff.md'}, {out / 'judge_diff.json'}", err=True)


COMMANDS = [judge_diff_command]
