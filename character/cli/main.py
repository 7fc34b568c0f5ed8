"""The `character` command: a thin layer over run, analysis and viewer modules.

User mistakes raise CharacterError anywhere below; here they become one line on stderr and exit
code 2, never a traceback. So do disk and permission problems (OSError) that escape a command.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from character import __version__
from character.errors import EXIT_USER_ERROR, CharacterError, os_error
from character.redact import scrub, scrubbed_terminal

# Each module exposes `COMMANDS: list[click.Command]`; one module per group of related commands.
# A module is imported only when one of its commands runs (or --help lists them all): importing
# compare/scipy for every `character run` cost 1.7 s of start-up (bench/throughput).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "character.cli.run_commands": ("suites", "run", "runs", "show", "judge"),
    "character.cli.compare_commands": ("compare", "gate", "report"),
    "character.cli.nightly_command": ("nightly",),
    "character.cli.demo_command": ("demo",),
    "character.cli.view_command": ("view",),
    "character.cli.import_commands": ("import", "calibrate"),
    "character.cli.rebuild_command": ("rebuild",),
    "character.cli.authoring_commands": ("check", "schema", "expand"),
    "character.cli.judge_diff_command": ("judge-diff",),
}
MODULE_OF = {name: module for module, names in COMMAND_MODULES.items() for name in names}


class CharacterGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(MODULE_OF)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = MODULE_OF.get(name)
        if module is None:
            return None
        commands = {c.name: c for c in importlib.import_module(module).COMMANDS}
        return commands[name]

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            with scrubbed_terminal():  # no API key reaches the terminal, whoever prints it
                return super().invoke(ctx)
        except CharacterError as exc:
            click.echo(f"error: {scrub(exc.one_line())}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except OSError as exc:  # a full disk, an unreadable folder: the environment, not a bug
            click.echo(f"error: {scrub(os_error(exc).one_line())}", err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=CharacterGroup)
@click.version_option(__version__, prog_name="character")
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CHARACTER_STORE",
    default="transcripts",
    show_default=True,
    help="Run store folder (env CHARACTER_STORE).",
)
@click.pass_context
def cli(ctx: click.Context, store: Path) -> None:
    """Regression-test the character of LLM assistants."""
    # Whether --store (or CHARACTER_STORE) was given: a command that reads a `store` from
    # character.toml uses it only when the user did not name one.
    given = ctx.get_parameter_source("store") != click.core.ParameterSource.DEFAULT
    ctx.obj = {"store": store, "store_given": given}



def main() -> None:
    cli(prog_name="character")


if __name__ == "__main__":
    main()
