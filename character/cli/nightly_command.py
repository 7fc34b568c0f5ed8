"""`character nightly --config FILE`: run the configured targets, update the history, alarm.

Exit 0 when no gating dimension alarms, 1 on a CUSUM alarm (model or judge canary), 2 when a
run fails, a comparison with the reference is invalid, or on any other error.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path

import click

from character.analysis.nightly import default_rejudge, run_nightly
from character.analysis.reports import write_reports
from character.analysis.reports.nightly_page import render_nightly_markdown, write_nightly_pages
from character.cli.compare_commands import viewer_url_from, viewer_url_option
from character.cli.run_commands import default_display
from character.domain.config import load_config
from character.errors import CharacterError


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="character.toml with [targets.*] and [nightly].")
@click.option("--night", help="Date to record (YYYY-MM-DD; default today). Re-running a night replaces it.")
@click.option("--display", type=click.Choice(["full", "rich", "plain", "log", "none"]), default=None)
@click.option("--allow-generated", is_flag=True, help="Allow suites written by `character expand` (refused by default).")
@viewer_url_option
@click.pass_context
def nightly(ctx: click.Context, config_path: Path, night: str | None, display: str | None,
            allow_generated: bool, viewer_url: str | None) -> None:
    """Run the nightly targets, append to the history, CUSUM each dimension, write the pages."""
    if night is not None:
        try:
            date.fromisoformat(night)
        except ValueError:
            raise CharacterError(f"'{night}' is not a date", field="--night", remedy="use YYYY-MM-DD") from None
    try:
        config = load_config(config_path)
        _refuse_generated(config.nightly.suites, allow_generated)
        link_base = viewer_url_from(viewer_url, config)
        store = Path(config.store) if config.store and not ctx.obj["store_given"] else ctx.obj["store"]
        result = run_nightly(config, store, night=night, rejudge=default_rejudge(),
                             display=display or default_display(),
                             write_reports=partial(write_reports, viewer_url=link_base))
        paths = write_nightly_pages(result, viewer_url=link_base)
    except CharacterError:
        raise
    except Exception as exc:  # a scheduled job must tell an error (2) from an alarm (1)
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        raise click.exceptions.Exit(2) from None
    click.echo(render_nightly_markdown(result, viewer_url=link_base))
    click.echo("pages: " + ", ".join(str(p) for p in paths.values()), err=True)
    raise click.exceptions.Exit(result.exit_code)


def _refuse_generated(suites: list[str], allow: bool) -> None:
    """Suites written by `character expand` raise no alarms unless --allow-generated."""
    from character.domain.variants import generated_flags, refuse_generated

    for warning in refuse_generated(generated_flags(suites), allow=allow, field="nightly.suites"):
        click.echo(f"warning: {warning}", err=True)


COMMANDS = [nightly]
