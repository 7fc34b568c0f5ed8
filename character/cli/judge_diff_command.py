"""`character judge-diff`: what a judge upgrade would change, measured on stored transcripts.

Exit codes: 0 (the report was made, whatever it found), 2 (a user error or a failed re-judge).
"""

from __future__ import annotations

from pathlib import Path

import click

from character.boundary import values
from character.cli.compare_commands import viewer_url_from, viewer_url_option
from character.cli.options import Bounded
from character.cli.output import echo
from character.domain.config import load_config
from character.errors import CharacterError
from character.store.files import atomic_write_text
from character.store.layout import resolve_run

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
    "that made RUN's stored scores). auto, lexical (= lexical-v2), lexical-v1, or provider/model.",
)
@click.option("--limit", type=Bounded(values.LIMIT), help="Only the first N probes (every epoch).")
@click.option(
    "--all",
    "whole_run",
    is_flag=True,
    help="Every transcript of RUN, not only its judge canaries.",
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
    help="character.toml ([judge] repeats and attempts, [nightly] canary_run and canary_size).",
)
@click.option(
    "--max-connections", default=16, show_default=True, type=Bounded(values.MAX_CONNECTIONS)
)
@viewer_url_option
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
    viewer_url: str | None,
) -> None:
    """Re-judge a stored RUN with a NEW judge and report what would change.

    Per dimension: flip rate, agreement (Cohen's kappa, 95% CI), the shift in mean (paired by
    probe, 95% CI) and the verdicts that flip; and whether the stored comparisons that used RUN
    would reach other conclusions. The sample is RUN's judge canaries ([nightly] canary_size
    transcripts, chosen as nightly chooses them; --all for every transcript). RUN defaults to
    [nightly] canary_run. Re-judged runs are stored and reused.
    """
    from character.analysis.judge_diff import judge_diff
    from character.analysis.judge_diff_report import render_json, render_markdown, report_slug
    from character.analysis.judge_samples import choose_sample
    from character.analysis.transcript_links import viewer_linker
    from character.run.judges import judge_from

    store = ctx.obj["store"]
    config = load_config(config_path)
    link = viewer_linker(viewer_url_from(viewer_url, config))
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
    # judges first: an unknown judge or a missing key is refused before any table is read
    specs = [judge_from(choice, config) for choice in judges]
    new, old = specs[0], (specs[1] if len(specs) > 1 else None)
    folder = resolve_run(store, run_ref or canary)
    is_canary = canary is not None and folder.name == canary
    sample = choose_sample(
        folder,
        limit=limit,
        whole_run=whole_run,
        canary_size=config.nightly.canary_size,
        is_canary_run=is_canary,
    )
    diff = judge_diff(
        folder,
        new,
        old,
        store=store,
        reports_root=reports_root,
        keys=sample.keys,
        sample=sample.how,
        max_connections=max_connections,
        seed=config.gate.seed,
        progress=lambda message: echo(message, err=True),
    )
    root = reports_root / "judge-diff"
    out = root / report_slug(diff)
    markdown = render_markdown(diff, link=link)
    atomic_write_text(out / "judge_diff.md", markdown, root=root)
    atomic_write_text(out / "judge_diff.json", render_json(diff, link=link), root=root)
    echo(markdown)  # stored and model text: terminal-safe
    echo(f"reports: {out / 'judge_diff.md'}, {out / 'judge_diff.json'}", err=True)


COMMANDS = [judge_diff_command]
