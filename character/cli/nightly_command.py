"""`character nightly --config FILE`: run the configured targets, update the history, alarm.
`character nightly ack TARGET [--dimension D]`: accept a new level (or reference) after an alarm.

Exit 0 when no gating dimension alarms (an improvement is not an alarm), 1 on an alarm (model
or judge canary), 2 when a run fails, a comparison with the reference is invalid, or on any
other error. `ack` exits 0, or 2 on an error.
"""

from __future__ import annotations

import getpass
import os
from datetime import date
from functools import partial
from pathlib import Path

import click

from character.cli.compare_commands import viewer_url_from, viewer_url_option
from character.cli.output import echo
from character.domain.config import Config, load_config
from character.errors import CharacterError


def _store(ctx: click.Context, config: Config) -> Path:
    root = ctx.find_root().obj
    return Path(config.store) if config.store and not root["store_given"] else root["store"]


def _user() -> str:
    try:
        return os.environ.get("CHARACTER_USER") or getpass.getuser()
    except (KeyError, OSError):  # no login name in a container: the ack must still say who
        return "unknown"


CONFIG_HELP = "character.toml with [targets.*] and [nightly]."


@click.group(invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help=CONFIG_HELP)
@click.option("--night", help="UTC date to record (YYYY-MM-DD; default today in UTC). Re-running a night replaces it.")
@click.option("--display", type=click.Choice(["full", "rich", "plain", "log", "none"]), default=None)
@click.option("--allow-generated", is_flag=True, help="Allow suites written by `character expand` (refused by default).")
@viewer_url_option
@click.pass_context
def nightly(ctx: click.Context, config_path: Path | None, night: str | None, display: str | None,
            allow_generated: bool, viewer_url: str | None) -> None:
    """Run the nightly targets, append to the history, CUSUM each dimension, write the pages.

    After an alarm, `character nightly ack TARGET` records who accepted the new level.
    """
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None:
        raise CharacterError("no config given", field="--config",
                             remedy="pass --config character.toml (with [targets.*] and [nightly])")
    if night is not None:
        try:
            date.fromisoformat(night)
        except ValueError:
            raise CharacterError(f"'{night}' is not a date", field="--night", remedy="use YYYY-MM-DD") from None
    # heavy imports only when a night actually runs (`nightly ack` stays light)
    from character.analysis.nightly import default_rejudge, run_nightly
    from character.analysis.reports import write_reports
    from character.analysis.reports.nightly_page import render_nightly_markdown, write_nightly_pages
    from character.cli.run_commands import default_display

    try:
        config = load_config(config_path)
        _refuse_generated(config.nightly.suites, allow_generated)
        link_base = viewer_url_from(viewer_url, config)
        result = run_nightly(config, _store(ctx, config), night=night, rejudge=default_rejudge(),
                             display=display or default_display(),
                             write_reports=partial(write_reports, viewer_url=link_base))
        paths = write_nightly_pages(result, viewer_url=link_base)
    except (CharacterError, OSError):
        raise  # the main handler's one line (a disk or permission problem included), exit 2
    except Exception as exc:  # a scheduled job must tell an error (2) from an alarm (1)
        from character.cli.main import echo_internal_error  # main imports this module

        echo_internal_error(ctx, exc)  # traceback in <store>/_logs, terminal-safe line
        raise click.exceptions.Exit(2) from None
    echo(render_nightly_markdown(result, viewer_url=link_base))  # stored names: terminal-safe
    click.echo("pages: " + ", ".join(str(p) for p in paths.values()), err=True)
    raise click.exceptions.Exit(result.exit_code)


def _refuse_generated(suites: list[str], allow: bool) -> None:
    """Suites written by `character expand` raise no alarms unless --allow-generated."""
    from character.domain.variants import generated_flags, refuse_generated

    for warning in refuse_generated(generated_flags(suites), allow=allow, field="nightly.suites"):
        click.echo(f"warning: {warning}", err=True)


@nightly.command()
@click.argument("target")
@click.option("--dimension", metavar="RUBRIC/DIMENSION", help="Only this dimension (default: every dimension of TARGET).")
@click.option("--keep-level", is_flag=True,
              help="The shift was transient (e.g. a judge glitch that is over): restart the sums at the old level.")
@click.option("--new-reference", is_flag=True,
              help="Freeze TARGET's latest nightly run as its new reference instead of accepting a level.")
@click.option("--by", "by", help="Who accepts it (default: $CHARACTER_USER, else the login name).")
@click.option("--note", help="Why, in a few words (kept with the acknowledgement).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help=CONFIG_HELP)
@click.pass_context
def ack(ctx: click.Context, target: str, dimension: str | None, keep_level: bool, new_reference: bool,
        by: str | None, note: str | None, config_path: Path | None) -> None:
    """Acknowledge an alarm: accept TARGET's new level (its CUSUM sums restart), restart the sums at
    the old level (--keep-level), or freeze a new reference (--new-reference).

    TARGET is a nightly target name, or "canaries" for the judge canaries. Who and when are
    appended to <store>/_nightly/acks.jsonl; the history is recomputed at once.
    """
    from character.analysis.nightly import acknowledge
    from character.analysis.reports.nightly_page import write_index

    config_path = config_path or ctx.obj.get("config_path")
    if config_path is None:
        raise CharacterError("no config given", field="--config",
                             remedy="pass --config character.toml (the nightly's own config)")
    config = load_config(config_path)
    store = _store(ctx, config)
    _ack, message = acknowledge(config, store, target, by=by or _user(), dimension=dimension,
                                new_reference=new_reference, keep_level=keep_level, note=note)
    click.echo(message)
    index = write_index(config, store)
    if index is not None:
        click.echo(f"page: {index}", err=True)


COMMANDS = [nightly]
