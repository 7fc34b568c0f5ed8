"""`character rebuild RUN`: write a run's tables again from what the run stored."""

from __future__ import annotations

import click

from character.store.layout import resolve_run


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.pass_context
def rebuild(ctx: click.Context, run_ref: str) -> None:
    """Rebuild RUN's scores and transcripts tables from its inspect log (or, for an import, from
    the conversations stored with it): after a table was lost, damaged, or written by an older
    version of character. Logs, labels and the rest of the manifest are kept."""
    from character.run.rebuild import rebuild as rebuild_run

    folder = resolve_run(ctx.obj["store"], run_ref, tables=False)  # the tables may be unreadable
    rebuilt = rebuild_run(folder)
    counts = rebuilt.manifest.counts
    click.echo(
        f"rebuilt {rebuilt.manifest.run_id} from {rebuilt.source}: {counts.samples} transcripts, "
        f"{counts.verdicts} verdicts ({counts.unscored} unscored)"
    )


COMMANDS = [rebuild]
